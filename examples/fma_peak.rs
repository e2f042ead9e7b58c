//! The machine's f32 FMA peak, measured: the denominator of every "% of peak" in
//! docs/performance.md.
//!
//! `cargo run --release --example fma_peak [THREADS]` (default: all cores). Each thread runs a
//! register-only loop of independent fused multiply-adds (12 accumulators of 8 lanes with AVX2+FMA;
//! 12 of 16 lanes with AVX-512F where the CPU has it: enough chains to cover the FMA latency on both
//! pipes) for about a second, three times; prints the best GFLOP/s of all threads together, per
//! instruction set.

use std::time::Instant;

const ITERS: u64 = 100_000_000;

fn main() {
    let threads: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    #[cfg(target_arch = "x86_64")]
    {
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            report("AVX2+FMA (8 lanes)", threads, 8, || unsafe { x86::fma_avx2(ITERS) });
        }
        if is_x86_feature_detected!("avx512f") {
            report("AVX-512F (16 lanes)", threads, 16, || unsafe { x86::fma_avx512(ITERS / 2) });
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    eprintln!("fma_peak: x86-64 only");
}

/// Runs `kernel` on `threads` threads at once, three times; prints the best rate.
fn report(name: &str, threads: usize, lanes: u64, kernel: fn() -> f32) {
    let iters = if lanes == 16 { ITERS / 2 } else { ITERS };
    let flops = (iters * 12 * lanes * 2 * threads as u64) as f64;
    let mut best = 0.0f64;
    for _ in 0..3 {
        let t0 = Instant::now();
        let sums: Vec<f32> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..threads).map(|_| s.spawn(kernel)).collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let secs = t0.elapsed().as_secs_f64();
        std::hint::black_box(sums);
        best = best.max(flops / secs / 1e9);
    }
    println!("{name}: {best:.1} GFLOP/s on {threads} thread(s) ({:.1} per thread)", best / threads as f64);
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    /// `iters` rounds of 12 independent `acc = acc·a + b` chains (`$fma` on vectors from `$set`),
    /// written as 12 locals so they stay in registers (12 + a + b fit AVX2's 16); returns their sum through `$fold`.
    macro_rules! fma_chains {
        ($iters:expr, $set:ident, $fma:ident, $add:ident, $fold:expr) => {{
            let (a, b) = ($set(0.999_999), $set(1e-7));
            let (mut c0, mut c1, mut c2, mut c3, mut c4, mut c5, mut c6, mut c7) =
                ($set(1.0), $set(1.0), $set(1.0), $set(1.0), $set(1.0), $set(1.0), $set(1.0), $set(1.0));
            let (mut c8, mut c9, mut c10, mut c11) = ($set(1.0), $set(1.0), $set(1.0), $set(1.0));
            for _ in 0..$iters {
                c0 = $fma(c0, a, b);
                c1 = $fma(c1, a, b);
                c2 = $fma(c2, a, b);
                c3 = $fma(c3, a, b);
                c4 = $fma(c4, a, b);
                c5 = $fma(c5, a, b);
                c6 = $fma(c6, a, b);
                c7 = $fma(c7, a, b);
                c8 = $fma(c8, a, b);
                c9 = $fma(c9, a, b);
                c10 = $fma(c10, a, b);
                c11 = $fma(c11, a, b);
            }
            let s = [c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11].into_iter().fold(c0, |s, x| $add(s, x));
            $fold(s)
        }};
    }

    /// 12 chains on 8 lanes.
    #[target_feature(enable = "avx2,fma")]
    pub fn fma_avx2(iters: u64) -> f32 {
        fma_chains!(iters, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_add_ps, |s: __m256| {
            let mut out = [0.0f32; 8];
            // SAFETY: `out` holds the 8 floats stored.
            unsafe { _mm256_storeu_ps(out.as_mut_ptr(), s) };
            out.iter().sum::<f32>()
        })
    }

    /// 12 chains on 16 lanes.
    #[target_feature(enable = "avx512f")]
    pub fn fma_avx512(iters: u64) -> f32 {
        fma_chains!(iters, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_add_ps, _mm512_reduce_add_ps)
    }
}
