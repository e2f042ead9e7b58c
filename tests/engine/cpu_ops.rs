//! The fast CPU kernels (`densi::cpu::fast`) and the reference ops (`densi::cpu::ops`) against plain,
//! obviously-correct scalar versions written here with f64 accumulation, on random data of odd shapes.

use std::sync::atomic::Ordering;

use densi::cpu::{fast, ops};
use densi::metrics::reduce_logits_row;

/// The crate's splitmix64: `uniform()` in [−1, 1), `vec(n, scale)`.
type Rng = densi::bench::SplitMix64;

const TS: [usize; 6] = [1, 7, 33, 65, 127, 200];

/// Causal GQA attention in f64, straight from the definition.
fn attention_f64(q: &[f32], k: &[f32], v: &[f32], t: usize, nh: usize, nkv: usize, hd: usize) -> Vec<f64> {
    let (qs, kvs) = (nh * hd, nkv * hd);
    let mut out = vec![0.0f64; t * qs];
    for i in 0..t {
        for h in 0..nh {
            let g = h / (nh / nkv);
            let s: Vec<f64> = (0..=i)
                .map(|j| {
                    (0..hd).map(|d| q[i * qs + h * hd + d] as f64 * k[j * kvs + g * hd + d] as f64).sum::<f64>()
                        / (hd as f64).sqrt()
                })
                .collect();
            let m = s.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let e: Vec<f64> = s.iter().map(|x| (x - m).exp()).collect();
            let z: f64 = e.iter().sum();
            for d in 0..hd {
                out[i * qs + h * hd + d] = (0..=i).map(|j| e[j] / z * v[j * kvs + g * hd + d] as f64).sum();
            }
        }
    }
    out
}

fn max_abs_err(a: &[f32], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(&x, &y)| (x as f64 - y).abs()).fold(0.0, f64::max)
}

#[test]
fn attention_fast_and_reference_match_f64() {
    let mut rng = Rng::new(1);
    // (nh, nkv, hd): SmolLM2's GQA, plain MHA with a small head, GQA with head_dim 24 (not a multiple of 16)
    // and head_dim 4 (the fast path falls back to the reference there).
    for &(nh, nkv, hd) in &[(9, 3, 64), (4, 4, 16), (6, 2, 24), (2, 1, 4)] {
        for &t in &TS {
            let (qs, kvs) = (nh * hd, nkv * hd);
            // Scores of O(±5): a peaked but not degenerate softmax.
            let q = rng.vec(t * qs, 2.0);
            let k = rng.vec(t * kvs, 2.0);
            let v = rng.vec(t * kvs, 1.0);
            let want = attention_f64(&q, &k, &v, t, nh, nkv, hd);

            let mut got = vec![0.0f32; t * qs];
            ops::attention(&q, &k, &v, t, nh, nkv, hd, &mut got);
            let e_ref = max_abs_err(&got, &want);

            // The fast kernel reads a fused [t, q | k | v] buffer.
            let ld = qs + 2 * kvs;
            let mut qkv = vec![0.0f32; t * ld];
            for j in 0..t {
                qkv[j * ld..j * ld + qs].copy_from_slice(&q[j * qs..(j + 1) * qs]);
                qkv[j * ld + qs..j * ld + qs + kvs].copy_from_slice(&k[j * kvs..(j + 1) * kvs]);
                qkv[j * ld + qs + kvs..(j + 1) * ld].copy_from_slice(&v[j * kvs..(j + 1) * kvs]);
            }
            // Keys and values (k | v per row) of every position: no prefix cache here.
            let kv: Vec<f32> = qkv.chunks_exact(ld).flat_map(|row| row[qs..].iter().copied()).collect();
            let mut fast_out = vec![0.0f32; t * qs];
            fast::attention(&qkv, t, &kv, nh, nkv, hd, &mut fast_out);
            let e_fast = max_abs_err(&fast_out, &want);
            // Outputs are convex combinations of values in [−1, 1]: f32 rounding gives ~1e-7; 2e-6 leaves
            // room for the score sums (|s| ≤ 64·4/8) and the exp polynomial.
            assert!(e_ref < 2e-6, "reference attention nh={nh} nkv={nkv} hd={hd} t={t}: {e_ref}");
            assert!(e_fast < 2e-6, "fast attention nh={nh} nkv={nkv} hd={hd} t={t}: {e_fast}");
        }
    }
}

/// The fast kernel's flash-style blocking (32 query positions × 32 keys, the query rows of a KV
/// head's group packed into one tile padded to the vector width, online softmax) on lengths that end
/// mid-block, past many blocks (1000), head_dim 64, 128 and 256, and GQA ratios 1, 3, 4 and 8, with
/// the AVX2 and the AVX-512 kernels; each against the f64 definition and the plain reference
/// `ops::attention`, with the tolerance above. (Other tests running meanwhile may take either
/// kernel set; both are correct.)
#[test]
fn flash_attention_matches_oracle_on_odd_shapes() {
    let mut rng = Rng::new(11);
    for &(nh, nkv, hd) in &[(9, 3, 64), (8, 2, 128), (4, 4, 64), (8, 1, 128), (6, 2, 256), (4, 4, 256)] {
        for &t in &[1, 7, 33, 65, 127, 1000] {
            // The long case once per head_dim, to keep the f64 oracle quick.
            if t == 1000 && nkv != 2 && nkv != 3 {
                continue;
            }
            let (qs, kvs) = (nh * hd, nkv * hd);
            let ld = qs + 2 * kvs;
            // Scores of O(±5) as above; a larger scale on a few rows' keys makes later blocks raise
            // the running max, so the rescaling path is exercised.
            let mut qkv = rng.vec(t * ld, 2.0 / (hd as f32 / 64.0).sqrt());
            for j in (0..t).step_by(37) {
                qkv[j * ld + qs..j * ld + qs + kvs].iter_mut().for_each(|x| *x *= 3.0);
            }
            let (mut q, mut k, mut v) = (vec![0.0f32; t * qs], vec![0.0f32; t * kvs], vec![0.0f32; t * kvs]);
            for j in 0..t {
                q[j * qs..(j + 1) * qs].copy_from_slice(&qkv[j * ld..j * ld + qs]);
                k[j * kvs..(j + 1) * kvs].copy_from_slice(&qkv[j * ld + qs..j * ld + qs + kvs]);
                v[j * kvs..(j + 1) * kvs]
                    .iter_mut()
                    .zip(&qkv[j * ld + qs + kvs..(j + 1) * ld])
                    .for_each(|(v, x)| *v = x / 2.0);
                qkv[j * ld + qs + kvs..(j + 1) * ld].copy_from_slice(&v[j * kvs..(j + 1) * kvs]);
            }
            let want = attention_f64(&q, &k, &v, t, nh, nkv, hd);
            let mut plain = vec![0.0f32; t * qs];
            ops::attention(&q, &k, &v, t, nh, nkv, hd, &mut plain);
            let kv: Vec<f32> = qkv.chunks_exact(ld).flat_map(|row| row[qs..].iter().copied()).collect();
            let e_ref = max_abs_err(&plain, &want);
            // Up to 200 keys, the tolerance of the test above for both. At 1000 keys f32 accumulation
            // grows: the plain reference sums 1000 terms one after another (measured 7e-6), the blocked
            // kernel rescales its running sums over 32 blocks (measured 2.9e-6), so each keeps a margin.
            let (fast_tol, ref_tol) = if t <= 200 { (2e-6, 2e-6) } else { (5e-6, 2e-5) };
            // The AVX2 kernels, then the AVX-512 ones (the same kernels again where the CPU lacks them).
            for avx512 in [false, true] {
                fast::ATTENTION_AVX512.store(avx512, Ordering::Relaxed);
                let mut fast_out = vec![0.0f32; t * qs];
                fast::attention(&qkv, t, &kv, nh, nkv, hd, &mut fast_out);
                // The last rows alone over the same keys (a prefix cache of `past` positions, not a
                // multiple of the 32-key block): each row's result is bit-identical to the full pass.
                let past = t / 3;
                let mut tail = vec![0.0f32; (t - past) * qs];
                fast::attention(&qkv[past * ld..], t - past, &kv, nh, nkv, hd, &mut tail);
                assert_eq!(tail, fast_out[past * qs..], "t {t}, past {past}: cached rows differ from the full pass");
                let e_fast = max_abs_err(&fast_out, &want);
                assert!(
                    e_fast < fast_tol,
                    "fast attention (avx512 {avx512}) nh={nh} nkv={nkv} hd={hd} t={t}: {e_fast}"
                );
            }
            assert!(e_ref < ref_tol, "reference attention nh={nh} nkv={nkv} hd={hd} t={t}: {e_ref}");
        }
    }
}

#[test]
fn gemm_nt_matches_f64_with_strides_and_accumulate() {
    let mut rng = Rng::new(2);
    // k = 1541 takes the own kernel's k-chunking (chunks ≤ 768) with a ragged tail; (300, 576, 192)
    // and (130, 1541, 7) have few W blocks, so the own kernel splits their rows over tasks (uneven).
    for &(m, k, n) in &[
        (1, 1, 1),
        (7, 13, 5),
        (33, 576, 960),
        (65, 100, 3),
        (127, 37, 129),
        (200, 576, 1536),
        (9, 1541, 7),
        (300, 576, 192),
        (130, 1541, 7),
    ] {
        for accumulate in [false, true] {
            let (lda, ldo) = (k + 3, n + 5);
            let a = rng.vec(m * lda, 1.0);
            let b = rng.vec(n * k, 1.0);
            let init = rng.vec(m * ldo, 1.0);
            // The dispatcher, this crate's own kernel and the gemm crate path, each on every shape.
            for (which, f) in [
                ("gemm_nt", fast::gemm_nt as fn(&[f32], usize, usize, usize, &[f32], usize, &mut [f32], usize, bool)),
                ("gemm_own_nt", fast::gemm_own_nt),
                ("gemm_packed_nt", fast::gemm_packed_nt),
                ("gemm_crate_nt", ops::gemm_crate_nt),
            ] {
                let mut out = init.clone();
                f(&a, lda, m, k, &b, n, &mut out, ldo, accumulate);
                for i in 0..m {
                    for j in 0..n {
                        let dot: f64 = (0..k).map(|l| a[i * lda + l] as f64 * b[j * k + l] as f64).sum();
                        let bound: f64 = (0..k).map(|l| (a[i * lda + l] as f64 * b[j * k + l] as f64).abs()).sum();
                        let want = dot + if accumulate { init[i * ldo + j] as f64 } else { 0.0 };
                        let got = out[i * ldo + j] as f64;
                        // f32 accumulation over k terms: a few ulps of Σ|a·b| (k·2⁻²⁴ is the worst case).
                        assert!(
                            (got - want).abs() <= 1e-6 * (bound + 1.0) * (k as f64).sqrt().max(4.0),
                            "{which} m={m} k={k} n={n} ({i},{j}): {got} vs {want}"
                        );
                    }
                    // Padding columns of out are never written.
                    for j in n..ldo {
                        assert_eq!(out[i * ldo + j], init[i * ldo + j], "{which}");
                    }
                }
            }
        }
    }
}

#[test]
fn fast_norm_matches_f64() {
    use densi::model::{Norm, NormKind};
    let mut rng = Rng::new(4);
    for kind in [NormKind::RmsNorm, NormKind::LayerNorm] {
        // h = 576 (SmolLM2) and 24 take the 8-lane sum; h = 13 the plain op.
        for &(t, h) in &[(1, 576), (7, 24), (5, 13)] {
            let x = rng.vec(t * h, 3.0);
            let weight = rng.vec(h, 1.0);
            let bias = matches!(kind, NormKind::LayerNorm).then(|| rng.vec(h, 1.0));
            let norm = Norm { kind, weight, bias, eps: 1e-5 };
            let mut out = vec![0.0f32; t * h];
            fast::norm(&x, h, &norm, &mut out);
            for (r, (o, x)) in out.chunks(h).zip(x.chunks(h)).enumerate() {
                let mean = if matches!(kind, NormKind::LayerNorm) {
                    x.iter().map(|&v| v as f64).sum::<f64>() / h as f64
                } else {
                    0.0
                };
                let var = x.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / h as f64;
                let inv = 1.0 / (var + 1e-5).sqrt();
                for i in 0..h {
                    let want = (x[i] as f64 - mean) * inv * norm.weight[i] as f64
                        + norm.bias.as_ref().map_or(0.0, |b| b[i] as f64);
                    assert!(
                        (o[i] as f64 - want).abs() <= 1e-5 * (want.abs() + 1.0),
                        "row {r} col {i}: {} vs {want}",
                        o[i]
                    );
                }
            }
        }
    }
}

#[test]
fn silu_mul_fused_matches_f64() {
    let mut rng = Rng::new(3);
    for &(t, inter) in &[(1, 1), (7, 13), (3, 1536), (5, 1541)] {
        // Gates over [−30, 30] cover both saturated ends of the sigmoid.
        let gu: Vec<f32> = (0..t * 2 * inter)
            .map(|i| if (i / inter) % 2 == 0 { rng.uniform() * 30.0 } else { rng.uniform() * 3.0 })
            .collect();
        let mut out = vec![0.0f32; t * inter];
        fast::silu_mul_fused(&gu, inter, &mut out);
        // and the reference op on split buffers
        let mut gate: Vec<f32> = Vec::new();
        let mut up: Vec<f32> = Vec::new();
        for r in 0..t {
            gate.extend_from_slice(&gu[r * 2 * inter..r * 2 * inter + inter]);
            up.extend_from_slice(&gu[r * 2 * inter + inter..(r + 1) * 2 * inter]);
        }
        let mut reference = gate.clone();
        ops::silu_mul(&mut reference, &up);
        for i in 0..t * inter {
            let (g, u) = (gate[i] as f64, up[i] as f64);
            let want = g / (1.0 + (-g).exp()) * u;
            // Relative 1e-6 (a few f32 ulps through exp, divide, multiply) plus a tiny absolute floor.
            let tol = 1e-6 * want.abs() + 1e-30;
            assert!((out[i] as f64 - want).abs() <= tol, "fast silu {i}: {} vs {want}", out[i]);
            assert!((reference[i] as f64 - want).abs() <= tol, "reference silu {i}: {} vs {want}", reference[i]);
        }
    }
}

#[test]
fn rope_strided_equals_reference_rope() {
    let mut rng = Rng::new(4);
    for &t in &TS {
        let (heads, hd, other) = (5, 64, 3 * 64);
        let ld = heads * hd + other;
        let buf = rng.vec(t * ld, 1.0);
        let (cos, sin) = ops::rope_tables(t, hd, 100000.0);
        let mut strided = buf.clone();
        fast::rope_strided(&mut strided, ld, 0, heads, hd, &cos, &sin);
        let mut plain: Vec<f32> = (0..t).flat_map(|p| buf[p * ld..p * ld + heads * hd].to_vec()).collect();
        ops::rope(&mut plain, heads, hd, &cos, &sin);
        for p in 0..t {
            assert_eq!(&strided[p * ld..p * ld + heads * hd], &plain[p * heads * hd..(p + 1) * heads * hd]);
            assert_eq!(&strided[p * ld + heads * hd..(p + 1) * ld], &buf[p * ld + heads * hd..(p + 1) * ld]);
        }
    }
}

/// log-softmax statistics in f64, from the definition (as the reference script computes them).
fn direct(z: &[f32], target: usize) -> (f64, f64, f64, u32) {
    let z: Vec<f64> = z.iter().map(|&x| x as f64).collect();
    let m = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let lse = m + z.iter().map(|x| (x - m).exp()).sum::<f64>().ln();
    let lp: Vec<f64> = z.iter().map(|x| x - lse).collect();
    let h = -lp.iter().map(|l| l.exp() * l).sum::<f64>();
    let v = lp.iter().map(|l| l.exp() * (l + h).powi(2)).sum::<f64>();
    let rank = 1 + lp.iter().filter(|&&l| l > lp[target]).count() as u32;
    (lp[target], h, v, rank)
}

#[test]
fn fast_logits_reduction_matches_definition_and_metrics() {
    let mut rng = Rng::new(5);
    for &n in &[1usize, 7, 8, 33, 1000, 49152, 49155] {
        for scale in [0.5f32, 4.0, 20.0] {
            let mut z = rng.vec(n, scale);
            if n > 20 {
                // exact ties, including with the target, and a clear winner
                z[3] = z[5];
                z[n - 1] = z[5];
                z[n / 2] = scale * 3.0;
            }
            for target in [0, n / 2, n - 1, 5.min(n - 1)] {
                for top_k in [0usize, 1, 5] {
                    let fast = fast::reduce_logits_row(&z, target as u32, top_k);
                    let plain = reduce_logits_row(&z, target as u32, top_k);
                    let (lp, h, v, rank) = direct(&z, target);
                    let ctx = format!("n={n} scale={scale} target={target} k={top_k}");
                    // 1e-6 nats: the polynomial exp is within ~2 f32 ulps of libm's, summed in f64.
                    assert!((fast.target_logprob - lp).abs() < 1e-6, "{ctx}: logprob {} vs {lp}", fast.target_logprob);
                    assert!((fast.entropy - h).abs() < 1e-6, "{ctx}: entropy {} vs {h}", fast.entropy);
                    assert!(
                        (fast.varentropy - v).abs() < 1e-5 * v.max(1.0),
                        "{ctx}: varentropy {} vs {v}",
                        fast.varentropy
                    );
                    assert!((fast.target_logprob - plain.target_logprob).abs() < 1e-6, "{ctx}");
                    assert!((fast.entropy - plain.entropy).abs() < 1e-6, "{ctx}");
                    assert_eq!(fast.rank, rank, "{ctx}");
                    assert_eq!(fast.rank, plain.rank, "{ctx}");
                    let ids = |r: &densi::metrics::RowStats| r.top.iter().map(|t| t.0).collect::<Vec<_>>();
                    assert_eq!(ids(&fast), ids(&plain), "{ctx}");
                    assert_eq!(fast.top.len(), top_k.min(n), "{ctx}");
                    for (a, b) in fast.top.iter().zip(&plain.top) {
                        assert!((a.1 - b.1).abs() < 1e-6 * b.1.max(1e-3), "{ctx}: top p {} vs {}", a.1, b.1);
                    }
                }
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[test]
fn exp8_is_within_two_ulps_of_f64_exp() {
    use std::arch::x86_64::*;
    if !fast::simd_available() {
        eprintln!("no AVX2+FMA: the polynomial exp is not used on this machine");
        return;
    }
    let mut worst = 0.0f64;
    let mut x = -87.0f32;
    while x < 87.0 {
        let xs = [x, x + 1e-3, x + 0.123, x + 0.25, x + 0.377, x + 0.5, x + 0.61, x + 0.99];
        let mut out = [0.0f32; 8];
        // SAFETY: AVX2+FMA checked above; 8-float arrays.
        unsafe { _mm256_storeu_ps(out.as_mut_ptr(), fast::x86::exp8(_mm256_loadu_ps(xs.as_ptr()))) };
        for (xi, oi) in xs.iter().zip(out) {
            let want = (*xi as f64).exp();
            worst = worst.max(((oi as f64 - want) / want).abs());
        }
        x += 0.731;
    }
    // 2 ulps of f32 = 2·2⁻²³ relative at worst.
    assert!(worst < 2.0 * f32::EPSILON as f64, "worst relative error {worst}");
    // Inputs far below the range give a tiny positive value, never NaN.
    let mut out = [0.0f32; 8];
    unsafe { _mm256_storeu_ps(out.as_mut_ptr(), fast::x86::exp8(_mm256_set1_ps(-1000.0))) };
    assert!(out.iter().all(|&v| (0.0..1e-37).contains(&v)));
}
