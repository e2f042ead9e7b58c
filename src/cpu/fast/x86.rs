//! The AVX2+FMA kernels of the fast CPU forward: vectorised exp, the flash-attention tiles,
//! the short-matrix GEMM tile, SiLU·up and the lm-head row reduction. Every function here requires those
//! features (callers check [`super::simd_available`]); [`super`] holds the portable fallbacks. The
//! attention kernels also come on 16 lanes (`*_16`, AVX-512F, callers check [`super::avx512_available`]).

use std::arch::x86_64::*;

use super::{BoundaryMask, LogitSums, RowStats, TopK, row_stats_from_parts};

/// e^x on 8 lanes (Cephes expf: 2^n · p(r), r = x − n·ln2 in two parts, degree-6 polynomial), about
/// 1 ulp relative. x is clamped to [−87.3, 88]: inputs below give ≈ 1.2e−38, not 0, so callers mask
/// exact zeros themselves.
#[inline]
///
/// # Safety
/// Needs AVX2 and FMA (callers check [`super::simd_available`]).
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
fn hsum_pd(v: __m256d) -> f64 {
    let s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd::<1>(v));
    _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)))
}

/// Keys per attention block: the keys one [`flash_scores`] / [`flash_pv`] call covers.
pub const ATT_BK: usize = 32;

/// 2^f ≈ Σ c_i f^i on [−½, ½], lowest degree first: a least-squares fit of the relative error (the
/// linear coefficient rounds to ln 2 in f32). Used by [`exp2_8`] and [`exp2_16`].
const EXP2_POLY: [f32; 7] =
    [1.0, std::f32::consts::LN_2, 0.240_226_46, 0.055_503_29, 0.009_618_52, 0.001_339_986, 0.000_153_375_77];

/// 2^x on 8 lanes for x ≤ 0 (attention scores minus their running max, in log2 units): n = round(x)
/// by the 1.5·2²³ trick, 2^(x − n) by a degree-6 polynomial on [−½, ½] (relative error 1.9e−9 in
/// exact arithmetic, ≈1e−7 after f32 rounding), n added to the exponent bits. Cheaper than
/// [`exp8`] (no range reduction by ln 2, no clamp above); x below −126 (−∞ included) gives 2^−126, so
/// callers mask exact zeros themselves.
#[inline]
#[target_feature(enable = "avx2,fma")]
pub fn exp2_8(x: __m256) -> __m256 {
    let x = _mm256_max_ps(x, _mm256_set1_ps(-126.0));
    let magic = _mm256_set1_ps(12_582_912.0); // 1.5·2²³: x + magic rounds x to an integer
    let t = _mm256_add_ps(x, magic);
    let f = _mm256_sub_ps(x, _mm256_sub_ps(t, magic));
    let mut p = _mm256_set1_ps(EXP2_POLY[6]);
    for c in EXP2_POLY[..6].iter().rev() {
        p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(*c));
    }
    // t's low mantissa bits hold n (two's complement under the magic offset): shifted left by 23
    // they are n in the exponent field, the rest falls off the top.
    let n = _mm256_slli_epi32::<23>(_mm256_castps_si256(t));
    _mm256_castsi256_ps(_mm256_add_epi32(_mm256_castps_si256(p), n))
}

/// Scores of one block of 32 keys for a tile of query rows:
///   s[j][x] = Σ_d qt[d][x] · k_j[d]   (j < 32, x < rows; k_j = k[j·ldk..j·ldk + hd])
/// qt is the tile's queries transposed, [hd][rows] (scale folded in), rows a multiple of 8; the keys
/// are read where they lie (row stride ldk), one broadcast per key and dimension.
///
/// # Safety
/// Needs AVX2 and FMA (callers check [`super::simd_available`]).
#[target_feature(enable = "avx2,fma")]
pub fn flash_scores(qt: &[f32], rows: usize, k: &[f32], ldk: usize, s: &mut [f32]) {
    let hd = qt.len() / rows.max(1);
    assert!(rows.is_multiple_of(8) && qt.len() == hd * rows && s.len() >= ATT_BK * rows);
    assert!(k.len() >= (ATT_BK - 1) * ldk + hd);
    let mut x0 = 0;
    while x0 < rows {
        let nq = ((rows - x0) / 8).min(2);
        for j0 in (0..ATT_BK).step_by(4) {
            // SAFETY: x0 + 8·nq ≤ rows and j0 + 4 ≤ 32: inside qt, k and s (asserted above).
            unsafe {
                match nq {
                    2 => scores_tile::<2>(qt, rows, hd, k, ldk, s, x0, j0),
                    _ => scores_tile::<1>(qt, rows, hd, k, ldk, s, x0, j0),
                }
            }
        }
        x0 += 8 * nq;
    }
}

/// Rows x0..x0 + 8·NQ × keys j0..j0 + 4 of [`flash_scores`]: per dimension, NQ query vectors and 4
/// broadcast key values feed 4·NQ accumulators (2 × 4 measured as fast as 2 × 6 or 3 × 4 here, which
/// spill).
///
/// SAFETY: the caller guarantees x0 + 8·NQ ≤ rows, j0 + 4 ≤ 32 and the sizes [`flash_scores`] asserts.
#[inline]
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments, clippy::needless_range_loop)]
unsafe fn scores_tile<const NQ: usize>(
    qt: &[f32],
    rows: usize,
    hd: usize,
    k: &[f32],
    ldk: usize,
    s: &mut [f32],
    x0: usize,
    j0: usize,
) {
    let (qp, kp, sp) = (qt.as_ptr(), k.as_ptr(), s.as_mut_ptr());
    let mut acc = [[_mm256_setzero_ps(); 4]; NQ];
    for d in 0..hd {
        // SAFETY: d < hd; rows and keys in range by the caller's guarantee.
        unsafe {
            let mut q = [_mm256_setzero_ps(); NQ];
            for v in 0..NQ {
                q[v] = _mm256_loadu_ps(qp.add(d * rows + x0 + 8 * v));
            }
            for c in 0..4 {
                let kb = _mm256_broadcast_ss(&*kp.add((j0 + c) * ldk + d));
                for v in 0..NQ {
                    acc[v][c] = _mm256_fmadd_ps(q[v], kb, acc[v][c]);
                }
            }
        }
    }
    for c in 0..4 {
        for v in 0..NQ {
            // SAFETY: (j0 + c)·rows + x0 + 8v + 8 ≤ 32·rows ≤ s.len().
            unsafe { _mm256_storeu_ps(sp.add((j0 + c) * rows + x0 + 8 * v), acc[v][c]) };
        }
    }
}

/// The online softmax of one key block, rows in lanes (8 query rows per vector: no horizontal
/// reductions, one exp per score):
///   m' = max(m, max_j s[j][x]), α = 2^(m − m'), p[j][x] = 2^(s[j][x] − m'), l ← α·l + Σ_j p[j][x].
/// Scores are in log2 units (log₂e folded into the queries). s [32][rows] becomes p in place; α goes
/// to `alpha` for [`flash_pv`]. With `last = Some(lastkey)` (the diagonal block) row x sees keys
/// j ≤ lastkey[x] only, the rest get p = 0; every row must see key 0.
///
/// # Safety
/// Needs AVX2 and FMA (callers check [`super::simd_available`]).
#[target_feature(enable = "avx2,fma")]
pub fn flash_softmax(
    s: &mut [f32],
    rows: usize,
    last: Option<&[i32]>,
    m: &mut [f32],
    l: &mut [f32],
    alpha: &mut [f32],
) {
    assert!(rows.is_multiple_of(8) && s.len() >= ATT_BK * rows);
    assert!(m.len() >= rows && l.len() >= rows && alpha.len() >= rows);
    assert!(last.is_none_or(|x| x.len() >= rows && x.iter().all(|&k| k >= 0)));
    let sp = s.as_mut_ptr();
    let ninf = _mm256_set1_ps(f32::NEG_INFINITY);
    for x0 in (0..rows).step_by(8) {
        // SAFETY: x0 + 8 ≤ rows ≤ every slice's length; j·rows + x0 + 8 ≤ 32·rows ≤ s.len().
        unsafe {
            let lastkey = last.map(|x| _mm256_loadu_si256(x.as_ptr().add(x0).cast()));
            // Lanes whose row sees key j (all ones) or not (zero), on the diagonal block.
            let visible =
                |lk: __m256i, j: usize| _mm256_castsi256_ps(_mm256_cmpgt_epi32(lk, _mm256_set1_epi32(j as i32 - 1)));
            let mut mx = ninf;
            for j in 0..ATT_BK {
                let sj = _mm256_loadu_ps(sp.add(j * rows + x0));
                mx = _mm256_max_ps(mx, lastkey.map_or(sj, |lk| _mm256_blendv_ps(ninf, sj, visible(lk, j))));
            }
            let m_old = _mm256_loadu_ps(m.as_ptr().add(x0));
            let m_new = _mm256_max_ps(m_old, mx);
            // 2^(−∞) on a row's first block gives 2^−126, which scales l = 0 and o = 0.
            let a = exp2_8(_mm256_sub_ps(m_old, m_new));
            _mm256_storeu_ps(m.as_mut_ptr().add(x0), m_new);
            _mm256_storeu_ps(alpha.as_mut_ptr().add(x0), a);
            // Two partial sums: half the add latency chain.
            let mut sum = [_mm256_setzero_ps(); 2];
            for j in 0..ATT_BK {
                let mut p = exp2_8(_mm256_sub_ps(_mm256_loadu_ps(sp.add(j * rows + x0)), m_new));
                if let Some(lk) = lastkey {
                    p = _mm256_and_ps(p, visible(lk, j));
                }
                sum[j % 2] = _mm256_add_ps(sum[j % 2], p);
                _mm256_storeu_ps(sp.add(j * rows + x0), p);
            }
            let l_old = _mm256_loadu_ps(l.as_ptr().add(x0));
            _mm256_storeu_ps(l.as_mut_ptr().add(x0), _mm256_fmadd_ps(a, l_old, _mm256_add_ps(sum[0], sum[1])));
        }
    }
}

/// The values of one key block: o[x] ← α[x]·o[x] + Σ_j p[j][x] · v_j for o [rows][hd] (rows a multiple
/// of 4), p [32][rows] from [`flash_softmax`], v_j = v[j·ldv..j·ldv + hd] read where it lies.
///
/// # Safety
/// Needs AVX2 and FMA (callers check [`super::simd_available`]).
#[target_feature(enable = "avx2,fma")]
pub fn flash_pv(p: &[f32], rows: usize, v: &[f32], ldv: usize, alpha: &[f32], o: &mut [f32]) {
    let hd = o.len() / rows.max(1);
    assert!(rows.is_multiple_of(4) && hd.is_multiple_of(8) && o.len() == rows * hd);
    assert!(p.len() >= ATT_BK * rows && alpha.len() >= rows && v.len() >= (ATT_BK - 1) * ldv + hd);
    let mut d0 = 0;
    while d0 < hd {
        let nv = ((hd - d0) / 8).min(2);
        for x0 in (0..rows).step_by(4) {
            // SAFETY: d0 + 8·nv ≤ hd and x0 + 4 ≤ rows: inside o, p, alpha and v (asserted above).
            unsafe {
                match nv {
                    2 => pv_tile::<2>(p, rows, v, ldv, alpha, o, hd, d0, x0),
                    _ => pv_tile::<1>(p, rows, v, ldv, alpha, o, hd, d0, x0),
                }
            }
        }
        d0 += 8 * nv;
    }
}

/// Rows x0..x0 + 4 × columns d0..d0 + 8·NV of [`flash_pv`]: per key, NV value vectors and 4 broadcast
/// probabilities feed 4·NV accumulators.
///
/// SAFETY: the caller guarantees x0 + 4 ≤ rows, d0 + 8·NV ≤ hd and the sizes [`flash_pv`] asserts.
#[inline]
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments, clippy::needless_range_loop)]
unsafe fn pv_tile<const NV: usize>(
    p: &[f32],
    rows: usize,
    v: &[f32],
    ldv: usize,
    alpha: &[f32],
    o: &mut [f32],
    hd: usize,
    d0: usize,
    x0: usize,
) {
    let (pp, vp, op) = (p.as_ptr(), v.as_ptr(), o.as_mut_ptr());
    // SAFETY: every offset below is inside its slice by the caller's guarantee.
    unsafe {
        let mut acc = [[_mm256_setzero_ps(); NV]; 4];
        for r in 0..4 {
            let a = _mm256_broadcast_ss(&*alpha.as_ptr().add(x0 + r));
            for c in 0..NV {
                acc[r][c] = _mm256_mul_ps(a, _mm256_loadu_ps(op.add((x0 + r) * hd + d0 + 8 * c)));
            }
        }
        for j in 0..ATT_BK {
            let mut vv = [_mm256_setzero_ps(); NV];
            for c in 0..NV {
                vv[c] = _mm256_loadu_ps(vp.add(j * ldv + d0 + 8 * c));
            }
            for r in 0..4 {
                let pb = _mm256_broadcast_ss(&*pp.add(j * rows + x0 + r));
                for c in 0..NV {
                    acc[r][c] = _mm256_fmadd_ps(pb, vv[c], acc[r][c]);
                }
            }
        }
        for r in 0..4 {
            for c in 0..NV {
                _mm256_storeu_ps(op.add((x0 + r) * hd + d0 + 8 * c), acc[r][c]);
            }
        }
    }
}

// The same three attention kernels on 16 lanes (AVX-512F), for machines that have it: twice the
// registers hold a 32-row × 8-key scores tile and an 8-row × 32-dimension P·V tile (16 accumulators
// each), broadcasts fold into the FMAs, and half the instructions go through the front end. Same
// arithmetic per row as the 8-lane versions above, in another order within a block.

/// [`exp2_8`] on 16 lanes.
#[inline]
#[target_feature(enable = "avx512f")]
pub fn exp2_16(x: __m512) -> __m512 {
    let x = _mm512_max_ps(x, _mm512_set1_ps(-126.0));
    let magic = _mm512_set1_ps(12_582_912.0);
    let t = _mm512_add_ps(x, magic);
    let f = _mm512_sub_ps(x, _mm512_sub_ps(t, magic));
    let mut p = _mm512_set1_ps(EXP2_POLY[6]);
    for c in EXP2_POLY[..6].iter().rev() {
        p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(*c));
    }
    let n = _mm512_slli_epi32::<23>(_mm512_castps_si512(t));
    _mm512_castsi512_ps(_mm512_add_epi32(_mm512_castps_si512(p), n))
}

/// [`flash_scores`] on 16 lanes: rows a multiple of 16, 32 rows × 8 keys per register tile.
///
/// # Safety
/// Needs AVX-512F (callers check [`super::avx512_available`]).
#[target_feature(enable = "avx512f")]
pub fn flash_scores_16(qt: &[f32], rows: usize, k: &[f32], ldk: usize, s: &mut [f32]) {
    let hd = qt.len() / rows.max(1);
    assert!(rows.is_multiple_of(16) && qt.len() == hd * rows && s.len() >= ATT_BK * rows);
    assert!(k.len() >= (ATT_BK - 1) * ldk + hd);
    let mut x0 = 0;
    while x0 < rows {
        let nq = ((rows - x0) / 16).min(2);
        for j0 in (0..ATT_BK).step_by(8) {
            // SAFETY: x0 + 16·nq ≤ rows and j0 + 8 ≤ 32: inside qt, k and s (asserted above).
            unsafe {
                match nq {
                    2 => scores_tile_16::<2>(qt, rows, hd, k, ldk, s, x0, j0),
                    _ => scores_tile_16::<1>(qt, rows, hd, k, ldk, s, x0, j0),
                }
            }
        }
        x0 += 16 * nq;
    }
}

/// Rows x0..x0 + 16·NQ × keys j0..j0 + 8 of [`flash_scores_16`].
///
/// SAFETY: the caller guarantees x0 + 16·NQ ≤ rows, j0 + 8 ≤ 32 and the sizes [`flash_scores_16`] asserts.
#[inline]
#[target_feature(enable = "avx512f")]
#[allow(clippy::too_many_arguments, clippy::needless_range_loop)]
unsafe fn scores_tile_16<const NQ: usize>(
    qt: &[f32],
    rows: usize,
    hd: usize,
    k: &[f32],
    ldk: usize,
    s: &mut [f32],
    x0: usize,
    j0: usize,
) {
    let (qp, kp, sp) = (qt.as_ptr(), k.as_ptr(), s.as_mut_ptr());
    let mut acc = [[_mm512_setzero_ps(); 8]; NQ];
    for d in 0..hd {
        // SAFETY: d < hd; rows and keys in range by the caller's guarantee.
        unsafe {
            let mut q = [_mm512_setzero_ps(); NQ];
            for v in 0..NQ {
                q[v] = _mm512_loadu_ps(qp.add(d * rows + x0 + 16 * v));
            }
            for c in 0..8 {
                let kb = _mm512_set1_ps(*kp.add((j0 + c) * ldk + d));
                for v in 0..NQ {
                    acc[v][c] = _mm512_fmadd_ps(q[v], kb, acc[v][c]);
                }
            }
        }
    }
    for c in 0..8 {
        for v in 0..NQ {
            // SAFETY: (j0 + c)·rows + x0 + 16v + 16 ≤ 32·rows ≤ s.len().
            unsafe { _mm512_storeu_ps(sp.add((j0 + c) * rows + x0 + 16 * v), acc[v][c]) };
        }
    }
}

/// [`flash_softmax`] on 16 lanes (rows a multiple of 16).
///
/// # Safety
/// Needs AVX-512F (callers check [`super::avx512_available`]).
#[target_feature(enable = "avx512f")]
pub fn flash_softmax_16(
    s: &mut [f32],
    rows: usize,
    last: Option<&[i32]>,
    m: &mut [f32],
    l: &mut [f32],
    alpha: &mut [f32],
) {
    assert!(rows.is_multiple_of(16) && s.len() >= ATT_BK * rows);
    assert!(m.len() >= rows && l.len() >= rows && alpha.len() >= rows);
    assert!(last.is_none_or(|x| x.len() >= rows && x.iter().all(|&k| k >= 0)));
    let sp = s.as_mut_ptr();
    let ninf = _mm512_set1_ps(f32::NEG_INFINITY);
    for x0 in (0..rows).step_by(16) {
        // SAFETY: x0 + 16 ≤ rows ≤ every slice's length; j·rows + x0 + 16 ≤ 32·rows ≤ s.len().
        unsafe {
            let lastkey = last.map(|x| _mm512_loadu_si512(x.as_ptr().add(x0).cast()));
            // Lanes whose row sees key j, on the diagonal block.
            let visible = |lk: __m512i, j: usize| _mm512_cmpgt_epi32_mask(lk, _mm512_set1_epi32(j as i32 - 1));
            let mut mx = ninf;
            for j in 0..ATT_BK {
                let sj = _mm512_loadu_ps(sp.add(j * rows + x0));
                mx = _mm512_max_ps(mx, lastkey.map_or(sj, |lk| _mm512_mask_blend_ps(visible(lk, j), ninf, sj)));
            }
            let m_old = _mm512_loadu_ps(m.as_ptr().add(x0));
            let m_new = _mm512_max_ps(m_old, mx);
            let a = exp2_16(_mm512_sub_ps(m_old, m_new));
            _mm512_storeu_ps(m.as_mut_ptr().add(x0), m_new);
            _mm512_storeu_ps(alpha.as_mut_ptr().add(x0), a);
            let mut sum = [_mm512_setzero_ps(); 2];
            for j in 0..ATT_BK {
                let mut p = exp2_16(_mm512_sub_ps(_mm512_loadu_ps(sp.add(j * rows + x0)), m_new));
                if let Some(lk) = lastkey {
                    p = _mm512_maskz_mov_ps(visible(lk, j), p);
                }
                sum[j % 2] = _mm512_add_ps(sum[j % 2], p);
                _mm512_storeu_ps(sp.add(j * rows + x0), p);
            }
            let l_old = _mm512_loadu_ps(l.as_ptr().add(x0));
            _mm512_storeu_ps(l.as_mut_ptr().add(x0), _mm512_fmadd_ps(a, l_old, _mm512_add_ps(sum[0], sum[1])));
        }
    }
}

/// [`flash_pv`] on 16 lanes: rows a multiple of 8, hd a multiple of 16; 8 rows × 32 dimensions per
/// register tile.
///
/// # Safety
/// Needs AVX-512F (callers check [`super::avx512_available`]).
#[target_feature(enable = "avx512f")]
pub fn flash_pv_16(p: &[f32], rows: usize, v: &[f32], ldv: usize, alpha: &[f32], o: &mut [f32]) {
    let hd = o.len() / rows.max(1);
    assert!(rows.is_multiple_of(8) && hd.is_multiple_of(16) && o.len() == rows * hd);
    assert!(p.len() >= ATT_BK * rows && alpha.len() >= rows && v.len() >= (ATT_BK - 1) * ldv + hd);
    let mut d0 = 0;
    while d0 < hd {
        let nv = ((hd - d0) / 16).min(2);
        for x0 in (0..rows).step_by(8) {
            // SAFETY: d0 + 16·nv ≤ hd and x0 + 8 ≤ rows: inside o, p, alpha and v (asserted above).
            unsafe {
                match nv {
                    2 => pv_tile_16::<2>(p, rows, v, ldv, alpha, o, hd, d0, x0),
                    _ => pv_tile_16::<1>(p, rows, v, ldv, alpha, o, hd, d0, x0),
                }
            }
        }
        d0 += 16 * nv;
    }
}

/// Rows x0..x0 + 8 × columns d0..d0 + 16·NV of [`flash_pv_16`].
///
/// SAFETY: the caller guarantees x0 + 8 ≤ rows, d0 + 16·NV ≤ hd and the sizes [`flash_pv_16`] asserts.
#[inline]
#[target_feature(enable = "avx512f")]
#[allow(clippy::too_many_arguments, clippy::needless_range_loop)]
unsafe fn pv_tile_16<const NV: usize>(
    p: &[f32],
    rows: usize,
    v: &[f32],
    ldv: usize,
    alpha: &[f32],
    o: &mut [f32],
    hd: usize,
    d0: usize,
    x0: usize,
) {
    let (pp, vp, op) = (p.as_ptr(), v.as_ptr(), o.as_mut_ptr());
    // SAFETY: every offset below is inside its slice by the caller's guarantee.
    unsafe {
        let mut acc = [[_mm512_setzero_ps(); NV]; 8];
        for r in 0..8 {
            let a = _mm512_set1_ps(*alpha.as_ptr().add(x0 + r));
            for c in 0..NV {
                acc[r][c] = _mm512_mul_ps(a, _mm512_loadu_ps(op.add((x0 + r) * hd + d0 + 16 * c)));
            }
        }
        for j in 0..ATT_BK {
            let mut vv = [_mm512_setzero_ps(); NV];
            for c in 0..NV {
                vv[c] = _mm512_loadu_ps(vp.add(j * ldv + d0 + 16 * c));
            }
            for r in 0..8 {
                let pb = _mm512_set1_ps(*pp.add(j * rows + x0 + r));
                for c in 0..NV {
                    acc[r][c] = _mm512_fmadd_ps(pb, vv[c], acc[r][c]);
                }
            }
        }
        for r in 0..8 {
            for c in 0..NV {
                _mm512_storeu_ps(op.add((x0 + r) * hd + d0 + 16 * c), acc[r][c]);
            }
        }
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
/// # Safety
/// AVX2 and FMA present; a [m, ≥p0+kc] (stride lda), w [≥j1, ≥p0+kc] (stride ldw), c [m, ≥j1] (stride ldc)
/// in bounds.
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
///
/// # Safety
/// Needs AVX2 and FMA (callers check [`super::simd_available`]).
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

/// As [`crate::metrics::reduce_row`]: pass 1 the max; pass 2 e^(z−m) in f32, summed with its first
/// two moments in f64 lanes, the sum over the boundary set's ids (8 bits of the mask per 8 lanes),
/// the count of logits above the target's (none without a target), and top-k (only lanes at or
/// above the current k-th best reach the scalar [`TopK`]).
///
/// # Safety
/// Needs AVX2 and FMA (callers check [`super::simd_available`]).
#[target_feature(enable = "avx2,fma")]
pub fn reduce_row(z: &[f32], target: Option<u32>, top_k: usize, boundary: &BoundaryMask) -> RowStats {
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
    // No target: nothing is above +∞.
    let zt = target.map_or(f32::INFINITY, |t| z[t as usize]);
    let (mv, ztv) = (_mm256_set1_ps(m), _mm256_set1_ps(zt));
    let lane_bits = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
    let bwords = boundary.words();
    let (mut sba, mut sbb) = (_mm256_setzero_pd(), _mm256_setzero_pd());
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
        let (elo, ehi) = (_mm256_cvtps_pd(_mm256_castps256_ps128(e)), _mm256_cvtps_pd(_mm256_extractf128_ps::<1>(e)));
        let (dlo, dhi) = (_mm256_cvtps_pd(_mm256_castps256_ps128(d)), _mm256_cvtps_pd(_mm256_extractf128_ps::<1>(d)));
        s0a = _mm256_add_pd(s0a, elo);
        s0b = _mm256_add_pd(s0b, ehi);
        let (tlo, thi) = (_mm256_mul_pd(elo, dlo), _mm256_mul_pd(ehi, dhi));
        s1a = _mm256_add_pd(s1a, tlo);
        s1b = _mm256_add_pd(s1b, thi);
        s2a = _mm256_fmadd_pd(tlo, dlo, s2a);
        s2b = _mm256_fmadd_pd(thi, dhi, s2b);
        // Lanes of boundary ids keep e, the rest 0: bits i .. i+7 of the mask, one per lane.
        let bits = (bwords.get(i / 32).copied().unwrap_or(0) >> (i % 32)) & 0xFF;
        if bits != 0 {
            let sel = _mm256_set1_epi32(bits as i32);
            let lanes = _mm256_cmpeq_epi32(_mm256_and_si256(sel, lane_bits), lane_bits);
            let eb = _mm256_and_ps(e, _mm256_castsi256_ps(lanes));
            sba = _mm256_add_pd(sba, _mm256_cvtps_pd(_mm256_castps256_ps128(eb)));
            sbb = _mm256_add_pd(sbb, _mm256_cvtps_pd(_mm256_extractf128_ps::<1>(eb)));
        }
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
    let mut sb = hsum_pd(_mm256_add_pd(sba, sbb));
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
        if boundary.contains(i as u32) {
            sb += e;
        }
        above += (v > zt) as u32;
        top.push(v, i as u32);
    }
    let sums = LogitSums { max: m as f64, s0, s1, s2, sb };
    row_stats_from_parts(&sums, target.map(|_| zt as f64), above, top.items())
}
