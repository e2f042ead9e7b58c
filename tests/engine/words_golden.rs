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

use std::path::Path;

use densi::export::words::corrected_words;
use densi::metrics::TokenScore;

#[path = "../support/words.rs"]
pub(crate) mod words_support;
use words_support::*;

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
    k > 0
        && k + 1 < words.len()
        && tokens[words[k].token_start].bytes.first() == Some(&b' ')
        && tokens[words[k + 1].token_start].bytes.first() == Some(&b' ')
}

#[test]
fn interior_words_match_minicons() {
    let doc = golden("smollm2_words.json");
    let (mut n, mut max) = (0, 0.0f64);
    for t in doc["texts"].as_array().unwrap() {
        let text = t["text"].as_str().unwrap();
        let tokens = golden_tokens(t);
        let words =
            corrected_words(text, &tokens, &f64s(&t["boundary_bits_space"]), t["end_boundary_bits_space"].as_f64());
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

fn cpu(
    model: &std::sync::Arc<densi::model::Model>,
) -> impl Fn(densi::score::BoundarySet) -> Box<dyn densi::score::Forward> {
    let model = model.clone();
    move |_| Box::new(densi::cpu::CpuForward::new(model.clone(), None).unwrap())
}

#[test]
fn scored_words_match_the_golden_tiny_llama() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gguf/tiny-llama-F32.gguf");
    let model = std::sync::Arc::new(densi::model::Model::load(&path).unwrap());
    let max = check_scored_words(&model, "tiny_llama_words.json", &cpu(&model));
    eprintln!("tiny-llama-F32 (CPU): max |Δ| word surprisal {max:.2e} bits");
}

#[test]
fn scored_words_match_the_golden_default_model() {
    let Some(path) = crate::support::default_model() else { return };
    let model = std::sync::Arc::new(densi::model::Model::load(&path).unwrap());
    let max = check_scored_words(&model, "smollm2_words.json", &cpu(&model));
    eprintln!("default model (CPU): max |Δ| word surprisal {max:.2e} bits");
}
