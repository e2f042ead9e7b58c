//! In-shader dequantization: for every type with a shader reader (the others are converted or
//! expanded at upload, tests/gpu/resident.rs), the matmul and the lm-head over the tensor's stored
//! bytes (uploaded as they are, unpacked by shaders/weights_<type>.wgsl) against the CPU's
//! dequantize-then-multiply (`densi::model::dequant`, the oracle checked bit for bit against gguf-py),
//! on odd shapes, with every matmul variant forced. Tolerances are the f32 matmul's and lm-head's
//! (kernels.rs; the lm-head's hidden states scaled to that test's logit spread): the unpacked values
//! are the oracle's (the shader may fuse a scale's multiply-add into one FMA, a difference of at most
//! one rounding), the sums run in another order.

use crate::common;

use common::*;
use densi::backend::Dtype;
use densi::cpu::ops;
use densi::gpu::contract::{MM_TILES, WeightFormat};
use densi::gpu::ops::GpuOps;
use densi::model::dequant::{block_layout, dequantize};
use densi::model::{DType, Linear, Matrix, NormKind};

const TYPES: [DType; 11] = [
    DType::F32,
    DType::F16,
    DType::BF16,
    DType::Q8_0,
    DType::Q4_0,
    DType::Q4_1,
    DType::Q5_0,
    DType::Q5_1,
    DType::Q4_K,
    DType::Q5_K,
    DType::Q6_K,
];

/// Byte offsets of the f16 scale fields of one block (random bytes there could be NaN or huge).
fn f16_fields(dtype: DType) -> &'static [usize] {
    match dtype {
        DType::Q8_0 | DType::Q4_0 | DType::Q5_0 => &[0],
        DType::Q4_1 | DType::Q5_1 | DType::Q4_K | DType::Q5_K => &[0, 2],
        DType::Q6_K => &[208],
        _ => &[],
    }
}

/// `rows × cols` elements of `dtype` as stored bytes: random blocks with sane scales (float types:
/// values of magnitude ≤ 1).
fn random_tensor(rng: &mut Rng, dtype: DType, rows: usize, cols: usize) -> Vec<u8> {
    let n = rows * cols;
    match dtype {
        DType::F32 => rng.vec(n, 1.0).iter().flat_map(|v| v.to_le_bytes()).collect(),
        DType::F16 => rng.vec(n, 1.0).iter().flat_map(|&v| half::f16::from_f32(v).to_le_bytes()).collect(),
        DType::BF16 => rng.vec(n, 1.0).iter().flat_map(|&v| half::bf16::from_f32(v).to_le_bytes()).collect(),
        _ => {
            let (block, bytes) = block_layout(dtype);
            let mut out = Vec::with_capacity(n / block * bytes);
            for _ in 0..n / block {
                let mut b: Vec<u8> = (0..bytes).map(|_| rng.next_u64() as u8).collect();
                for &at in f16_fields(dtype) {
                    // Scales of ~1/64 (K-quant super-scales multiply 6-bit sub-scales); mins signed.
                    let v = half::f16::from_f32(rng.uniform() / 64.0);
                    b[at..at + 2].copy_from_slice(&v.to_le_bytes());
                }
                out.extend(b);
            }
            out
        }
    }
}

/// Row lengths to test per type: whole blocks, including odd block counts (row bytes not a multiple
/// of 4, so blocks start unaligned) and, for the float types, odd lengths.
fn widths(dtype: DType) -> &'static [usize] {
    match block_layout(dtype).0 {
        1 => &[7, 33, 96],
        32 => &[32, 96, 160],
        _ => &[256, 768],
    }
}

#[test]
fn stored_matmul_matches_dequantize_then_matmul() {
    let Some(ctx) = common::gpu_ctx() else { return };
    let mut ctx = Some(ctx);
    let mut rng = Rng::new(11);
    for dtype in TYPES {
        let mut ops_t = GpuOps::for_format(ctx.take().unwrap(), WeightFormat::Stored(dtype)).expect("kernels compile");
        let mut variants: Vec<(bool, Option<u32>)> = vec![(true, None)];
        variants.extend(MM_TILES.iter().map(|s| (false, Some(s.rows()))));
        for &k in widths(dtype) {
            for &(t, n) in &[(1usize, 5usize), (7, 67), (33, 64), (65, 33)] {
                let w = random_tensor(&mut rng, dtype, n, k);
                let l = Linear {
                    weight: Matrix::from_f32(n, k, dequantize(dtype, &w, n * k)),
                    bias: None,
                    in_features: k,
                    out_features: n,
                };
                let x = rng.vec(t * k, 1.0);
                let mut want = vec![0.0; t * n];
                ops::linear(&x, t, &l, &mut want);
                for &(direct, rows) in &variants {
                    ops_t.set_direct(direct);
                    ops_t.set_tile_rows(rows);
                    let split = if n > 20 { Some(20) } else { None };
                    let got = ops_t.linear_stored(&x, t, &w, n, k, split).unwrap();
                    let what = format!("{} matmul t={t} k={k} n={n} direct={direct} rows={rows:?}", dtype.name());
                    assert_close(&what, &got, &want, 1e-5);
                }
                // Gate (w) and up stacked into one matmul with the SwiGLU epilogue (the forward's MLP).
                let up = random_tensor(&mut rng, dtype, n, k);
                let up_l = Linear {
                    weight: Matrix::from_f32(n, k, dequantize(dtype, &up, n * k)),
                    bias: None,
                    in_features: k,
                    out_features: n,
                };
                let mut fused = want.clone();
                let mut up_v = vec![0.0; t * n];
                ops::linear(&x, t, &up_l, &mut up_v);
                ops::silu_mul(&mut fused, &up_v);
                for &(direct, rows) in &variants {
                    ops_t.set_direct(direct);
                    ops_t.set_tile_rows(rows);
                    let got = ops_t.swiglu_stored(&x, t, &w, &up, n, k).unwrap();
                    let what =
                        format!("{} gate|up+swiglu t={t} k={k} n={n} direct={direct} rows={rows:?}", dtype.name());
                    assert_close(&what, &got, &fused, 1e-5);
                }
                // With the RMSNorm before the MLP folded into the same matmul (llama-style blocks).
                if t == 7 || t == 65 {
                    let nw = common::norm(&mut rng, k, NormKind::RmsNorm);
                    let mut xn = vec![0.0; t * k];
                    ops::norm(&x, k, &nw, &mut xn);
                    let (mut g_v, mut u_v) = (vec![0.0; t * n], vec![0.0; t * n]);
                    ops::linear(&xn, t, &l, &mut g_v);
                    ops::linear(&xn, t, &up_l, &mut u_v);
                    ops::silu_mul(&mut g_v, &u_v);
                    ops_t.set_rms_norm(Some(&nw)).unwrap();
                    for &(direct, rows) in &variants {
                        ops_t.set_direct(direct);
                        ops_t.set_tile_rows(rows);
                        let got = ops_t.swiglu_stored(&x, t, &w, &up, n, k).unwrap();
                        let what =
                            format!("{} rmsnorm+gate|up t={t} k={k} n={n} direct={direct} rows={rows:?}", dtype.name());
                        assert_close(&what, &got, &g_v, 1e-5);
                    }
                    ops_t.set_rms_norm(None).unwrap();
                }
            }
        }
        eprintln!("{}: stored matmul ok", dtype.name());
        ctx = Some(ops_t.ctx);
    }
}

#[test]
fn stored_lm_head_matches_dequantize_then_reduce() {
    let Some(ctx) = common::gpu_ctx() else { return };
    // The same lm-head kernels over the f32 upload of the dequantized head, on a second device.
    let Some(f32_ctx) = common::gpu_ctx() else { return };
    let mut dense = GpuOps::new(f32_ctx, Dtype::F32).expect("kernels compile");
    let mut ctx = Some(ctx);
    let mut rng = Rng::new(12);
    for dtype in TYPES {
        let mut g = GpuOps::for_format(ctx.take().unwrap(), WeightFormat::Stored(dtype)).expect("kernels compile");
        // Against the CPU at the narrowest whole-block width (kernels.rs' lm-head test has h = 48;
        // summation-order differences grow with h), against the f32 upload at the widest.
        for (h, vs_cpu) in [(widths(dtype)[0], true), (*widths(dtype).last().unwrap(), false)] {
            let vocab = 2100; // one full 2048-id block and a partial one
            let head_bytes = random_tensor(&mut rng, dtype, vocab, h);
            let head = dequantize(dtype, &head_bytes, vocab * h);
            // Hidden states uniform in ±amplitude, scaled so that the logits spread as in kernels.rs'
            // f32 lm-head test (head ±0.6, hidden ±1.5, h = 48: logit std √48·0.6/√3·1.5/√3 ≈ 2.1
            // nats), the regime its 1e-5-bit tolerance is for. The random blocks' raw scales give
            // K-quant weights up to ~14 and logits with a std of tens of nats, where f32
            // summation-order differences alone exceed 1e-5 bits between two correct implementations.
            let rms_w = (head.iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / head.len() as f64).sqrt();
            let amplitude = (2.1 * 3f64.sqrt() / ((h as f64).sqrt() * rms_w)) as f32;
            for direct in [false, true] {
                g.set_direct(direct);
                dense.set_direct(direct);
                for &(t, score_from, k, split) in &[(7usize, 1usize, 5usize, None), (40, 3, 3, Some(1000))] {
                    let hidden = rng.vec(t * h, amplitude);
                    let ids: Vec<u32> = (0..t).map(|_| rng.below(vocab as u32)).collect();
                    let got = g.lm_head_stored(&hidden, h, &head_bytes, vocab, &ids, score_from, k, split).unwrap();
                    let what = format!("{} lm-head t={t} h={h} k={k} split={split:?} direct={direct}", dtype.name());
                    if vs_cpu {
                        let want = cpu_lm_head(&hidden, h, &head, vocab, None, &ids, score_from, k);
                        assert_rows_close(&what, &got, &want, 1e-5);
                    } else {
                        // Same kernel, same order, the same weight values: the same bits.
                        let want = dense.lm_head(&hidden, h, &head, vocab, None, &ids, score_from, k, split).unwrap();
                        assert_eq!(got, want, "{what}: stored vs f32 upload of the dequantized head");
                    }
                }
            }
        }
        eprintln!("{}: stored lm-head ok", dtype.name());
        ctx = Some(g.ctx);
    }
}
