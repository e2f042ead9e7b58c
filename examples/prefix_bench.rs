//! Prefix-reuse benchmark without the CLI's features: `cargo run --release --no-default-features
//! --example prefix_bench -- [LEN]` runs the two cases of `densi bench --prefix`
//! ([`densi::bench::prefix_cases`]) on the CPU backend with the default model (LEN tokens per text
//! of the minimal pairs, default 128). Env: DENSI_THREADS (default: all cores), DENSI_REPS (default 3).

use std::sync::Arc;

use densi::bench::prefix_cases;
use densi::cpu::CpuForward;
use densi::model::Model;
use densi::prefix::DEFAULT_CACHE_BYTES;
use densi::score::Forward;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let len = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(128);
    let env = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<usize>().ok());
    let path = Model::resolve_path(None)?;
    let model = Arc::new(Model::load(&path)?);
    let mut forward = CpuForward::new(model.clone(), env("DENSI_THREADS"))?;
    println!("model {}; {}; prefix cache {} MiB", path.display(), forward.device(), DEFAULT_CACHE_BYTES >> 20);
    println!(
        "{:<44}  {:>9}  {:>9}  {:>10}  {:>10}  {:>8}",
        "case", "scored", "computed", "full s", "reuse s", "speed-up"
    );
    for row in prefix_cases(&mut forward, &model.config, len, DEFAULT_CACHE_BYTES, env("DENSI_REPS").unwrap_or(3))? {
        println!(
            "{:<44}  {:>9}  {:>9}  {:>10.4}  {:>10.4}  {:>7.2}×",
            row.name,
            row.positions,
            row.computed,
            row.seconds_full,
            row.seconds_reuse,
            row.speedup()
        );
    }
    Ok(())
}
