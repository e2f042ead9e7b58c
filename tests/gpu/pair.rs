//! Two models on one GPU (`PairScorer::on_gpu`, the fused pair reduction of shaders/pair_lmhead.wgsl):
//! the pair goldens (transformers float32 logits, float64 statistics; the same check and tolerances
//! as the engine binary's CPU test), and the GPU pair against the CPU pair token by token. The GPU is
//! the adapter the tests probed.

use std::sync::Arc;

use crate::common::gpu_ctx;
use densi::backend::Dtype;
use densi::metrics::BosPolicy;
use densi::model::Model;
use densi::pair::PairScorer;
use densi::score::ScoreOptions;

#[path = "../support/pair.rs"]
mod pair_support;
use pair_support::{check_pair, load, root};

/// A pair scorer on the probed adapter, or None (no adapter: the probe says why).
fn gpu_scorer() -> Option<impl Fn(Arc<Model>, Arc<Model>, ScoreOptions) -> PairScorer> {
    let device = Some(gpu_ctx()?.info.index);
    Some(move |a, b, options| PairScorer::new(a, b, options, None).unwrap().on_gpu(device, Dtype::F32, true).unwrap())
}

#[test]
fn gpu_pair_tiny_fixture_against_its_q4_0_quantization() {
    let Some(gpu) = gpu_scorer() else { return };
    let f = check_pair("tiny-F32-vs-Q4_0", None, &gpu);
    assert!(f.is_empty(), "{} disagreements:\n{}", f.len(), f.join("\n"));
}

#[test]
fn gpu_pair_tiny_fixture_against_its_q8_0_quantization() {
    let Some(gpu) = gpu_scorer() else { return };
    let f = check_pair("tiny-F32-vs-Q8_0", None, &gpu);
    assert!(f.is_empty(), "{} disagreements:\n{}", f.len(), f.join("\n"));
}

/// The default model against its Q4_0 re-quantization (run when make_pair_golden.py --requant wrote it).
#[test]
fn gpu_pair_default_model_against_its_requantization() {
    let Some(_) = crate::support::default_model() else { return };
    let b = root().join("models/SmolLM2-135M-Instruct.Q4_0-requant.gguf");
    if !b.exists() {
        assert!(!crate::support::require_model(), "DENSI_REQUIRE_MODEL=1 but {} is missing", b.display());
        eprintln!(
            "\n*** SKIPPED: {} is missing; run tests/fixtures/pair/make_pair_golden.py --requant ***\n",
            b.display()
        );
        return;
    }
    let Some(gpu) = gpu_scorer() else { return };
    let f = check_pair("default-Q4_1-vs-Q4_0-requant", Some(&b), &gpu);
    assert!(f.is_empty(), "{} disagreements:\n{}", f.len(), f.join("\n"));
}

/// The GPU pair against the CPU pair on one text, every token: the two forwards differ only by f32
/// rounding (sum orders), and the reductions by f32 vs f64 sums; several windows (window 24, stride 8),
/// several logit blocks per window (5 positions each) and a top-k of 7.
#[test]
fn gpu_pair_matches_the_cpu_pair() {
    let Some(gpu) = gpu_scorer() else { return };
    let a = load("tests/fixtures/gguf/tiny-llama-F32.gguf");
    let b = load("tests/fixtures/gguf/tiny-llama-Q4_0.gguf");
    let text = std::fs::read_to_string(root().join("tests/fixtures/texts/english.txt")).unwrap();
    let options =
        ScoreOptions { bos: BosPolicy::Id(0), top_k: 7, window: Some(24), stride: Some(8), ..Default::default() };
    let on_cpu = PairScorer::new(a.clone(), b.clone(), options.clone(), None).unwrap();
    let on_gpu = gpu(a, b, options);
    on_gpu.set_gpu_block_rows(5); // several logit blocks per window, the last one partial
    let c = on_cpu.score("english", &text, &mut |_, _| {}).unwrap();
    let g = on_gpu.score("english", &text, &mut |_, _| {}).unwrap();
    assert_eq!(g.settings.backend, "gpu");
    assert_eq!((g.settings.windows, g.tokens.len()), (c.settings.windows, c.tokens.len()));
    let mut worst = 0f64;
    for (x, y) in g.tokens.iter().zip(&c.tokens) {
        assert_eq!((x.id, x.scored), (y.id, y.scored));
        if !x.scored {
            continue;
        }
        for (what, p, q) in [
            ("surprisal_a", x.surprisal_bits_a, y.surprisal_bits_a),
            ("surprisal_b", x.surprisal_bits_b, y.surprisal_bits_b),
            ("entropy_a", x.entropy_bits_a, y.entropy_bits_a),
            ("entropy_b", x.entropy_bits_b, y.entropy_bits_b),
            ("kl_ab", x.kl_ab_bits, y.kl_ab_bits),
            ("kl_ba", x.kl_ba_bits, y.kl_ba_bits),
            ("cross_entropy_ab", x.cross_entropy_ab_bits, y.cross_entropy_ab_bits),
        ] {
            worst = worst.max((p - q).abs());
            assert!((p - q).abs() <= 1e-3, "token {} {what}: GPU {p} vs CPU {q}", x.index);
        }
        assert_eq!((x.top_a.len(), x.top_b.len()), (7, 7));
        for (s, t) in x.top_a.iter().zip(&y.top_a).chain(x.top_b.iter().zip(&y.top_b)) {
            assert!((s.probability - t.probability).abs() <= 1e-4, "token {}: top-k {s:?} vs {t:?}", x.index);
        }
    }
    eprintln!("GPU vs CPU pair: worst |Δ| {worst:.2e} bits over {} tokens", g.tokens.len());
}

/// The pair kernels alone on host logits against their CPU reference, reduce.rs's f64 pass: the f32
/// blocked sums' error in bits (the budget is the goldens' 2e-3 bits; this is far below), ranks and
/// top-k ids exact (random logits have no float32 ties). A 49,152 vocabulary (the default model's)
/// and an odd one (a partial last group); near-identical pairs (KL ≈ 1e-5) and distant ones; a few
/// peaked rows, whose max moves late (the rescaling).
#[test]
fn pair_kernel_matches_the_f64_reduction() {
    use densi::gpu::pair::PairReduction;
    use densi::pair::reduce::reduce_pair_row;
    let Some(ctx) = gpu_ctx() else { return };
    let reduction = PairReduction::new(&ctx).unwrap();
    let mut rng = crate::common::Rng::new(16);
    let mut worst = 0f64;
    for (vocab, rows, top_k) in [(49_152usize, 6usize, 5usize), (5_003, 9, 16), (777, 3, 0)] {
        let (mut za, mut zb) = (Vec::new(), Vec::new());
        let mut targets = Vec::new();
        for r in 0..rows {
            let (scale, noise) = [(12.0f32, 0.01f32), (8.0, 3.0), (4.0, 0.3)][r % 3];
            let mut a = rng.vec(vocab, scale);
            if r % 2 == 1 {
                // A peaked row: a few large logits near the end of the vocabulary.
                for j in 0..4 {
                    a[vocab - 1 - 97 * j] = 25.0 + j as f32;
                }
            }
            let b: Vec<f32> = a.iter().map(|&x| x + rng.uniform() * noise).collect();
            targets.push(rng.below(vocab as u32));
            za.extend(a);
            zb.extend(b);
        }
        let got = reduction.reduce_host(&ctx, &za, &zb, &targets, top_k).unwrap();
        for (r, g) in got.iter().enumerate() {
            let row = r * vocab..(r + 1) * vocab;
            let want = reduce_pair_row(&za[row.clone()], &zb[row], Some(targets[r]), top_k);
            let ln2 = std::f64::consts::LN_2;
            for (what, x, y) in [
                ("logprob_a", g.a.target_logprob, want.a.target_logprob),
                ("logprob_b", g.b.target_logprob, want.b.target_logprob),
                ("entropy_a", g.a.entropy, want.a.entropy),
                ("entropy_b", g.b.entropy, want.b.entropy),
                ("kl_ab", g.kl_ab, want.kl_ab),
                ("kl_ba", g.kl_ba, want.kl_ba),
                ("cross_entropy_ab", g.cross_entropy_ab, want.cross_entropy_ab),
            ] {
                let bits = (x - y).abs() / ln2;
                worst = worst.max(bits);
                assert!(bits <= 1e-4, "vocab {vocab} row {r} {what}: GPU {x} vs f64 {y}");
            }
            assert_eq!((g.a.rank, g.b.rank), (want.a.rank, want.b.rank), "vocab {vocab} row {r}: ranks");
            assert_eq!((g.a.argmax, g.b.argmax), (want.a.argmax, want.b.argmax), "vocab {vocab} row {r}: argmax");
            let ids = |t: &[(u32, f64)]| t.iter().map(|p| p.0).collect::<Vec<_>>();
            assert_eq!(ids(&g.a.top), ids(&want.a.top), "vocab {vocab} row {r}: top-k A");
            assert_eq!(ids(&g.b.top), ids(&want.b.top), "vocab {vocab} row {r}: top-k B");
        }
    }
    eprintln!("pair kernel vs f64 reduction: worst |Δ| {worst:.2e} bits");
}
