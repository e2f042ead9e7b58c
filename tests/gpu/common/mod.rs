//! Shared helpers of the GPU tests (included with `#[path]`; as its own test target it holds no tests).
#![allow(dead_code)]

use densi::cpu::ops;
use densi::gpu::GpuContext;
use densi::metrics::{RowStats, reduce_logits_row};
use densi::model::{Architecture, Block, Linear, Matrix, Mlp, ModelConfig, Norm, NormKind, Weights};

/// Logits closer than this (nats) count as tied: GPU and CPU sum in different orders, so such
/// neighbours may swap places in the ranking (f32 logits of these models differ by ~1e-5).
pub const TIE: f64 = 1e-3;

/// The test adapter (lavapipe in CI; `DENSI_TEST_ADAPTER=N` picks adapter N of `densi devices`).
/// Without one: a loud skip, or a failure under DENSI_REQUIRE_GPU=1.
pub fn gpu_ctx() -> Option<GpuContext> {
    let index = std::env::var("DENSI_TEST_ADAPTER").ok().and_then(|v| v.parse().ok());
    match GpuContext::new(index, true) {
        Ok(c) => {
            eprintln!("GPU tests on {} ({})", c.describe(), c.info.device_type);
            Some(c)
        }
        Err(e) => {
            if std::env::var("DENSI_REQUIRE_GPU").as_deref() == Ok("1") {
                panic!("DENSI_REQUIRE_GPU=1 but no GPU adapter: {e}");
            }
            eprintln!("SKIPPED: no GPU adapter ({e})");
            None
        }
    }
}

/// Whether the f16 weight paths can run on `ctx` (they need SHADER_F16). When they cannot, `test`
/// says so loudly; under `DENSI_REQUIRE_F16=1` (set by .ci/run when `densi devices` lists SHADER_F16
/// for the adapter) it fails instead, so CI either runs the f16 paths or prints that they did not run.
pub fn f16_runs(ctx: &GpuContext, test: &str) -> bool {
    if ctx.has(wgpu::Features::SHADER_F16) {
        return true;
    }
    if std::env::var("DENSI_REQUIRE_F16").as_deref() == Ok("1") {
        panic!("DENSI_REQUIRE_F16=1 but {} has no SHADER_F16 ({test})", ctx.describe());
    }
    eprintln!("\n*** NOT RUN {test}: {} has no SHADER_F16, so the f16 path is untested here ***\n", ctx.describe());
    false
}

/// Deterministic pseudo-random numbers (the crate's one splitmix64) so failures reproduce.
pub use densi::bench::SplitMix64 as Rng;

/// Asserts max_i |got − want| / (|want_i| + rms(want)) ≤ rel: relative error, measured against the
/// typical magnitude so that entries near zero (cancellation) do not dominate.
pub fn assert_close(what: &str, got: &[f32], want: &[f32], rel: f64) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    let rms = (want.iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / want.len().max(1) as f64).sqrt().max(1e-30);
    let mut worst = (0.0f64, 0usize);
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert!(g.is_finite(), "{what}: element {i} is {g}");
        let e = (g as f64 - w as f64).abs() / ((w as f64).abs() + rms);
        if e > worst.0 {
            worst = (e, i);
        }
    }
    assert!(
        worst.0 <= rel,
        "{what}: relative error {:.3e} at {} (got {}, want {}) > {rel:e}",
        worst.0,
        worst.1,
        got[worst.1],
        want[worst.1]
    );
}

pub fn linear(rng: &mut Rng, out_f: usize, in_f: usize, bias: bool) -> Linear {
    let scale = 1.0 / (in_f as f32).sqrt();
    Linear {
        weight: Matrix::from_f32(out_f, in_f, rng.vec(out_f * in_f, scale)),
        bias: bias.then(|| rng.vec(out_f, 0.1)),
        in_features: in_f,
        out_features: out_f,
    }
}

pub fn norm(rng: &mut Rng, h: usize, kind: NormKind) -> Norm {
    Norm {
        kind,
        weight: (0..h).map(|_| 1.0 + 0.2 * rng.uniform()).collect(),
        bias: (kind == NormKind::LayerNorm).then(|| rng.vec(h, 0.1)),
        eps: 1e-5,
    }
}

/// A small random model of the given architecture (GQA for Llama/Qwen2 when nkv < nh).
#[allow(clippy::too_many_arguments)]
pub fn random_model(
    arch: Architecture,
    vocab: usize,
    hidden: usize,
    layers: usize,
    nh: usize,
    nkv: usize,
    inter: usize,
    ctx: usize,
    tied: bool,
    seed: u64,
) -> (ModelConfig, Weights) {
    let mut rng = Rng::new(seed);
    let hd = hidden / nh;
    let gpt2 = arch == Architecture::Gpt2;
    let kind = if gpt2 { NormKind::LayerNorm } else { NormKind::RmsNorm };
    let qkv_bias = arch != Architecture::Llama;
    let blocks = (0..layers)
        .map(|_| Block {
            attn_norm: norm(&mut rng, hidden, kind),
            q: linear(&mut rng, nh * hd, hidden, qkv_bias),
            k: linear(&mut rng, nkv * hd, hidden, qkv_bias),
            v: linear(&mut rng, nkv * hd, hidden, qkv_bias),
            o: linear(&mut rng, hidden, nh * hd, gpt2),
            mlp_norm: norm(&mut rng, hidden, kind),
            mlp: if gpt2 {
                Mlp::Gelu { fc: linear(&mut rng, inter, hidden, true), proj: linear(&mut rng, hidden, inter, true) }
            } else {
                Mlp::SwiGlu {
                    gate: linear(&mut rng, inter, hidden, false),
                    up: linear(&mut rng, inter, hidden, false),
                    down: linear(&mut rng, hidden, inter, false),
                }
            },
            qk_norm: None,
            post_norms: None,
        })
        .collect();
    let weights = Weights {
        // Embedding entries up to ±0.5: logits spread over several nats, like a trained model's.
        token_embedding: Matrix::from_f32(vocab, hidden, rng.vec(vocab * hidden, 0.5)),
        position_embedding: gpt2.then(|| Matrix::from_f32(ctx, hidden, rng.vec(ctx * hidden, 0.1))),
        blocks,
        final_norm: norm(&mut rng, hidden, kind),
        lm_head: (!tied).then(|| linear(&mut rng, vocab, hidden, false)),
    };
    let cfg = ModelConfig {
        architecture: arch,
        vocab_size: vocab,
        hidden_size: hidden,
        num_layers: layers,
        num_heads: nh,
        num_kv_heads: nkv,
        head_dim: hd,
        intermediate_size: inter,
        context_length: ctx,
        rope_theta: 10000.0,
        norm_eps: 1e-5,
        tie_word_embeddings: tied,
        attention: Default::default(),
    };
    (cfg, weights)
}

/// CPU row statistics plus, per row, how many other tokens' logits lie within [`TIE`] of the target's.
pub struct CpuRows {
    pub rows: Vec<RowStats>,
    pub near_target: Vec<u32>,
}

/// The plain CPU forward on (config, weights) (`densi::cpu::hidden_states_of`), then full logits rows
/// (soft-capped where the model caps its final logits) reduced one by one: the oracle for
/// random-weight models.
pub fn cpu_forward_stats(cfg: &ModelConfig, w: &Weights, ids: &[u32], score_from: usize, top_k: usize) -> CpuRows {
    let hidden = densi::cpu::hidden_states_of(cfg, w, ids);
    let head = w.lm_head_weight().values();
    let lm = CpuHead { h: cfg.hidden_size, head: &head, vocab: cfg.vocab_size, bias: w.lm_head_bias() };
    cpu_lm_head_capped(&hidden, &lm, cfg.attention.logit_softcap, ids, score_from, top_k)
}

/// An lm-head for [`cpu_lm_head_capped`]: head [vocab, h], optional bias.
pub struct CpuHead<'a> {
    pub h: usize,
    pub head: &'a [f32],
    pub vocab: usize,
    pub bias: Option<&'a [f32]>,
}

/// The CPU lm-head: full logits rows, reduced by `metrics::reduce_logits_row`.
#[allow(clippy::too_many_arguments)]
pub fn cpu_lm_head(
    hidden: &[f32],
    h: usize,
    head: &[f32],
    vocab: usize,
    bias: Option<&[f32]>,
    ids: &[u32],
    score_from: usize,
    top_k: usize,
) -> CpuRows {
    cpu_lm_head_capped(hidden, &CpuHead { h, head, vocab, bias }, None, ids, score_from, top_k)
}

/// [`cpu_lm_head`] with the final logits soft-capped c · tanh(z / c) (Gemma 2) when `softcap` is set.
pub fn cpu_lm_head_capped(
    hidden: &[f32],
    lm: &CpuHead,
    softcap: Option<f32>,
    ids: &[u32],
    score_from: usize,
    top_k: usize,
) -> CpuRows {
    let CpuHead { h, head, vocab, bias } = *lm;
    let mut rows = Vec::new();
    let mut near_target = Vec::new();
    for i in score_from..ids.len() {
        let x = &hidden[(i - 1) * h..i * h];
        let mut logits = vec![0.0f32; vocab];
        ops::matmul_transposed(x, 1, h, head, vocab, &mut logits);
        if let Some(b) = bias {
            logits.iter_mut().zip(b).for_each(|(z, b)| *z += b);
        }
        if let Some(c) = softcap {
            ops::softcap_in_place(&mut logits, c);
        }
        let zt = logits[ids[i] as usize] as f64;
        near_target.push(
            logits.iter().enumerate().filter(|&(v, &z)| v != ids[i] as usize && (z as f64 - zt).abs() <= TIE).count()
                as u32,
        );
        rows.push(reduce_logits_row(&logits, ids[i], top_k));
    }
    CpuRows { rows, near_target }
}

/// Compares GPU and CPU row statistics: surprisal and entropy within `bits` bits, varentropy within
/// `bits`·(1 + V); ranks equal unless other logits lie within [`TIE`] of the target's (then by at most
/// that many); top-k probabilities within 1e-4 relative, ids equal unless the neighbours are within TIE.
pub fn assert_rows_close(what: &str, gpu: &[RowStats], cpu: &CpuRows, bits: f64) {
    assert_eq!(gpu.len(), cpu.rows.len(), "{what}: row count");
    let ln2 = std::f64::consts::LN_2;
    let worst = |f: &dyn Fn(&densi::metrics::RowStats) -> f64| {
        gpu.iter().zip(&cpu.rows).map(|(g, c)| (f(g) - f(c)).abs() / ln2).fold(0.0f64, f64::max)
    };
    eprintln!(
        "{what}: max |Δ surprisal| {:.2e} bits, max |Δ entropy| {:.2e} bits",
        worst(&|r| r.target_logprob),
        worst(&|r| r.entropy)
    );
    for (i, (g, c)) in gpu.iter().zip(&cpu.rows).enumerate() {
        let ds = (g.target_logprob - c.target_logprob).abs() / ln2;
        let dh = (g.entropy - c.entropy).abs() / ln2;
        let dv = (g.varentropy - c.varentropy).abs() / (ln2 * ln2);
        assert!(
            ds <= bits,
            "{what} row {i}: surprisal differs by {ds:.2e} bits (gpu {}, cpu {})",
            g.target_logprob,
            c.target_logprob
        );
        assert!(dh <= bits, "{what} row {i}: entropy differs by {dh:.2e} bits (gpu {}, cpu {})", g.entropy, c.entropy);
        assert!(
            dv <= bits * (1.0 + c.varentropy),
            "{what} row {i}: varentropy differs by {dv:.2e} (gpu {}, cpu {})",
            g.varentropy,
            c.varentropy
        );
        let near = cpu.near_target[i] as i64;
        assert!(
            (g.rank as i64 - c.rank as i64).abs() <= near,
            "{what} row {i}: rank gpu {} vs cpu {} ({near} near-ties)",
            g.rank,
            c.rank
        );
        assert_eq!(g.top.len(), c.top.len(), "{what} row {i}: top-k length");
        for (j, (a, b)) in g.top.iter().zip(&c.top).enumerate() {
            assert!(
                (a.1 - b.1).abs() <= 1e-4 * b.1.max(1e-3),
                "{what} row {i}: top {j} probability {} vs {}",
                a.1,
                b.1
            );
            if a.0 != b.0 {
                assert!(
                    (a.1.ln() - b.1.ln()).abs() <= TIE,
                    "{what} row {i}: top {j} id {} vs {} (p {} vs {})",
                    a.0,
                    b.0,
                    a.1,
                    b.1
                );
            }
        }
    }
}
