//! GGUF v2/v3 models, split as gguf-py splits them: [`reader`] (header, metadata values, tensor
//! infos, bounds checks; the mapped file as a [`TensorSource`](crate::model::source::TensorSource)),
//! [`quants`] (ggml types, block layouts, dequantization), [`mapping`] (metadata → config, tensor
//! names). Architectures `llama`, `qwen2` and `gpt2`; the tokenizer from `tokenizer.ggml.*`.

pub mod mapping;
pub mod quants;
pub mod reader;

use std::path::Path;

pub use mapping::{GgufNames, config_from_metadata};
pub use quants::{GgmlType, dequantize};
pub use reader::{GgufFile, GgufHeader, TensorInfo, Value, parse_gguf_header};

use super::tokenizer::{GgufVocab, TextTokenizer};
use super::weights::WeightStorage;
use super::{Model, ModelSource, arch, source};
use crate::error::{DensiError, Result};

/// Loads a GGUF model: config from `{arch}.*` metadata, weights kept as `storage` says, and the
/// tokenizer from `tokenizer.ggml.*`.
pub fn load(path: &Path, storage: WeightStorage) -> Result<Model> {
    load_file(GgufFile::open(path)?, storage)
}

/// Loads a model from a GGUF file already in memory (the fuzzer's entry point; `name` only
/// names it in errors).
/// Weights are expanded to f32, so every dequantizer runs over the (hostile) bytes.
pub fn load_bytes(name: &Path, bytes: Vec<u8>) -> Result<Model> {
    load_file(GgufFile::from_vec(name, bytes)?, WeightStorage::F32)
}

fn load_file(file: GgufFile, storage: WeightStorage) -> Result<Model> {
    let path = file.path.clone();
    let config = config_from_metadata(&file)?;
    let tokenizer = TextTokenizer::from_gguf(&path, &vocab_from_metadata(&file)?)?;
    tokenizer.check_fits(&path, config.vocab_size)?;
    crate::memory::check_fits(&path, &file, &config, storage)?;
    let weights = arch::load_weights(&file, &GgufNames, &config, storage)?;
    let source = ModelSource {
        path: path.clone(),
        format: "gguf",
        weight_dtype: source::weight_dtype_summary(&file),
        weight_files: vec![path],
    };
    Ok(Model { config, weights, tokenizer, source })
}

/// The `tokenizer.ggml.*` metadata, checked for types and consistency.
pub fn vocab_from_metadata(file: &GgufFile) -> Result<GgufVocab> {
    let tok_err = |reason: String| DensiError::Tokenizer { path: file.path.clone(), reason };
    let model = file
        .meta_str("tokenizer.ggml.model")?
        .ok_or_else(|| tok_err("missing metadata `tokenizer.ggml.model`".into()))?
        .to_string();
    let strings = |key: &str| -> Result<Option<Vec<String>>> {
        match file.meta(key) {
            None => Ok(None),
            Some(v) => {
                let arr = v.as_array().ok_or_else(|| tok_err(format!("`{key}` should be an array of strings")))?;
                arr.iter()
                    .map(|s| {
                        s.as_str()
                            .map(str::to_string)
                            .ok_or_else(|| tok_err(format!("`{key}` should be an array of strings")))
                    })
                    .collect::<Result<Vec<_>>>()
                    .map(Some)
            }
        }
    };
    let tokens =
        strings("tokenizer.ggml.tokens")?.ok_or_else(|| tok_err("missing metadata `tokenizer.ggml.tokens`".into()))?;
    if tokens.is_empty() {
        return Err(tok_err("`tokenizer.ggml.tokens` is empty".into()));
    }
    let scores = match file.meta("tokenizer.ggml.scores") {
        None => None,
        Some(v) => {
            let arr = v.as_array().ok_or_else(|| tok_err("`tokenizer.ggml.scores` should be an array".into()))?;
            if arr.len() != tokens.len() {
                return Err(tok_err(format!(
                    "`tokenizer.ggml.scores` has {} entries for {} tokens",
                    arr.len(),
                    tokens.len()
                )));
            }
            Some(
                arr.iter()
                    .map(|x| {
                        x.as_f32()
                            .filter(|x| !x.is_nan())
                            .ok_or_else(|| tok_err("`tokenizer.ggml.scores` should hold numbers".into()))
                    })
                    .collect::<Result<Vec<f32>>>()?,
            )
        }
    };
    let merges = strings("tokenizer.ggml.merges")?.unwrap_or_default();
    let token_types = match file.meta("tokenizer.ggml.token_type") {
        None => None,
        Some(v) => {
            let arr = v.as_array().ok_or_else(|| tok_err("`tokenizer.ggml.token_type` should be an array".into()))?;
            if arr.len() != tokens.len() {
                return Err(tok_err(format!(
                    "`tokenizer.ggml.token_type` has {} entries for {} tokens",
                    arr.len(),
                    tokens.len()
                )));
            }
            Some(
                arr.iter()
                    .map(|t| {
                        t.as_i64()
                            .map(|t| t as i32)
                            .ok_or_else(|| tok_err("`tokenizer.ggml.token_type` should hold integers".into()))
                    })
                    .collect::<Result<Vec<_>>>()?,
            )
        }
    };
    let id = |key: &str| -> Result<Option<u32>> {
        match file.meta_u64(key)? {
            None => Ok(None),
            Some(v) if (v as usize) < tokens.len() => Ok(Some(v as u32)),
            Some(v) => Err(tok_err(format!("`{key}` = {v} is not a token id (vocabulary of {})", tokens.len()))),
        }
    };
    let add_bos = match file.meta("tokenizer.ggml.add_bos_token") {
        None => None,
        Some(v) => Some(v.as_bool().ok_or_else(|| tok_err("`tokenizer.ggml.add_bos_token` should be a bool".into()))?),
    };
    let add_space_prefix = match file.meta("tokenizer.ggml.add_space_prefix") {
        None => None,
        Some(v) => {
            Some(v.as_bool().ok_or_else(|| tok_err("`tokenizer.ggml.add_space_prefix` should be a bool".into()))?)
        }
    };
    Ok(GgufVocab {
        model,
        scores,
        add_space_prefix,
        model_name: file.meta_str("general.name")?.map(str::to_string),
        pre: file.meta_str("tokenizer.ggml.pre")?.map(str::to_string),
        bos_id: id("tokenizer.ggml.bos_token_id")?,
        eos_id: id("tokenizer.ggml.eos_token_id")?,
        unk_id: id("tokenizer.ggml.unknown_token_id")?,
        pad_id: id("tokenizer.ggml.padding_token_id")?,
        add_bos,
        tokens,
        token_types,
        merges,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal v3 file: one metadata string, one F32 tensor of 4 elements.
    fn tiny_gguf() -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(b"GGUF");
        b.extend_from_slice(&3u32.to_le_bytes());
        b.extend_from_slice(&1u64.to_le_bytes()); // tensors
        b.extend_from_slice(&1u64.to_le_bytes()); // kv
        let s = |b: &mut Vec<u8>, s: &str| {
            b.extend_from_slice(&(s.len() as u64).to_le_bytes());
            b.extend_from_slice(s.as_bytes());
        };
        s(&mut b, "general.architecture");
        b.extend_from_slice(&8u32.to_le_bytes());
        s(&mut b, "llama");
        s(&mut b, "x");
        b.extend_from_slice(&1u32.to_le_bytes());
        b.extend_from_slice(&4u64.to_le_bytes());
        b.extend_from_slice(&0u32.to_le_bytes());
        b.extend_from_slice(&0u64.to_le_bytes());
        while b.len() % 32 != 0 {
            b.push(0);
        }
        for v in [1.0f32, 2.0, 3.0, 4.0] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        b
    }

    #[test]
    fn parses_a_minimal_file_and_rejects_every_truncation() {
        let b = tiny_gguf();
        let h = parse_gguf_header(&b).unwrap();
        assert_eq!(h.get("general.architecture").and_then(Value::as_str), Some("llama"));
        assert_eq!(h.tensors[0].shape(), vec![4]);
        assert_eq!(h.tensors[0].n_bytes, Some(16));
        for n in 0..b.len() {
            assert!(parse_gguf_header(&b[..n]).is_err(), "a file cut to {n} bytes parsed");
        }
    }

    #[test]
    fn q4_1_block_layout() {
        // d = 0.5, m = -1, qs[j] = j | (15 - j) << 4 → y[j] = 0.5·j − 1, y[j+16] = 0.5·(15−j) − 1.
        let mut b = Vec::new();
        b.extend_from_slice(&half::f16::from_f32(0.5).to_le_bytes());
        b.extend_from_slice(&half::f16::from_f32(-1.0).to_le_bytes());
        for j in 0..16u8 {
            b.push(j | ((15 - j) << 4));
        }
        let y = dequantize(GgmlType::Q4_1, &b, 32).unwrap();
        for j in 0..16 {
            assert_eq!(y[j], 0.5 * j as f32 - 1.0);
            assert_eq!(y[j + 16], 0.5 * (15 - j) as f32 - 1.0);
        }
    }
}
