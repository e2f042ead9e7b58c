//! The word-boundary mass B(ctx) (issue 11) on the GPU: the lm-head kernel's extra masked sum and
//! the row after the last token (target LM_NO_ID), against the plain CPU oracle
//! (`metrics::reduce_row` on full f32 logits rows; `cpu::forward_rows_of` for whole models), tiled
//! and direct variants, with the head split into chunks. Tolerances are the existing ones of
//! tests/gpu/kernels.rs (1e-5 bits, one lm-head) and tests/gpu/model.rs (1e-3 bits, whole model).

use crate::common;

use common::*;
use densi::backend::Dtype;
use densi::cpu::{Rows, ops};
use densi::gpu::GpuModel;
use densi::gpu::ops::GpuOps;
use densi::metrics::{BoundaryMask, RowStats, reduce_row};
use densi::model::Architecture;

const LN2: f64 = std::f64::consts::LN_2;

fn compare(what: &str, got: &[RowStats], want: &[RowStats], bits: f64) {
    assert_eq!(got.len(), want.len(), "{what}: rows");
    let mut worst = 0f64;
    for (i, (g, c)) in got.iter().zip(want).enumerate() {
        let db = (g.boundary_logprob - c.boundary_logprob).abs() / LN2;
        worst = worst.max(db);
        assert!(
            db <= bits,
            "{what} row {i}: boundary {} vs {} ({db:.2e} bits)",
            g.boundary_logprob,
            c.boundary_logprob
        );
        assert!((g.entropy - c.entropy).abs() / LN2 <= bits, "{what} row {i}: entropy");
        if c.target_logprob.is_nan() {
            assert!(g.target_logprob.is_nan() && g.rank == 0, "{what} row {i}: the end row has no target");
        } else {
            assert!((g.target_logprob - c.target_logprob).abs() / LN2 <= bits, "{what} row {i}: surprisal");
        }
    }
    eprintln!("{what}: max |Δ boundary| {worst:.2e} bits");
}

#[test]
fn lm_head_boundary_and_end_row_match_cpu() {
    let Some(ctx) = gpu_ctx() else { return };
    let mut g = GpuOps::new(ctx, Dtype::F32).expect("kernels compile");
    let mut rng = Rng::new(21);
    let (vocab, h) = (5000, 48); // 2 full 2048-id blocks + a partial one
    let head = rng.vec(vocab * h, 0.6);
    let bias = rng.vec(vocab, 0.5);
    let mask = BoundaryMask::from_ids(vocab, (0..vocab as u32).filter(|_| rng.unit() < 0.3));
    for direct in [false, true] {
        g.set_direct(direct);
        for &(t, score_from, k, split, with_bias, end_row) in &[
            (2usize, 1usize, 5usize, None, false, true),
            (33, 1, 5, None, true, true),
            (65, 40, 16, Some(1500), false, true),
            (7, 7, 0, Some(4096), true, true),
            (20, 3, 5, None, false, false),
        ] {
            let hidden = rng.vec(t * h, 1.5);
            let ids: Vec<u32> = (0..t).map(|_| rng.below(vocab as u32)).collect();
            let b = with_bias.then_some(&bias[..]);
            let rows = t - score_from + end_row as usize;
            let want: Vec<RowStats> = (0..rows)
                .map(|j| {
                    let p = score_from - 1 + j;
                    let mut logits = vec![0.0f32; vocab];
                    ops::matmul_transposed(&hidden[p * h..(p + 1) * h], 1, h, &head, vocab, &mut logits);
                    if let Some(b) = b {
                        logits.iter_mut().zip(b).for_each(|(z, b)| *z += b);
                    }
                    reduce_row(&logits, ids.get(p + 1).copied(), k, &mask)
                })
                .collect();
            let got = g.lm_head_rows(&hidden, h, &head, vocab, b, &ids, score_from, k, split, &mask, end_row).unwrap();
            let what = format!("lm-head t={t} from={score_from} k={k} split={split:?} end={end_row} direct={direct}");
            compare(&what, &got, &want, 1e-5);
        }
    }
}

#[test]
fn whole_model_boundary_and_end_row_match_cpu() {
    for (arch, nh, nkv, tied) in [(Architecture::Llama, 4, 2, false), (Architecture::Gpt2, 4, 4, true)] {
        let Some(ctx) = gpu_ctx() else { return };
        let (cfg, w) = random_model(arch, 3001, 64, 2, nh, nkv, 96, 160, tied, 31);
        let mut gpu = GpuModel::with_split(ctx, &cfg, &w, Dtype::F32, None).expect("upload");
        let mut rng = Rng::new(32);
        let mask = BoundaryMask::from_ids(cfg.vocab_size, (0..cfg.vocab_size as u32).filter(|_| rng.unit() < 0.4));
        gpu.set_boundary(&mask).unwrap();
        for &(t, score_from) in &[(7usize, 1usize), (65, 1), (1, 1), (33, 33)] {
            let ids: Vec<u32> = (0..t).map(|_| rng.below(cfg.vocab_size as u32)).collect();
            let rows = Rows { score_from, top_k: 5, boundary: &mask, end_row: true };
            let want = densi::cpu::forward_rows_of(&cfg, &w, &ids, &rows).unwrap();
            let got = gpu.score_rows(&ids, score_from, 5, true).expect("gpu forward");
            compare(&format!("{arch:?} t={t} from={score_from}"), &got, &want, 1e-3);
        }
        assert!(gpu.set_boundary(&BoundaryMask::empty(cfg.vocab_size + 1)).is_err(), "a set for another vocabulary");
    }
}

/// The default model through the whole GPU path (`Scorer` with `GpuForward`, boundary set from its
/// tokenizer) against transformers' float32 softmax mass (tests/fixtures/boundary/, made by
/// make_boundary_golden.py): B(ctx) before every token and after the last, within 2e-3 bits.
#[test]
fn default_model_boundary_matches_transformers_on_the_gpu() {
    use densi::backend::{BackendChoice, BackendOptions};
    use densi::metrics::BoundarySet;
    use densi::score::{ScoreOptions, Scorer};
    let Some(path) = crate::support::default_model() else { return };
    let Some(probe) = gpu_ctx() else { return };
    let device = Some(probe.info.index);
    drop(probe);
    let model = std::sync::Arc::new(densi::model::Model::load(&path).unwrap());
    let g: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/boundary/smollm2_boundary.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let opts = BackendOptions { choice: BackendChoice::Gpu, device, dtype: Dtype::F32, threads: None, cache_mb: None };
    let gpu = densi::gpu::GpuForward::new(model.clone(), opts.device, opts.dtype, true).expect("GPU backend");
    let mut scorer =
        Scorer::new(model.clone(), Box::new(gpu), ScoreOptions { boundary: BoundarySet::Full, ..Default::default() })
            .unwrap();
    let mut worst = 0f64;
    for t in g["texts"].as_array().unwrap() {
        let name = t["name"].as_str().unwrap();
        let got = scorer.score(name, t["text"].as_str().unwrap()).unwrap();
        assert_eq!(got.settings.backend, "gpu");
        let want: Vec<f64> = t["boundary_bits"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
        assert_eq!(got.tokens.len(), want.len(), "{name}");
        for (tok, w) in got.tokens.iter().zip(&want) {
            let d = (tok.boundary_bits - w).abs();
            worst = worst.max(d);
            assert!(d < 2e-3, "{name} token {}: {} vs {w}", tok.index, tok.boundary_bits);
        }
        let (e, we) = (got.end_boundary_bits.unwrap(), t["end_boundary_bits"].as_f64().unwrap());
        worst = worst.max((e - we).abs());
        assert!((e - we).abs() < 2e-3, "{name} end: {e} vs {we}");
    }
    eprintln!("GPU boundary_bits: max |Δ| vs transformers {worst:.2e} bits");
}
