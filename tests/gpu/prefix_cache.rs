//! The prefix cache on the GPU backend: scoring with reuse (only the positions after the prefix
//! shared with the window run last are computed, over the per-layer K/V kept on the device) equals
//! scoring every text from scratch (`--cache-mb 0`), on the Llama, GPT-2 (learned positions) and
//! Gemma 2 (sliding windows of 16 on alternate layers, soft-capping, post-norms) fixtures and the
//! default model: edits (insert, delete, replace at the start, middle and end), batches with shared
//! and unshared prefixes, the scorer's windows, BOS policies; an edit at the end of a long text
//! computes only the new tokens. The helpers and the tolerance (1e-5 bits) are the CPU tests'
//! (tests/support/prefix.rs).

use std::sync::Arc;

use densi::backend::{BackendChoice, Dtype};
use densi::gpu::GpuModel;
use densi::metrics::{BosPolicy, RowStats};
use densi::model::Model;
use densi::score::ScoreOptions;

use crate::common::{Rng, gpu_ctx};

#[path = "../support/prefix.rs"]
mod prefix_support;
use prefix_support::{TOL_BITS, assert_same, edits, english, fixture, scorer};

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

/// One `GpuModel` with the cache against one without, window by window, on the fixtures of the other
/// layer shapes (Qwen3's q/k norm, GPT-NeoX's parallel residual and partial rotary, Gemma 3's local and
/// global RoPE bases, Mistral's window, Phi-3's LongRoPE switching factors past 96 positions), with the
/// software adapters' matmul and the tiled one real GPUs run: appends, a replaced tail, a changed
/// middle, a window seen before, and the end row.
#[test]
fn the_partial_forward_equals_a_full_pass_on_each_layer_shape() {
    if gpu_ctx().is_none() {
        return;
    }
    for name in ["qwen3", "gptneox_tiny", "gemma3_tiny", "mistral_tiny", "phi3_longrope_tiny"] {
        let model = fixture(name);
        for direct in [true, false] {
            let open = |budget: usize| {
                let mut m = GpuModel::new(gpu_ctx().unwrap(), &model.config, &model.weights, Dtype::F32).unwrap();
                m.set_direct(direct);
                m.set_prefix_cache(budget);
                m
            };
            let (mut cached, mut fresh) = (open(64 << 20), open(0));
            let mut rng = Rng::new(7);
            let mut ids =
                |n: usize| -> Vec<u32> { (0..n).map(|_| rng.below(model.config.vocab_size as u32)).collect() };
            let base = ids(70);
            let tail = ids(30);
            let cat = |parts: &[&[u32]]| parts.concat();
            let mut middle = base.clone();
            middle[35] = (middle[35] + 1) % model.config.vocab_size as u32;
            let windows: Vec<(Vec<u32>, usize, bool)> = vec![
                (base.clone(), 1, false),
                (cat(&[&base, &tail[..3]]), 1, true),
                (cat(&[&base[..40], &tail[..20]]), 1, false),
                (cat(&[&base[..40], &tail[..21]]), 30, true),
                (middle.clone(), 1, false),
                (base.clone(), 1, false),
                // Past LongRoPE's original context: the long factors, nothing reused.
                (cat(&[&base, &tail]), 1, false),
                (cat(&[&base, &tail, &tail[..2]]), 1, true),
            ];
            for (n, (w, score_from, end_row)) in windows.iter().enumerate() {
                let what = format!("{name} direct={direct} window {n}");
                let got = cached.score_rows(w, *score_from, 5, *end_row).unwrap();
                let want = fresh.score_rows(w, *score_from, 5, *end_row).unwrap();
                assert_rows_equal(&what, &got, &want);
            }
            let c = cached.reuse_counts();
            assert!(c.computed * 3 < c.positions * 2, "{name}: computed {} of {}", c.computed, c.positions);
            assert!(c.bytes <= c.budget, "{name}: {} bytes over {}", c.bytes, c.budget);
            let f = fresh.reuse_counts();
            assert_eq!(f.computed, f.positions);
        }
    }
}

/// Rows within TOL_BITS (in bits; varentropy relative to max(1, V)), ranks within one.
fn assert_rows_equal(what: &str, got: &[RowStats], want: &[RowStats]) {
    assert_eq!(got.len(), want.len(), "{what}");
    let bits = std::f64::consts::LN_2;
    for (i, (a, b)) in got.iter().zip(want).enumerate() {
        let close = |x: f64, y: f64, scale: f64, field: &str| {
            let d = if x.is_nan() && y.is_nan() { 0.0 } else { (x - y).abs() / scale };
            assert!(d <= TOL_BITS, "{what}: row {i} {field}: {x} vs {y}");
        };
        close(a.target_logprob, b.target_logprob, bits, "target logprob");
        close(a.entropy, b.entropy, bits, "entropy");
        close(a.varentropy, b.varentropy, bits * bits * (b.varentropy / (bits * bits)).abs().max(1.0), "varentropy");
        assert!(a.rank.abs_diff(b.rank) <= 1, "{what}: row {i} rank {} vs {}", a.rank, b.rank);
    }
}
