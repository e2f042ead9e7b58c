//! Hugging Face model directories: `config.json` + `model.safetensors` (or a sharded
//! `model.safetensors.index.json`) + a tokenizer; also a hub-cache entry
//! (`models--ORG--NAME/{refs/main, snapshots/REV/}`), given as that directory or as the snapshot.
//!
//! A `.safetensors` file is `u64 n | n bytes of JSON header | data`; the header maps each tensor
//! name to `{dtype, shape, data_offsets: [begin, end]}` relative to the data start. Files are
//! memory-mapped and parsed by the `safetensors` crate, which checks that the offsets tile the
//! data exactly and that each tensor's byte length equals its shape × dtype size. Weights are
//! converted to f32 as they are copied out of the map.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use safetensors::{Dtype, SafeTensorError, SafeTensors};

use super::config::{Architecture, ModelConfig};
use super::tokenizer::TextTokenizer;
use super::weights::{Block, Linear, Mlp, Norm, NormKind, Weights};
use super::{Model, ModelSource};
use crate::error::{DensiError, Result};

const FORMAT: &str = "safetensors";
const SUPPORTED_DTYPES: &str = "F32, F16, BF16";

/// One tensor of a parsed safetensors header.
#[derive(Debug, Clone)]
pub struct StTensor {
    pub name: String,
    pub dtype: Dtype,
    pub shape: Vec<usize>,
    /// Absolute byte range of the data in the file (in bounds, length = shape × dtype size).
    pub range: std::ops::Range<usize>,
}

/// Parses and validates the header of a safetensors file held in `bytes`. The error is a reason
/// without the file name. This is the fuzz target's entry point.
pub fn parse_safetensors_header(bytes: &[u8]) -> Result<Vec<StTensor>, String> {
    let (n, meta) = SafeTensors::read_metadata(bytes).map_err(|e| explain(&e, bytes))?;
    let data_start = 8 + n;
    let mut tensors: Vec<StTensor> = meta
        .tensors()
        .into_iter()
        .map(|(name, info)| StTensor {
            name,
            dtype: info.dtype,
            shape: info.shape.clone(),
            range: data_start + info.data_offsets.0..data_start + info.data_offsets.1,
        })
        .collect();
    tensors.sort_by_key(|t| t.range.start);
    Ok(tensors)
}

/// A readable reason for a safetensors parse error.
fn explain(e: &SafeTensorError, bytes: &[u8]) -> String {
    let header_len = bytes.get(..8).map(|b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])));
    match e {
        SafeTensorError::HeaderTooSmall => {
            format!("file is {} bytes, too short for the 8-byte header length", bytes.len())
        }
        SafeTensorError::HeaderTooLarge | SafeTensorError::InvalidHeaderLength => {
            format!("header length {} points past the end of the file ({} bytes)", header_len.unwrap_or(0), bytes.len())
        }
        SafeTensorError::MetadataIncompleteBuffer => format!(
            "the header's tensors do not end where the file ends ({} bytes): truncated, or tensor data out of bounds",
            bytes.len()
        ),
        SafeTensorError::TensorInvalidInfo => match culprit_shape_mismatch(bytes) {
            Some(name) => format!("tensor `{name}`: shape × dtype size disagrees with its byte length (data_offsets)"),
            None => "a tensor's shape × dtype size disagrees with its byte length".to_string(),
        },
        SafeTensorError::InvalidOffset(name) => {
            format!("tensor `{name}`: data_offsets do not follow the previous tensor (gap, overlap or reversed)")
        }
        other => format!("bad header: {other}"),
    }
}

/// Finds the tensor whose byte length disagrees with its shape (the crate's error names none).
fn culprit_shape_mismatch(bytes: &[u8]) -> Option<String> {
    let n = u64::from_le_bytes(bytes.get(..8)?.try_into().ok()?) as usize;
    let header: serde_json::Value = serde_json::from_slice(bytes.get(8..8usize.checked_add(n)?)?).ok()?;
    for (name, t) in header.as_object()? {
        if name == "__metadata__" {
            continue;
        }
        let dtype_bytes = match t.get("dtype")?.as_str()? {
            "F64" | "I64" | "U64" => 8,
            "F32" | "I32" | "U32" => 4,
            "F16" | "BF16" | "I16" | "U16" => 2,
            _ => 1,
        };
        let elems = t.get("shape")?.as_array()?.iter().try_fold(1u64, |acc, d| acc.checked_mul(d.as_u64()?))?;
        let off = t.get("data_offsets")?.as_array()?;
        let (s, e) = (off.first()?.as_u64()?, off.get(1)?.as_u64()?);
        if Some(e.wrapping_sub(s)) != elems.checked_mul(dtype_bytes) {
            return Some(name.clone());
        }
    }
    None
}

/// Converts a tensor's little-endian bytes to f32. `None` for a dtype we do not convert.
pub fn to_f32(dtype: Dtype, data: &[u8]) -> Option<Vec<f32>> {
    let conv: fn(&[u8]) -> f32 = match dtype {
        Dtype::F32 => |b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]),
        Dtype::F16 => |b| half::f16::from_le_bytes([b[0], b[1]]).to_f32(),
        Dtype::BF16 => |b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32(),
        _ => return None,
    };
    let size = dtype.bitsize() / 8;
    let mut out = vec![0f32; data.len() / size];
    const CHUNK: usize = 1 << 16;
    out.par_chunks_mut(CHUNK).zip(data.par_chunks(CHUNK * size)).for_each(|(o, d)| {
        for (y, b) in o.iter_mut().zip(d.chunks_exact(size)) {
            *y = conv(b);
        }
    });
    Some(out)
}

fn dtype_name(d: Dtype) -> String {
    format!("{d:?}")
}

// ---------------------------------------------------------------------------------------------
// Directory resolution
// ---------------------------------------------------------------------------------------------

/// The directory that holds `config.json`: `path` itself, or for a hub-cache entry
/// (`models--ORG--NAME`) the snapshot named by `refs/main` (or its only snapshot).
pub fn resolve_model_dir(path: &Path) -> Result<PathBuf> {
    if path.join("config.json").exists() {
        return Ok(path.to_path_buf());
    }
    let snapshots = path.join("snapshots");
    if snapshots.is_dir() {
        let refs_main = path.join("refs").join("main");
        let snap = if refs_main.is_file() {
            let rev = std::fs::read_to_string(&refs_main).map_err(|e| DensiError::io(&refs_main, e))?;
            let rev = rev.trim();
            if rev.is_empty() || rev.contains(['/', '\\']) || rev == ".." {
                return Err(DensiError::Config { path: refs_main, reason: format!("`{rev}` is not a revision") });
            }
            snapshots.join(rev)
        } else {
            let entries: Vec<PathBuf> = std::fs::read_dir(&snapshots)
                .map_err(|e| DensiError::io(&snapshots, e))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_dir())
                .collect();
            match entries.as_slice() {
                [only] => only.clone(),
                _ => {
                    return Err(DensiError::Config {
                        path: path.to_path_buf(),
                        reason: format!("hub cache entry without refs/main and with {} snapshots", entries.len()),
                    });
                }
            }
        };
        if snap.join("config.json").exists() {
            return Ok(snap);
        }
        let missing = snap.join("config.json");
        return Err(DensiError::io(missing, std::io::Error::new(std::io::ErrorKind::NotFound, "no such file")));
    }
    let missing = path.join("config.json");
    Err(DensiError::io(
        missing,
        std::io::Error::new(std::io::ErrorKind::NotFound, "no such file (not a Hugging Face model directory)"),
    ))
}

// ---------------------------------------------------------------------------------------------
// Mapped checkpoint (one file or shards)
// ---------------------------------------------------------------------------------------------

struct StFile {
    path: PathBuf,
    mmap: memmap2::Mmap,
}

/// All tensors of a checkpoint, by name, over one or more memory-mapped files.
pub struct Checkpoint {
    files: Vec<StFile>,
    tensors: HashMap<String, (usize, StTensor)>,
}

impl Checkpoint {
    /// Maps `model.safetensors`, or the shards listed by `model.safetensors.index.json`.
    pub fn open(dir: &Path) -> Result<Checkpoint> {
        let single = dir.join("model.safetensors");
        let index = dir.join("model.safetensors.index.json");
        let names: Vec<PathBuf> = if single.exists() {
            vec![single]
        } else if index.exists() {
            shard_files(&index)?.into_iter().map(|f| dir.join(f)).collect()
        } else {
            return Err(DensiError::io(
                &single,
                std::io::Error::new(std::io::ErrorKind::NotFound, "no such file (nor model.safetensors.index.json)"),
            ));
        };
        let mut ck = Checkpoint { files: Vec::new(), tensors: HashMap::new() };
        for path in names {
            let file = std::fs::File::open(&path).map_err(|e| DensiError::io(&path, e))?;
            // SAFETY: read-only private map; a file truncated by another process while mapped would
            // fault, as with every mmap-based model loader.
            let mmap = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| DensiError::io(&path, e))?;
            let parsed = parse_safetensors_header(&mmap).map_err(|reason| DensiError::InvalidModelFile {
                path: path.clone(),
                format: FORMAT,
                reason,
            })?;
            let idx = ck.files.len();
            for t in parsed {
                if let Some((other, _)) = ck.tensors.insert(t.name.clone(), (idx, t.clone())) {
                    return Err(DensiError::InvalidModelFile {
                        path: path.clone(),
                        format: FORMAT,
                        reason: format!("tensor `{}` is also in {}", t.name, ck.files[other].path.display()),
                    });
                }
            }
            ck.files.push(StFile { path, mmap });
        }
        Ok(ck)
    }

    pub fn has(&self, name: &str) -> bool {
        self.tensors.contains_key(name)
    }

    fn first_path(&self) -> PathBuf {
        self.files.first().map(|f| f.path.clone()).unwrap_or_default()
    }

    /// The tensor `name` as f32, checked to have `shape`.
    pub fn tensor(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
        let Some((fi, t)) = self.tensors.get(name) else {
            return Err(DensiError::MissingTensor { path: self.first_path(), tensor: name.to_string() });
        };
        let file = &self.files[*fi];
        if t.shape != shape {
            return Err(DensiError::TensorShape {
                path: file.path.clone(),
                tensor: name.to_string(),
                found: t.shape.clone(),
                expected: shape.to_vec(),
            });
        }
        // In bounds: validated by parse_safetensors_header.
        to_f32(t.dtype, &file.mmap[t.range.clone()]).ok_or_else(|| DensiError::UnsupportedTensorType {
            path: file.path.clone(),
            tensor: name.to_string(),
            found: dtype_name(t.dtype),
            supported: SUPPORTED_DTYPES,
        })
    }

    /// Storage dtypes of the matrices, most common first (`F16`, or `mixed F16/F32`).
    fn weight_dtype(&self) -> String {
        let mut counts: Vec<(String, usize)> = Vec::new();
        for (_, t) in self.tensors.values().filter(|(_, t)| t.shape.len() >= 2) {
            let n = dtype_name(t.dtype);
            match counts.iter_mut().find(|(d, _)| *d == n) {
                Some((_, c)) => *c += 1,
                None => counts.push((n, 1)),
            }
        }
        counts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        match counts.len() {
            0 => "none".into(),
            1 => counts[0].0.clone(),
            _ => format!("mixed {}", counts.iter().map(|c| c.0.as_str()).collect::<Vec<_>>().join("/")),
        }
    }
}

/// The shard file names of `model.safetensors.index.json` (`weight_map` values), in order.
fn shard_files(index: &Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(index).map_err(|e| DensiError::io(index, e))?;
    let bad = |reason: String| DensiError::InvalidModelFile { path: index.to_path_buf(), format: FORMAT, reason };
    let json: serde_json::Value = serde_json::from_str(&text).map_err(|e| bad(format!("not valid JSON: {e}")))?;
    let map = json.get("weight_map").and_then(|m| m.as_object()).ok_or_else(|| bad("no `weight_map` object".into()))?;
    let mut files: Vec<String> = Vec::new();
    for (tensor, f) in map {
        let f = f.as_str().ok_or_else(|| bad(format!("weight_map[`{tensor}`] is not a file name")))?;
        // Shards live next to the index; refuse paths that climb out of the directory.
        if f.is_empty() || f.contains(['/', '\\']) || f == ".." {
            return Err(bad(format!("weight_map[`{tensor}`] = `{f}` is not a plain file name")));
        }
        if !files.iter().any(|x| x == f) {
            files.push(f.to_string());
        }
    }
    files.sort();
    Ok(files)
}

// ---------------------------------------------------------------------------------------------
// Loading
// ---------------------------------------------------------------------------------------------

pub fn load_dir(path: &Path) -> Result<Model> {
    let dir = resolve_model_dir(path)?;
    let config_path = dir.join("config.json");
    let text = std::fs::read_to_string(&config_path).map_err(|e| DensiError::io(&config_path, e))?;
    let json: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| DensiError::Config { path: config_path.clone(), reason: format!("not valid JSON: {e}") })?;
    let config = ModelConfig::from_hf_json(&config_path, &json)?;
    let tokenizer = TextTokenizer::from_hf_dir(&dir, &json)?;
    tokenizer.check_fits(&dir, config.vocab_size)?;
    let ck = Checkpoint::open(&dir)?;
    let weights = match config.architecture {
        Architecture::Gpt2 => gpt2_weights(&ck, &config)?,
        Architecture::Llama | Architecture::Qwen2 => llama_weights(&ck, &config)?,
    };
    let source = ModelSource {
        path: path.to_path_buf(),
        format: "safetensors",
        weight_dtype: ck.weight_dtype(),
        weight_files: ck.files.iter().map(|f| f.path.clone()).collect(),
    };
    Ok(Model { config, weights, tokenizer, source })
}

/// `{prefix}.weight` `[out, in]` (nn.Linear layout) and `{prefix}.bias` `[out]` when present
/// (or required, with `bias = Some(true)`).
fn linear(ck: &Checkpoint, prefix: &str, out: usize, inp: usize, bias: Option<bool>) -> Result<Linear> {
    let weight = ck.tensor(&format!("{prefix}.weight"), &[out, inp])?;
    let bias_name = format!("{prefix}.bias");
    let bias = if bias.unwrap_or_else(|| ck.has(&bias_name)) { Some(ck.tensor(&bias_name, &[out])?) } else { None };
    Ok(Linear { weight, bias, in_features: inp, out_features: out })
}

/// GPT-2's Conv1D: weight stored `[in, out]` (transposed here to `[out, in]`), bias `[out]`.
fn conv1d(ck: &Checkpoint, prefix: &str, inp: usize, out: usize) -> Result<Linear> {
    let w = ck.tensor(&format!("{prefix}.weight"), &[inp, out])?;
    let mut weight = vec![0f32; inp * out];
    weight.par_chunks_mut(inp).enumerate().for_each(|(o, row)| {
        for (i, x) in row.iter_mut().enumerate() {
            *x = w[i * out + o];
        }
    });
    let bias = Some(ck.tensor(&format!("{prefix}.bias"), &[out])?);
    Ok(Linear { weight, bias, in_features: inp, out_features: out })
}

fn norm(ck: &Checkpoint, prefix: &str, c: &ModelConfig, kind: NormKind) -> Result<Norm> {
    let h = c.hidden_size;
    let bias = match kind {
        NormKind::LayerNorm => Some(ck.tensor(&format!("{prefix}.bias"), &[h])?),
        NormKind::RmsNorm => None,
    };
    Ok(Norm { kind, weight: ck.tensor(&format!("{prefix}.weight"), &[h])?, bias, eps: c.norm_eps })
}

/// GPT2LMHeadModel: `transformer.{wte, wpe, h.{i}.{ln_1, attn.c_attn, attn.c_proj, ln_2,
/// mlp.c_fc, mlp.c_proj}, ln_f}` (checkpoints saved from GPT2Model lack the `transformer.`
/// prefix); lm_head is tied to wte.
fn gpt2_weights(ck: &Checkpoint, c: &ModelConfig) -> Result<Weights> {
    let p = if ck.has("transformer.wte.weight") { "transformer." } else { "" };
    let (h, i) = (c.hidden_size, c.intermediate_size);
    // Not preallocated: num_layers comes from the file; each block's tensors must exist.
    let mut blocks = Vec::new();
    for l in 0..c.num_layers {
        let b = format!("{p}h.{l}");
        // c_attn: [h, 3h] → [3h, h], rows q, k, v.
        let [q, k, v] = super::gguf::split_rows3(&conv1d(ck, &format!("{b}.attn.c_attn"), h, 3 * h)?);
        blocks.push(Block {
            attn_norm: norm(ck, &format!("{b}.ln_1"), c, NormKind::LayerNorm)?,
            q,
            k,
            v,
            o: conv1d(ck, &format!("{b}.attn.c_proj"), h, h)?,
            mlp_norm: norm(ck, &format!("{b}.ln_2"), c, NormKind::LayerNorm)?,
            mlp: Mlp::Gelu {
                fc: conv1d(ck, &format!("{b}.mlp.c_fc"), h, i)?,
                proj: conv1d(ck, &format!("{b}.mlp.c_proj"), i, h)?,
            },
        });
    }
    Ok(Weights {
        token_embedding: ck.tensor(&format!("{p}wte.weight"), &[c.vocab_size, h])?,
        position_embedding: Some(ck.tensor(&format!("{p}wpe.weight"), &[c.context_length, h])?),
        blocks,
        final_norm: norm(ck, &format!("{p}ln_f"), c, NormKind::LayerNorm)?,
        lm_head: None,
    })
}

/// LlamaForCausalLM / Qwen2ForCausalLM: `model.{embed_tokens, layers.{i}.{input_layernorm,
/// self_attn.{q,k,v,o}_proj, post_attention_layernorm, mlp.{gate,up,down}_proj}, norm}` and
/// `lm_head` unless tied. Qwen2 has q/k/v biases; Llama's optional biases load when present.
fn llama_weights(ck: &Checkpoint, c: &ModelConfig) -> Result<Weights> {
    let (h, hd, i) = (c.hidden_size, c.head_dim, c.intermediate_size);
    let (q_dim, kv_dim) = (c.num_heads * hd, c.num_kv_heads * hd);
    let qkv_bias = (c.architecture == Architecture::Qwen2).then_some(true);
    // Not preallocated: num_layers comes from the file; each block's tensors must exist.
    let mut blocks = Vec::new();
    for l in 0..c.num_layers {
        let p = format!("model.layers.{l}");
        blocks.push(Block {
            attn_norm: norm(ck, &format!("{p}.input_layernorm"), c, NormKind::RmsNorm)?,
            q: linear(ck, &format!("{p}.self_attn.q_proj"), q_dim, h, qkv_bias)?,
            k: linear(ck, &format!("{p}.self_attn.k_proj"), kv_dim, h, qkv_bias)?,
            v: linear(ck, &format!("{p}.self_attn.v_proj"), kv_dim, h, qkv_bias)?,
            o: linear(ck, &format!("{p}.self_attn.o_proj"), h, q_dim, None)?,
            mlp_norm: norm(ck, &format!("{p}.post_attention_layernorm"), c, NormKind::RmsNorm)?,
            mlp: Mlp::SwiGlu {
                gate: linear(ck, &format!("{p}.mlp.gate_proj"), i, h, None)?,
                up: linear(ck, &format!("{p}.mlp.up_proj"), i, h, None)?,
                down: linear(ck, &format!("{p}.mlp.down_proj"), h, i, None)?,
            },
        });
    }
    let lm_head = if c.tie_word_embeddings { None } else { Some(linear(ck, "lm_head", c.vocab_size, h, None)?) };
    Ok(Weights {
        token_embedding: ck.tensor("model.embed_tokens.weight", &[c.vocab_size, h])?,
        position_embedding: None,
        blocks,
        final_norm: norm(ck, "model.norm", c, NormKind::RmsNorm)?,
        lm_head,
    })
}
