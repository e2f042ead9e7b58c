//! The prefix cache (`densi::prefix`, in the CPU backend): scoring with reuse equals scoring every
//! text from scratch (a scorer with `--cache-mb 0`), on the tiny fixtures (Llama with RoPE, GPT-2 with
//! learned positions) and the default model: edits (insert, delete, replace at the start, middle and
//! end), batches with shared and unshared prefixes, sliding windows, BOS policies; the cache stays
//! within its budget, and an edit at the end of a long text computes only the tokens after it.
//!
//! Tolerance 1e-5 bits (varentropy: 1e-5 × max(1, V) bits²): a reused position sees the same keys and values (computed by the same
//! kernels); what differs is the number of rows each GEMM runs on (the suffix only), which can pick
//! the other GEMM kernel (own kernel below `OWN_GEMM_MAX_M` = 512 rows, the `gemm` crate from there) and so another f32
//! summation order in the K/V and hidden states of the recomputed positions.

use std::sync::Arc;

use densi::backend::BackendChoice;
use densi::metrics::BosPolicy;
use densi::model::Model;
use densi::score::{ScoreOptions, Scorer};

#[path = "../support/prefix.rs"]
mod prefix_support;
use prefix_support::{assert_same, edits, english, fixture};

fn scorer(model: &Arc<Model>, cache_mb: Option<usize>, score: ScoreOptions) -> Scorer {
    prefix_support::scorer(model, BackendChoice::Cpu, cache_mb, score)
}

fn check_texts(model: &Arc<Model>, score: ScoreOptions, texts: &[String], budget_mb: Option<usize>) -> (u64, u64) {
    prefix_support::check_texts(model, BackendChoice::Cpu, score, texts, budget_mb)
}

#[test]
fn edits_equal_full_passes_on_the_fixtures_with_each_bos_policy() {
    for name in ["llama", "gpt2"] {
        let model = fixture(name);
        for bos in [BosPolicy::Auto, BosPolicy::None] {
            let score = ScoreOptions { bos, ..Default::default() };
            let (positions, computed) = check_texts(&model, score, &edits(&english()), None);
            // The texts share most of their tokens: reuse must have happened.
            assert!(computed * 2 < positions, "{name}: computed {computed} of {positions}");
        }
    }
}

#[test]
fn sliding_windows_reuse_only_within_the_same_window() {
    let model = fixture("llama");
    let text = english();
    let texts = edits(&text);
    for (window, stride) in [(16, 8), (24, 5)] {
        let score = ScoreOptions { window: Some(window), stride: Some(stride), ..Default::default() };
        check_texts(&model, score, &texts, None);
    }
}

#[test]
fn batches_with_shared_and_unshared_prefixes() {
    let model = fixture("gpt2");
    let texts: Vec<String> = [
        "The keys to the cabinet are on the table.",
        "The keys to the cabinet is on the table.",
        "A completely different sentence about ships.",
        "The keys to the cabinet are",
        "The keys to the cabinet",
        "The keys to the cabinet are on the table.",
        "The key to the cabinets is on the table.",
        "A completely different sentence about ships and sails.",
    ]
    .map(String::from)
    .to_vec();
    let score = ScoreOptions::default();
    check_texts(&model, score.clone(), &texts, None);
    // In reuse order (what `score`, `export`, `compare`, `report` run), as well.
    let s = scorer(&model, None, score.clone());
    let order = s.reuse_order(&texts.iter().map(String::as_str).collect::<Vec<_>>());
    let mut sorted = order.clone();
    sorted.sort();
    assert_eq!(sorted, (0..texts.len()).collect::<Vec<_>>());
    let reordered: Vec<String> = order.iter().map(|&i| texts[i].clone()).collect();
    check_texts(&model, score, &reordered, None);
}

#[test]
fn the_cache_stays_within_a_small_budget() {
    let model = fixture("llama");
    // 1 MiB: a few of these texts' entries; the rest are evicted, results unchanged.
    let texts: Vec<String> = (0..12).map(|i| format!("{} Number {i} of twelve.", english())).collect();
    check_texts(&model, ScoreOptions::default(), &texts, Some(1));
}

#[test]
fn an_edit_at_the_end_of_a_long_text_computes_only_the_new_tokens() {
    let model = fixture("llama");
    let long: String = std::iter::repeat_n(english(), 12).collect::<Vec<_>>().join(" ");
    let mut cached = scorer(&model, None, ScoreOptions::default());
    let first = cached.score("long", &long).unwrap();
    let before = cached.reuse_counts().unwrap();
    let edited = format!("{long} Then");
    let second = cached.score("long", &edited).unwrap();
    let after = cached.reuse_counts().unwrap();
    let (asked, computed) = (after.positions - before.positions, after.computed - before.computed);
    let new_tokens = second.tokens.len() - first.tokens.len();
    assert!(first.tokens.len() > 500, "{} tokens", first.tokens.len());
    // The last old token may retokenize with the new word: at most two more than the new tokens.
    assert!(computed as usize <= new_tokens + 2, "computed {computed} of {asked} for {new_tokens} new tokens");
    let mut fresh = scorer(&model, Some(0), ScoreOptions::default());
    assert_same(&second, &fresh.score("long", &edited).unwrap(), "edited long text");
}

#[test]
fn edits_equal_full_passes_on_the_default_model() {
    let Some(path) = crate::support::default_model() else { return };
    let model = Arc::new(Model::load(&path).unwrap());
    // A few hundred tokens, edited in the middle and at the end (the suffixes recomputed).
    let text: String = std::iter::repeat_n(english(), 4).collect::<Vec<_>>().join(" ");
    let texts = edits(&text);
    // The original, the edits in the middle (insert, delete, replace), the original again, two appends.
    let picked: Vec<String> = [0, 5, 6, 7, 8, 13, 14].map(|i| texts[i].clone()).to_vec();
    let (positions, computed) = check_texts(&model, ScoreOptions::default(), &picked, None);
    assert!(computed * 2 < positions, "computed {computed} of {positions}");
    let score = ScoreOptions { bos: BosPolicy::None, window: Some(64), stride: Some(32), ..Default::default() };
    check_texts(&model, score, &[texts[0].clone(), texts[3].clone(), texts[14].clone()], None);
}
