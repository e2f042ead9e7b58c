//! `densi bench`: times the forward pass (with the lm-head reduction) on synthetic token sequences
//! of each requested length, after a warm-up, and prints tokens/s and achieved GFLOP/s (FLOPs from
//! `ModelConfig::forward_flops`), the fraction of `--peak-gflops`, and on a GPU with timestamp queries
//! the time per kernel, with the load time and the process's peak resident set (VmHWM, the peak so
//! far: rows are in the order run), and on the GPU the bytes of its buffers (weights as uploaded,
//! activations for the longest window so far). A benchmark, not a test.
//!
//! The timing itself is the library's [`densi::bench::bench_forward`] (median of the timed runs,
//! each one whole `score_window` with the top-5 reduction).

use std::io::Write;

use anyhow::{Result, bail};
use densi::bench::{bench_forward, prefix_cases, synthetic_tokens};

use super::args::BenchArgs;
use super::progress::Progress;
use super::session::load_model;

pub fn run(args: BenchArgs, progress: &Progress) -> Result<()> {
    if args.tokens.is_empty() || args.tokens.iter().any(|&n| n < 2) {
        return Err(super::usage::UsageError("--tokens: each length must be at least 2".into()).into());
    }
    let start = std::time::Instant::now();
    let model = load_model(&args.model, progress)?;
    let load_seconds = start.elapsed().as_secs_f64();
    let ctx = model.config.context_length;
    if let Some(&n) = args.tokens.iter().find(|&&n| n > ctx) {
        bail!("--tokens: {n} is longer than the model's context of {ctx} tokens");
    }
    // The one auto-selection; a GPU backend keeps its kernel timings behind `Forward`.
    let mut forward = densi::backend::open(&model, &args.backend.options())?;
    if args.prefix {
        return prefix(forward.as_mut(), &model, &args, progress);
    }
    let repeats = args.repeats.max(1);
    let mut out = std::io::stdout().lock();
    writeln!(out, "model:   {} ({} parameters)", model.source.path.display(), model.config.parameter_count())?;
    writeln!(out, "backend: {} ({})", forward.backend(), forward.device())?;
    writeln!(
        out,
        "median of {repeats} runs after 1 warm-up; one forward pass and the top-5 lm-head reduction per run"
    )?;
    let peak = args.peak_gflops.map_or(String::new(), |_| format!("  {:>7}", "of peak"));
    let gpu_col = forward.gpu_buffer_bytes().map_or(String::new(), |_| format!("  {:>10}", "GPU bufs"));
    writeln!(out, "weights: {} (--weights), load {:.3} s", args.model.weights.name(), load_seconds)?;
    writeln!(
        out,
        "{:>7}  {:>10}  {:>10}  {:>10}  {:>9}  {:>9}{peak}{gpu_col}",
        "tokens", "seconds", "min", "tokens/s", "GFLOP/s", "peak RSS"
    )?;
    let mut kernel_tables = Vec::new();
    for &n in &args.tokens {
        let spinner = progress.spinner(format!("{n} tokens"));
        let row = bench_forward(forward.as_mut(), &model.config, &[n], 1, repeats)?.remove(0);
        // One more, untimed by us, with the GPU's timestamp queries on (they cost a little).
        if forward.backend() == "gpu" {
            forward.set_timing(true);
            forward.score_window(&synthetic_tokens(n, model.config.vocab_size, 0x5EED ^ n as u64), 1, 5)?;
            if let Some(t) = forward.kernel_timings() {
                kernel_tables.push((n, t));
            }
            forward.set_timing(false);
        }
        spinner.finish_and_clear();
        let frac = args.peak_gflops.map_or(String::new(), |p| format!("  {:>6.1}%", 100.0 * row.gflops / p));
        let gpu_bytes =
            forward.gpu_buffer_bytes().map_or(String::new(), |b| format!("  {:>10}", format!("{} MiB", b >> 20)));
        writeln!(
            out,
            "{:>7}  {:>10.4}  {:>10.4}  {:>10.0}  {:>9.1}  {:>9}{frac}{gpu_bytes}",
            row.tokens,
            row.seconds,
            row.min_seconds,
            row.tokens_per_s,
            row.gflops,
            densi::memory::peak_rss_bytes().map_or("-".to_string(), |b| format!("{} MiB", b >> 20))
        )?;
    }
    for (n, timings) in kernel_tables {
        let total: f64 = timings.iter().map(|(_, s)| s).sum();
        writeln!(out, "\nkernels at {n} tokens (GPU timestamps, {:.3} ms in all):", total * 1e3)?;
        for (name, s) in timings {
            writeln!(out, "  {name:<28} {:>9.3} ms  {:>5.1}%", s * 1e3, 100.0 * s / total.max(f64::MIN_POSITIVE))?;
        }
    }
    Ok(())
}

/// `--prefix`: the prefix cache's reuse on a batch of minimal pairs and on an appended word.
fn prefix(
    forward: &mut dyn densi::score::Forward,
    model: &densi::model::Model,
    args: &BenchArgs,
    progress: &Progress,
) -> Result<()> {
    let budget = forward.reuse_counts().map(|c| c.budget).filter(|&b| b > 0);
    let Some(budget) = budget else {
        bail!("--prefix: this backend keeps no prefix cache (or --cache-mb is 0)");
    };
    let repeats = args.repeats.max(1);
    let mut out = std::io::stdout().lock();
    writeln!(out, "model:   {} ({} parameters)", model.source.path.display(), model.config.parameter_count())?;
    writeln!(out, "backend: {} ({}), prefix cache {} MiB", forward.backend(), forward.device(), budget >> 20)?;
    writeln!(out, "median of {repeats} runs; each window one forward pass and the top-5 lm-head reduction")?;
    let spinner = progress.spinner("prefix reuse".to_string());
    let rows = prefix_cases(forward, &model.config, args.tokens[0], budget, repeats)?;
    spinner.finish_and_clear();
    writeln!(
        out,
        "{:<50}  {:>9}  {:>9}  {:>10}  {:>10}  {:>8}",
        "case", "scored", "computed", "full s", "reuse s", "speed-up"
    )?;
    for row in rows {
        writeln!(
            out,
            "{:<50}  {:>9}  {:>9}  {:>10.4}  {:>10.4}  {:>7.2}×",
            row.name,
            row.positions,
            row.computed,
            row.seconds_full,
            row.seconds_reuse,
            row.speedup()
        )?;
    }
    Ok(())
}
