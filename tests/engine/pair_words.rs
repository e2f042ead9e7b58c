//! Word level for a SentencePiece model and the word-aligned pair of two vocabularies (issue 16), against
//! tests/fixtures/words/ (see its README.md):
//!
//! - `gemma3_270m_aggregation_matches_the_python_script`: densi's word split and correction over the
//!   Gemma golden's own per-token values give the script's words (SentencePiece token bytes: `▁` a space,
//!   Gemma's verbatim `\n` and `  ` tokens), both boundary sets; no model needed.
//! - `gemma3_270m_words_match_the_golden`: densi's own Gemma-3-270M forward and boundary mass, through
//!   `export::words::text_words`, within 2e-3 bits of transformers' float32 words (make_word_golden.py).
//! - `pairing_matches_the_python_script`: densi's `align_words` over the two word goldens' own per-token
//!   values gives make_pair_word_golden.py's pairs exactly (1e-9); no model needed.
//! - `smollm2_and_gemma3_words_pair_as_the_golden`: `align_words(SmolLM2, Gemma)` over densi's own scores
//!   against make_pair_word_golden.py (the same pairing over the two transformers goldens): spans and token
//!   counts exact, both surprisals and delta within 2e-3 bits.
//!
//! The real-model tests skip with a note when models/gemma-3-270m-q4_k_m.gguf is absent and fail under
//! `DENSI_REQUIRE_MODEL=1` (CI fetches it).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use densi::export::words::{corrected_words, text_words};
use densi::metrics::{BosPolicy, TextScore};
use densi::model::Model;
use densi::pair::words::align_words;
use densi::score::{BoundarySet, ScoreOptions};

// The word-golden helpers, included once by words_golden.rs.
use crate::words_golden::words_support::*;

const GEMMA: &str = "models/gemma-3-270m-q4_k_m.gguf";

/// models/gemma-3-270m-q4_k_m.gguf, or None with a loud note; a failure under `DENSI_REQUIRE_MODEL=1`.
fn gemma3_270m() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(GEMMA);
    if p.exists() {
        return Some(p);
    }
    assert!(
        !crate::support::require_model(),
        "DENSI_REQUIRE_MODEL=1 but {} is missing; run models/fetch.sh gemma3-270m",
        p.display()
    );
    eprintln!("\n*** SKIPPED: {} is missing; run models/fetch.sh gemma3-270m ***\n", p.display());
    None
}

fn load(path: &Path) -> Arc<Model> {
    Arc::new(Model::load(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
}

#[test]
fn gemma3_270m_aggregation_matches_the_python_script() {
    let doc = golden("gemma3_270m_words.json");
    for t in doc["texts"].as_array().unwrap() {
        let text = t["text"].as_str().unwrap();
        let tokens = golden_tokens(t);
        for set in ["full", "space"] {
            let b = f64s(&t[format!("boundary_bits_{set}")]);
            let end = t[format!("end_boundary_bits_{set}")].as_f64();
            let words = corrected_words(text, &tokens, &b, end);
            compare_words(&format!("gemma3 {} {set}", t["name"]), &words, &t[format!("words_{set}")], 1e-9);
        }
    }
}

#[test]
fn gemma3_270m_words_match_the_golden() {
    let Some(path) = gemma3_270m() else { return };
    let model = load(&path);
    // The golden's start context is what `--bos auto` picks for Gemma (its <bos>).
    let start = golden("gemma3_270m_words.json")["start_id"].as_u64().unwrap() as u32;
    assert_eq!(densi::score::resolve_bos(&model, &BosPolicy::Auto).unwrap(), Some(start));
    let cpu = {
        let model = model.clone();
        move |_: BoundarySet| -> Box<dyn densi::score::Forward> {
            Box::new(densi::cpu::CpuForward::new(model.clone(), None).unwrap())
        }
    };
    let max = check_scored_words(&model, "gemma3_270m_words.json", &cpu);
    eprintln!("gemma-3-270m (CPU): max |Δ| word surprisal {max:.2e} bits");
}

/// One golden text under one model, as densi scores it on the CPU (default boundary set).
fn score(model: &Arc<Model>, start_id: u32, name: &str, text: &str) -> TextScore {
    let options = ScoreOptions { bos: BosPolicy::Id(start_id), ..Default::default() };
    let backend = densi::BackendOptions { choice: densi::BackendChoice::Cpu, ..Default::default() };
    densi::backend::scorer(model, &backend, options).unwrap().score(name, text).unwrap()
}

/// A golden text as a TextScore: the script's tokens, surprisal and −log₂ B (set `full`), so that
/// densi's own word split and pairing run over the golden's per-token values.
fn golden_text_score(t: &serde_json::Value) -> TextScore {
    let text = t["text"].as_str().unwrap();
    let mut tokens = golden_tokens(t);
    for (tok, b) in tokens.iter_mut().zip(f64s(&t["boundary_bits_full"])) {
        tok.boundary_bits = b;
    }
    let summary = densi::metrics::Summary::of(&tokens, text);
    TextScore {
        id: t["name"].as_str().unwrap().into(),
        text: text.into(),
        tokens,
        summary,
        end_boundary_bits: t["end_boundary_bits_full"].as_f64(),
        settings: densi::metrics::ScoreSettings {
            bos_policy: BosPolicy::None,
            bos_token: None,
            window: 0,
            stride: 0,
            windows: 1,
            top_k: 0,
            backend: "golden".into(),
            device: "none".into(),
        },
    }
}

/// Compares densi's pairs of one text to the golden's; returns max |Δ| (bits).
fn compare_pairs(label: &str, got: &[densi::pair::words::PairWord], want: &serde_json::Value, tol: f64) -> f64 {
    let want = want.as_array().unwrap();
    assert_eq!(got.len(), want.len(), "{label}: pair count");
    let mut max = 0.0f64;
    for (g, w) in got.iter().zip(want) {
        let at = format!("{label} pair {} {:?}", g.index, g.word);
        let u = |k: &str| w[k].as_u64().unwrap() as usize;
        assert_eq!(g.word, w["word"].as_str().unwrap(), "{at}");
        assert_eq!(
            (g.byte_start, g.byte_end, g.char_start, g.char_end),
            (u("byte_start"), u("byte_end"), u("char_start"), u("char_end")),
            "{at}: span"
        );
        assert_eq!((g.tokens_a, g.tokens_b), (u("tokens_a"), u("tokens_b")), "{at}: tokens");
        assert!(g.scored, "{at}: every token has a start context");
        for (what, got, key) in [
            ("surprisal_a", g.surprisal_bits_a, "surprisal_bits_a"),
            ("surprisal_b", g.surprisal_bits_b, "surprisal_bits_b"),
            ("delta", g.delta_bits, "delta_bits"),
        ] {
            let want = w[key].as_f64().unwrap();
            close(&format!("{at} {what}"), got, want, tol);
            max = max.max((got - want).abs());
        }
    }
    max
}

/// Words a text's pairs absorbed beyond one per model: where one model's token joins two words.
fn merged_words(a: &TextScore, b: &TextScore, pairs: usize) -> usize {
    text_words(a).len() + text_words(b).len() - 2 * pairs
}

#[test]
fn pairing_matches_the_python_script() {
    let (ga, gb, doc) =
        (golden("smollm2_words.json"), golden("gemma3_270m_words.json"), golden("pair_smollm2_gemma3.json"));
    let mut merged = 0;
    for ((ta, tb), t) in ga["texts"]
        .as_array()
        .unwrap()
        .iter()
        .zip(gb["texts"].as_array().unwrap())
        .zip(doc["texts"].as_array().unwrap())
    {
        assert_eq!((&ta["name"], &tb["name"]), (&t["name"], &t["name"]));
        let (sa, sb) = (golden_text_score(ta), golden_text_score(tb));
        let got = align_words(&sa, &sb);
        // Same inputs, same rule: only float summation order differs.
        compare_pairs(&format!("golden {}", t["name"]), &got, &t["words"], 1e-9);
        merged += merged_words(&sa, &sb, got.len());
    }
    // The `punct` text's `...",` `)...` `?!"` `]+=`: one model's token over two words, the other's not.
    assert!(merged >= 4, "the golden texts should exercise merging ({merged} words merged)");
}

#[test]
fn smollm2_and_gemma3_words_pair_as_the_golden() {
    let Some(gemma) = gemma3_270m() else { return };
    let Some(smollm2) = crate::support::default_model() else { return };
    let doc = golden("pair_smollm2_gemma3.json");
    assert_eq!(doc["boundary_set"], "full", "densi's default set");
    let (a, b) = (load(&smollm2), load(&gemma));
    let (start_a, start_b) = (doc["start_id_a"].as_u64().unwrap() as u32, doc["start_id_b"].as_u64().unwrap() as u32);
    let (mut max, mut merged) = (0.0f64, 0usize);
    for t in doc["texts"].as_array().unwrap() {
        let (name, text) = (t["name"].as_str().unwrap(), t["text"].as_str().unwrap());
        let (sa, sb) = (score(&a, start_a, name, text), score(&b, start_b, name, text));
        let got = align_words(&sa, &sb);
        max = max.max(compare_pairs(name, &got, &t["words"], WORD_BITS));
        merged += merged_words(&sa, &sb, got.len());
    }
    assert!(merged >= 4, "the golden texts should exercise merging ({merged} words merged)");
    eprintln!("SmolLM2 vs Gemma-3-270M words (CPU): max |Δ| {max:.2e} bits; {merged} words merged into pairs");
}
