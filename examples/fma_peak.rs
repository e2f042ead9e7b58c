//! The machine's f32 FMA peak, measured: the denominator of every "% of peak" in
//! docs/performance.md.
//!
//! `cargo run --release --example fma_peak [THREADS]` (default: all cores). Each thread runs a
//! register-only loop of independent fused multiply-adds (16 accumulators of 8 lanes with AVX2+FMA;
//! 16 of 16 lanes with AVX-512F where the CPU has it: enough chains to cover the FMA latency on both
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
    let flops = (iters * 16 * lanes * 2 * threads as u64) as f64;
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

    /// 16 chains of `acc = acc·a + b` on 8 lanes, `iters` times.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn fma_avx2(iters: u64) -> f32 {
        let (a, b) = (_mm256_set1_ps(0.999_999), _mm256_set1_ps(1e-7));
        let mut acc = [_mm256_set1_ps(1.0); 16];
        for _ in 0..iters {
            for x in acc.iter_mut() {
                *x = _mm256_fmadd_ps(*x, a, b);
            }
        }
        let mut out = [0.0f32; 8];
        let s = acc.iter().fold(_mm256_setzero_ps(), |s, x| _mm256_add_ps(s, *x));
        // SAFETY: `out` holds the 8 floats stored.
        unsafe { _mm256_storeu_ps(out.as_mut_ptr(), s) };
        out.iter().sum()
    }

    /// 16 chains of `acc = acc·a + b` on 16 lanes, `iters` times.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn fma_avx512(iters: u64) -> f32 {
        let (a, b) = (_mm512_set1_ps(0.999_999), _mm512_set1_ps(1e-7));
        let mut acc = [_mm512_set1_ps(1.0); 16];
        for _ in 0..iters {
            for x in acc.iter_mut() {
                *x = _mm512_fmadd_ps(*x, a, b);
            }
        }
        let s = acc.iter().fold(_mm512_setzero_ps(), |s, x| _mm512_add_ps(s, *x));
        _mm512_reduce_add_ps(s)
    }
}
