//! CPU forward benchmark: `cargo run --release --example bench -- [LENGTHS...]`.
//! Scores synthetic token sequences (default 128, 512, 1300 tokens) with the default model, or with
//! random weights of SmolLM2-135M's shapes when the model file is absent (labelled as such), and prints
//! tokens/s, achieved GFLOP/s and a per-step time breakdown.
//! Env: DENSI_THREADS (default: all cores), DENSI_REPS (default 3), DENSI_WARMUP (default 1),
//! DENSI_PLAIN=1 times the plain reference forward (`densi::cpu::forward_stats`) instead,
//! DENSI_GEMM=crate|own|packed runs all the fast forward's GEMMs through the `gemm` crate, the unpacked
//! short-matrix kernel or the packed kernel; auto (the default) picks by the number of rows.
//! DENSI_ATT_AVX2=1 keeps attention on its AVX2 kernels on an AVX-512 machine.
//! DENSI_OWN_MAX_M=N moves auto's switch from the own kernel to the crate to N rows (default 512);
//! DENSI_OWN_SPLIT=0 keeps the own kernel from splitting A's rows over tasks.

use std::sync::Arc;

use densi::bench::{bench_forward, random_weights, smollm2_135m_config};
use densi::cpu::{CpuForward, process_cpu_seconds};
use densi::metrics::RowStats;
use densi::model::{Model, ModelConfig, Weights};
use densi::score::Forward;

/// The plain reference forward as a backend, for before/after comparisons.
struct Plain {
    cfg: ModelConfig,
    weights: Arc<Weights>,
}

impl Forward for Plain {
    fn backend(&self) -> &'static str {
        "cpu (plain)"
    }
    fn device(&self) -> String {
        format!("cpu, {} threads", rayon::current_num_threads())
    }
    fn score_rows(
        &mut self,
        window: &[u32],
        score_from: usize,
        top_k: usize,
        end_row: bool,
    ) -> densi::Result<Vec<RowStats>> {
        let boundary = densi::metrics::BoundaryMask::empty(0);
        let rows = densi::cpu::Rows { score_from, top_k, boundary: &boundary, end_row };
        densi::cpu::forward_rows_of(&self.cfg, &self.weights, window, &rows)
    }
    fn set_boundary(&mut self, _: Arc<densi::metrics::BoundaryMask>) -> densi::Result<()> {
        Ok(()) // synthetic token ids: no words, no boundary set
    }
}

fn env_usize(name: &str) -> Option<usize> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut lengths: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    if lengths.is_empty() {
        lengths = vec![128, 512, 1300];
    }
    let threads = env_usize("DENSI_THREADS");
    let reps = env_usize("DENSI_REPS").unwrap_or(3);
    let warmup = env_usize("DENSI_WARMUP").unwrap_or(1);
    if let Ok(which) = std::env::var("DENSI_GEMM") {
        use densi::cpu::fast::{GEMM_KERNEL, GEMM_USE_AUTO, GEMM_USE_CRATE, GEMM_USE_OWN_UNPACKED, GEMM_USE_PACKED};
        let kernel = match which.as_str() {
            "auto" => GEMM_USE_AUTO,
            "crate" => GEMM_USE_CRATE,
            "own" => GEMM_USE_OWN_UNPACKED,
            "packed" => GEMM_USE_PACKED,
            other => return Err(format!("DENSI_GEMM={other}: expected auto, crate, own or packed").into()),
        };
        GEMM_KERNEL.store(kernel, std::sync::atomic::Ordering::Relaxed);
        println!("GEMMs through the {which} kernel (DENSI_GEMM={which})");
    }
    if std::env::var("DENSI_ATT_AVX2").is_ok_and(|v| v == "1") {
        densi::cpu::fast::ATTENTION_AVX512.store(false, std::sync::atomic::Ordering::Relaxed);
        println!("attention on its AVX2 kernels (DENSI_ATT_AVX2=1)");
    }
    if let Some(rows) = env_usize("DENSI_OWN_MAX_M") {
        densi::cpu::fast::OWN_GEMM_ROWS.store(rows, std::sync::atomic::Ordering::Relaxed);
        println!("own GEMM kernel below {rows} rows (DENSI_OWN_MAX_M={rows})");
    }
    if let Some(split) = env_usize("DENSI_OWN_SPLIT") {
        densi::cpu::fast::OWN_GEMM_SPLIT.store(split as u8, std::sync::atomic::Ordering::Relaxed);
    }
    if let Some(n) = threads {
        rayon::ThreadPoolBuilder::new().num_threads(n).build_global()?;
    }
    let (cfg, weights, label) = match Model::resolve_path(None).and_then(|p| Model::load(&p).map(|m| (p, m))) {
        Ok((path, model)) => (model.config, model.weights, format!("model {}", path.display())),
        Err(e) => {
            let cfg = smollm2_135m_config();
            let w = random_weights(&cfg, 42);
            (cfg, w, format!("RANDOM WEIGHTS of SmolLM2-135M's shapes (no model: {e})"))
        }
    };
    println!("{label}");
    if std::env::var("DENSI_PLAIN").is_ok_and(|v| v == "1") {
        let mut plain = Plain { cfg: cfg.clone(), weights: Arc::new(weights) };
        println!(
            "PLAIN reference forward, {} threads, f32; warm-up {warmup}, {reps} timed repetitions (median)",
            rayon::current_num_threads()
        );
        table(&mut plain, &cfg, &lengths, warmup, reps)?;
        return Ok(());
    }
    let mut fwd = CpuForward::from_weights(cfg.clone(), weights, None)?;
    println!("cpu forward, {} threads, f32; warm-up {warmup}, {reps} timed repetitions (median)", fwd.threads());
    table(&mut fwd, &cfg, &lengths, warmup, reps)?;
    // One more profiled pass per length: where the time goes.
    for &len in &lengths {
        fwd.set_profiling(true);
        bench_forward(&mut fwd, &cfg, &[len], 0, 1)?;
        let prof = fwd.take_profile();
        fwd.set_profiling(false);
        let wall: f64 = prof.iter().map(|s| s.wall).sum();
        let cpu: f64 = prof.iter().map(|s| s.cpu).sum();
        println!("\nbreakdown at {len} tokens (one pass; {wall:.3} s wall, {cpu:.3} s CPU in timed steps):");
        println!("  {:<16} {:>9} {:>6} {:>9} {:>6}", "step", "wall ms", "%", "cpu ms", "%");
        for s in &prof {
            println!(
                "  {:<16} {:>9.1} {:>6.1} {:>9.1} {:>6.1}",
                s.name,
                s.wall * 1e3,
                100.0 * s.wall / wall,
                s.cpu * 1e3,
                100.0 * s.cpu / cpu
            );
        }
    }
    Ok(())
}

fn table(fwd: &mut dyn Forward, cfg: &ModelConfig, lengths: &[usize], warmup: usize, reps: usize) -> densi::Result<()> {
    println!(
        "(cpu s: CPU time per pass summed over threads, Linux only; on a busy machine wall time suffers, CPU time much less)"
    );
    println!("{:>7} {:>9} {:>9} {:>9} {:>8} {:>8}", "tokens", "seconds", "min s", "tok/s", "GFLOP/s", "cpu s");
    for &len in lengths {
        let cpu0 = process_cpu_seconds();
        let row = bench_forward(fwd, cfg, &[len], warmup, reps)?.remove(0);
        let cpu = (process_cpu_seconds() - cpu0) / (warmup + reps.max(1)) as f64;
        println!(
            "{:>7} {:>9.3} {:>9.3} {:>9.1} {:>8.1} {:>8.3}",
            row.tokens, row.seconds, row.min_seconds, row.tokens_per_s, row.gflops, cpu
        );
    }
    Ok(())
}
