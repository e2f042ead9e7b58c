//! `densi bench`: times one forward pass (with the lm-head reduction) on synthetic token sequences
//! of each requested length, after a warm-up, and prints tokens/s and achieved GFLOP/s
//! (FLOPs from `ModelConfig::forward_flops`). A benchmark, not a test.
//!
//! TODO(when `densi::bench` lands from the cpu branch): call it instead of timing here, and print
//! the GPU's per-kernel timings when the adapter has timestamp queries.

use std::io::Write;
use std::time::Instant;

use anyhow::{bail, Result};

use super::args::BenchArgs;
use super::progress::Progress;
use super::run::load_model;

/// Deterministic pseudo-random token ids in [0, vocab) (a 64-bit LCG; the numbers do not matter,
/// only that every length sees ordinary, non-repeating tokens).
fn synthetic_ids(n: usize, vocab: usize) -> Vec<u32> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..n)
        .map(|_| {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            ((x >> 33) % vocab as u64) as u32
        })
        .collect()
}

pub fn run(args: BenchArgs, progress: &Progress) -> Result<()> {
    if args.tokens.is_empty() || args.tokens.contains(&0) || args.tokens.contains(&1) {
        return Err(super::UsageError("--tokens: each length must be at least 2".into()).into());
    }
    let model = load_model(&args.model, progress)?;
    let ctx = model.config.context_length;
    if let Some(&n) = args.tokens.iter().find(|&&n| n > ctx) {
        bail!("--tokens: {n} is longer than the model's context of {ctx} tokens");
    }
    let (mut forward, _) = densi::backend::open(&model, &args.scoring.backend.options())?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "model: {} ({} parameters)", model.source.path.display(), model.config.parameter_count())?;
    writeln!(out, "backend: {}, {}", forward.backend(), forward.device())?;
    writeln!(out, "best of {} runs after 1 warm-up; top-k {}", args.repeats.max(1), args.scoring.top_k)?;
    let peak = args.peak_gflops.map_or(String::new(), |_| format!("  {:>7}", "of peak"));
    writeln!(out, "{:>7}  {:>10}  {:>10}  {:>9}{peak}", "tokens", "seconds", "tokens/s", "GFLOP/s")?;
    for &n in &args.tokens {
        let ids = synthetic_ids(n, model.config.vocab_size);
        let spinner = progress.spinner(format!("{n} tokens"));
        forward.score_window(&ids, 1, args.scoring.top_k)?; // warm-up: first-use allocations, pipeline compilation
        let mut best = f64::INFINITY;
        for _ in 0..args.repeats.max(1) {
            let t = Instant::now();
            let rows = forward.score_window(&ids, 1, args.scoring.top_k)?;
            best = best.min(t.elapsed().as_secs_f64());
            if rows.len() != n - 1 {
                bail!("the backend returned {} rows for {} tokens", rows.len(), n);
            }
        }
        spinner.finish_and_clear();
        let gflops = model.config.forward_flops(n) / best / 1e9;
        let frac = args.peak_gflops.map_or(String::new(), |p| format!("  {:>6.1}%", 100.0 * gflops / p));
        writeln!(out, "{n:>7}  {best:>10.4}  {:>10.0}  {gflops:>9.1}{frac}", n as f64 / best)?;
    }
    Ok(())
}
