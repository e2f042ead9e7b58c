//! `densi info`: what the model is, and which compute devices there are.

use std::io::Write;

use anyhow::Result;
use densi::score::AutoBos;

use super::args::InfoArgs;
use super::progress::Progress;
use super::session::load_model;

pub fn run(args: InfoArgs, progress: &Progress) -> Result<()> {
    let model = load_model(&args.model, progress)?;
    let sha = {
        let spinner = progress.spinner("hashing the model file (sha256)".into());
        let sha = model.sha256()?;
        spinner.finish_and_clear();
        sha
    };
    let c = &model.config;
    let tok = &model.tokenizer;
    let size: u64 = model.source.weight_files.iter().filter_map(|f| std::fs::metadata(f).ok()).map(|m| m.len()).sum();
    let params = c.parameter_count();
    let bos = match densi::score::auto_bos(tok) {
        Some((b, AutoBos::ModelBos)) => format!("{} (id {b}, the model's BOS)", tok.token_display(b)),
        Some((d, AutoBos::DocumentSeparator)) => format!("{} (id {d}, the document separator)", tok.token_display(d)),
        None => "none: the first token is not scored".to_string(),
    };
    let mut out = std::io::stdout().lock();
    let rows: Vec<(&str, String)> = vec![
        ("model", model.source.path.display().to_string()),
        ("format", model.source.format.to_string()),
        ("file size", format!("{:.1} MiB", size as f64 / (1u64 << 20) as f64)),
        ("sha256", sha),
        ("architecture", c.architecture.name().to_string()),
        ("parameters", format!("{params} ({:.1} M)", params as f64 / 1e6)),
        ("weights", format!("{} on disk, computed in f32", model.source.weight_dtype)),
        ("layers", c.num_layers.to_string()),
        ("width", format!("{} (MLP {})", c.hidden_size, c.intermediate_size)),
        ("heads", format!("{} query, {} key/value, head dim {}", c.num_heads, c.num_kv_heads, c.head_dim)),
        ("vocabulary", c.vocab_size.to_string()),
        ("context", format!("{} tokens", c.context_length)),
        ("tokenizer", tok.description.clone()),
        ("bos (auto)", bos),
    ];
    for (k, v) in rows {
        writeln!(out, "{k:<13} {v}")?;
    }
    writeln!(out)?;
    writeln!(out, "devices:")?;
    super::devices::print_devices(&mut out)?;
    Ok(())
}
