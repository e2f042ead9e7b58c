//! Qwen3, Gemma 1, 2 and 3 GPT-NeoX and Phi-3 on the CPU: the fast forward (`CpuForward`, with and without a cached prefix)
//! against the plain reference forward on the tiny fixtures, over texts longer than Gemma's sliding
//! window; and the window, the score scale, the post-norms (and NeoX's parallel residual, partial rotary, exact GELU) each change the result (so the golden
//! tests, tests/engine/golden.rs, would catch an implementation that ignored them).

use std::path::Path;
use std::sync::Arc;

use densi::bench::synthetic_tokens;
use densi::cpu::CpuForward;
use densi::metrics::RowStats;
use densi::model::Model;
use densi::model::config::RopeScaling;
use densi::score::Forward;

fn load(name: &str) -> Model {
    Model::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)).unwrap()
}

fn max_diff(a: &[RowStats], b: &[RowStats]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x.target_logprob - y.target_logprob).abs().max((x.entropy - y.entropy).abs()))
        .fold(0.0, f64::max)
}

/// Fast (whole window, then extended past a cached prefix) = plain, within f32 rounding order.
fn fast_equals_plain(name: &str) {
    let model = Arc::new(load(name));
    let ids = synthetic_tokens(70, model.config.vocab_size, 11);
    let plain = densi::cpu::forward_stats(&model, &ids, 1, 5).unwrap();
    let mut fwd = CpuForward::new(model.clone(), Some(2)).unwrap();
    let fast = fwd.score_window(&ids, 1, 5).unwrap();
    assert!(max_diff(&plain, &fast) < 1e-4, "{name}: fast vs plain {}", max_diff(&plain, &fast));
    // A fresh forward that sees 40 tokens first: the 70-token window reuses their keys and values.
    let mut fwd = CpuForward::new(model.clone(), Some(2)).unwrap();
    fwd.score_window(&ids[..40], 1, 5).unwrap();
    let extended = fwd.score_window(&ids, 1, 5).unwrap();
    let reused = fwd.reuse_counts().unwrap();
    assert!(reused.computed < reused.positions, "{name}: the prefix was not reused: {reused:?}");
    assert!(max_diff(&plain, &extended) < 1e-4, "{name}: cached prefix vs plain {}", max_diff(&plain, &extended));
}

#[test]
fn qwen3_fast_forward_equals_plain_forward() {
    fast_equals_plain("qwen3");
}

#[test]
fn gemma3_fast_forward_equals_plain_forward() {
    fast_equals_plain("gemma3_tiny");
}

#[test]
fn gemma_fast_forward_equals_plain_forward() {
    fast_equals_plain("gemma_tiny");
}

#[test]
fn gemma2_fast_forward_equals_plain_forward() {
    fast_equals_plain("gemma2_tiny");
}

/// Gemma 2's two soft-caps each move the statistics by far more than the golden tolerance.
#[test]
fn gemma2_softcaps_matter() {
    let model = load("gemma2_tiny");
    let ids = synthetic_tokens(60, model.config.vocab_size, 5);
    let base = densi::cpu::forward_stats(&model, &ids, 1, 0).unwrap();
    let without = |edit: &dyn Fn(&mut densi::model::ModelConfig)| {
        let mut c = model.config.clone();
        edit(&mut c);
        max_diff(&base, &densi::cpu::forward_stats_of(&c, &model.weights, &ids, 1, 0).unwrap())
    };
    let scores = without(&|c| c.attention.score_softcap = None);
    let logits = without(&|c| c.attention.logit_softcap = None);
    eprintln!("max |Δ| (nats) without the score cap {scores:.3}, without the logit cap {logits:.3}");
    assert!(scores > 1e-2 && logits > 1e-2, "score cap {scores}, logit cap {logits}");
}

/// Each Gemma 3 feature moves the statistics by far more than the golden tolerance (1e-4 nats).
#[test]
fn gemma3_window_scale_and_norms_matter() {
    let model = load("gemma3_tiny");
    let ids = synthetic_tokens(60, model.config.vocab_size, 3);
    let base = densi::cpu::forward_stats(&model, &ids, 1, 0).unwrap();
    let run = |edit: &dyn Fn(&mut densi::model::ModelConfig, &mut densi::model::Weights)| {
        let (mut c, mut w) = (model.config.clone(), model.weights.clone());
        edit(&mut c, &mut w);
        max_diff(&base, &densi::cpu::forward_stats_of(&c, &w, &ids, 1, 0).unwrap())
    };
    let no_window = run(&|c, _| c.attention.sliding_window = None);
    let head_dim_scale = run(&|c, _| c.attention.query_pre_attn_scalar = None);
    let one_rope_base = run(&|c, _| c.attention.rope_local_theta = None);
    let no_post_norms = run(&|_, w| w.blocks.iter_mut().for_each(|b| b.post_norms = None));
    eprintln!(
        "max |Δ| (nats): window {no_window:.3}, scale {head_dim_scale:.3}, rope {one_rope_base:.3}, post-norms {no_post_norms:.3}"
    );
    for (what, d) in [
        ("sliding window", no_window),
        ("query_pre_attn_scalar", head_dim_scale),
        ("local rope base", one_rope_base),
        ("post-norms", no_post_norms),
    ] {
        assert!(d > 1e-2, "dropping the {what} moves the result by only {d} nats");
    }
}

#[test]
fn gptneox_fast_forward_equals_plain_forward() {
    fast_equals_plain("gptneox_tiny");
}

/// The sequential residual (the GGUF fixture, `use_parallel_residual` false) on the fast path too.
#[test]
fn gptneox_sequential_fast_forward_equals_plain_forward() {
    fast_equals_plain("gguf_arch/tiny-gptneox-F32.gguf");
}

/// GPT-NeoX's parallel residual, partial rotary dims and exact GELU each move the statistics by far
/// more than the golden tolerance (1e-4 nats).
#[test]
fn gptneox_parallel_residual_partial_rope_and_gelu_matter() {
    let model = load("gptneox_tiny");
    let ids = synthetic_tokens(60, model.config.vocab_size, 4);
    let base = densi::cpu::forward_stats(&model, &ids, 1, 0).unwrap();
    let run = |edit: &dyn Fn(&mut densi::model::ModelConfig, &mut densi::model::Weights)| {
        let (mut c, mut w) = (model.config.clone(), model.weights.clone());
        edit(&mut c, &mut w);
        max_diff(&base, &densi::cpu::forward_stats_of(&c, &w, &ids, 1, 0).unwrap())
    };
    let sequential = run(&|c, _| c.attention.parallel_residual = false);
    let full_rope = run(&|c, _| c.attention.rope_dims = None);
    let tanh_gelu = run(&|_, w| {
        for b in &mut w.blocks {
            if let densi::model::Mlp::GeluErf { fc, proj } = b.mlp.clone() {
                b.mlp = densi::model::Mlp::Gelu { fc, proj };
            }
        }
    });
    eprintln!("max |Δ| (nats): sequential {sequential:.3}, full rope {full_rope:.3}, tanh gelu {tanh_gelu:.5}");
    for (what, d) in [("parallel residual", sequential), ("partial rotary", full_rope)] {
        assert!(d > 1e-2, "dropping the {what} moves the result by only {d} nats");
    }
    // The two GELUs differ by < 1e-3 per activation: a smaller move, still 10× the golden tolerance.
    assert!(tanh_gelu > 1e-3, "tanh instead of erf GELU moves the result by only {tanh_gelu} nats");
}

#[test]
fn phi3_fast_forward_equals_plain_forward() {
    fast_equals_plain("phi3_tiny");
}

/// Half-rotary Phi-3 without a window (the GGUF fixture) on the fast path too.
#[test]
fn phi3_partial_rotary_fast_forward_equals_plain_forward() {
    fast_equals_plain("gguf_arch/tiny-phi3-F32.gguf");
}

/// Phi-3's sliding window (16 keys, on every layer) moves the statistics by far more than the
/// golden tolerance (1e-4 nats).
#[test]
fn phi3_window_matters() {
    let model = load("phi3_tiny");
    let ids = synthetic_tokens(60, model.config.vocab_size, 6);
    let base = densi::cpu::forward_stats(&model, &ids, 1, 0).unwrap();
    let mut c = model.config.clone();
    c.attention.sliding_window = None;
    let d = max_diff(&base, &densi::cpu::forward_stats_of(&c, &model.weights, &ids, 1, 0).unwrap());
    assert!(d > 1e-2, "dropping the sliding window moves the result by only {d} nats");
}

// --- RoPE scaling and Mistral's window (make_rope_fixtures.py) ------------------------------------

#[test]
fn rope_scaled_and_mistral_fast_forwards_equal_plain_forwards() {
    for name in [
        "llama3_tiny",
        "gguf_arch/tiny-llama3-F32.gguf",
        "linear_tiny",
        "yarn_tiny",
        "phi3_longrope_tiny",
        "gguf_arch/tiny-phi3-longrope-F32.gguf",
        "mistral_tiny",
        "gguf_arch/tiny-mistral-F32.gguf",
    ] {
        fast_equals_plain(name);
    }
}

/// Each scaling (and Mistral's window) moves the statistics by far more than the golden tolerance
/// (1e-4 nats), on safetensors and GGUF alike: a loader that dropped it would fail the goldens.
#[test]
fn rope_scaling_and_mistral_window_matter() {
    for name in [
        "llama3_tiny",
        "gguf_arch/tiny-llama3-F32.gguf",
        "linear_tiny",
        "gguf_arch/tiny-linear-F32.gguf",
        "yarn_tiny",
        "gguf_arch/tiny-yarn-F32.gguf",
        "phi3_longrope_tiny",
        "gguf_arch/tiny-phi3-longrope-F32.gguf",
        "mistral_tiny",
        "gguf_arch/tiny-mistral-F32.gguf",
    ] {
        let model = load(name);
        assert!(
            model.config.attention.rope_scaling != RopeScaling::None || model.config.attention.sliding_window.is_some(),
            "{name}: neither a scaling nor a window was read"
        );
        let ids = synthetic_tokens(120, model.config.vocab_size, 8);
        let base = densi::cpu::forward_stats(&model, &ids, 1, 0).unwrap();
        let mut c = model.config.clone();
        c.attention.rope_scaling = RopeScaling::None;
        c.attention.sliding_window = None;
        c.attention.local_layers.clear();
        let d = max_diff(&base, &densi::cpu::forward_stats_of(&c, &model.weights, &ids, 1, 0).unwrap());
        eprintln!("{name}: without its scaling / window, max |Δ| {d:.3} nats");
        assert!(d > 1e-2, "{name}: dropping the scaling / window moves the result by only {d} nats");
    }
}

/// LongRoPE's factor set follows the length of the forward, as transformers': a window of at most
/// `original_max_position_embeddings` (96) positions uses the short factors only, a longer one the
/// long factors only; and a cached prefix from a short window is not reused for a long one.
#[test]
fn longrope_picks_its_factors_by_the_length_of_the_forward() {
    let model = Arc::new(load("phi3_longrope_tiny"));
    let RopeScaling::LongRope { short_factor, long_factor, original_context, .. } =
        model.config.attention.rope_scaling.clone()
    else {
        panic!("not longrope: {:?}", model.config.attention.rope_scaling)
    };
    assert_eq!(original_context, 96);
    let with = |short: &[f64], long: &[f64], ids: &[u32]| {
        let mut c = model.config.clone();
        if let RopeScaling::LongRope { short_factor, long_factor, .. } = &mut c.attention.rope_scaling {
            (*short_factor, *long_factor) = (short.to_vec(), long.to_vec());
        }
        densi::cpu::forward_stats_of(&c, &model.weights, ids, 1, 0).unwrap()
    };
    let ones = vec![1.0; short_factor.len()];
    for (len, long_used) in [(96, false), (97, true)] {
        let ids = synthetic_tokens(len, model.config.vocab_size, 9);
        let base = densi::cpu::forward_stats(&model, &ids, 1, 0).unwrap();
        let short_moves = max_diff(&base, &with(&ones, &long_factor, &ids));
        let long_moves = max_diff(&base, &with(&short_factor, &ones, &ids));
        eprintln!("{len} positions: short factors move {short_moves:.3}, long factors {long_moves:.3} nats");
        assert_eq!(long_moves > 1e-2, long_used, "{len} positions: long factors move {long_moves}");
        assert_eq!(short_moves > 1e-2, !long_used, "{len} positions: short factors move {short_moves}");
    }
    // A 60-token window (short factors) cached, then a 120-token one that extends it (long factors).
    let ids = synthetic_tokens(120, model.config.vocab_size, 10);
    let plain = densi::cpu::forward_stats(&model, &ids, 1, 5).unwrap();
    let mut fwd = CpuForward::new(model.clone(), Some(2)).unwrap();
    fwd.score_window(&ids[..60], 1, 5).unwrap();
    let extended = fwd.score_window(&ids, 1, 5).unwrap();
    assert!(max_diff(&plain, &extended) < 1e-4, "cached short prefix vs plain {}", max_diff(&plain, &extended));
}

/// `densi info`'s positions line names the scaling, its factor and the original context.
#[test]
fn info_shows_the_rope_scaling() {
    for (name, words) in [
        ("llama3_tiny", &["llama3 scaling: factor 8", "original context 32"][..]),
        ("gguf_arch/tiny-llama3-F32.gguf", &["rope_freqs.weight", "llama3"]),
        ("linear_tiny", &["linear scaling: frequencies ÷ 4"]),
        ("gguf_arch/tiny-yarn-F32.gguf", &["yarn scaling: factor 4, original context 64"]),
        ("phi3_longrope_tiny", &["longrope scaling", "original context 96"]),
    ] {
        let model = load(name);
        let lines = model.config.feature_lines();
        let positions = &lines.iter().find(|(label, _)| *label == "positions").unwrap().1;
        for w in words {
            assert!(positions.contains(w), "{name}: {positions:?} lacks {w:?}");
        }
    }
    let lines = load("mistral_tiny").config.feature_lines();
    let attention = &lines.iter().find(|(label, _)| *label == "attention").unwrap().1;
    assert!(attention.contains("every layer local (sliding window 16 keys)"), "{attention}");
}

/// transformers 4.x's layout (top-level `rope_theta`, the scaling under `rope_scaling`, `type` for
/// `rope_type`; Phi-3's `su`) reads as the same scaling as transformers 5's `rope_parameters`.
#[test]
fn legacy_rope_scaling_layout_reads_the_same() {
    for name in ["llama3_tiny", "linear_tiny", "yarn_tiny", "phi3_longrope_tiny"] {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name);
        let path = dir.join("config.json");
        let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let new = densi::model::ModelConfig::from_hf_json(&path, &json).unwrap();
        let mut legacy = json.clone();
        let mut params = legacy.as_object_mut().unwrap().remove("rope_parameters").unwrap();
        legacy["rope_theta"] = params.as_object_mut().unwrap().remove("rope_theta").unwrap();
        let kind = params.as_object_mut().unwrap().remove("rope_type").unwrap();
        params["type"] = if kind == "longrope" { "su".into() } else { kind };
        legacy["rope_scaling"] = params;
        let old = densi::model::ModelConfig::from_hf_json(&path, &legacy).unwrap();
        assert_eq!(old.attention.rope_scaling, new.attention.rope_scaling, "{name}");
        assert_eq!(old.rope_theta, new.rope_theta, "{name}");
        assert_ne!(new.attention.rope_scaling, RopeScaling::None, "{name}");
    }
}
