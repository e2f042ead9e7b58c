//! The fast CPU forward that [`super::CpuForward`] runs: the same math as the plain forward in
//! [`super`], arranged for speed on a few cores.
//!
//! - q, k, v write side by side into one [t, (nh + 2·nkv)·hd] buffer (and gate, up into one
//!   [t, 2·intermediate] buffer) straight from the checkpoint's weights: no repacked copies; the o and
//!   down projections add into the residual stream inside the GEMM (no `proj` buffer).
//! - Attention runs per block of query rows with keys stored transposed per KV head, so q·k is a
//!   broadcast-FMA over 8 keys at a time and p·V an FMA over 8 dimensions ([`attention`]).
//! - exp is a vectorised polynomial ([`x86::exp8`], ≈1 ulp) in SiLU, softmax and the lm-head reduction;
//!   the reduction ([`reduce_logits_row`]) does max, f64 sums, rank count and top-k in two passes over a row.
//! x86-64 with AVX2+FMA takes the SIMD kernels (checked at run time); anything else runs the plain
//! [`ops`] versions of the same steps.

use rayon::prelude::*;

use crate::error::Result;
use crate::metrics::{LogitSums, RowStats, TopK, row_stats_from_parts};
use crate::model::{Architecture, Mlp, ModelConfig, Weights};

use super::{LM_HEAD_ROWS, Profile, ops};

/// AVX2 and FMA present (x86-64 only; checked once, cached by std).
#[inline]
pub fn simd_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// out[m, n] (row stride ldo) = a[m, k] (row stride lda) · b[n, k]ᵀ, plus out's old value when
/// `accumulate` (a residual add fused into the GEMM). b is an nn.Linear weight, used as stored.
/// Short A (m < [`OWN_GEMM_MAX_M`]) goes to [`gemm_own_nt`], the rest to [`gemm_crate_nt`].
#[allow(clippy::too_many_arguments)]
pub fn gemm_nt(
    a: &[f32],
    lda: usize,
    m: usize,
    k: usize,
    b: &[f32],
    n: usize,
    out: &mut [f32],
    ldo: usize,
    accumulate: bool,
) {
    if m < OWN_GEMM_MAX_M && !GEMM_CRATE.load(std::sync::atomic::Ordering::Relaxed) {
        gemm_own_nt(a, lda, m, k, b, n, out, ldo, accumulate)
    } else {
        gemm_crate_nt(a, lda, m, k, b, n, out, ldo, accumulate)
    }
}

/// [`gemm_nt`] through this module's kernel: AVX2+FMA [`x86::gemm_block`] tiles over rayon tasks
/// of W-row blocks, reading both operands in place (no packing); the `gemm` crate without AVX2+FMA.
#[allow(clippy::too_many_arguments)]
pub fn gemm_own_nt(
    a: &[f32],
    lda: usize,
    m: usize,
    k: usize,
    b: &[f32],
    n: usize,
    out: &mut [f32],
    ldo: usize,
    accumulate: bool,
) {
    if m == 0 || n == 0 {
        return;
    }
    assert!(lda >= k && ldo >= n && k > 0);
    assert!(a.len() >= (m - 1) * lda + k && b.len() >= n * k && out.len() >= (m - 1) * ldo + n);
    #[cfg(target_arch = "x86_64")]
    if simd_available() {
        // k in chunks of at most KC so a 4-row A tile and a block's W rows stay cache-resident;
        // W rows in blocks of NB (NB·kc floats ≈ 128 KiB, in L2), one rayon task per block.
        const KC: usize = 768;
        let kchunks = k.div_ceil(KC);
        let kc = k.div_ceil(kchunks).div_ceil(8) * 8;
        let nb = (32768 / kc.max(1)).clamp(x86::GEMM_NR, 96) / x86::GEMM_NR * x86::GEMM_NR;
        let blocks = n.div_ceil(nb);
        let (ap, bp, op) =
            (SendPtr(a.as_ptr() as *mut f32), SendPtr(b.as_ptr() as *mut f32), SendPtr(out.as_mut_ptr()));
        (0..blocks).into_par_iter().for_each(|blk| {
            let (j0, j1) = (blk * nb, ((blk + 1) * nb).min(n));
            let mut p0 = 0;
            while p0 < k {
                let kcur = kc.min(k - p0);
                // SAFETY: AVX2+FMA checked; the asserts above bound rows 0..m of a and out and rows
                // 0..n of b; tasks write disjoint column ranges j0..j1 of out.
                unsafe {
                    x86::gemm_block(
                        ap.get(),
                        lda,
                        m,
                        bp.get(),
                        k,
                        j0,
                        j1,
                        p0,
                        kcur,
                        op.get(),
                        ldo,
                        accumulate || p0 > 0,
                    )
                };
                p0 += kcur;
            }
        });
        return;
    }
    gemm_crate_nt(a, lda, m, k, b, n, out, ldo, accumulate);
}

/// Up to this many rows of A, [`gemm_nt`] runs its own kernel; from here on the `gemm` crate, whose
/// packed BLIS-style kernels measured 5–10 % faster on SmolLM2's [512 × 576 × 1536] shapes, while the
/// own kernel (no packing) is faster on short ones: the lm-head's 64-row blocks and short windows.
pub const OWN_GEMM_MAX_M: usize = 128;

/// When set, [`gemm_nt`] always uses the `gemm` crate (for benchmarking one against the other).
pub static GEMM_CRATE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// A raw pointer shared by rayon tasks that touch disjoint parts of its buffer.
#[derive(Clone, Copy)]
struct SendPtr(*mut f32);
// SAFETY: only used for buffers whose tasks read shared data or write disjoint ranges.
unsafe impl Send for SendPtr {}
unsafe impl Sync for SendPtr {}
impl SendPtr {
    fn get(self) -> *mut f32 {
        self.0
    }
}

/// [`gemm_nt`] through the `gemm` crate (its own packing and micro-kernels, on the current rayon pool).
#[allow(clippy::too_many_arguments)]
pub fn gemm_crate_nt(
    a: &[f32],
    lda: usize,
    m: usize,
    k: usize,
    b: &[f32],
    n: usize,
    out: &mut [f32],
    ldo: usize,
    accumulate: bool,
) {
    if m == 0 || n == 0 {
        return;
    }
    assert!(lda >= k && ldo >= n && k > 0);
    assert!(a.len() >= (m - 1) * lda + k && b.len() >= n * k && out.len() >= (m - 1) * ldo + n);
    let threads = rayon::current_num_threads();
    let par = if threads > 1 { gemm::Parallelism::Rayon(threads) } else { gemm::Parallelism::None };
    // SAFETY: the asserts keep every index inside the slices: dst[i, j] at i·ldo + j,
    // lhs[i, l] at i·lda + l, rhs[l, j] = b[j, l] at j·k + l.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            out.as_mut_ptr(),
            1,
            ldo as isize,
            accumulate,
            a.as_ptr(),
            1,
            lda as isize,
            b.as_ptr(),
            k as isize,
            1,
            1.0,
            1.0,
            false,
            false,
            false,
            par,
        );
    }
}

/// In-place rotate-half RoPE on `heads` heads starting at column `col` of each row of `x`
/// (row stride `ld`), positions 0..rows: as [`ops::rope`], on a strided buffer.
pub fn rope_strided(x: &mut [f32], ld: usize, col: usize, heads: usize, hd: usize, cos: &[f32], sin: &[f32]) {
    let half = hd / 2;
    x.par_chunks_mut(ld).enumerate().for_each(|(p, row)| {
        let (c, s) = (&cos[p * half..(p + 1) * half], &sin[p * half..(p + 1) * half]);
        for head in row[col..col + heads * hd].chunks_exact_mut(hd) {
            let (a, b) = head.split_at_mut(half);
            for i in 0..half {
                let (x0, x1) = (a[i], b[i]);
                a[i] = x0 * c[i] - x1 * s[i];
                b[i] = x1 * c[i] + x0 * s[i];
            }
        }
    });
}

/// Query rows per attention task.
const ATT_ROWS: usize = 16;

/// Causal GQA attention over a fused qkv buffer: qkv [t, (nh + 2·nkv)·hd] (q | k | v per row, RoPE
/// applied) → out [t, nh·hd]. Same result as [`ops::attention`] up to f32 rounding order.
pub fn attention(qkv: &[f32], t: usize, nh: usize, nkv: usize, hd: usize, out: &mut [f32]) {
    let ld = (nh + 2 * nkv) * hd;
    assert!(qkv.len() == t * ld && out.len() == t * nh * hd);
    #[cfg(target_arch = "x86_64")]
    if simd_available() && hd % 8 == 0 {
        // kt [nkv][tp/32][hd][32]: keys transposed within blocks of 32 keys (one contiguous 8 KiB tile
        // per block at hd 64, so the d loop stays on two pages), zero-padded to tp keys.
        // vh [nkv][t][hd]: values per KV head, contiguous.
        let tp = t.div_ceil(32) * 32;
        let mut kt = vec![0.0f32; nkv * hd * tp];
        let mut vh = vec![0.0f32; nkv * t * hd];
        kt.par_chunks_mut(hd * tp).zip(vh.par_chunks_mut(t * hd)).enumerate().for_each(|(g, (kt, vh))| {
            let (kc, vc) = ((nh + g) * hd, (nh + nkv + g) * hd);
            for j in 0..t {
                let row = &qkv[j * ld..(j + 1) * ld];
                let blk = &mut kt[(j / 32) * hd * 32..(j / 32 + 1) * hd * 32];
                for d in 0..hd {
                    blk[d * 32 + j % 32] = row[kc + d];
                }
                vh[j * hd..(j + 1) * hd].copy_from_slice(&row[vc..vc + hd]);
            }
        });
        let scale = 1.0 / (hd as f32).sqrt();
        let group = nh / nkv;
        out.par_chunks_mut(ATT_ROWS * nh * hd).enumerate().for_each(|(blk, out)| {
            let i0 = blk * ATT_ROWS;
            let mut scores = vec![0.0f32; 2 * tp];
            let rows = out.len() / (nh * hd);
            for h in 0..nh {
                let g = h / group;
                let (kt, vh) = (&kt[g * hd * tp..(g + 1) * hd * tp], &vh[g * t * hd..(g + 1) * t * hd]);
                let q = |i: usize| &qkv[i * ld + h * hd..i * ld + (h + 1) * hd];
                // Rows in pairs (query i sees keys 0..=i), then a last odd row.
                let mut r = 0;
                while r < rows {
                    let i = i0 + r;
                    if r + 1 < rows {
                        let (a, b) = out[r * nh * hd..(r + 2) * nh * hd].split_at_mut(nh * hd);
                        let o = [&mut a[h * hd..(h + 1) * hd], &mut b[h * hd..(h + 1) * hd]];
                        // SAFETY: AVX2+FMA checked above; slices sized as attend_rows requires.
                        unsafe {
                            x86::attend_rows::<2>([q(i), q(i + 1)], kt, tp, vh, [i + 1, i + 2], scale, &mut scores, o)
                        };
                        r += 2;
                    } else {
                        let o = [&mut out[r * nh * hd + h * hd..r * nh * hd + (h + 1) * hd]];
                        // SAFETY: as above.
                        unsafe { x86::attend_rows::<1>([q(i)], kt, tp, vh, [i + 1], scale, &mut scores, o) };
                        r += 1;
                    }
                }
            }
        });
        return;
    }
    // Plain path: split the fused buffer and run the reference op.
    let (qs, kvs) = (nh * hd, nkv * hd);
    let mut q = vec![0.0f32; t * qs];
    let mut k = vec![0.0f32; t * kvs];
    let mut v = vec![0.0f32; t * kvs];
    for j in 0..t {
        let row = &qkv[j * ld..(j + 1) * ld];
        q[j * qs..(j + 1) * qs].copy_from_slice(&row[..qs]);
        k[j * kvs..(j + 1) * kvs].copy_from_slice(&row[qs..qs + kvs]);
        v[j * kvs..(j + 1) * kvs].copy_from_slice(&row[qs + kvs..]);
    }
    ops::attention(&q, &k, &v, t, nh, nkv, hd, out);
}

/// out[t, i] = silu(gu[t, 0..i]) · gu[t, i..2i] for gu = [gate | up] rows (SwiGLU), as [`ops::silu_mul`].
pub fn silu_mul_fused(gu: &[f32], inter: usize, out: &mut [f32]) {
    out.par_chunks_mut(inter).zip(gu.par_chunks(2 * inter)).for_each(|(o, gu)| {
        let (g, u) = gu.split_at(inter);
        #[cfg(target_arch = "x86_64")]
        if simd_available() {
            // SAFETY: AVX2+FMA checked; equal lengths.
            unsafe { x86::silu_mul(g, u, o) };
            return;
        }
        for ((o, g), u) in o.iter_mut().zip(g).zip(u) {
            *o = *g / (1.0 + (-*g).exp()) * u;
        }
    });
}

/// One row of logits → [`RowStats`]: the same quantities as [`crate::metrics::reduce_logits_row`]
/// (max, then f64 sums S₀ S₁ S₂ of e^(z−m), rank count and top-k in one more pass), vectorised.
pub fn reduce_logits_row(logits: &[f32], target: u32, top_k: usize) -> RowStats {
    #[cfg(target_arch = "x86_64")]
    if simd_available() {
        // SAFETY: AVX2+FMA checked.
        return unsafe { x86::reduce_row(logits, target, top_k) };
    }
    crate::metrics::reduce_logits_row(logits, target, top_k)
}

/// The fast forward plus the lm-head reduction: stats for targets `ids[score_from..]`.
#[allow(clippy::too_many_arguments)]
pub fn forward_stats(
    cfg: &ModelConfig,
    w: &Weights,
    ids: &[u32],
    score_from: usize,
    top_k: usize,
    mut prof: Option<&mut Profile>,
) -> Result<Vec<RowStats>> {
    assert!(score_from >= 1 && score_from <= ids.len());
    let p = &mut prof;
    let (t, h, inter) = (ids.len(), cfg.hidden_size, cfg.intermediate_size);
    let (nh, nkv, hd) = (cfg.num_heads, cfg.num_kv_heads, cfg.head_dim);
    let ldqkv = (nh + 2 * nkv) * hd;

    // x [t, h] = token embedding (+ learned position embedding for GPT-2)
    let mut x = ops::embed(ids, w, h);
    let rope = (cfg.architecture != Architecture::Gpt2).then(|| ops::rope_tables(t, hd, cfg.rope_theta));

    let mut normed = vec![0.0f32; t * h];
    let mut qkv = vec![0.0f32; t * ldqkv];
    let mut att = vec![0.0f32; t * nh * hd];
    let mut gu = vec![0.0f32; t * 2 * inter];
    let mut act = vec![0.0f32; t * inter];

    for block in &w.blocks {
        // Attention: x += o(attn(rope(q(n(x))), rope(k(n(x))), v(n(x))))
        Profile::time(p, "norm", || ops::norm(&x, h, &block.attn_norm, &mut normed));
        // q, k and v written side by side into the rows of one [t, (nh + 2·nkv)·hd] buffer.
        Profile::time(p, "qkv gemm", || {
            let mut col = 0;
            for lin in [&block.q, &block.k, &block.v] {
                gemm_nt(&normed, h, t, h, &lin.weight, lin.out_features, &mut qkv[col..], ldqkv, false);
                if let Some(b) = &lin.bias {
                    add_bias_cols(&mut qkv, ldqkv, col, b);
                }
                col += lin.out_features;
            }
        });
        if let Some((cos, sin)) = &rope {
            Profile::time(p, "rope", || rope_strided(&mut qkv, ldqkv, 0, nh + nkv, hd, cos, sin));
        }
        Profile::time(p, "attention", || attention(&qkv, t, nh, nkv, hd, &mut att));
        Profile::time(p, "o gemm", || {
            gemm_nt(&att, nh * hd, t, nh * hd, &block.o.weight, h, &mut x, h, true);
            if let Some(b) = &block.o.bias {
                add_bias_rows(&mut x, b);
            }
        });

        // MLP: x += mlp(n(x))
        Profile::time(p, "norm", || ops::norm(&x, h, &block.mlp_norm, &mut normed));
        match &block.mlp {
            Mlp::SwiGlu { gate, up, down } => {
                // gate and up side by side in the rows of one [t, 2·intermediate] buffer.
                Profile::time(p, "gate_up gemm", || {
                    gemm_nt(&normed, h, t, h, &gate.weight, inter, &mut gu, 2 * inter, false);
                    gemm_nt(&normed, h, t, h, &up.weight, inter, &mut gu[inter..], 2 * inter, false);
                });
                Profile::time(p, "silu", || silu_mul_fused(&gu, inter, &mut act));
                Profile::time(p, "down gemm", || gemm_nt(&act, inter, t, inter, &down.weight, h, &mut x, h, true));
            }
            Mlp::Gelu { fc, proj } => {
                Profile::time(p, "gate_up gemm", || {
                    gemm_nt(&normed, h, t, h, &fc.weight, inter, &mut act, inter, false);
                    if let Some(b) = &fc.bias {
                        add_bias_rows(&mut act, b);
                    }
                });
                Profile::time(p, "silu", || ops::gelu_new(&mut act));
                Profile::time(p, "down gemm", || {
                    gemm_nt(&act, inter, t, inter, &proj.weight, h, &mut x, h, true);
                    if let Some(b) = &proj.bias {
                        add_bias_rows(&mut x, b);
                    }
                });
            }
        }
    }
    Profile::time(p, "norm", || ops::norm(&x, h, &w.final_norm, &mut normed));

    // lm-head, LM_HEAD_ROWS rows at a time, each block reduced on the spot.
    let vocab = cfg.vocab_size;
    let head = w.lm_head_weight();
    let bias = w.lm_head_bias();
    let mut out = Vec::with_capacity(t - score_from);
    let mut logits = vec![0.0f32; LM_HEAD_ROWS.min(t) * vocab];
    let mut start = score_from;
    while start < t {
        let rows = (t - start).min(LM_HEAD_ROWS);
        // hidden row p predicts ids[p + 1]
        let xr = &normed[(start - 1) * h..(start - 1 + rows) * h];
        Profile::time(p, "lm_head gemm", || {
            gemm_nt(xr, h, rows, h, head, vocab, &mut logits[..rows * vocab], vocab, false)
        });
        let block: Vec<RowStats> = Profile::time(p, "lm_head reduce", || {
            logits[..rows * vocab]
                .par_chunks_mut(vocab)
                .enumerate()
                .map(|(r, row)| {
                    if let Some(b) = bias {
                        row.iter_mut().zip(b).for_each(|(z, b)| *z += b);
                    }
                    reduce_logits_row(row, ids[start + r], top_k)
                })
                .collect()
        });
        out.extend(block);
        start += rows;
    }
    Ok(out)
}

/// x[r, :] += b for every row r.
fn add_bias_rows(x: &mut [f32], b: &[f32]) {
    x.par_chunks_mut(b.len()).for_each(|row| row.iter_mut().zip(b).for_each(|(o, b)| *o += b));
}

/// x[r, col..col + b.len()] += b for every row r of x (row stride ld).
fn add_bias_cols(x: &mut [f32], ld: usize, col: usize, b: &[f32]) {
    x.par_chunks_mut(ld).for_each(|row| row[col..col + b.len()].iter_mut().zip(b).for_each(|(o, b)| *o += b));
}

#[cfg(target_arch = "x86_64")]
pub mod x86 {
    //! AVX2+FMA kernels. Every function here requires those features (callers check [`super::simd_available`]).
    use std::arch::x86_64::*;

    use super::{LogitSums, RowStats, TopK, row_stats_from_parts};

    /// e^x on 8 lanes (Cephes expf: 2^n · p(r), r = x − n·ln2 in two parts, degree-6 polynomial), about
    /// 1 ulp relative. x is clamped to [−87.3, 88]: inputs below give ≈ 1.2e−38, not 0, so callers mask
    /// exact zeros themselves.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    pub fn exp8(x: __m256) -> __m256 {
        let x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.336_54)), _mm256_set1_ps(88.0));
        let n = _mm256_round_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(_mm256_mul_ps(
            x,
            _mm256_set1_ps(std::f32::consts::LOG2_E),
        ));
        let r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693_359_4), x);
        let r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.121_944_4e-4), r);
        let mut y = _mm256_set1_ps(1.987_569_1e-4);
        y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(1.398_199_9e-3));
        y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(8.333_452e-3));
        y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(4.166_579_6e-2));
        y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(0.166_666_65));
        y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(0.5));
        let r2 = _mm256_mul_ps(r, r);
        y = _mm256_fmadd_ps(y, r2, _mm256_add_ps(r, _mm256_set1_ps(1.0)));
        let pow2n = _mm256_slli_epi32::<23>(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)));
        _mm256_mul_ps(y, _mm256_castsi256_ps(pow2n))
    }

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn hmax(v: __m256) -> f32 {
        let m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
        let m = _mm_max_ps(m, _mm_movehl_ps(m, m));
        let m = _mm_max_ss(m, _mm_shuffle_ps::<1>(m, m));
        _mm_cvtss_f32(m)
    }

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn hsum(v: __m256) -> f32 {
        let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        let s = _mm_add_ss(s, _mm_shuffle_ps::<1>(s, s));
        _mm_cvtss_f32(s)
    }

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn hsum_pd(v: __m256d) -> f64 {
        let s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd::<1>(v));
        _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)))
    }

    /// R query rows (R = 1 or 2, consecutive positions) of causal attention against one KV head:
    /// out_r[hd] = softmax(scale · q_r·Kᵀ over keys 0..n_r) · V, with kt [ld/32][hd][32] (keys transposed
    /// within blocks of 32, zero beyond t, ld a multiple of 32 and ≥ every n_r), vh [≥ max n][hd], hd a multiple of 8,
    /// scores ≥ R·ld floats of scratch. Two rows share every K and V load: 6 loads per 8 FMAs.
    #[target_feature(enable = "avx2,fma")]
    #[allow(clippy::too_many_arguments)]
    pub fn attend_rows<const R: usize>(
        q: [&[f32]; R],
        kt: &[f32],
        ld: usize,
        vh: &[f32],
        n: [usize; R],
        scale: f32,
        scores: &mut [f32],
        out: [&mut [f32]; R],
    ) {
        let hd = q[0].len();
        let nmax = n.iter().copied().max().unwrap_or(0);
        assert!(hd % 8 == 0 && nmax <= ld && ld % 32 == 0 && n.iter().all(|&n| n >= 1));
        assert!(q.iter().all(|q| q.len() == hd) && out.iter().all(|o| o.len() == hd));
        assert!(kt.len() >= hd * ld && vh.len() >= nmax * hd && scores.len() >= R * ld);
        let nb = nmax.div_ceil(32) * 32;
        let (ktp, sp) = (kt.as_ptr(), scores.as_mut_ptr());
        let sv = _mm256_set1_ps(scale);
        // s_r[j] = scale · Σ_d q_r[d] kt[d][j], 32 keys × R rows at a time.
        for j in (0..nb).step_by(32) {
            let mut acc = [[_mm256_setzero_ps(); 4]; R];
            for d in 0..hd {
                // SAFETY: d < hd and j + 32 ≤ nb ≤ ld, so j·hd + 32·d + 31 < hd·ld ≤ kt.len().
                let k = unsafe { ktp.add(j * hd + d * 32) };
                let kv = unsafe {
                    [
                        _mm256_loadu_ps(k),
                        _mm256_loadu_ps(k.add(8)),
                        _mm256_loadu_ps(k.add(16)),
                        _mm256_loadu_ps(k.add(24)),
                    ]
                };
                for r in 0..R {
                    let qv = _mm256_set1_ps(q[r][d]);
                    for v in 0..4 {
                        acc[r][v] = _mm256_fmadd_ps(qv, kv[v], acc[r][v]);
                    }
                }
            }
            for (r, acc) in acc.iter().enumerate() {
                for (v, a) in acc.iter().enumerate() {
                    // SAFETY: r·ld + j + 32 ≤ R·ld ≤ scores.len().
                    unsafe { _mm256_storeu_ps(sp.add(r * ld + j + 8 * v), _mm256_mul_ps(*a, sv)) };
                }
            }
        }
        // Per row: max over its n_r keys, p = e^(s − max) (exactly 0 beyond n_r, up to nb), 1/Σp.
        let mut inv = [0.0f32; R];
        for r in 0..R {
            let s = &mut scores[r * ld..r * ld + nb];
            let nr = n[r];
            let full = nr / 8 * 8;
            let mut mx = _mm256_set1_ps(f32::NEG_INFINITY);
            for j in (0..full).step_by(8) {
                // SAFETY: j + 8 ≤ nr ≤ s.len().
                mx = _mm256_max_ps(mx, unsafe { _mm256_loadu_ps(s.as_ptr().add(j)) });
            }
            let mut m = hmax(mx);
            for &x in &s[full..nr] {
                m = m.max(x);
            }
            let mv = _mm256_set1_ps(m);
            let mut sum = _mm256_setzero_ps();
            let lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
            for j in (0..nb).step_by(8) {
                // SAFETY: j + 8 ≤ nb = s.len().
                unsafe {
                    let mut e = exp8(_mm256_sub_ps(_mm256_loadu_ps(s.as_ptr().add(j)), mv));
                    if j + 8 > nr {
                        let keep = _mm256_cmpgt_epi32(_mm256_set1_epi32(nr.saturating_sub(j) as i32), lane);
                        e = _mm256_and_ps(e, _mm256_castsi256_ps(keep));
                    }
                    sum = _mm256_add_ps(sum, e);
                    _mm256_storeu_ps(s.as_mut_ptr().add(j), e);
                }
            }
            inv[r] = 1.0 / hsum(sum);
        }
        // out_r = Σ_j p_r[j] v[j] / Σ p_r, 32 dimensions (4 accumulators per row) at a time.
        let vp = vh.as_ptr();
        let mut d0 = 0;
        while d0 < hd {
            let nv = ((hd - d0) / 8).min(4);
            macro_rules! pv {
                ($nv:literal) => {{
                    let mut acc = [[_mm256_setzero_ps(); $nv]; R];
                    for j in 0..nmax {
                        // SAFETY: j < nmax, d0 + 8·nv ≤ hd: inside vh's first nmax rows.
                        let v = unsafe { vp.add(j * hd + d0) };
                        let mut vv = [_mm256_setzero_ps(); $nv];
                        for (l, vv) in vv.iter_mut().enumerate() {
                            *vv = unsafe { _mm256_loadu_ps(v.add(8 * l)) };
                        }
                        for r in 0..R {
                            // SAFETY: j < nb ≤ ld: inside row r of the scratch.
                            let pv = _mm256_set1_ps(unsafe { *sp.add(r * ld + j) });
                            for l in 0..$nv {
                                acc[r][l] = _mm256_fmadd_ps(pv, vv[l], acc[r][l]);
                            }
                        }
                    }
                    for r in 0..R {
                        let iv = _mm256_set1_ps(inv[r]);
                        for l in 0..$nv {
                            // SAFETY: d0 + 8l + 8 ≤ hd = out[r].len().
                            unsafe {
                                _mm256_storeu_ps(out[r].as_mut_ptr().add(d0 + 8 * l), _mm256_mul_ps(acc[r][l], iv))
                            };
                        }
                    }
                }};
            }
            match nv {
                4 => pv!(4),
                3 => pv!(3),
                2 => pv!(2),
                _ => pv!(1),
            }
            d0 += 8 * nv;
        }
    }

    /// One MR×NR tile of A·Wᵀ over k: c[i·ldc + j] (+)= Σ_p a[i·lda + p] · w[j·ldw + p].
    /// Both operands are read along k (their natural row-major layout, no packing): each of the MR·NR
    /// sums runs in an 8-lane accumulator, reduced horizontally at the end. 4×3 keeps 12 accumulators,
    /// 3 W vectors and 1 A vector in the 16 ymm registers: 7 loads per 12 FMAs.
    ///
    /// SAFETY: the caller guarantees rows 0..MR of a (k floats each, stride lda), rows 0..NR of w
    /// (stride ldw) and the MR×NR tile of c (stride ldc) are in bounds.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    #[allow(clippy::too_many_arguments)]
    unsafe fn tile<const MR: usize, const NR: usize>(
        a: *const f32,
        lda: usize,
        w: *const f32,
        ldw: usize,
        k: usize,
        c: *mut f32,
        ldc: usize,
        add: bool,
    ) {
        let mut acc = [[_mm256_setzero_ps(); NR]; MR];
        let k8 = k / 8 * 8;
        let mut p = 0;
        while p < k8 {
            let mut wv = [_mm256_setzero_ps(); NR];
            for (j, wv) in wv.iter_mut().enumerate() {
                *wv = unsafe { _mm256_loadu_ps(w.add(j * ldw + p)) };
            }
            for (i, acc) in acc.iter_mut().enumerate() {
                let av = unsafe { _mm256_loadu_ps(a.add(i * lda + p)) };
                for j in 0..NR {
                    acc[j] = _mm256_fmadd_ps(av, wv[j], acc[j]);
                }
            }
            p += 8;
        }
        // Horizontal sums four accumulators at a time (row-major over the tile, MR·NR ≤ 12).
        let mut flat = [_mm256_setzero_ps(); 12];
        for i in 0..MR {
            for j in 0..NR {
                flat[i * NR + j] = acc[i][j];
            }
        }
        let mut sums = [0.0f32; 12];
        for g in (0..MR * NR).step_by(4) {
            let r = hsum4(flat[g], flat[g + 1], flat[g + 2], flat[g + 3]);
            // SAFETY: g + 4 ≤ 12.
            unsafe { _mm_storeu_ps(sums.as_mut_ptr().add(g), r) };
        }
        for i in 0..MR {
            for j in 0..NR {
                let mut s = sums[i * NR + j];
                for q in k8..k {
                    s += unsafe { *a.add(i * lda + q) * *w.add(j * ldw + q) };
                }
                let cp = unsafe { c.add(i * ldc + j) };
                unsafe { *cp = if add { *cp + s } else { s } };
            }
        }
    }

    /// [Σa, Σb, Σc, Σd] over the 8 lanes of each (three horizontal adds and one 128-bit add).
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn hsum4(a: __m256, b: __m256, c: __m256, d: __m256) -> __m128 {
        let t = _mm256_hadd_ps(_mm256_hadd_ps(a, b), _mm256_hadd_ps(c, d));
        _mm_add_ps(_mm256_castps256_ps128(t), _mm256_extractf128_ps::<1>(t))
    }

    /// [`tile`] for a partial tile at the edges (mr ≤ 4 rows, nr ≤ 3 columns).
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    #[allow(clippy::too_many_arguments)]
    unsafe fn tile_dyn(
        mr: usize,
        nr: usize,
        a: *const f32,
        lda: usize,
        w: *const f32,
        ldw: usize,
        k: usize,
        c: *mut f32,
        ldc: usize,
        add: bool,
    ) {
        macro_rules! go {
            ($($m:literal $n:literal),*) => {
                match (mr, nr) {
                    $(($m, $n) => unsafe { tile::<$m, $n>(a, lda, w, ldw, k, c, ldc, add) },)*
                    _ => unreachable!("tile {mr}x{nr}"),
                }
            };
        }
        go!(4 3, 4 2, 4 1, 3 3, 3 2, 3 1, 2 3, 2 2, 2 1, 1 3, 1 2, 1 1)
    }

    /// Rows of A per tile, rows of W per tile.
    pub const GEMM_MR: usize = 4;
    pub const GEMM_NR: usize = 3;

    /// c[m × (j0..j1)] (+)= a · w[j0..j1]ᵀ over k columns p0..p0+kc: one task's block of columns.
    /// Tiles run row-tile outer, column-tile inner, so a 4-row slice of A stays in L1 while the block's
    /// W rows (sized by the caller to sit in L2) stream past it.
    ///
    /// SAFETY: a [m, ≥p0+kc] (stride lda), w [≥j1, ≥p0+kc] (stride ldw), c [m, ≥j1] (stride ldc) in bounds.
    #[target_feature(enable = "avx2,fma")]
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn gemm_block(
        a: *const f32,
        lda: usize,
        m: usize,
        w: *const f32,
        ldw: usize,
        j0: usize,
        j1: usize,
        p0: usize,
        kc: usize,
        c: *mut f32,
        ldc: usize,
        add: bool,
    ) {
        let mut i = 0;
        while i < m {
            let mr = (m - i).min(GEMM_MR);
            let mut j = j0;
            while j < j1 {
                let nr = (j1 - j).min(GEMM_NR);
                unsafe {
                    let (ap, wp, cp) = (a.add(i * lda + p0), w.add(j * ldw + p0), c.add(i * ldc + j));
                    if mr == GEMM_MR && nr == GEMM_NR {
                        tile::<GEMM_MR, GEMM_NR>(ap, lda, wp, ldw, kc, cp, ldc, add);
                    } else {
                        tile_dyn(mr, nr, ap, lda, wp, ldw, kc, cp, ldc, add);
                    }
                }
                j += nr;
            }
            i += mr;
        }
    }

    /// o = g / (1 + e^(−g)) · u, elementwise (SiLU-gated product).
    #[target_feature(enable = "avx2,fma")]
    pub fn silu_mul(g: &[f32], u: &[f32], o: &mut [f32]) {
        let n = o.len();
        assert!(g.len() == n && u.len() == n);
        let full = n / 8 * 8;
        let one = _mm256_set1_ps(1.0);
        for i in (0..full).step_by(8) {
            // SAFETY: i + 8 ≤ n for all three slices.
            unsafe {
                let gv = _mm256_loadu_ps(g.as_ptr().add(i));
                let e = exp8(_mm256_sub_ps(_mm256_setzero_ps(), gv));
                let s = _mm256_div_ps(gv, _mm256_add_ps(one, e));
                _mm256_storeu_ps(o.as_mut_ptr().add(i), _mm256_mul_ps(s, _mm256_loadu_ps(u.as_ptr().add(i))));
            }
        }
        for i in full..n {
            o[i] = g[i] / (1.0 + (-g[i]).exp()) * u[i];
        }
    }

    /// As [`crate::metrics::reduce_logits_row`]: pass 1 the max; pass 2 e^(z−m) in f32, summed with
    /// its first two moments in f64 lanes, the count of logits above the target's, and top-k (only
    /// lanes at or above the current k-th best reach the scalar [`TopK`]).
    #[target_feature(enable = "avx2,fma")]
    pub fn reduce_row(z: &[f32], target: u32, top_k: usize) -> RowStats {
        let n = z.len();
        let full = n / 8 * 8;
        let zp = z.as_ptr();
        let mut mx = _mm256_set1_ps(f32::NEG_INFINITY);
        for i in (0..full).step_by(8) {
            // SAFETY: i + 8 ≤ n.
            mx = _mm256_max_ps(mx, unsafe { _mm256_loadu_ps(zp.add(i)) });
        }
        let mut m = hmax(mx);
        for &v in &z[full..] {
            m = m.max(v);
        }
        let zt = z[target as usize];
        let (mv, ztv) = (_mm256_set1_ps(m), _mm256_set1_ps(zt));
        let (mut s0a, mut s0b, mut s1a, mut s1b, mut s2a, mut s2b) = (
            _mm256_setzero_pd(),
            _mm256_setzero_pd(),
            _mm256_setzero_pd(),
            _mm256_setzero_pd(),
            _mm256_setzero_pd(),
            _mm256_setzero_pd(),
        );
        let mut above = _mm256_setzero_si256();
        let mut top = TopK::new(top_k);
        // Lanes below the current k-th best can never enter the top-k.
        let mut thr = if top_k == 0 { f32::INFINITY } else { f32::NEG_INFINITY };
        let mut thrv = _mm256_set1_ps(thr);
        for i in (0..full).step_by(8) {
            // SAFETY: i + 8 ≤ n.
            let x = unsafe { _mm256_loadu_ps(zp.add(i)) };
            let d = _mm256_sub_ps(x, mv);
            let e = exp8(d);
            let (elo, ehi) =
                (_mm256_cvtps_pd(_mm256_castps256_ps128(e)), _mm256_cvtps_pd(_mm256_extractf128_ps::<1>(e)));
            let (dlo, dhi) =
                (_mm256_cvtps_pd(_mm256_castps256_ps128(d)), _mm256_cvtps_pd(_mm256_extractf128_ps::<1>(d)));
            s0a = _mm256_add_pd(s0a, elo);
            s0b = _mm256_add_pd(s0b, ehi);
            let (tlo, thi) = (_mm256_mul_pd(elo, dlo), _mm256_mul_pd(ehi, dhi));
            s1a = _mm256_add_pd(s1a, tlo);
            s1b = _mm256_add_pd(s1b, thi);
            s2a = _mm256_fmadd_pd(tlo, dlo, s2a);
            s2b = _mm256_fmadd_pd(thi, dhi, s2b);
            // cmp mask lanes are −1: subtracting counts them
            above = _mm256_sub_epi32(above, _mm256_castps_si256(_mm256_cmp_ps::<_CMP_GT_OQ>(x, ztv)));
            let hit = _mm256_movemask_ps(_mm256_cmp_ps::<_CMP_GE_OQ>(x, thrv));
            if hit != 0 {
                for l in 0..8 {
                    if hit & (1 << l) != 0 {
                        top.push(z[i + l], (i + l) as u32);
                    }
                }
                if top.items().len() == top_k {
                    thr = top.items()[top_k - 1].0;
                    thrv = _mm256_set1_ps(thr);
                }
            }
        }
        let (mut s0, mut s1, mut s2) =
            (hsum_pd(_mm256_add_pd(s0a, s0b)), hsum_pd(_mm256_add_pd(s1a, s1b)), hsum_pd(_mm256_add_pd(s2a, s2b)));
        let mut cnt = [0i32; 8];
        // SAFETY: 8 i32 lanes into an 8-element array.
        unsafe { _mm256_storeu_si256(cnt.as_mut_ptr().cast(), above) };
        let mut above = cnt.iter().sum::<i32>() as u32;
        for (i, &v) in z.iter().enumerate().skip(full) {
            let d = v - m;
            let e = d.exp() as f64;
            let d = d as f64;
            s0 += e;
            s1 += e * d;
            s2 += e * d * d;
            above += (v > zt) as u32;
            top.push(v, i as u32);
        }
        let sums = LogitSums { max: m as f64, s0, s1, s2 };
        row_stats_from_parts(&sums, zt as f64, above, top.items())
    }
}
