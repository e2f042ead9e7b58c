//! A packed, register-blocked f32 GEMM for `out = a · wᵀ` (w an nn.Linear weight [n, k]), as BLIS
//! arranges it: k in chunks of [`KC`]; per chunk a block of W rows is packed into [`NR`]-wide
//! column panels ([kc][16], kept in L2), and each [`MR`]-row slice of A into a [kc][6] panel (in L1);
//! the 6×16 micro-kernel then keeps its 12 accumulators in registers for the whole chunk
//! (2 W loads and 6 A broadcasts per 12 FMAs, all from packed, contiguous memory).
//!
//! [`gemm_panel`] is one thread's work on one block of W rows (the entry a caller that produces W a
//! panel at a time, e.g. dequantizing, needs); [`super::gemm_nt`] splits the output into such
//! blocks over rayon. Requires AVX2 and FMA (callers check [`super::simd_available`]).

use std::arch::x86_64::*;

/// Rows of A per micro-tile.
pub const MR: usize = 6;
/// Columns of the output (rows of W) per micro-tile: two ymm registers.
pub const NR: usize = 16;
/// k per packed chunk: a W panel [KC][16] is 16 KiB, an A panel [KC][6] 6 KiB.
pub const KC: usize = 256;

/// c[MR × NR] (stride ldc) (+)= Σ_p ap[p][0..MR] ⊗ bp[p][0..NR] over kc steps; into `tmp` instead
/// of c when the tile is partial (mr < MR or nr < NR), then copied.
///
/// # Safety
/// AVX2+FMA; ap holds kc·MR floats, bp kc·NR, and the mr×nr tile of c is in bounds.
#[inline]
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn kernel(kc: usize, ap: *const f32, bp: *const f32, c: *mut f32, ldc: usize, mr: usize, nr: usize, add: bool) {
    let mut acc = [[_mm256_setzero_ps(); 2]; MR];
    for p in 0..kc {
        // SAFETY: p < kc: inside both packed panels.
        let (b0, b1) = unsafe { (_mm256_loadu_ps(bp.add(p * NR)), _mm256_loadu_ps(bp.add(p * NR + 8))) };
        for (r, acc) in acc.iter_mut().enumerate() {
            let av = _mm256_set1_ps(unsafe { *ap.add(p * MR + r) });
            acc[0] = _mm256_fmadd_ps(av, b0, acc[0]);
            acc[1] = _mm256_fmadd_ps(av, b1, acc[1]);
        }
    }
    if mr == MR && nr == NR {
        for (r, acc) in acc.iter().enumerate() {
            // SAFETY: the full tile is in bounds.
            unsafe {
                let cp = c.add(r * ldc);
                let (mut c0, mut c1) = (acc[0], acc[1]);
                if add {
                    c0 = _mm256_add_ps(c0, _mm256_loadu_ps(cp));
                    c1 = _mm256_add_ps(c1, _mm256_loadu_ps(cp.add(8)));
                }
                _mm256_storeu_ps(cp, c0);
                _mm256_storeu_ps(cp.add(8), c1);
            }
        }
        return;
    }
    let mut tmp = [[0.0f32; NR]; MR];
    for (r, acc) in acc.iter().enumerate() {
        // SAFETY: 16 floats per tmp row.
        unsafe {
            _mm256_storeu_ps(tmp[r].as_mut_ptr(), acc[0]);
            _mm256_storeu_ps(tmp[r].as_mut_ptr().add(8), acc[1]);
        }
    }
    for (r, row) in tmp.iter().enumerate().take(mr) {
        for (j, &v) in row.iter().enumerate().take(nr) {
            // SAFETY: r < mr, j < nr: inside the caller's tile.
            unsafe {
                let cp = c.add(r * ldc + j);
                *cp = if add { *cp + v } else { v };
            }
        }
    }
}

/// Packs A [m, k] (stride lda) for [`gemm_packed_a`]: per k-chunk of [`KC`] (the last shorter), per
/// panel of [`MR`] rows, a [kc][MR] slab (rows past m are zero). Chunk c, panel ip starts at
/// `p0·mpad + ip·kc·MR` with p0 = c·KC, mpad = m rounded up to MR. `panels` limits the work to panels
/// ip0..ip1 (so threads can pack disjoint panels of one buffer).
///
/// # Safety
/// a holds rows 0..m (k floats each, stride lda); dst holds mpad·k floats; no other thread writes
/// panels ip0..ip1 of dst.
pub unsafe fn pack_a(a: *const f32, lda: usize, m: usize, k: usize, dst: *mut f32, panels: std::ops::Range<usize>) {
    let mpad = m.div_ceil(MR) * MR;
    let mut p0 = 0;
    while p0 < k {
        let kc = KC.min(k - p0);
        for ip in panels.clone() {
            // SAFETY: p0·mpad + (ip + 1)·kc·MR ≤ p0·mpad + mpad·kc ≤ mpad·k.
            let slab = unsafe { std::slice::from_raw_parts_mut(dst.add(p0 * mpad + ip * kc * MR), kc * MR) };
            for r in 0..MR {
                let i = ip * MR + r;
                if i < m {
                    // SAFETY: row i < m of a, columns p0..p0+kc ≤ k ≤ lda.
                    let src = unsafe { std::slice::from_raw_parts(a.add(i * lda + p0), kc) };
                    for (p, &x) in src.iter().enumerate() {
                        slab[p * MR + r] = x;
                    }
                } else {
                    for p in 0..kc {
                        slab[p * MR + r] = 0.0;
                    }
                }
            }
        }
        p0 += kc;
    }
}

/// 8×8 transpose: out[q] = (r0[q], r1[q], …, r7[q]).
#[inline]
#[target_feature(enable = "avx2,fma")]
fn transpose8(r: [__m256; 8]) -> [__m256; 8] {
    let t0 = _mm256_unpacklo_ps(r[0], r[1]);
    let t1 = _mm256_unpackhi_ps(r[0], r[1]);
    let t2 = _mm256_unpacklo_ps(r[2], r[3]);
    let t3 = _mm256_unpackhi_ps(r[2], r[3]);
    let t4 = _mm256_unpacklo_ps(r[4], r[5]);
    let t5 = _mm256_unpackhi_ps(r[4], r[5]);
    let t6 = _mm256_unpacklo_ps(r[6], r[7]);
    let t7 = _mm256_unpackhi_ps(r[6], r[7]);
    let u0 = _mm256_shuffle_ps::<0x44>(t0, t2);
    let u1 = _mm256_shuffle_ps::<0xEE>(t0, t2);
    let u2 = _mm256_shuffle_ps::<0x44>(t1, t3);
    let u3 = _mm256_shuffle_ps::<0xEE>(t1, t3);
    let u4 = _mm256_shuffle_ps::<0x44>(t4, t6);
    let u5 = _mm256_shuffle_ps::<0xEE>(t4, t6);
    let u6 = _mm256_shuffle_ps::<0x44>(t5, t7);
    let u7 = _mm256_shuffle_ps::<0xEE>(t5, t7);
    [
        _mm256_permute2f128_ps::<0x20>(u0, u4),
        _mm256_permute2f128_ps::<0x20>(u1, u5),
        _mm256_permute2f128_ps::<0x20>(u2, u6),
        _mm256_permute2f128_ps::<0x20>(u3, u7),
        _mm256_permute2f128_ps::<0x31>(u0, u4),
        _mm256_permute2f128_ps::<0x31>(u1, u5),
        _mm256_permute2f128_ps::<0x31>(u2, u6),
        _mm256_permute2f128_ps::<0x31>(u3, u7),
    ]
}

/// Packs W rows 0..n, columns p0..p0+kc (w's rows contiguous, stride k) into panels of [`NR`] rows:
/// dst[panel][p][lane] = w[panel·NR + lane][p0 + p], zero lanes past n. Full groups of 8 rows × 8
/// columns go through one register transpose.
///
/// # Safety
/// AVX2+FMA; w holds n·k floats, p0 + kc ≤ k; dst holds n.div_ceil(NR)·kc·NR floats.
#[target_feature(enable = "avx2,fma")]
unsafe fn pack_b(w: *const f32, k: usize, n: usize, p0: usize, kc: usize, dst: &mut [f32]) {
    let kc8 = kc / 8 * 8;
    for pn in 0..n.div_ceil(NR) {
        let panel = &mut dst[pn * kc * NR..(pn + 1) * kc * NR];
        for half in 0..2 {
            let j0 = pn * NR + 8 * half;
            if j0 + 8 <= n {
                for p in (0..kc8).step_by(8) {
                    let mut rows = [_mm256_setzero_ps(); 8];
                    for (i, row) in rows.iter_mut().enumerate() {
                        // SAFETY: row j0 + i < n, columns p0 + p .. + 8 ≤ p0 + kc ≤ k.
                        *row = unsafe { _mm256_loadu_ps(w.add((j0 + i) * k + p0 + p)) };
                    }
                    for (q, col) in transpose8(rows).into_iter().enumerate() {
                        // SAFETY: (p + q)·NR + 8·half + 8 ≤ kc·NR = panel.len().
                        unsafe { _mm256_storeu_ps(panel.as_mut_ptr().add((p + q) * NR + 8 * half), col) };
                    }
                }
            }
            // The rest, one element at a time: columns past kc8 of full groups, or a partial group.
            let from = if j0 + 8 <= n { kc8 } else { 0 };
            for lane in 8 * half..8 * half + 8 {
                let j = pn * NR + lane;
                for p in from..kc {
                    // SAFETY: row j < n, column p0 + p < k.
                    panel[p * NR + lane] = if j < n { unsafe { *w.add(j * k + p0 + p) } } else { 0.0 };
                }
            }
        }
    }
}

/// c[rows of panels ip0..ip1, 0..n] (stride ldc) = A · w[n, k]ᵀ (+ c's old value when `accumulate`), with
/// A packed by [`pack_a`] (`apk`, m rows in all). Per k-chunk the n W rows are packed once ([`pack_b`],
/// n·KC floats in L2), then each 16-wide W panel (in L1) meets every 6-row A panel in turn.
///
/// # Safety
/// AVX2 and FMA present; apk packed from an [m, k] A; w holds n·k floats; c holds the tile's rows
/// ip0·MR..min(ip1·MR, m) (n floats each, stride ldc ≥ n), indexed from row 0.
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
pub unsafe fn gemm_packed_a(
    apk: *const f32,
    m: usize,
    panels: std::ops::Range<usize>,
    k: usize,
    w: *const f32,
    n: usize,
    c: *mut f32,
    ldc: usize,
    accumulate: bool,
    bpack: &mut Vec<f32>,
) {
    let mpad = m.div_ceil(MR) * MR;
    let npanels = n.div_ceil(NR);
    bpack.resize(npanels * KC * NR, 0.0);
    let mut p0 = 0;
    while p0 < k {
        let kc = KC.min(k - p0);
        // SAFETY: as this function's contract.
        unsafe { pack_b(w, k, n, p0, kc, bpack) };
        let add = accumulate || p0 > 0;
        for pn in 0..npanels {
            let nr = NR.min(n - pn * NR);
            for ip in panels.clone() {
                let mr = MR.min(m - ip * MR);
                // SAFETY: packed slabs as laid out by pack_a / pack_b; the tile rows ip·6..+mr, columns
                // pn·16..+nr of c are in bounds by the caller's contract.
                unsafe {
                    kernel(
                        kc,
                        apk.add(p0 * mpad + ip * kc * MR),
                        bpack.as_ptr().add(pn * kc * NR),
                        c.add(ip * MR * ldc + pn * NR),
                        ldc,
                        mr,
                        nr,
                        add,
                    )
                };
            }
        }
        p0 += kc;
    }
}

/// One thread's whole GEMM on one block of W rows: c[m, 0..n] (stride ldc) = a[m, k] (stride lda) ·
/// w[n, k]ᵀ (w's rows contiguous), plus c's old value when `accumulate`. Packs A into `apack` first.
/// For a caller that has W a panel at a time (e.g. dequantized per task); keep n ≲ 128 so the packed
/// W block stays in L2.
///
/// # Safety
/// AVX2 and FMA present; a holds rows 0..m (k floats each, stride lda ≥ k), w holds n·k floats, c holds
/// rows 0..m (n floats each, stride ldc ≥ n).
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
pub unsafe fn gemm_panel(
    a: *const f32,
    lda: usize,
    m: usize,
    k: usize,
    w: *const f32,
    n: usize,
    c: *mut f32,
    ldc: usize,
    accumulate: bool,
    apack: &mut Vec<f32>,
    bpack: &mut Vec<f32>,
) {
    let panels = m.div_ceil(MR);
    apack.resize(panels * MR * k, 0.0);
    // SAFETY: as this function's contract; apack sized for pack_a.
    unsafe {
        pack_a(a, lda, m, k, apack.as_mut_ptr(), 0..panels);
        gemm_packed_a(apack.as_ptr(), m, 0..panels, k, w, n, c, ldc, accumulate, bpack);
    }
}
