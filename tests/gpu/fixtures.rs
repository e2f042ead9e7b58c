//! Real models on the GPU path against the CPU path: every tiny fixture (tests/fixtures: GPT-2, Llama,
//! Llama untied, Qwen2 safetensors, the Llama/Qwen2 GGUFs and one GGUF per other GGML type) and the default model
//! (models/SmolLM2-135M-Instruct.Q4_1.gguf) on one short text each. Surprisal and entropy within
//! 1e-3 bits; ranks and top-k equal except near-ties (judged on the CPU's full logits).
//! A missing fixture, or one that does not load, fails; the default model follows `support::default_model`
//! (a loud skip, or a failure under DENSI_REQUIRE_MODEL=1). The GPU is the adapter the tests probed
//! (`DENSI_TEST_ADAPTER`).

use crate::common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::*;
use densi::backend::{BackendChoice, BackendOptions, Dtype};
use densi::gpu::GpuForward;
use densi::model::Model;
use densi::score::Forward;

const TEXT: &str = "The quick brown fox jumps over the lazy dog. Prices rose 3.5% in 2024, said Dr. Smith.";

pub(crate) fn compare(name: &str, model: Arc<Model>, text: &str, max_tokens: usize) {
    let Some(probe) = gpu_ctx() else { return };
    // `GpuForward` opens its own context: give it the adapter just probed, not the default one.
    let device = Some(probe.info.index);
    drop(probe);
    let tok = &model.tokenizer;
    let mut ids: Vec<u32> = tok.bos_id.or(tok.doc_separator).into_iter().collect();
    ids.extend(tok.encode(text).expect("tokenize").ids);
    ids.truncate(max_tokens.min(model.config.context_length));
    assert!(ids.len() >= 2, "{name}: text too short");
    let k = 5;

    // The oracle is the plain CPU forward (tests/cpu_forward.rs keeps the fast CpuForward equal to it);
    // near-ties come from its full logits rows, computed from the very same hidden states.
    let cpu_rows = densi::cpu::forward_stats(&model, &ids, 1, k).unwrap();
    let hidden = densi::cpu::hidden_states(&model, &ids);
    let w = &model.weights;
    let full = cpu_lm_head(
        &hidden,
        model.config.hidden_size,
        &w.lm_head_weight().values(),
        model.config.vocab_size,
        w.lm_head_bias(),
        &ids,
        1,
        k,
    );
    // The two CPU lm-head paths multiply in different blockings (1 row vs 64-row GEMM tiles), so their f32
    // logits differ by rounding (~1e-6); the check only guards that the near-tie counts describe the same
    // rows, so it sits 10x below the 1e-3-bit GPU tolerance rather than at rounding level.
    for (i, (a, b)) in full.rows.iter().zip(&cpu_rows).enumerate() {
        let d = (a.target_logprob - b.target_logprob).abs();
        assert!(d < 1e-4, "{name}: CPU oracle self-check, row {i}: {} vs {} nats", a.target_logprob, b.target_logprob);
    }
    let want = CpuRows { rows: cpu_rows, near_target: full.near_target };

    let opts = BackendOptions { choice: BackendChoice::Gpu, device, dtype: Dtype::F32, threads: None, cache_mb: None };
    let t0 = std::time::Instant::now();
    let mut gpu = GpuForward::new(model.clone(), opts.device, opts.dtype, true).expect("GPU backend");
    let t1 = std::time::Instant::now();
    let got = gpu.score_window(&ids, 1, k).expect("GPU forward");
    eprintln!(
        "{name}: {} tokens on {}: upload {:.2}s, forward {:.2}s",
        ids.len(),
        gpu.device(),
        (t1 - t0).as_secs_f64(),
        t1.elapsed().as_secs_f64()
    );
    assert_eq!(gpu.backend(), "gpu");
    assert_rows_close(name, &got, &want, 1e-3);
}

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

#[test]
fn tiny_fixtures_match_cpu() {
    let dir = fixtures_dir();
    let names = [
        "gpt2",
        "llama",
        "llama_untied",
        "qwen2",
        "gguf/tiny-llama-F32.gguf",
        "gguf/tiny-llama-Q4_0.gguf",
        "gguf/tiny-qwen2-F32.gguf",
        "gguf_quants/tiny-llama-Q5_0.gguf",
        "gguf_quants/tiny-llama-Q5_1.gguf",
        "gguf_quants/tiny-llama-IQ4_NL.gguf",
        "gguf_quants/tiny-llama256-Q2_K.gguf",
        "gguf_quants/tiny-llama256-Q3_K.gguf",
        "gguf_quants/tiny-llama256-Q4_K.gguf",
        "gguf_quants/tiny-llama256-Q5_K.gguf",
        "gguf_quants/tiny-llama256-Q6_K.gguf",
        "gguf_quants/tiny-llama256-IQ4_XS.gguf",
    ];
    if gpu_ctx().is_none() {
        return;
    }
    let mut ran = 0;
    for n in names {
        let p = dir.join(n);
        let model = Model::load(&p).unwrap_or_else(|e| panic!("fixture {}: {e}", p.display()));
        compare(n, Arc::new(model), TEXT, 64);
        ran += 1;
    }
    assert_eq!(ran, names.len(), "every fixture compared");
    eprintln!("{ran} fixtures compared");
}

#[test]
fn default_model_matches_cpu() {
    let Some(path) = crate::support::default_model() else { return };
    let model = Model::load(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    compare("SmolLM2-135M", Arc::new(model), TEXT, 16);
}
