//! The scoring worker with the real default model: a word appended to a ~2,000-token text is
//! scored through the prefix cache the worker's one scorer keeps (few positions computed), and
//! equals a fresh full scoring of the new text.

use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use crate::tui::event::{ScoreRun, WorkerMsg};
use crate::tui::worker::{Job, spawn};
use densi::backend::{BackendChoice, BackendOptions};
use densi::metrics::TextScore;
use densi::model::Model;
use densi::score::ScoreOptions;

/// Tolerance of the prefix cache's equality tests (tests/engine/prefix_cache.rs says why 1e-5):
/// bits, and 1e-5 × max(1, V) bits² for varentropy.
const TOL_BITS: f64 = 1e-5;

/// Waits for the worker's result for `generation` (skipping Ready and progress).
fn scored(rx: &mpsc::Receiver<WorkerMsg>, generation: u64) -> (TextScore, ScoreRun) {
    loop {
        match rx.recv_timeout(Duration::from_secs(900)).expect("the worker answers") {
            WorkerMsg::Scored { generation: g, result, run, .. } if g == generation => return (result.unwrap(), run),
            WorkerMsg::LoadFailed(e) => panic!("the model did not load: {e}"),
            _ => {}
        }
    }
}

#[test]
fn appended_word_is_scored_from_the_prefix_cache() {
    let path = match Model::resolve_path(None) {
        Ok(p) => p,
        Err(e) if std::env::var_os("DENSI_REQUIRE_MODEL").is_some_and(|v| v == "1") => {
            panic!("DENSI_REQUIRE_MODEL=1 but the default model is missing ({e}); run models/fetch.sh")
        }
        Err(e) => {
            eprintln!("SKIPPED appended_word_is_scored_from_the_prefix_cache: {e}");
            return;
        }
    };
    let model = Arc::new(Model::load(&path).unwrap());
    // The first 2,000 tokens of a real English text (the tokenizer test corpus).
    let corpus_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tokenizer_corpus.txt");
    let corpus = std::fs::read_to_string(corpus_path).unwrap();
    let enc = model.tokenizer.encode(&corpus).unwrap();
    assert!(enc.ids.len() > 2000, "the corpus has {} tokens", enc.ids.len());
    let mut end = enc.byte_offsets[1999].1;
    while !corpus.is_char_boundary(end) {
        end += 1;
    }
    let long = corpus[..end].trim_end();
    let edited = format!("{long} Then");

    let backend = BackendOptions { choice: BackendChoice::Cpu, ..Default::default() };
    let (tx, rx) = mpsc::channel();
    let worker = spawn(Some(path.clone()), backend.clone(), ScoreOptions::default(), tx);
    let job = |generation: u64, text: &str| Job { pane_id: 1, generation, name: "long".into(), text: text.into() };
    worker.jobs.send(job(1, long)).unwrap();
    let (first, first_run) = scored(&rx, 1);
    worker.jobs.send(job(2, &edited)).unwrap();
    let (second, run) = scored(&rx, 2);

    let (full, reuse) = (first_run.reuse.unwrap(), run.reuse.expect("the CPU backend keeps a prefix cache"));
    eprintln!(
        "{} tokens: first {} computed of {} in {:.2} s; after the edit {} tokens, {} computed, {} reused in {:.2} s",
        first.tokens.len(),
        full.computed,
        full.positions,
        first_run.seconds,
        second.tokens.len(),
        reuse.computed,
        reuse.reused(),
        run.seconds
    );
    assert!(first.tokens.len() >= 1990, "{} tokens", first.tokens.len());
    assert_eq!(full.computed, full.positions, "the first text is computed in full");
    assert!(second.tokens.len() > first.tokens.len());
    assert!(reuse.positions as usize >= second.tokens.len(), "{reuse:?}");
    assert!(reuse.computed <= 16, "an appended word computed {} positions", reuse.computed);

    // A fresh scorer without a cache: every position computed.
    let fresh_backend = BackendOptions { cache_mb: Some(0), ..backend };
    let mut fresh = densi::backend::scorer(&model, &fresh_backend, ScoreOptions::default()).unwrap();
    let want = fresh.score("long", &edited).unwrap();
    assert_eq!(second.tokens.len(), want.tokens.len());
    for (i, (a, b)) in second.tokens.iter().zip(&want.tokens).enumerate() {
        assert_eq!((a.id, a.byte_start, a.byte_end), (b.id, b.byte_start, b.byte_end), "token {i}");
        let v = a.varentropy_bits2.abs().max(1.0);
        for (field, x, y) in [
            ("surprisal", a.surprisal_bits, b.surprisal_bits),
            ("entropy", a.entropy_bits, b.entropy_bits),
            ("varentropy / max(1, V)", a.varentropy_bits2 / v, b.varentropy_bits2 / v),
        ] {
            assert!((x - y).abs() <= TOL_BITS || (x.is_nan() && y.is_nan()), "token {i} {field}: {x} vs {y}");
        }
    }
}
