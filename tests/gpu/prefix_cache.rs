//! The prefix cache on the GPU backend: scoring with reuse (only the positions after the prefix
//! shared with the window run last are computed, over the per-layer K/V kept on the device) equals
//! scoring every text from scratch (`--cache-mb 0`), on the Llama, GPT-2 (learned positions) and
//! Gemma 2 (sliding windows of 16 on alternate layers, soft-capping, post-norms) fixtures and the
//! default model: edits (insert, delete, replace at the start, middle and end), batches with shared
//! and unshared prefixes, the scorer's windows, BOS policies; an edit at the end of a long text
//! computes only the new tokens. The helpers and the tolerance (1e-5 bits) are the CPU tests'
//! (tests/support/prefix.rs).

use std::sync::Arc;

use densi::backend::BackendChoice;
use densi::metrics::BosPolicy;
use densi::model::Model;
use densi::score::ScoreOptions;

use crate::common::gpu_ctx;

#[path = "../support/prefix.rs"]
mod prefix_support;
use prefix_support::{assert_same, edits, english, fixture, scorer};

const GPU: BackendChoice = BackendChoice::Gpu;

fn check_texts(model: &Arc<Model>, score: ScoreOptions, texts: &[String], budget_mb: Option<usize>) -> (u64, u64) {
    prefix_support::check_texts(model, GPU, score, texts, budget_mb)
}

#[test]
fn edits_equal_full_passes_on_the_fixtures_with_each_bos_policy() {
    if gpu_ctx().is_none() {
        return;
    }
    for name in ["llama", "gpt2", "gemma2_tiny"] {
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
fn the_scorers_windows_reuse_only_within_the_same_window() {
    if gpu_ctx().is_none() {
        return;
    }
    let texts = edits(&english());
    for name in ["llama", "gemma2_tiny"] {
        let model = fixture(name);
        for (window, stride) in [(16, 8), (24, 5)] {
            let score = ScoreOptions { window: Some(window), stride: Some(stride), ..Default::default() };
            check_texts(&model, score, &texts, None);
        }
    }
}

#[test]
fn batches_with_shared_and_unshared_prefixes() {
    if gpu_ctx().is_none() {
        return;
    }
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
    for name in ["gpt2", "gemma2_tiny"] {
        let model = fixture(name);
        let score = ScoreOptions::default();
        check_texts(&model, score.clone(), &texts, None);
        // In reuse order (what `score`, `export`, `compare`, `report` run): most positions reused.
        let s = scorer(&model, GPU, None, score.clone());
        let order = s.reuse_order(&texts.iter().map(String::as_str).collect::<Vec<_>>());
        let reordered: Vec<String> = order.iter().map(|&i| texts[i].clone()).collect();
        let (positions, computed) = check_texts(&model, score, &reordered, None);
        assert!(computed < positions, "{name}: computed {computed} of {positions}");
    }
}

#[test]
fn a_budget_below_the_keys_and_values_computes_every_position() {
    if gpu_ctx().is_none() {
        return;
    }
    // The default model's per-layer K/V of 64 positions (30 layers × 960 floats × 4 bytes × 64 =
    // 7 MiB) exceed 1 MiB: every window is a full pass, with the same results.
    let Some(path) = crate::support::default_model() else { return };
    let model = Arc::new(Model::load(&path).unwrap());
    let text = "The keys to the cabinet are on the table.".to_string();
    let (positions, computed) =
        check_texts(&model, ScoreOptions::default(), &[text.clone(), format!("{text} And")], Some(1));
    assert_eq!(positions, computed);
}

#[test]
fn an_edit_at_the_end_of_a_long_text_computes_only_the_new_tokens() {
    if gpu_ctx().is_none() {
        return;
    }
    for name in ["llama", "gemma2_tiny"] {
        let model = fixture(name);
        let long: String = std::iter::repeat_n(english(), 12).collect::<Vec<_>>().join(" ");
        let mut cached = scorer(&model, GPU, None, ScoreOptions::default());
        let first = cached.score("long", &long).unwrap();
        let before = cached.reuse_counts().unwrap();
        let edited = format!("{long} Then");
        let second = cached.score("long", &edited).unwrap();
        let after = cached.reuse_counts().unwrap();
        let (asked, computed) = (after.positions - before.positions, after.computed - before.computed);
        let new_tokens = second.tokens.len() - first.tokens.len();
        assert!(first.tokens.len() > 200, "{} tokens", first.tokens.len());
        // The last old token may retokenize with the new word: at most two more than the new tokens.
        assert!(
            computed as usize <= new_tokens + 2,
            "{name}: computed {computed} of {asked} for {new_tokens} new tokens"
        );
        let mut fresh = scorer(&model, GPU, Some(0), ScoreOptions::default());
        assert_same(&second, &fresh.score("long", &edited).unwrap(), &format!("{name}: edited long text"));
    }
}

#[test]
fn edits_equal_full_passes_on_the_default_model() {
    if gpu_ctx().is_none() {
        return;
    }
    let Some(path) = crate::support::default_model() else { return };
    let model = Arc::new(Model::load(&path).unwrap());
    let texts = edits(&english());
    // The original, the edits in the middle (insert, delete, replace), the original again, two
    // appends (lavapipe is slow: one copy of the text).
    let picked: Vec<String> = [0, 5, 6, 7, 8, 13, 14].map(|i| texts[i].clone()).to_vec();
    let (positions, computed) = check_texts(&model, ScoreOptions::default(), &picked, None);
    assert!(computed * 2 < positions, "computed {computed} of {positions}");
    // The edits at the start and at the end, in the scorer's windows, without BOS.
    let score = ScoreOptions { bos: BosPolicy::None, window: Some(32), stride: Some(16), ..Default::default() };
    let picked: Vec<String> = [0, 1, 3, 11, 12, 14].map(|i| texts[i].clone()).to_vec();
    check_texts(&model, score, &picked, None);
}
