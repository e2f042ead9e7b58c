//! `densi bench`: times the forward pass (with the lm-head reduction) on synthetic token sequences
//! of each requested length, after a warm-up, and prints tokens/s and achieved GFLOP/s (FLOPs from
//! `ModelConfig::forward_flops`), the fraction of `--peak-gflops`, and on a GPU with timestamp queries
//! the time per kernel. A benchmark, not a test.
//!
//! TODO(when `densi::bench` lands from the cpu branch): replace `bench_forward`/`BenchRow` here by the
//! library's (same signature and fields).

use std::io::Write;
use std::time::Instant;

use anyhow::{bail, Result};
use densi::gpu::GpuForward;
use densi::model::ModelConfig;
use densi::score::{BackendChoice, Forward};

use super::args::BenchArgs;
use super::progress::Progress;
use super::run::load_model;

/// One benchmarked length.
struct BenchRow {
    tokens: usize,
    /// Median of the timed runs, seconds.
    seconds: f64,
    min_seconds: f64,
    tokens_per_s: f64,
    gflops: f64,
}

/// Deterministic pseudo-random token ids in [0, vocab) (splitmix64): ordinary, non-repeating tokens.
fn synthetic_tokens(len: usize, vocab: usize, seed: u64) -> Vec<u32> {
    let mut x = seed;
    (0..len)
        .map(|_| {
            x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            ((z ^ (z >> 31)) % vocab as u64) as u32
        })
        .collect()
}

/// `warmup` untimed calls, then `repetitions` timed ones; each call is one whole `score_window`.
fn bench_forward(forward: &mut dyn Forward, config: &ModelConfig, len: usize, warmup: usize, repetitions: usize, top_k: usize) -> Result<BenchRow> {
    let ids = synthetic_tokens(len, config.vocab_size, 0x5EED ^ len as u64);
    for _ in 0..warmup {
        forward.score_window(&ids, 1, top_k)?;
    }
    let mut times = Vec::new();
    for _ in 0..repetitions.max(1) {
        let t = Instant::now();
        let rows = forward.score_window(&ids, 1, top_k)?;
        times.push(t.elapsed().as_secs_f64());
        if rows.len() != len - 1 {
            bail!("the backend returned {} rows for {len} tokens", rows.len());
        }
    }
    times.sort_by(f64::total_cmp);
    let seconds = times[times.len() / 2];
    Ok(BenchRow {
        tokens: len,
        seconds,
        min_seconds: times[0],
        tokens_per_s: len as f64 / seconds,
        gflops: config.forward_flops(len) / seconds / 1e9,
    })
}

/// The backend under test; the GPU one is kept concrete for its kernel timings.
enum Bench {
    Gpu(GpuForward),
    Other(Box<dyn Forward>),
}

impl Bench {
    fn forward(&mut self) -> &mut dyn Forward {
        match self {
            Bench::Gpu(g) => g,
            Bench::Other(f) => f.as_mut(),
        }
    }
}

pub fn run(args: BenchArgs, progress: &Progress) -> Result<()> {
    if args.tokens.is_empty() || args.tokens.iter().any(|&n| n < 2) {
        return Err(super::UsageError("--tokens: each length must be at least 2".into()).into());
    }
    let model = load_model(&args.model, progress)?;
    let ctx = model.config.context_length;
    if let Some(&n) = args.tokens.iter().find(|&&n| n > ctx) {
        bail!("--tokens: {n} is longer than the model's context of {ctx} tokens");
    }
    let opts = args.scoring.backend.options();
    let mut bench = match opts.choice {
        BackendChoice::Gpu => Bench::Gpu(GpuForward::new(model.clone(), &opts, true)?),
        BackendChoice::Auto => match GpuForward::new(model.clone(), &opts, false) {
            Ok(g) => Bench::Gpu(g),
            Err(_) => Bench::Other(densi::backend::open(&model, &densi::backend::BackendOptions { choice: BackendChoice::Cpu, ..opts.clone() })?.0),
        },
        BackendChoice::Cpu => Bench::Other(densi::backend::open(&model, &opts)?.0),
    };
    let repeats = args.repeats.max(1);
    let mut out = std::io::stdout().lock();
    writeln!(out, "model:   {} ({} parameters)", model.source.path.display(), model.config.parameter_count())?;
    let f = bench.forward();
    writeln!(out, "backend: {} ({})", f.backend(), f.device())?;
    writeln!(out, "median of {repeats} runs after 1 warm-up; top-k {}", args.scoring.top_k)?;
    let peak = args.peak_gflops.map_or(String::new(), |_| format!("  {:>7}", "of peak"));
    writeln!(out, "{:>7}  {:>10}  {:>10}  {:>10}  {:>9}{peak}", "tokens", "seconds", "min", "tokens/s", "GFLOP/s")?;
    let mut kernel_tables = Vec::new();
    for &n in &args.tokens {
        let spinner = progress.spinner(format!("{n} tokens"));
        let row = bench_forward(bench.forward(), &model.config, n, 1, repeats, args.scoring.top_k)?;
        // One more, untimed by us, with the GPU's timestamp queries on (they cost a little).
        if let Bench::Gpu(g) = &mut bench {
            g.set_timing(true);
            g.score_window(&synthetic_tokens(n, model.config.vocab_size, 0x5EED ^ n as u64), 1, args.scoring.top_k)?;
            if let Some(t) = g.kernel_timings() {
                kernel_tables.push((n, t));
            }
            g.set_timing(false);
        }
        spinner.finish_and_clear();
        let frac = args.peak_gflops.map_or(String::new(), |p| format!("  {:>6.1}%", 100.0 * row.gflops / p));
        writeln!(
            out,
            "{:>7}  {:>10.4}  {:>10.4}  {:>10.0}  {:>9.1}{frac}",
            row.tokens, row.seconds, row.min_seconds, row.tokens_per_s, row.gflops
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
