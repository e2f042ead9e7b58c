//! Each GPU kernel against its CPU counterpart in `densi::cpu::ops` on small random shapes,
//! including odd sizes (1, 7, 33, 65, 127 tokens; widths that are not multiples of the 64-wide tiles).
//! Tolerances (relative to the typical magnitude, see `assert_close`) are stated per kernel; they
//! cover f32 summation in a different order, nothing more.

use crate::common;

use common::*;
use densi::backend::Dtype;
use densi::cpu::ops;
use densi::gpu::ops::{Act, GpuOps};
use densi::model::{Linear, NormKind};

fn gpu_ops() -> Option<GpuOps> {
    gpu_ctx().map(|c| GpuOps::new(c, Dtype::F32).expect("kernels compile"))
}

/// Matmul (x·Wᵀ + b) with each fused epilogue, one- and multi-chunk weights, every variant forced:
/// the matmul core with each tile shape of the contract (MM_TILES), the shape-chosen tile, and the
/// direct (software adapter) variant: 1e-5.
#[test]
fn matmul_matches_cpu() {
    let Some(mut g) = gpu_ops() else { return };
    let mut variants: Vec<(bool, Option<u32>)> = vec![(true, None), (false, None)];
    variants.extend(densi::gpu::contract::MM_TILES.iter().map(|s| (false, Some(s.rows()))));
    for (direct, rows) in variants {
        g.set_direct(direct);
        g.set_tile_rows(rows);
        matmul_cases(&g, &format!("direct={direct} tile_rows={rows:?}"));
    }
}

fn matmul_cases(g: &GpuOps, variant: &str) {
    eprintln!("matmul, {variant}");
    let mut rng = Rng::new(1);
    // Odd T, K and N: partial tiles in every dimension, K not a multiple of the 32-wide K step or of 4.
    for &(t, k, n) in &[(1, 7, 5), (7, 33, 65), (33, 64, 64), (65, 100, 130), (127, 48, 33), (1000, 70, 67)] {
        for bias in [false, true] {
            let l = linear(&mut rng, n, k, bias);
            let x = rng.vec(t * k, 1.0);
            let mut want = vec![0.0; t * n];
            ops::linear(&x, t, &l, &mut want);
            let got = g.linear(&x, t, &l, Act::None, None, None, None).unwrap();
            assert_close(&format!("matmul t={t} k={k} n={n} bias={bias} {variant}"), &got, &want, 1e-5);

            // Split into chunks of 20 output rows: the path of weights larger than one binding.
            let got = g.linear(&x, t, &l, Act::None, None, None, Some(20)).unwrap();
            assert_close(&format!("matmul chunked t={t} k={k} n={n} {variant}"), &got, &want, 1e-5);

            let mut gelu = want.clone();
            ops::gelu_new(&mut gelu);
            let got = g.linear(&x, t, &l, Act::GeluNew, None, None, None).unwrap();
            assert_close(&format!("matmul+gelu t={t} k={k} n={n}"), &got, &gelu, 1e-5);

            let up = rng.vec(t * n, 1.0);
            let mut swi = want.clone();
            ops::silu_mul(&mut swi, &up);
            let got = g.linear(&x, t, &l, Act::SiluMul, Some(&up), None, None).unwrap();
            assert_close(&format!("matmul+silu·up t={t} k={k} n={n}"), &got, &swi, 1e-5);

            // gate and up in one matmul (the forward's fused SwiGLU): silu(x·gateᵀ + b) · (x·upᵀ + b).
            let up_l = linear(&mut rng, n, k, bias);
            let mut up_v = vec![0.0; t * n];
            ops::linear(&x, t, &up_l, &mut up_v);
            let mut fused = want.clone();
            ops::silu_mul(&mut fused, &up_v);
            let got = g.swiglu(&x, t, &l, &up_l).unwrap();
            assert_close(&format!("matmul gate|up+swiglu t={t} k={k} n={n} bias={bias} {variant}"), &got, &fused, 1e-5);

            let res = rng.vec(t * n, 1.0);
            let mut sum = res.clone();
            ops::add_in_place(&mut sum, &want);
            let got = g.linear(&x, t, &l, Act::None, None, Some(&res), Some(40)).unwrap();
            assert_close(&format!("matmul+residual t={t} k={k} n={n}"), &got, &sum, 1e-5);
        }
    }
}

/// The RMSNorm folded into the following matmul (x rows normalized as the matmul loads them, the
/// forward's llama-style blocks) against the CPU's `norm` then `linear` (and `silu_mul` for the fused
/// gate|up), every variant, T = 1, 7, 33, 65, 127 and widths off the tiles: 1e-5.
#[test]
fn rms_norm_folded_into_matmul_matches_cpu() {
    let Some(mut g) = gpu_ops() else { return };
    let mut variants: Vec<(bool, Option<u32>)> = vec![(true, None), (false, None)];
    variants.extend(densi::gpu::contract::MM_TILES.iter().map(|s| (false, Some(s.rows()))));
    let mut rng = Rng::new(5);
    for &(t, k, n) in &[(1, 7, 5), (7, 33, 65), (33, 64, 64), (65, 100, 130), (127, 576, 33)] {
        let nw = norm(&mut rng, k, NormKind::RmsNorm);
        let x: Vec<f32> = rng.vec(t * k, 2.0).iter().map(|v| v + 0.5).collect();
        let mut xn = vec![0.0; t * k];
        ops::norm(&x, k, &nw, &mut xn);
        let (gate, up) = (linear(&mut rng, n, k, false), linear(&mut rng, n, k, true));
        let mut want = vec![0.0; t * n];
        ops::linear(&xn, t, &gate, &mut want);
        let mut up_v = vec![0.0; t * n];
        ops::linear(&xn, t, &up, &mut up_v);
        let mut fused = want.clone();
        ops::silu_mul(&mut fused, &up_v);
        g.set_rms_norm(Some(&nw)).unwrap();
        for &(direct, rows) in &variants {
            g.set_direct(direct);
            g.set_tile_rows(rows);
            let v = format!("t={t} k={k} n={n} direct={direct} rows={rows:?}");
            let got = g.linear(&x, t, &gate, Act::None, None, None, None).unwrap();
            assert_close(&format!("rmsnorm+matmul {v}"), &got, &want, 1e-5);
            let got = g.linear(&x, t, &gate, Act::None, None, None, Some(20)).unwrap();
            assert_close(&format!("rmsnorm+matmul chunked {v}"), &got, &want, 1e-5);
            let got = g.swiglu(&x, t, &gate, &up).unwrap();
            assert_close(&format!("rmsnorm+gate|up+swiglu {v}"), &got, &fused, 1e-5);
        }
        g.set_rms_norm(None).unwrap();
        assert!(g.set_rms_norm(Some(&norm(&mut rng, k, NormKind::LayerNorm))).is_err(), "LayerNorm does not fold");
        g.set_rms_norm(None).unwrap();
    }
}

/// f16 weight storage (`array<vec4<f16>>`: 4 halves per load, f32 accumulation) against the CPU on
/// the same f16-rounded weights, every variant forced (direct, the shape-chosen tile, each tile shape
/// of MM_TILES), odd shapes: K a multiple of 4 (rows start on a vec4: single vec4<f16> loads) and not
/// (rows straddle two vec4s), partial tiles everywhere: 1e-5.
#[test]
fn matmul_f16_weights_match_cpu() {
    let Some(ctx) = gpu_ctx() else { return };
    if !f16_runs(&ctx, "matmul_f16_weights_match_cpu") {
        return;
    }
    let mut g = GpuOps::new(ctx, Dtype::F16).unwrap();
    let mut variants: Vec<(bool, Option<u32>)> = vec![(true, None), (false, None)];
    variants.extend(densi::gpu::contract::MM_TILES.iter().map(|s| (false, Some(s.rows()))));
    let f16 = |l: &mut Linear| l.weight.make_f32_mut().iter_mut().for_each(|w| *w = half::f16::from_f32(*w).to_f32());
    let mut rng = Rng::new(2);
    for &(t, k, n) in &[(1, 7, 5), (7, 33, 65), (33, 64, 64), (65, 100, 130), (127, 48, 33), (1000, 68, 67)] {
        let mut l = linear(&mut rng, n, k, true);
        f16(&mut l);
        let x = rng.vec(t * k, 1.0);
        let mut want = vec![0.0; t * n];
        ops::linear(&x, t, &l, &mut want);
        // gate (l) and up as one f16 matmul with the SwiGLU epilogue.
        let mut up_l = linear(&mut rng, n, k, true);
        f16(&mut up_l);
        let mut up_v = vec![0.0; t * n];
        ops::linear(&x, t, &up_l, &mut up_v);
        let mut fused = want.clone();
        ops::silu_mul(&mut fused, &up_v);
        for &(direct, rows) in &variants {
            g.set_direct(direct);
            g.set_tile_rows(rows);
            let v = format!("t={t} k={k} n={n} direct={direct} rows={rows:?}");
            let got = g.linear(&x, t, &l, Act::None, None, None, None).unwrap();
            assert_close(&format!("f16 matmul {v}"), &got, &want, 1e-5);
            let got = g.linear(&x, t, &l, Act::None, None, None, Some(20)).unwrap();
            assert_close(&format!("f16 matmul chunked {v}"), &got, &want, 1e-5);
            let got = g.swiglu(&x, t, &l, &up_l).unwrap();
            assert_close(&format!("f16 gate|up+swiglu {v}"), &got, &fused, 1e-5);
        }
    }
}

/// The lm-head over f16 weights (vec4<f16> loads in the tile loaders, scalar ones in target_logit)
/// against the CPU lm-head on the same f16-rounded weights, hidden sizes a multiple of 4 and not,
/// tiled (16- and 64-row tiles, chosen by the rows) and direct: 1e-5 bits.
#[test]
fn lm_head_f16_weights_match_cpu() {
    let Some(ctx) = gpu_ctx() else { return };
    if !f16_runs(&ctx, "lm_head_f16_weights_match_cpu") {
        return;
    }
    let mut g = GpuOps::new(ctx, Dtype::F16).unwrap();
    let mut rng = Rng::new(9);
    let vocab = 5000;
    for h in [48usize, 45] {
        let head: Vec<f32> = rng.vec(vocab * h, 0.6).iter().map(|&w| half::f16::from_f32(w).to_f32()).collect();
        for direct in [false, true] {
            g.set_direct(direct);
            for &(t, score_from, k, split) in
                &[(7usize, 1usize, 5usize, None), (65, 1, 3, Some(1500)), (33, 2, 0, None)]
            {
                let hidden = rng.vec(t * h, 1.5);
                let ids: Vec<u32> = (0..t).map(|_| rng.below(vocab as u32)).collect();
                let want = cpu_lm_head(&hidden, h, &head, vocab, None, &ids, score_from, k);
                let got = g.lm_head(&hidden, h, &head, vocab, None, &ids, score_from, k, split).unwrap();
                let v = format!("f16 lm-head h={h} t={t} from={score_from} k={k} split={split:?} direct={direct}");
                assert_rows_close(&v, &got, &want, 1e-5);
            }
        }
    }
}

/// The final RMSNorm folded into the lm-head (x rows normalized as the target and tile kernels load
/// them) against the CPU's `norm` then the lm-head: tiled (16- and 64-row tiles) and direct, with a
/// bias and a split head, scored rows starting past row 0: 1e-5 bits.
#[test]
fn rms_norm_folded_into_lm_head_matches_cpu() {
    let Some(mut g) = gpu_ops() else { return };
    let mut rng = Rng::new(10);
    let (vocab, h) = (5000, 48);
    let head = rng.vec(vocab * h, 0.6);
    let bias = rng.vec(vocab, 0.5);
    let nw = norm(&mut rng, h, NormKind::RmsNorm);
    g.set_rms_norm(Some(&nw)).unwrap();
    for direct in [false, true] {
        g.set_direct(direct);
        for &(t, score_from, k, split, with_bias) in &[
            (2usize, 1usize, 5usize, None, false),
            (33, 1, 5, None, true),
            (65, 40, 16, Some(1500), false),
            (127, 1, 1, None, true),
        ] {
            let x: Vec<f32> = rng.vec(t * h, 2.0).iter().map(|v| v + 0.5).collect();
            let mut xn = vec![0.0; t * h];
            ops::norm(&x, h, &nw, &mut xn);
            let ids: Vec<u32> = (0..t).map(|_| rng.below(vocab as u32)).collect();
            let b = with_bias.then_some(&bias[..]);
            let want = cpu_lm_head(&xn, h, &head, vocab, b, &ids, score_from, k);
            let got = g.lm_head(&x, h, &head, vocab, b, &ids, score_from, k, split).unwrap();
            let v = format!("rmsnorm+lm-head t={t} from={score_from} k={k} split={split:?} direct={direct}");
            assert_rows_close(&v, &got, &want, 1e-5);
        }
    }
}

/// RMSNorm and LayerNorm (two-pass) per row: 1e-5.
#[test]
fn norms_match_cpu() {
    let Some(g) = gpu_ops() else { return };
    let mut rng = Rng::new(3);
    for kind in [NormKind::RmsNorm, NormKind::LayerNorm] {
        for &(t, h) in &[(1, 7), (7, 64), (33, 333), (65, 576)] {
            let n = norm(&mut rng, h, kind);
            // An offset, so LayerNorm's mean subtraction matters.
            let x: Vec<f32> = rng.vec(t * h, 2.0).iter().map(|v| v + 0.5).collect();
            let mut want = vec![0.0; t * h];
            ops::norm(&x, h, &n, &mut want);
            let got = g.norm(&x, h, &n).unwrap();
            assert_close(&format!("{kind:?} t={t} h={h}"), &got, &want, 1e-5);
        }
    }
}

/// Embedding gather (+ learned positions), one and several chunks: exact (a copy and one f32 add).
#[test]
fn embedding_matches_cpu() {
    let Some(g) = gpu_ops() else { return };
    let mut rng = Rng::new(4);
    let (vocab, h) = (50, 37);
    let emb = rng.vec(vocab * h, 1.0);
    for &t in &[1usize, 7, 33] {
        let ids: Vec<u32> = (0..t).map(|_| rng.below(vocab as u32)).collect();
        let pos = rng.vec(t * h, 1.0);
        for with_pos in [false, true] {
            let want: Vec<f32> = (0..t * h)
                .map(|i| emb[ids[i / h] as usize * h + i % h] + if with_pos { pos[i] } else { 0.0 })
                .collect();
            for split in [None, Some(16)] {
                let got = g.embed(&ids, &emb, vocab, h, with_pos.then_some(&pos[..]), split).unwrap();
                assert_eq!(got, want, "embedding t={t} pos={with_pos} split={split:?}");
            }
        }
    }
}

/// The fused lm-head (tiles reduced on the spot + block merge) against full logits rows reduced by
/// `metrics::reduce_logits_row`: 1e-5 bits for surprisal/entropy (f32 sums of ≤ 5000 terms),
/// ranks and top-k equal up to near-ties. Tiled (16- and 64-row) and direct variants.
#[test]
fn lm_head_matches_reduce_logits_row() {
    let Some(mut g) = gpu_ops() else { return };
    for direct in [false, true] {
        g.set_direct(direct);
        lm_head_cases(&g, direct);
    }
}

fn lm_head_cases(g: &GpuOps, direct: bool) {
    let mut rng = Rng::new(7);
    let (vocab, h) = (5000, 48); // 5000 = 2 full 2048-id blocks + a partial one
    let head = rng.vec(vocab * h, 0.6);
    let bias = rng.vec(vocab, 0.5);
    for &(t, score_from, k, split, with_bias) in &[
        (2usize, 1usize, 5usize, None, false),
        (33, 1, 5, None, true),
        (65, 40, 16, Some(1500), false),
        (7, 3, 0, Some(4096), true),
        (127, 1, 1, None, false),
    ] {
        let hidden = rng.vec(t * h, 1.5);
        let ids: Vec<u32> = (0..t).map(|_| rng.below(vocab as u32)).collect();
        let b = with_bias.then_some(&bias[..]);
        let want = cpu_lm_head(&hidden, h, &head, vocab, b, &ids, score_from, k);
        let got = g.lm_head(&hidden, h, &head, vocab, b, &ids, score_from, k, split).unwrap();
        assert_rows_close(
            &format!("lm-head t={t} from={score_from} k={k} split={split:?} direct={direct}"),
            &got,
            &want,
            1e-5,
        );
    }
}

/// A weight matrix no bigger than a binding still gets split correctly when asked (1 row per chunk).
#[test]
fn one_row_chunks() {
    let Some(g) = gpu_ops() else { return };
    let mut rng = Rng::new(8);
    let l: Linear = linear(&mut rng, 9, 13, true);
    let x = rng.vec(5 * 13, 1.0);
    let mut want = vec![0.0; 5 * 9];
    ops::linear(&x, 5, &l, &mut want);
    let got = g.linear(&x, 5, &l, Act::None, None, None, Some(1)).unwrap();
    assert_close("matmul 1-row chunks", &got, &want, 1e-5);
}
