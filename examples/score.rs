//! Per-token surprisal and entropy of a text from the default model on the CPU:
//! `cargo run --release --example score -- "My favorite color is blue"`.
//! The model is resolved as the library does (DENSI_MODEL, then models/SmolLM2-135M-Instruct.Q4_1.gguf;
//! run models/fetch.sh first).

use std::sync::Arc;

use densi::backend::{BackendChoice, BackendOptions};
use densi::model::Model;
use densi::score::ScoreOptions;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let text = std::env::args().skip(1).collect::<Vec<_>>().join(" ");
    if text.is_empty() {
        return Err("usage: score TEXT".into());
    }
    let path = Model::resolve_path(None)?;
    let model = Arc::new(Model::load(&path)?);
    let backend = BackendOptions { choice: BackendChoice::Cpu, ..Default::default() };
    let mut scorer = densi::backend::scorer(&model, &backend, ScoreOptions::default())?;
    let t0 = std::time::Instant::now();
    let result = scorer.score("text", &text)?;
    let secs = t0.elapsed().as_secs_f64();
    println!("{} ({}), first token policy {:?}", path.display(), result.settings.device, result.settings.bos_policy);
    println!("{:>4}  {:<16} {:>10} {:>10} {:>6}", "#", "token", "surprisal", "entropy", "rank");
    for t in &result.tokens {
        let shown = format!("{:?}", t.token);
        if t.scored {
            println!(
                "{:>4}  {:<16} {:>7.3} b {:>8.3} b {:>6}",
                t.index, shown, t.surprisal_bits, t.entropy_bits, t.rank
            );
        } else {
            println!("{:>4}  {:<16} {:>10} {:>10} {:>6}", t.index, shown, "-", "-", "-");
        }
    }
    let s = &result.summary;
    println!(
        "{} tokens, {:.2} bits total, {:.3} bits/token, {:.3} bits/byte, perplexity {:.2} ({:.3} s)",
        s.tokens, s.total_bits, s.mean_bits_per_token, s.bits_per_byte, s.perplexity, secs
    );
    Ok(())
}
