//! Shared by the word-surprisal golden tests of the engine (CPU) and GPU test binaries (each includes
//! this file with `#[path]`): reading tests/fixtures/words/*.json (made by make_word_golden.py) and
//! comparing densi's words to it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use densi::metrics::TokenScore;
use serde_json::Value;

/// Bits: independent float32 implementations of the default model agree to ~5e-4 bits per token
/// (shared/reference/README.md); a word adds a few tokens and two boundary terms.
pub const WORD_BITS: f64 = 2e-3;

pub fn golden(name: &str) -> Value {
    let p: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/words").join(name);
    serde_json::from_str(&std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

pub fn f64s(v: &Value) -> Vec<f64> {
    v.as_array().expect("array").iter().map(|x| x.as_f64().expect("number")).collect()
}

/// TokenScores tiling the golden text, with the golden's surprisal (the rest is not used by words).
pub fn golden_tokens(t: &Value) -> Vec<TokenScore> {
    let surprisal = f64s(&t["surprisal_bits"]);
    let mut pos = 0usize;
    t["pieces_hex"]
        .as_array()
        .unwrap()
        .iter()
        .zip(t["token_ids"].as_array().unwrap())
        .enumerate()
        .map(|(i, (hex, id))| {
            let hex = hex.as_str().unwrap();
            let bytes: Vec<u8> =
                (0..hex.len()).step_by(2).map(|k| u8::from_str_radix(&hex[k..k + 2], 16).unwrap()).collect();
            let (s, e) = (pos, pos + bytes.len());
            pos = e;
            let mut tok = blank_token();
            tok.index = i;
            tok.id = id.as_u64().unwrap() as u32;
            tok.token = densi::metrics::display_bytes(&bytes);
            tok.bytes = bytes;
            tok.byte_start = s;
            tok.byte_end = e;
            tok.surprisal_bits = surprisal[i];
            tok
        })
        .collect()
}

pub fn blank_token() -> TokenScore {
    TokenScore {
        index: 0,
        id: 0,
        token: String::new(),
        bytes: Vec::new(),
        byte_start: 0,
        byte_end: 0,
        char_start: 0,
        char_end: 0,
        scored: true,
        surprisal_bits: 0.0,
        probability: 0.0,
        entropy_bits: 0.0,
        varentropy_bits2: 0.0,
        rank: 1,
        top: Vec::new(),
        window: 0,
        context_len: 1,
        boundary_bits: f64::NAN,
        excess_bits: f64::NAN,
        z: f64::NAN,
    }
}

pub fn close(what: &str, got: f64, want: f64, tol: f64) {
    assert!((got - want).abs() <= tol, "{what}: densi {got} vs golden {want} (|Δ| {} > {tol})", (got - want).abs());
}

/// Compares densi's words to a golden word list; returns max |Δ surprisal|.
pub fn compare_words(label: &str, got: &[densi::export::SpanScore], want: &Value, tol: f64) -> f64 {
    let want = want.as_array().expect("words");
    assert_eq!(got.len(), want.len(), "{label}: word count");
    let mut max = 0.0f64;
    for (g, w) in got.iter().zip(want) {
        let at = format!("{label} word {} {:?}", g.index, g.text);
        assert_eq!(g.text, w["word"].as_str().unwrap(), "{at}");
        assert_eq!(
            (g.token_start, g.token_end),
            (w["token_start"].as_u64().unwrap() as usize, w["token_end"].as_u64().unwrap() as usize),
            "{at}"
        );
        close(
            &format!("{at} uncorrected"),
            g.surprisal_bits_uncorrected,
            w["surprisal_bits_uncorrected"].as_f64().unwrap(),
            tol,
        );
        close(&format!("{at} bow"), g.bow_bits, w["bow_bits"].as_f64().unwrap(), tol);
        close(&format!("{at} eow"), g.eow_bits, w["eow_bits"].as_f64().unwrap(), tol);
        close(&format!("{at} corrected"), g.surprisal_bits, w["surprisal_bits"].as_f64().unwrap(), tol);
        max = max.max((g.surprisal_bits - w["surprisal_bits"].as_f64().unwrap()).abs());
    }
    max
}

/// densi's forward and boundary mass, through the word export's `text_words`, against the golden
/// words of one model, for both boundary sets. Returns max |Δ| of the corrected word surprisal.
pub fn check_scored_words(
    model: &std::sync::Arc<densi::model::Model>,
    golden_file: &str,
    backend: &dyn Fn(densi::score::BoundarySet) -> Box<dyn densi::score::Forward>,
) -> f64 {
    use densi::score::{BoundarySet, ScoreOptions, Scorer};
    let doc = golden(golden_file);
    let mut max = 0.0f64;
    for t in doc["texts"].as_array().unwrap() {
        let (name, text) = (t["name"].as_str().unwrap(), t["text"].as_str().unwrap());
        for (set, key) in [(BoundarySet::Full, "full"), (BoundarySet::SpaceOnly, "space")] {
            let options = ScoreOptions {
                bos: densi::metrics::BosPolicy::Id(doc["start_id"].as_u64().unwrap() as u32),
                boundary: set,
                ..Default::default()
            };
            let mut scorer = Scorer::new(model.clone(), backend(set), options).unwrap();
            let scored = scorer.score(name, text).unwrap_or_else(|e| panic!("{name}: {e}"));
            let ids: Vec<u64> = scored.tokens.iter().map(|t| t.id as u64).collect();
            let want_ids: Vec<u64> = t["token_ids"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect();
            assert_eq!(ids, want_ids, "{golden_file} {name}: token ids");
            let words = densi::export::words::text_words(&scored);
            let d =
                compare_words(&format!("{golden_file} {name} {key}"), &words, &t[format!("words_{key}")], WORD_BITS);
            max = max.max(d);
        }
    }
    max
}
