//! The fast CPU forward that [`super::CpuForward`] runs: the same math as the plain forward in
//! [`super`], arranged for speed on a few cores.
//!
//! - q, k, v write side by side into one [t, (nh + 2·nkv)·hd] buffer (and gate, up into one
//!   [t, 2·intermediate] buffer) straight from the checkpoint's weights: no repacked copies; the o and
//!   down projections add into the residual stream inside the GEMM (no `proj` buffer).
//! - Attention is flash-style ([`attention`]): per (block of 32 positions, KV head), the query rows of
//!   every head sharing that KV head as one tile against blocks of 32 keys with an online softmax
//!   (rows in vector lanes, exp in base 2), K and V read where they lie; blocks above the causal
//!   diagonal are skipped and only the diagonal block is masked.
//! - exp is a vectorised polynomial ([`x86::exp8`], ≈1 ulp) in SiLU, softmax and the lm-head reduction;
//!   the reduction ([`reduce_logits_row`]) does max, f64 sums, rank count and top-k in two passes over a row.
//!
//! x86-64 with AVX2+FMA takes the SIMD kernels (checked at run time); anything else runs the plain
//! [`ops`] versions of the same steps.

use rayon::prelude::*;

use crate::error::Result;
use crate::metrics::{BoundaryMask, LogitSums, RowStats, TopK, row_stats_from_parts};
use crate::model::{Matrix, Mlp, ModelConfig, Weights};

use super::kv::KvRows;
use super::{LM_HEAD_ROWS, Profile, Rows, ops};

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

/// AVX-512F present (x86-64 only; checked once, cached by std), and not switched off with
/// [`ATTENTION_AVX512`]: the attention kernels then run on 16 lanes.
#[inline]
pub fn avx512_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        ATTENTION_AVX512.load(std::sync::atomic::Ordering::Relaxed) && std::arch::is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Whether [`attention`] may take its AVX-512 kernels (true by default; they run only where the CPU
/// has AVX-512F). Set false to run the AVX2 ones on such a machine: tests of both paths, benchmarks.
pub static ATTENTION_AVX512: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

/// out[m, n] (row stride ldo) = a[m, k] (row stride lda) · b[n, k]ᵀ, plus out's old value when
/// `accumulate` (a residual add fused into the GEMM). b is an nn.Linear weight, used as stored.
/// Short A (m < [`OWN_GEMM_MAX_M`]) goes to [`gemm_own_nt`], the rest to
/// [`ops::gemm_crate_nt`]; [`GEMM_KERNEL`] overrides this for a benchmark. (The lm-head takes the
/// own kernel at every block size, through `gemm_w_own`.)
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
    match GEMM_KERNEL.load(std::sync::atomic::Ordering::Relaxed) {
        GEMM_USE_CRATE => ops::gemm_crate_nt(a, lda, m, k, b, n, out, ldo, accumulate),
        GEMM_USE_OWN_UNPACKED => gemm_own_nt(a, lda, m, k, b, n, out, ldo, accumulate),
        GEMM_USE_PACKED => gemm_packed_nt(a, lda, m, k, b, n, out, ldo, accumulate),
        _ if kernel_rows(m) < own_gemm_rows() => gemm_own_nt(a, lda, m, k, b, n, out, ldo, accumulate),
        _ => ops::gemm_crate_nt(a, lda, m, k, b, n, out, ldo, accumulate),
    }
}

/// Below this many rows of A, [`gemm_nt`] runs its own kernel; from here on the `gemm` crate. The own
/// kernel (with its rows split over tasks when W has few blocks, [`own_gemm_task_rows`]) took 8–15 %
/// less CPU time than the crate on SmolLM2's GEMMs at 128–256 rows and about the same at 512–1024
/// (within this machine's noise; the crate 5–10 % ahead on down at 1024), docs/performance.md.
pub const OWN_GEMM_MAX_M: usize = 512;

/// The row count from which [`gemm_nt`] hands a GEMM to the crate: [`OWN_GEMM_MAX_M`] unless a
/// benchmark moved it (`DENSI_OWN_MAX_M` in `examples/bench.rs`). Hidden: not an API.
#[doc(hidden)]
pub static OWN_GEMM_ROWS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(OWN_GEMM_MAX_M);

fn own_gemm_rows() -> usize {
    OWN_GEMM_ROWS.load(std::sync::atomic::Ordering::Relaxed)
}

/// [`gemm_nt`] through the packed kernel: A packed once ([`packed::pack_a`], panels split over
/// threads), then the output split into tasks of (up to [`GEMM_MC`] rows) × (a block of ≤ 96 W rows)
/// over rayon, each packing its own W block per k-chunk ([`packed::gemm_packed_a`]). The `gemm` crate
/// without AVX2+FMA.
#[allow(clippy::too_many_arguments)]
pub fn gemm_packed_nt(
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
    if !ops::gemm_operands_fit(a, lda, m, k, b, n, out, ldo) {
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if simd_available() {
        let (mr, nr) = (packed::MR, packed::NR);
        // A packed once for all tasks, panels split over threads.
        let apanels = m.div_ceil(mr);
        let mut apk = vec![0.0f32; apanels * mr * k];
        let (ap, akp) = (SendPtr(a.as_ptr() as *mut f32), SendPtr(apk.as_mut_ptr()));
        let chunk = apanels.div_ceil(rayon::current_num_threads()).max(1);
        (0..apanels.div_ceil(chunk)).into_par_iter().for_each(|c| {
            let panels = c * chunk..((c + 1) * chunk).min(apanels);
            // SAFETY: gemm_operands_fit bounds rows 0..m of a; apk is sized for pack_a; tasks pack
            // disjoint panels.
            unsafe { packed::pack_a(ap.get(), lda, m, k, akp.get(), panels) };
        });
        // Tasks: (up to GEMM_MC rows) × (up to 96 W rows: a packed 96 × KC block is 96 KiB, in L2),
        // W blocks narrower when the GEMM would otherwise give each thread fewer than ~4 tasks.
        let mcp = GEMM_MC / mr;
        let mblocks = apanels.div_ceil(mcp);
        let want = (4 * rayon::current_num_threads()).div_ceil(mblocks);
        let nc = n.div_ceil(want).div_ceil(nr).clamp(1, 6) * nr;
        let nblocks = n.div_ceil(nc);
        let (akp, bp, op) = (SendPtr(apk.as_mut_ptr()), SendPtr(b.as_ptr() as *mut f32), SendPtr(out.as_mut_ptr()));
        (0..mblocks * nblocks).into_par_iter().for_each_init(Vec::new, |bpack, task| {
            let (mb, nb) = (task / nblocks, task % nblocks);
            let panels = mb * mcp..((mb + 1) * mcp).min(apanels);
            let j0 = nb * nc;
            // SAFETY: AVX2+FMA checked; gemm_operands_fit bounds rows 0..m of out and rows 0..n of b;
            // apk is packed; tasks write disjoint (row panels, column block) tiles of out.
            unsafe {
                packed::gemm_packed_a(
                    akp.get(),
                    m,
                    panels,
                    k,
                    bp.get().add(j0 * k),
                    nc.min(n - j0),
                    op.get().add(j0),
                    ldo,
                    accumulate,
                    bpack,
                )
            };
        });
        return;
    }
    ops::gemm_crate_nt(a, lda, m, k, b, n, out, ldo, accumulate);
}

thread_local! {
    /// Rows of the whole window being computed on this thread (0 outside [`forward_rows`]'s
    /// layers). The automatic kernel choice goes by it rather than by the rows a call multiplies, so
    /// the positions computed after a cached prefix take the kernel a full pass would take, and sum
    /// in the same order (the own kernel's and the crate's orders differ by ~1e-5 bits of entropy).
    static WINDOW_ROWS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// The row count the automatic kernel choice uses for a GEMM of `m` rows (see `WINDOW_ROWS`).
fn kernel_rows(m: usize) -> usize {
    m.max(WINDOW_ROWS.get())
}

/// Sets `WINDOW_ROWS` until dropped.
struct WindowRows;
impl WindowRows {
    fn set(rows: usize) -> WindowRows {
        WINDOW_ROWS.set(rows);
        WindowRows
    }
}
impl Drop for WindowRows {
    fn drop(&mut self) {
        WINDOW_ROWS.set(0);
    }
}

/// The own kernel's k chunk: a multiple of every block size (32 and 256 elements), so a stored W
/// is dequantized chunk by chunk, each chunk whole blocks ([`gemm_stored_panels`]).
const OWN_GEMM_KC: usize = 768;

/// Rows of A per [`gemm_packed_nt`] task (a multiple of the micro-tile's 6).
pub const GEMM_MC: usize = 192;

/// Which kernel [`gemm_nt`] runs: [`GEMM_USE_AUTO`] (the default: by m), or always
/// [`GEMM_USE_PACKED`], [`GEMM_USE_CRATE`] or [`GEMM_USE_OWN_UNPACKED`]. Hidden: not an API but the switch of `examples/bench.rs`
/// (`DENSI_GEMM=auto|crate|own|packed`) that measures the kernels against each other, the comparison
/// docs/performance.md records.
#[doc(hidden)]
pub static GEMM_KERNEL: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(GEMM_USE_AUTO);
#[doc(hidden)]
pub const GEMM_USE_AUTO: u8 = 0;
#[doc(hidden)]
pub const GEMM_USE_PACKED: u8 = 3;
#[doc(hidden)]
pub const GEMM_USE_CRATE: u8 = 1;
#[doc(hidden)]
pub const GEMM_USE_OWN_UNPACKED: u8 = 2;
/// out[m, n] (row stride ldo) = a[m, k] (row stride lda) · Wᵀ (+ out's old value when `accumulate`)
/// for a weight matrix W [n, k] in any storage. f32 weights go to [`gemm_nt`] as they are; stored
/// (quantized, half) weights are dequantized a panel of W rows at a time, per rayon task, into a
/// thread-local f32 buffer right before the f32 kernel reads it, so W is read from memory once in
/// its stored size and the products are those of the f32-expanded weights (see [`gemm_stored`]).
#[allow(clippy::too_many_arguments)]
pub fn gemm_w(a: &[f32], lda: usize, m: usize, k: usize, w: &Matrix, out: &mut [f32], ldo: usize, accumulate: bool) {
    assert_eq!(w.cols(), k, "a [{}, {}] weight against k = {k}", w.rows(), w.cols());
    match w.as_f32() {
        Some(b) => gemm_nt(a, lda, m, k, b, w.rows(), out, ldo, accumulate),
        None => gemm_stored(a, lda, m, k, w, out, ldo, accumulate),
    }
}

/// [`gemm_w`] for stored weights. Short A: [`gemm_stored_panels`] (bit-identical to the f32 path's
/// own kernel). Long A (the `gemm` crate's case): W expanded whole into a reused buffer, then the
/// f32 GEMM exactly as the f32 path runs it: the crate's blocking depends on n, so panels of W would
/// change its sum order (measured 1.2e-5 bits of entropy on the default model).
#[allow(clippy::too_many_arguments)]
fn gemm_stored(a: &[f32], lda: usize, m: usize, k: usize, w: &Matrix, out: &mut [f32], ldo: usize, accumulate: bool) {
    let own = simd_available()
        && match GEMM_KERNEL.load(std::sync::atomic::Ordering::Relaxed) {
            GEMM_USE_AUTO => kernel_rows(m) < own_gemm_rows(),
            kernel => kernel == GEMM_USE_OWN_UNPACKED,
        };
    if own {
        return gemm_stored_panels(a, lda, m, k, w, out, ldo, accumulate);
    }
    let n = w.rows();
    // The expansion buffer is the calling thread's, reused from call to call (no fresh pages to
    // fault in per call); a nested call (rayon work-stealing) gets a buffer of its own.
    EXPANDED.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buf) => {
            buf.resize(n * k, 0.0);
            w.dequant_into(&mut buf[..n * k]);
            gemm_nt(a, lda, m, k, &buf[..n * k], n, out, ldo, accumulate);
        }
        Err(_) => gemm_nt(a, lda, m, k, &w.to_f32(), n, out, ldo, accumulate),
    });
}

/// Frees this thread's long-A expansion buffer (after a forward pass: it holds the largest weight
/// expanded to f32).
fn release_expanded() {
    EXPANDED.with(|cell| {
        if let Ok(mut buf) = cell.try_borrow_mut() {
            *buf = Vec::new();
        }
    });
}

/// [`gemm_w`] through the own kernel whatever m (unless a kernel is forced with [`GEMM_KERNEL`]):
/// for the lm-head, whose blocks of rows may then be as long as memory allows with the same sum
/// order per element as 64-row blocks (the 4-row tiles fall on the same rows when blocks are
/// multiples of 4 rows), for f32 and stored heads alike.
#[allow(clippy::too_many_arguments)]
pub fn gemm_w_own(
    a: &[f32],
    lda: usize,
    m: usize,
    k: usize,
    w: &Matrix,
    out: &mut [f32],
    ldo: usize,
    accumulate: bool,
) {
    let forced = GEMM_KERNEL.load(std::sync::atomic::Ordering::Relaxed) != GEMM_USE_AUTO;
    match w.as_f32() {
        _ if forced || !simd_available() => gemm_w(a, lda, m, k, w, out, ldo, accumulate),
        Some(b) => gemm_own_nt(a, lda, m, k, b, w.rows(), out, ldo, accumulate),
        None => gemm_stored_panels(a, lda, m, k, w, out, ldo, accumulate),
    }
}

/// Stored W through the own kernel: one rayon task per panel of W rows (the panels of
/// [`gemm_own_nt`]; per block of A rows too when there are few panels, [`own_gemm_task_rows`]); for each k chunk the task dequantizes the panel's rows in that chunk (whole
/// blocks: [`OWN_GEMM_KC`]) into its thread-local buffer (≤ 96 × 768 floats, in L2) and multiplies
/// all of A by it with [`x86::gemm_block`]: the same tiles and k chunks as [`gemm_own_nt`], so the
/// result is bit-identical to the f32 path's own kernel. Needs AVX2+FMA ([`simd_available`]).
#[allow(clippy::too_many_arguments)]
fn gemm_stored_panels(
    a: &[f32],
    lda: usize,
    m: usize,
    k: usize,
    w: &Matrix,
    out: &mut [f32],
    ldo: usize,
    accumulate: bool,
) {
    gemm_own_parts(a, lda, m, k, &[(w, 0)], out, ldo, accumulate)
}

/// out[0..m, col..col + n] (row stride ldo) = a · Wᵀ (+ out's old value when `accumulate`) for each
/// (W [n, k], col) of `parts` (q | k | v, gate | up side by side), all through the own kernel in one
/// rayon region: tasks of (part, panel of W rows, block of A rows, [`own_gemm_task_rows`] over all
/// parts' panels), so the narrow k and v balance against q and the step joins once. An f32 W is read
/// in place ([`own_gemm_task`]); a stored one is dequantized per k chunk into the task's thread-local
/// panel. Every element is summed over the same k chunks as [`gemm_own_nt`]: the same numbers as one
/// call per part, and as the f32 path. Needs AVX2+FMA ([`simd_available`]).
#[allow(clippy::too_many_arguments)]
fn gemm_own_parts(
    a: &[f32],
    lda: usize,
    m: usize,
    k: usize,
    parts: &[(&Matrix, usize)],
    out: &mut [f32],
    ldo: usize,
    accumulate: bool,
) {
    if m == 0 {
        return;
    }
    assert!(lda >= k && k > 0 && a.len() >= (m - 1) * lda + k);
    for (w, col) in parts {
        assert!(w.cols() == k && col + w.rows() <= ldo && out.len() >= (m - 1) * ldo + col + w.rows());
    }
    assert!(simd_available(), "the own kernel needs AVX2+FMA");
    // `simd_available` implies x86-64.
    #[cfg(target_arch = "x86_64")]
    {
        let (kc, nb) = own_gemm_blocking(k);
        let panels: usize = parts.iter().map(|(w, _)| w.rows().div_ceil(nb)).sum();
        let mb = own_gemm_task_rows(m, panels);
        let mblocks = m.div_ceil(mb);
        // (part, panel, row block); consecutive tasks share a W panel (rayon hands a thread a
        // contiguous run of tasks).
        let tasks: Vec<(usize, usize, usize)> = parts
            .iter()
            .enumerate()
            .flat_map(|(pi, (w, _))| (0..w.rows().div_ceil(nb) * mblocks).map(move |t| (pi, t / mblocks, t % mblocks)))
            .collect();
        let (ap, op) = (SendPtr(a.as_ptr() as *mut f32), SendPtr(out.as_mut_ptr()));
        tasks.into_par_iter().for_each(|(pi, blk, ib)| {
            let (w, col) = parts[pi];
            let (j0, j1) = (blk * nb, ((blk + 1) * nb).min(w.rows()));
            let (i0, i1) = (ib * mb, ((ib + 1) * mb).min(m));
            let rows = j1 - j0;
            // SAFETY (both arms): AVX2+FMA asserted; the asserts above bound rows 0..m of a and of out
            // (columns col..col + n); tasks write disjoint (rows i0..i1, columns col + j0..col + j1)
            // rectangles of out (the parts' column ranges are disjoint by the caller).
            let (a0, o0) = unsafe { (ap.get().add(i0 * lda), op.get().add(i0 * ldo + col + j0)) };
            if let Some(b) = w.as_f32() {
                unsafe { own_gemm_task(a0, lda, i1 - i0, b[j0 * k..].as_ptr(), k, rows, o0, ldo, accumulate, kc) };
                return;
            }
            PANEL.with_borrow_mut(|panel| {
                panel.resize(rows * kc, 0.0);
                let mut p0 = 0;
                while p0 < k {
                    let kcur = kc.min(k - p0);
                    let chunk = &mut panel[..rows * kcur];
                    w.dequant_block(j0..j1, p0..p0 + kcur, chunk);
                    // SAFETY: as above; the chunk holds rows j0..j1 of W, columns p0..p0 + kcur (row
                    // stride kcur).
                    unsafe {
                        x86::gemm_block(
                            a0.add(p0),
                            lda,
                            i1 - i0,
                            chunk.as_ptr(),
                            kcur,
                            0,
                            rows,
                            0,
                            kcur,
                            o0,
                            ldo,
                            accumulate || p0 > 0,
                        )
                    };
                    p0 += kcur;
                }
            });
        });
    }
}

/// [`gemm_w`] of each (W, col) of `parts` into columns col.. of out (no accumulate): the q | k | v
/// and gate | up projections. Through [`gemm_own_parts`] (one parallel region) where [`gemm_w`]
/// would take the own kernel for every part, else one [`gemm_w`] per part.
#[allow(clippy::too_many_arguments)]
pub fn gemm_w_parts(
    a: &[f32],
    lda: usize,
    m: usize,
    k: usize,
    parts: &[(&Matrix, usize)],
    out: &mut [f32],
    ldo: usize,
) {
    let own = simd_available()
        && GEMM_KERNEL.load(std::sync::atomic::Ordering::Relaxed) == GEMM_USE_AUTO
        && kernel_rows(m) < own_gemm_rows();
    if own {
        return gemm_own_parts(a, lda, m, k, parts, out, ldo, false);
    }
    for &(w, col) in parts {
        gemm_w(a, lda, m, k, w, &mut out[col..], ldo, false);
    }
}

thread_local! {
    /// The dequantized W chunk of the current [`gemm_stored_panels`] task (≤ 96 rows × 768 floats).
    static PANEL: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
    /// The whole W expanded for a long-A [`gemm_stored`] call (the largest weight's floats).
    static EXPANDED: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
    /// [`forward_rows`]' lm-head logit blocks ([`lm_head_block_rows`] × vocab floats at most).
    static LOGITS: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// One task of the own kernel: out[0..m, 0..cols] (row stride ldo) = a[0..m, 0..k] · w[0..cols, 0..k]ᵀ
/// (+ out's old value when `accumulate`), k in chunks of `kc` through [`x86::gemm_block`]. Shared by
/// [`gemm_own_nt`] (w: rows of the f32 weight) and [`gemm_stored`] (w: a dequantized panel), so both
/// sum every element in the same order.
///
/// # Safety
/// AVX2+FMA present; a holds rows 0..m (stride lda) of k floats, w `cols` rows of k floats, out rows
/// 0..m (stride ldo) of `cols` floats, and no other task writes those columns.
#[cfg(target_arch = "x86_64")]
#[allow(clippy::too_many_arguments)]
unsafe fn own_gemm_task(
    a: *const f32,
    lda: usize,
    m: usize,
    w: *const f32,
    k: usize,
    cols: usize,
    out: *mut f32,
    ldo: usize,
    accumulate: bool,
    kc: usize,
) {
    let mut p0 = 0;
    while p0 < k {
        let kcur = kc.min(k - p0);
        // SAFETY: the caller's bounds.
        unsafe { x86::gemm_block(a, lda, m, w, k, 0, cols, p0, kcur, out, ldo, accumulate || p0 > 0) };
        p0 += kcur;
    }
}

#[cfg(target_arch = "x86_64")]
/// [`gemm_own_nt`]'s blocking for depth k: (k chunk, W rows per task). k in chunks of
/// [`OWN_GEMM_KC`] (the last one shorter) so a 4-row A tile and a block's W rows stay
/// cache-resident; W rows in blocks (NB·kc floats ≈ 128 KiB, in L2), one rayon task per block (and
/// block of A rows, [`own_gemm_task_rows`]).
fn own_gemm_blocking(k: usize) -> (usize, usize) {
    let kc = OWN_GEMM_KC.min(k.div_ceil(8) * 8);
    let nb = (32768 / kc.max(1)).clamp(x86::GEMM_NR, 96) / x86::GEMM_NR * x86::GEMM_NR;
    (kc, nb)
}

/// Rows of A per own-kernel task, given `nblocks` W-row blocks: all m unless that leaves fewer than
/// 8 tasks per thread, then m split into up to that many row blocks of ≥ 64 rows (a multiple of 4),
/// so a GEMM with few W blocks (o, k, v, down: 4–14 blocks) still balances over the threads. Each
/// element's sum runs over the same k chunks whatever the split: the numbers do not depend on it.
#[cfg(target_arch = "x86_64")]
fn own_gemm_task_rows(m: usize, nblocks: usize) -> usize {
    if OWN_GEMM_SPLIT.load(std::sync::atomic::Ordering::Relaxed) == 0 {
        return m;
    }
    let want = (8 * rayon::current_num_threads()).div_ceil(nblocks.max(1));
    let mblocks = want.min(m / 64).max(1);
    m.div_ceil(mblocks).div_ceil(x86::GEMM_MR) * x86::GEMM_MR
}

/// 1: [`own_gemm_task_rows`] splits rows; 0: never (a benchmark's switch, `DENSI_OWN_SPLIT=0`).
#[doc(hidden)]
pub static OWN_GEMM_SPLIT: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(1);

/// [`gemm_nt`] through this module's kernel: AVX2+FMA [`x86::gemm_block`] tiles over rayon tasks
/// of (W-row block, A-row block), reading both operands in place (no packing); the `gemm` crate without AVX2+FMA.
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
    if !ops::gemm_operands_fit(a, lda, m, k, b, n, out, ldo) {
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if simd_available() {
        let (kc, nb) = own_gemm_blocking(k);
        let (nblocks, mb) = (n.div_ceil(nb), own_gemm_task_rows(m, n.div_ceil(nb)));
        let mblocks = m.div_ceil(mb);
        let (ap, bp, op) =
            (SendPtr(a.as_ptr() as *mut f32), SendPtr(b.as_ptr() as *mut f32), SendPtr(out.as_mut_ptr()));
        (0..nblocks * mblocks).into_par_iter().for_each(|task| {
            let (blk, ib) = (task / mblocks, task % mblocks);
            let (j0, j1) = (blk * nb, ((blk + 1) * nb).min(n));
            let (i0, i1) = (ib * mb, ((ib + 1) * mb).min(m));
            // SAFETY: AVX2+FMA checked; gemm_operands_fit bounds rows 0..m of a and out and rows
            // 0..n of b; tasks write disjoint (rows i0..i1, columns j0..j1) rectangles of out.
            unsafe {
                own_gemm_task(
                    ap.get().add(i0 * lda),
                    lda,
                    i1 - i0,
                    bp.get().add(j0 * k),
                    k,
                    j1 - j0,
                    op.get().add(i0 * ldo + j0),
                    ldo,
                    accumulate,
                    kc,
                )
            };
        });
        return;
    }
    ops::gemm_crate_nt(a, lda, m, k, b, n, out, ldo, accumulate);
}

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

/// In-place rotate-half RoPE on `heads` heads starting at column `col` of each row of `x`
/// (row stride `ld`), positions 0..rows: as [`ops::rope`], on a strided buffer.
pub fn rope_strided(x: &mut [f32], ld: usize, col: usize, heads: usize, hd: usize, cos: &[f32], sin: &[f32]) {
    rope_strided_dims(x, ld, col, heads, hd, hd, cos, sin);
}

/// [`rope_strided`] on the first `rot` dims of each head only, as [`ops::rope_dims`].
#[allow(clippy::too_many_arguments)]
pub fn rope_strided_dims(
    x: &mut [f32],
    ld: usize,
    col: usize,
    heads: usize,
    hd: usize,
    rot: usize,
    cos: &[f32],
    sin: &[f32],
) {
    let half = rot / 2;
    x.par_chunks_mut(ld).enumerate().for_each(|(p, row)| {
        let (c, s) = (&cos[p * half..(p + 1) * half], &sin[p * half..(p + 1) * half]);
        for head in row[col..col + heads * hd].chunks_exact_mut(hd) {
            let (a, b) = head[..rot].split_at_mut(half);
            for i in 0..half {
                let (x0, x1) = (a[i], b[i]);
                a[i] = x0 * c[i] - x1 * s[i];
                b[i] = x1 * c[i] + x0 * s[i];
            }
        }
    });
}

/// Query positions per attention task: one key block's worth, so a task's last key block is its
/// diagonal and every row sees the first key of every block it visits.
const ATT_BQ: usize = 32;
#[cfg(target_arch = "x86_64")]
const _: () = assert!(ATT_BQ == x86::ATT_BK);

/// Causal GQA attention of the t query rows of `qkv` [t, (nh + 2·nkv)·hd] (q | k | v per row, RoPE
/// applied; only q is read) over `kv` [past + t, 2·nkv·hd] (k | v per row: rows 0..past from the
/// prefix cache, then these t rows' own) → out [t, nh·hd]. Query row r sits at position past + r and
/// sees keys 0..=past + r. Same result as [`ops::attention`] up to f32 rounding order.
///
/// Flash-style: one task per (block of 32 query positions, KV head), blocks aligned to absolute
/// positions (multiples of 32), so a row's key blocks, and hence its summation order, do not depend
/// on `past`. A task packs the block's query rows of every head sharing that KV head into one tile
/// (transposed, [hd][rows]: 96 rows for 9 heads over 3 KV heads) and walks the key blocks
/// 0..=its diagonal (blocks above it are never visited), each with three kernels:
/// [`x86::flash_scores`] (S = Q·Kᵀ, a 16-row × 4-key register tile), [`x86::flash_softmax`] (running
/// max and sum per row, 8 rows per vector, base-2 exp; masking on the diagonal block only) and
/// [`x86::flash_pv`] (O ← α·O + P·V, a 4-row × 16-dimension tile). No score row longer than 32 is
/// stored, and K, V stream from memory once per (query block, KV head). With AVX-512F (and hd a
/// multiple of 16) the same three steps run on 16 lanes ([`x86::flash_scores_16`] …: 32 × 8 and
/// 8 × 32 tiles): ≈ 12 % less CPU time on this machine's Zen 4 (docs/performance.md).
pub fn attention(qkv: &[f32], t: usize, kv: &[f32], nh: usize, nkv: usize, hd: usize, out: &mut [f32]) {
    attention_with(qkv, t, kv, nh, nkv, hd, 1.0 / (hd as f32).sqrt(), None, None, out);
}

/// [`attention`] with scores q·k · `scale` (soft-capped with `softcap`) and, with `window = Some(w)`,
/// keys i − w < j ≤ i only, as [`ops::attention_with`]. A window that cuts off keys, or soft-capping,
/// takes the plain path (the flash tiles assume every key up to the diagonal and raw scores).
#[allow(clippy::too_many_arguments)]
pub fn attention_with(
    qkv: &[f32],
    t: usize,
    kv: &[f32],
    nh: usize,
    nkv: usize,
    hd: usize,
    scale: f32,
    window: Option<usize>,
    softcap: Option<f32>,
    out: &mut [f32],
) {
    let (ld, ldkv) = ((nh + 2 * nkv) * hd, 2 * nkv * hd);
    assert!(qkv.len() == t * ld && out.len() == t * nh * hd && kv.len().is_multiple_of(ldkv));
    let keys = kv.len() / ldkv;
    assert!(keys >= t);
    let past = keys - t;
    let window = window.filter(|&w| w < keys);
    #[cfg(target_arch = "x86_64")]
    if simd_available() && hd.is_multiple_of(8) && window.is_none() && softcap.is_none() {
        const BK: usize = x86::ATT_BK;
        let group = nh / nkv;
        // 16 lanes (AVX-512F) where the CPU has them and the head splits into 16-float vectors.
        let wide = hd.is_multiple_of(16) && avx512_available();
        // Query blocks by absolute position: block b holds positions max(past, 32b)..min(keys, 32b + 32).
        let (b0, b1) = (past / ATT_BQ, keys.div_ceil(ATT_BQ));
        let qblocks = b1 - b0;
        let outp = SendPtr(out.as_mut_ptr());
        // Heaviest query blocks (the last ones) first, so the short ones fill in at the end.
        (0..qblocks * nkv).into_par_iter().for_each(|task| {
            let (qb, g) = (b1 - 1 - task / nkv, task % nkv);
            let p0 = (qb * ATT_BQ).max(past);
            let (i0, real) = (p0 - past, ((qb + 1) * ATT_BQ).min(keys) - p0);
            // The tile: row x = hg·real + r is head g·group + hg at position p0 + r; padded to a
            // multiple of the vector width with zero queries (their results are dropped).
            let rows = (group * real).next_multiple_of(if wide { 16 } else { 8 });
            // Queries transposed [hd][rows], scaled by scale·log₂e (scores in log2 units for exp2_8),
            // and the last key of the diagonal block each row sees (padding rows: all of them).
            let mut qt = vec![0.0f32; hd * rows];
            let mut lastkey = vec![(BK - 1) as i32; rows];
            let qscale = scale * std::f32::consts::LOG2_E;
            for hg in 0..group {
                let h = g * group + hg;
                for r in 0..real {
                    let x = hg * real + r;
                    let q = &qkv[(i0 + r) * ld + h * hd..][..hd];
                    for (d, &qd) in q.iter().enumerate() {
                        qt[d * rows + x] = qd * qscale;
                    }
                    lastkey[x] = (p0 + r - qb * BK) as i32;
                }
            }
            // Per row: running max, running sum, rescale factor, unnormalised output [hd]; scores.
            let (mut m, mut l, mut alpha) = (vec![f32::NEG_INFINITY; rows], vec![0.0f32; rows], vec![0.0f32; rows]);
            let mut o = vec![0.0f32; rows * hd];
            let mut s = vec![0.0f32; BK * rows];
            let (kc, vc) = (g * hd, (nkv + g) * hd);
            // Key blocks 0..=qb: the diagonal block is the last one any of these rows sees (and the
            // only one with keys some row must not see), and every row sees its first key.
            for kb in 0..=qb {
                let k0 = kb * BK;
                let padded: Vec<f32>;
                // Keys and values read where they lie in kv (row stride ldkv); the last block, when
                // partial, copied into a zero-padded [32][hd] pair.
                let (kblk, vblk, ldb) = if k0 + BK <= keys {
                    (&kv[k0 * ldkv + kc..], &kv[k0 * ldkv + vc..], ldkv)
                } else {
                    let mut pad = vec![0.0f32; 2 * BK * hd];
                    for j in k0..keys {
                        let row = &kv[j * ldkv..(j + 1) * ldkv];
                        pad[(j - k0) * hd..][..hd].copy_from_slice(&row[kc..kc + hd]);
                        pad[(BK + j - k0) * hd..][..hd].copy_from_slice(&row[vc..vc + hd]);
                    }
                    padded = pad;
                    let (kp, vp) = padded.split_at(BK * hd);
                    (kp, vp, hd)
                };
                let diagonal = (kb == qb).then_some(&lastkey[..]);
                // SAFETY: AVX2+FMA checked above, AVX-512F when `wide`; the slices are sized as the
                // kernels assert.
                unsafe {
                    if wide {
                        x86::flash_scores_16(&qt, rows, kblk, ldb, &mut s);
                        x86::flash_softmax_16(&mut s, rows, diagonal, &mut m, &mut l, &mut alpha);
                        x86::flash_pv_16(&s, rows, vblk, ldb, &alpha, &mut o);
                    } else {
                        x86::flash_scores(&qt, rows, kblk, ldb, &mut s);
                        x86::flash_softmax(&mut s, rows, diagonal, &mut m, &mut l, &mut alpha);
                        x86::flash_pv(&s, rows, vblk, ldb, &alpha, &mut o);
                    }
                }
            }
            for hg in 0..group {
                let h = g * group + hg;
                for r in 0..real {
                    let x = hg * real + r;
                    let inv = 1.0 / l[x];
                    // SAFETY: row i0 + r < t, columns h·hd..(h+1)·hd of out; tasks own disjoint
                    // (rows, KV head) rectangles, so no two tasks write the same element.
                    let dst =
                        unsafe { std::slice::from_raw_parts_mut(outp.get().add((i0 + r) * nh * hd + h * hd), hd) };
                    for (d, s) in dst.iter_mut().zip(&o[x * hd..(x + 1) * hd]) {
                        *d = s * inv;
                    }
                }
            }
        });
        return;
    }
    // Plain path: the reference op over all keys, with zero queries at the cached positions (their
    // outputs are dropped).
    let (qs, kvs) = (nh * hd, nkv * hd);
    let mut q = vec![0.0f32; keys * qs];
    let mut k = vec![0.0f32; keys * kvs];
    let mut v = vec![0.0f32; keys * kvs];
    for r in 0..t {
        q[(past + r) * qs..(past + r + 1) * qs].copy_from_slice(&qkv[r * ld..r * ld + qs]);
    }
    for j in 0..keys {
        let row = &kv[j * ldkv..(j + 1) * ldkv];
        k[j * kvs..(j + 1) * kvs].copy_from_slice(&row[..kvs]);
        v[j * kvs..(j + 1) * kvs].copy_from_slice(&row[kvs..]);
    }
    let mut all = vec![0.0f32; keys * qs];
    ops::attention_with(&q, &k, &v, keys, nh, nkv, hd, scale, window, softcap, &mut all);
    out.copy_from_slice(&all[past * qs..]);
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

/// out[t, i] = gelu_tanh(gu[t, 0..i]) · gu[t, i..2i] for gu = [gate | up] rows (GeGLU), as [`ops::gelu_mul`].
pub fn gelu_mul_fused(gu: &[f32], inter: usize, out: &mut [f32]) {
    out.par_chunks_mut(inter).zip(gu.par_chunks(2 * inter)).for_each(|(o, gu)| {
        let (g, u) = gu.split_at(inter);
        for ((o, g), u) in o.iter_mut().zip(g).zip(u) {
            *o = ops::gelu_tanh(*g) * u;
        }
    });
}

/// One row of logits → [`RowStats`]: the same quantities as [`crate::metrics::reduce_logits_row`]
/// (max, then f64 sums S₀ S₁ S₂ of e^(z−m), rank count and top-k in one more pass), vectorised.
pub fn reduce_logits_row(logits: &[f32], target: u32, top_k: usize) -> RowStats {
    reduce_row(logits, Some(target), top_k, &BoundaryMask::empty(0))
}

/// As [`crate::metrics::reduce_row`] (no target: the end row; the boundary mass as one more masked
/// sum in the same pass), vectorised.
pub fn reduce_row(logits: &[f32], target: Option<u32>, top_k: usize, boundary: &BoundaryMask) -> RowStats {
    #[cfg(target_arch = "x86_64")]
    if simd_available() {
        // SAFETY: AVX2+FMA checked.
        return unsafe { x86::reduce_row(logits, target, top_k, boundary) };
    }
    crate::metrics::reduce_row(logits, target, top_k, boundary)
}

/// The fast forward plus the lm-head reduction: stats for targets `ids[score_from..]`.
pub fn forward_stats(
    cfg: &ModelConfig,
    w: &Weights,
    ids: &[u32],
    score_from: usize,
    top_k: usize,
    prof: Option<&mut Profile>,
) -> Result<Vec<RowStats>> {
    let boundary = BoundaryMask::empty(0);
    let req = Rows { score_from, top_k, boundary: &boundary, end_row: false };
    forward_rows(cfg, w, ids, 0, &mut [Vec::<f32>::new()], &req, prof)
}

/// The fast forward of positions `past..ids.len()` of the window `ids`, plus the lm-head reduction of
/// the rows of `req` from `max(score_from − 1, past)` on (rows before `past` are the prefix cache's).
///
/// `kv` holds each layer's keys and values, [positions, 2·nkv·hd] (k | v per row, after RoPE): one
/// store per layer with positions 0..past already in it (from the prefix cache), to which this
/// appends positions past..len; or a single store that every layer reuses (then `past` must be 0).
pub fn forward_rows<K: KvRows>(
    cfg: &ModelConfig,
    w: &Weights,
    ids: &[u32],
    past: usize,
    kv: &mut [K],
    req: &Rows,
    mut prof: Option<&mut Profile>,
) -> Result<Vec<RowStats>> {
    let (score_from, top_k) = (req.score_from, req.top_k);
    assert!(score_from >= 1 && score_from <= ids.len() && past < ids.len());
    let normed = final_hidden(cfg, w, ids, past, kv, prof.as_deref_mut());
    let p = &mut prof;
    let (len, h) = (ids.len(), cfg.hidden_size);

    // lm-head, in blocks of rows (the same blocks with or without a cached prefix, so the kernel goes
    // by the block), each block reduced on the spot.
    let vocab = cfg.vocab_size;
    let head = w.lm_head_weight();
    let bias = w.lm_head_bias();
    // Rows from.. (absolute positions); normed row p − past holds position p.
    let from = (score_from - 1).max(past);
    let n = (len - 1 + req.end_row as usize).saturating_sub(from);
    let mut out = Vec::with_capacity(n);
    let block_rows = lm_head_block_rows(vocab);
    // The logit block buffer is this thread's, kept from pass to pass (≤ 64 MiB): a fresh one is
    // mmapped by malloc and page-faulted in again on every pass (a nested call gets its own).
    let mut logits = LOGITS.take();
    logits.resize(logits.len().max(block_rows.min(n) * vocab), 0.0);
    let mut start = 0;
    while start < n {
        let rows = (n - start).min(block_rows);
        let first = from + start;
        // hidden row p predicts ids[p + 1]; the end row (p = len − 1) predicts nothing.
        let xr = &normed[(first - past) * h..(first - past + rows) * h];
        Profile::time(p, "lm_head gemm", || {
            gemm_w_own(xr, h, rows, h, head, &mut logits[..rows * vocab], vocab, false)
        });
        let block: Vec<RowStats> = Profile::time(p, "lm_head reduce", || {
            logits[..rows * vocab]
                .par_chunks_mut(vocab)
                .enumerate()
                .map(|(r, row)| {
                    if let Some(b) = bias {
                        row.iter_mut().zip(b).for_each(|(z, b)| *z += b);
                    }
                    if let Some(c) = cfg.attention.logit_softcap {
                        ops::softcap_in_place(row, c);
                    }
                    reduce_row(row, ids.get(first + r + 1).copied(), top_k, req.boundary)
                })
                .collect()
        });
        out.extend(block);
        start += rows;
    }
    LOGITS.set(logits);
    Ok(out)
}

/// The fast forward of positions `past..ids.len()` of the window `ids` up to the final norm: the
/// hidden states [len − past, h] the lm-head reads (`kv` as in [`forward_rows`]). The pair scorer
/// (two models' lm-heads reduced together, `crate::pair`) starts from these too.
pub fn final_hidden<K: KvRows>(
    cfg: &ModelConfig,
    w: &Weights,
    ids: &[u32],
    past: usize,
    kv: &mut [K],
    mut prof: Option<&mut Profile>,
) -> Vec<f32> {
    assert!(past < ids.len());
    assert!(kv.len() == cfg.num_layers || (kv.len() == 1 && past == 0));
    let p = &mut prof;
    let (len, h, inter) = (ids.len(), cfg.hidden_size, cfg.intermediate_size);
    // t: positions computed here, past..len.
    let t = len - past;
    let (nh, nkv, hd) = (cfg.num_heads, cfg.num_kv_heads, cfg.head_dim);
    let ldqkv = (nh + 2 * nkv) * hd;
    let ldkv = 2 * nkv * hd;

    // x [t, h] = token embedding (+ learned position embedding for GPT-2) of positions past..len
    let mut x = ops::embed(ids, w, h);
    x.drain(..past * h);
    if let Some(s) = cfg.embed_scale() {
        ops::scale_in_place(&mut x, s);
    }
    // RoPE tables (one per base) from position 0, read from position past on.
    let ropes = super::rope_tables_of(cfg, len);

    let window_rows = WindowRows::set(len);
    let mut normed = vec![0.0f32; t * h];
    let mut qkv = vec![0.0f32; t * ldqkv];
    let mut att = vec![0.0f32; t * nh * hd];
    let mut gu = vec![0.0f32; t * 2 * inter];
    let mut act = vec![0.0f32; t * inter];
    // Attention / MLP output before its post-norm (Gemma), and after it.
    let post_rows = if w.blocks.iter().any(|b| b.post_norms.is_some()) { t * h } else { 0 };
    let (mut branch, mut branch_normed) = (vec![0.0f32; post_rows], vec![0.0f32; post_rows]);

    let layers = kv.len();
    for (l, block) in w.blocks.iter().enumerate() {
        let la = cfg.layer_attention(l);
        // Attention: x += o(attn(rope(q(n(x))), rope(k(n(x))), v(n(x))))
        Profile::time(p, "norm", || norm(&x, h, &block.attn_norm, &mut normed));
        // q, k and v written side by side into the rows of one [t, (nh + 2·nkv)·hd] buffer.
        Profile::time(p, "qkv gemm", || {
            let (q, k) = (block.q.out_features, block.k.out_features);
            let parts = [(&block.q.weight, 0), (&block.k.weight, q), (&block.v.weight, q + k)];
            gemm_w_parts(&normed, h, t, h, &parts, &mut qkv, ldqkv);
            for (lin, (_, col)) in [&block.q, &block.k, &block.v].into_iter().zip(parts) {
                if let Some(b) = &lin.bias {
                    add_bias_cols(&mut qkv, ldqkv, col, b);
                }
            }
        });
        if let Some([qn, kn]) = &block.qk_norm {
            Profile::time(p, "qk norm", || {
                ops::rms_norm_heads(&mut qkv, ldqkv, 0, nh, hd, qn);
                ops::rms_norm_heads(&mut qkv, ldqkv, nh * hd, nkv, hd, kn);
            });
        }
        if let Some((cos, sin)) = super::rope_for(&ropes, la.rope_theta) {
            let rot = cfg.rope_dims();
            let half = rot / 2;
            let (cos, sin) = (&cos[past * half..], &sin[past * half..]);
            Profile::time(p, "rope", || rope_strided_dims(&mut qkv, ldqkv, 0, nh + nkv, hd, rot, cos, sin));
        }
        // This layer's K/V: the cached positions 0..past, then these t rows' k | v.
        let kv = &mut kv[l % layers];
        kv.truncate(past * ldkv);
        for row in qkv.chunks_exact(ldqkv) {
            kv.extend_from_slice(&row[nh * hd..]);
        }
        Profile::time(p, "attention", || {
            attention_with(&qkv, t, kv.as_slice(), nh, nkv, hd, la.scale, la.window, la.softcap, &mut att)
        });
        // Parallel residual (GPT-NeoX): the MLP's norm reads the block's input, before attention adds.
        let parallel = cfg.attention.parallel_residual;
        if parallel {
            Profile::time(p, "norm", || norm(&x, h, &block.mlp_norm, &mut normed));
        }
        match &block.post_norms {
            None => Profile::time(p, "o gemm", || {
                gemm_w(&att, nh * hd, t, nh * hd, &block.o.weight, &mut x, h, true);
                if let Some(b) = &block.o.bias {
                    add_bias_rows(&mut x, b);
                }
            }),
            // Gemma: x += post_norm(o(att)); the o projection has no bias.
            Some([post, _]) => Profile::time(p, "o gemm", || {
                gemm_w(&att, nh * hd, t, nh * hd, &block.o.weight, &mut branch, h, false);
                norm(&branch, h, post, &mut branch_normed);
                ops::add_in_place(&mut x, &branch_normed);
            }),
        }

        // MLP: x += mlp(n(x)) (n of the block's input with a parallel residual, normed above)
        if !parallel {
            Profile::time(p, "norm", || norm(&x, h, &block.mlp_norm, &mut normed));
        }
        match &block.mlp {
            Mlp::SwiGlu { gate, up, down } => {
                debug_assert!(block.post_norms.is_none(), "MLP post-norms come with GeGLU (Gemma 2 and 3) only");
                // gate and up side by side in the rows of one [t, 2·intermediate] buffer.
                Profile::time(p, "gate_up gemm", || {
                    gemm_w_parts(&normed, h, t, h, &[(&gate.weight, 0), (&up.weight, inter)], &mut gu, 2 * inter);
                });
                Profile::time(p, "silu", || silu_mul_fused(&gu, inter, &mut act));
                Profile::time(p, "down gemm", || gemm_w(&act, inter, t, inter, &down.weight, &mut x, h, true));
            }
            Mlp::GeGlu { gate, up, down } => {
                Profile::time(p, "gate_up gemm", || {
                    gemm_w_parts(&normed, h, t, h, &[(&gate.weight, 0), (&up.weight, inter)], &mut gu, 2 * inter);
                });
                Profile::time(p, "gelu", || gelu_mul_fused(&gu, inter, &mut act));
                // Gemma 2 and 3 norm the MLP output before the residual add.
                let post = block.post_norms.as_ref().map(|[_, post]| post);
                Profile::time(p, "down gemm", || match post {
                    None => gemm_w(&act, inter, t, inter, &down.weight, &mut x, h, true),
                    Some(post) => {
                        gemm_w(&act, inter, t, inter, &down.weight, &mut branch, h, false);
                        norm(&branch, h, post, &mut branch_normed);
                        ops::add_in_place(&mut x, &branch_normed);
                    }
                });
            }
            Mlp::Gelu { fc, proj } | Mlp::GeluErf { fc, proj } => {
                Profile::time(p, "fc gemm", || {
                    gemm_w(&normed, h, t, h, &fc.weight, &mut act, inter, false);
                    if let Some(b) = &fc.bias {
                        add_bias_rows(&mut act, b);
                    }
                });
                Profile::time(p, "gelu", || match &block.mlp {
                    Mlp::GeluErf { .. } => ops::gelu_erf(&mut act),
                    _ => ops::gelu_new(&mut act),
                });
                Profile::time(p, "proj gemm", || {
                    gemm_w(&act, inter, t, inter, &proj.weight, &mut x, h, true);
                    if let Some(b) = &proj.bias {
                        add_bias_rows(&mut x, b);
                    }
                });
            }
        }
    }
    Profile::time(p, "norm", || norm(&x, h, &w.final_norm, &mut normed));
    drop(window_rows);
    release_expanded();
    normed
}

/// out = norm(x) row by row, as [`ops::norm`]; RMSNorm sums its squares in 8 lanes (vectorised; a
/// different summation order than the plain oracle's sequential sum, so the last bits may differ).
pub fn norm(x: &[f32], h: usize, norm: &crate::model::Norm, out: &mut [f32]) {
    if !matches!(norm.kind, crate::model::NormKind::RmsNorm) || !h.is_multiple_of(8) {
        return ops::norm(x, h, norm, out);
    }
    out.par_chunks_mut(h).zip(x.par_chunks(h)).for_each(|(o, x)| {
        let mut lanes = [0.0f32; 8];
        for c in x.chunks_exact(8) {
            for (l, v) in lanes.iter_mut().zip(c) {
                *l += v * v;
            }
        }
        let ms = lanes.iter().sum::<f32>() / h as f32;
        let inv = 1.0 / (ms + norm.eps).sqrt();
        for ((o, x), w) in o.iter_mut().zip(x).zip(&norm.weight) {
            *o = x * inv * w;
        }
    });
}

/// Hidden rows per lm-head block on the fast path: as many as 64 MiB of logits hold, from
/// [`LM_HEAD_ROWS`] to 256, a multiple of it. Long blocks read the head from memory (and, stored,
/// dequantize it) fewer times per pass; [`gemm_w_own`] sums each logit in the same order whatever
/// the block, so the numbers do not depend on it.
pub fn lm_head_block_rows(vocab: usize) -> usize {
    ((64usize << 20) / (4 * vocab.max(1))).clamp(LM_HEAD_ROWS, 4 * LM_HEAD_ROWS) / LM_HEAD_ROWS * LM_HEAD_ROWS
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
pub mod packed;
#[cfg(target_arch = "x86_64")]
pub mod x86;
