//! Memory, measured and expected: what a model will need before it is loaded (its weight matrices
//! as [`WeightStorage`] keeps them, plus the CPU forward's buffers for a context), what the machine
//! has (`MemAvailable` of /proc/meminfo), and what this process used at its peak (`VmHWM` of
//! /proc/self/status). Linux only; elsewhere the readings are `None` and the check passes.

use std::path::Path;

use crate::error::{DensiError, Result};
use crate::model::source::TensorSource;
use crate::model::{ModelConfig, WeightStorage};

/// Tokens the load-time check assumes a text will use (a short document); `densi info --context N`
/// shows the estimate for any length.
pub const CHECK_TOKENS: usize = 512;

/// Bytes the process needs besides weights and buffers (code, tokenizer, allocator slack): a
/// round figure above the ≈ 25 MiB measured for the default model's tokenizer and binary.
const BASELINE_BYTES: u64 = 48 << 20;

/// Bytes the weight tensors of `src` occupy once loaded as `storage` keeps them: the stored bytes
/// when resident, 4 per element when expanded to f32 (tensors of unreadable types count as stored).
pub fn weight_bytes(src: &dyn TensorSource, storage: WeightStorage) -> u64 {
    src.names()
        .into_iter()
        .filter_map(|n| src.get(n))
        .map(|t| match storage {
            WeightStorage::F32 => 4 * t.n_elements() as u64,
            WeightStorage::Resident if t.shape.len() < 2 => 4 * t.n_elements() as u64,
            WeightStorage::Resident => t.bytes.len() as u64,
        })
        .sum()
}

/// Peak bytes of the CPU forward's buffers for `tokens` tokens on `threads` threads: the
/// activations ([t, h] residual and normed rows, [t, q+2kv] qkv, [t, q] attention output,
/// [t, 3·intermediate] MLP rows), attention's transposed keys and values, the lm-head's logits
/// block, and, for stored weights, each thread's dequantized panel (short texts) or the largest
/// weight expanded whole (texts of [`crate::cpu::fast::OWN_GEMM_MAX_M`] tokens or more).
pub fn cpu_buffer_bytes(cfg: &ModelConfig, tokens: usize, threads: usize, storage: WeightStorage) -> u64 {
    let t = tokens as u64;
    let (h, inter, vocab) = (cfg.hidden_size as u64, cfg.intermediate_size as u64, cfg.vocab_size as u64);
    let (q, kv) = ((cfg.num_heads * cfg.head_dim) as u64, (cfg.num_kv_heads * cfg.head_dim) as u64);
    let activations = t * (2 * h + q + 2 * kv + q + 3 * inter + cfg.head_dim as u64);
    let attention = 2 * kv * t.div_ceil(32) * 32;
    let head_rows = crate::cpu::fast::lm_head_block_rows(cfg.vocab_size) as u64;
    let stored = match storage {
        WeightStorage::F32 => 0,
        WeightStorage::Resident => {
            let panels = threads as u64 * 96 * 768;
            let largest = h * h.max(inter).max(q);
            if tokens >= crate::cpu::fast::OWN_GEMM_MAX_M { panels.max(largest) } else { panels }
        }
    };
    4 * (activations + attention + head_rows.min(t.max(1)) * vocab + stored)
}

/// The expected peak memory of loading the model and scoring `tokens` tokens on the CPU.
pub fn expected_peak_bytes(weights: u64, cfg: &ModelConfig, tokens: usize, storage: WeightStorage) -> u64 {
    weights + cpu_buffer_bytes(cfg, tokens, rayon::current_num_threads(), storage) + BASELINE_BYTES
}

/// `MemAvailable` of /proc/meminfo in bytes (`None` where there is none).
pub fn available_bytes() -> Option<u64> {
    meminfo_kib(&std::fs::read_to_string("/proc/meminfo").ok()?, "MemAvailable:").map(|k| k << 10)
}

/// This process's peak resident set (`VmHWM` of /proc/self/status) in bytes.
pub fn peak_rss_bytes() -> Option<u64> {
    meminfo_kib(&std::fs::read_to_string("/proc/self/status").ok()?, "VmHWM:").map(|k| k << 10)
}

/// The `key:   N kB` line's N.
fn meminfo_kib(text: &str, key: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with(key))?;
    line[key.len()..].split_whitespace().next()?.parse().ok()
}

/// Fails with [`DensiError::OutOfMemory`] when the expected peak of loading `path` and scoring
/// [`CHECK_TOKENS`] tokens exceeds the memory available; called before any weight is read.
pub fn check_fits(path: &Path, src: &dyn TensorSource, cfg: &ModelConfig, storage: WeightStorage) -> Result<()> {
    let needed = expected_peak_bytes(weight_bytes(src, storage), cfg, CHECK_TOKENS.min(cfg.context_length), storage);
    check_against(path, needed, available_bytes(), storage)
}

fn check_against(path: &Path, needed: u64, available: Option<u64>, storage: WeightStorage) -> Result<()> {
    match available {
        Some(available) if needed > available => Err(DensiError::OutOfMemory {
            path: path.to_path_buf(),
            needed_mib: needed >> 20,
            available_mib: available >> 20,
            what: format!("{} weights, {CHECK_TOKENS} tokens", storage.name()),
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_proc_lines() {
        let text = "MemTotal:       24576000 kB\nMemAvailable:   12345678 kB\n";
        assert_eq!(meminfo_kib(text, "MemAvailable:"), Some(12345678));
        assert_eq!(meminfo_kib(text, "VmHWM:"), None);
        if cfg!(target_os = "linux") {
            assert!(available_bytes().is_some_and(|b| b > 0));
            assert!(peak_rss_bytes().is_some_and(|b| b > 0));
        }
    }

    #[test]
    fn too_large_is_one_line_with_both_numbers() {
        let path = Path::new("big.gguf");
        assert!(check_against(path, 1 << 30, Some(2 << 30), WeightStorage::Resident).is_ok());
        assert!(check_against(path, 1 << 30, None, WeightStorage::Resident).is_ok());
        let err = check_against(path, 3 << 30, Some(2 << 30), WeightStorage::F32).unwrap_err().to_string();
        assert!(!err.contains('\n'), "{err}");
        assert!(err.contains("big.gguf") && err.contains("3072 MiB") && err.contains("2048 MiB"), "{err}");
        assert!(err.contains("f32 weights"), "{err}");
    }
}
