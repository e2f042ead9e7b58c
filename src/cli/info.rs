//! `densi info`: what the model is, and which compute devices there are.

use std::io::Write;

use anyhow::Result;
use densi::model::{Model, WeightStorage, Weights};
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
    let mut rows: Vec<(&str, String)> = vec![
        ("model", model.source.path.display().to_string()),
        ("format", model.source.format.to_string()),
        ("file size", format!("{:.1} MiB", size as f64 / (1u64 << 20) as f64)),
        ("sha256", sha),
        ("architecture", c.architecture.name().to_string()),
        ("parameters", format!("{params} ({:.1} M)", params as f64 / 1e6)),
        ("weights", format!("{} on disk, computed in f32", model.source.weight_dtype)),
        ("in memory", in_memory(&model, args.model.weights)),
        (
            "peak memory",
            format!(
                "about {} scoring {} tokens on the CPU (weights, forward buffers, process; --context)",
                mib(densi::memory::expected_peak_bytes(
                    resident_bytes(&model.weights),
                    c,
                    args.context,
                    args.model.weights
                )),
                args.context
            ),
        ),
        ("layers", c.num_layers.to_string()),
        ("width", format!("{} (MLP {})", c.hidden_size, c.intermediate_size)),
        ("heads", format!("{} query, {} key/value, head dim {}", c.num_heads, c.num_kv_heads, c.head_dim)),
        ("vocabulary", c.vocab_size.to_string()),
        ("context", format!("{} tokens", c.context_length)),
        ("tokenizer", tok.description.clone()),
        ("bos (auto)", bos),
    ];
    // What was understood from the file, after the architecture's name.
    let at = rows.iter().position(|r| r.0 == "architecture").map_or(rows.len(), |i| i + 1);
    rows.splice(at..at, c.feature_lines());
    for (k, v) in rows {
        writeln!(out, "{k:<13} {v}")?;
    }
    for (dtype, count, bytes) in by_type(&model.weights) {
        writeln!(out, "  {dtype:<11} {count:>4} tensors  {:>10}", mib(bytes))?;
    }
    #[cfg(feature = "gpu")]
    gpu_lines(&mut out, &model.weights, args.model.weights)?;
    writeln!(out)?;
    writeln!(out, "devices:")?;
    super::devices::print_devices(&mut out)?;
    Ok(())
}

/// On a GPU (`--backend gpu`, the default `--dtype auto`): how each matrix type is held there and
/// the weight bytes uploaded.
#[cfg(feature = "gpu")]
fn gpu_lines(out: &mut impl Write, w: &Weights, storage: WeightStorage) -> Result<()> {
    use densi::gpu::contract::WeightFormat;
    use densi::model::DType;
    let dense = densi::dtype::Dtype::Auto;
    let matrices = w.matrices();
    // Learned positions go up as f32 values (a table, not a matmul weight).
    let bytes: u64 = matrices
        .iter()
        .map(|(name, m)| match name.as_str() {
            "position_embedding" => 4 * (m.rows() * m.cols()) as u64,
            _ => densi::gpu::forward::upload_bytes(m, dense),
        })
        .sum();
    writeln!(
        out,
        "{:<13} {} of weights in GPU buffers (--weights {}, --dtype auto), by type:",
        "on a GPU",
        mib(bytes),
        storage.name()
    )?;
    let mut types: Vec<DType> = matrices.iter().map(|(_, m)| m.dtype()).collect();
    types.sort_by_key(|t| DType::ALL.iter().position(|a| a == t));
    types.dedup();
    for t in types {
        writeln!(out, "  {:<11} {}", t.name(), WeightFormat::describe_stored(t, dense))?;
    }
    Ok(())
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1u64 << 20) as f64)
}

/// The `in memory` line: how the matrices are kept and their bytes in all.
fn in_memory(model: &Model, storage: WeightStorage) -> String {
    let how = match storage {
        WeightStorage::Resident => "resident: as stored, mapped from the file",
        WeightStorage::F32 => "f32: expanded at load",
    };
    format!("{} in all ({how}; --weights), by type:", mib(resident_bytes(&model.weights)))
}

/// Bytes of every tensor as held in memory: matrices as stored, norms and biases in f32.
fn resident_bytes(w: &Weights) -> u64 {
    by_type(w).iter().map(|t| t.2).sum()
}

/// Per storage type: (type, tensors, bytes held), matrices and the f32 norms and biases; most bytes first.
fn by_type(w: &Weights) -> Vec<(&'static str, usize, u64)> {
    let mut rows: Vec<(&'static str, usize, u64)> = Vec::new();
    let mut add = |name: &'static str, bytes: u64| match rows.iter_mut().find(|r| r.0 == name) {
        Some(r) => {
            r.1 += 1;
            r.2 += bytes;
        }
        None => rows.push((name, 1, bytes)),
    };
    for (_, m) in w.matrices() {
        add(m.dtype().name(), m.resident_bytes() as u64);
    }
    for v in w.vectors() {
        add("F32", 4 * v.len() as u64);
    }
    rows.sort_by(|a, b| b.2.cmp(&a.2).then(a.0.cmp(b.0)));
    rows
}
