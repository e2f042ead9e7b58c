//! Hugging Face model directories: `config.json` + `model.safetensors` (or a sharded
//! `model.safetensors.index.json`) + a tokenizer; also a hub-cache entry
//! (`models--ORG--NAME/{refs/main, snapshots/REV/}`), given as that directory or as the snapshot.
//!
//! A `.safetensors` file is `u64 n | n bytes of JSON header | data`; the header maps each tensor
//! name to `{dtype, shape, data_offsets: [begin, end]}` relative to the data start. Files are
//! memory-mapped and parsed by the `safetensors` crate, which checks that the offsets tile the
//! data exactly and that each tensor's byte length equals its shape × dtype size. The mapped
//! files are a [`TensorSource`]; [`HfNames`] is the Hugging Face side of the mapping.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use safetensors::{Dtype, SafeTensorError, SafeTensors};

use super::config::{Architecture, ModelConfig};
use super::mapping::{Fixup, NameTable, Part, Tensor};
use super::matrix::SharedBytes;
use super::source::{DType, TensorSource, TensorView};
use super::tokenizer::TextTokenizer;
use super::weights::WeightStorage;
use super::{Model, ModelSource, arch, source};
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

/// The storage type of a safetensors dtype; `None` for one this crate does not read.
pub fn dtype_of(d: Dtype) -> Option<DType> {
    match d {
        Dtype::F32 => Some(DType::F32),
        Dtype::F16 => Some(DType::F16),
        Dtype::BF16 => Some(DType::BF16),
        _ => None,
    }
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
    /// The mapped file, shared with resident weight matrices.
    mmap: SharedBytes,
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
            ck.files.push(StFile { path, mmap: Arc::new(mmap) });
        }
        Ok(ck)
    }

    /// The mapped files, in order.
    pub fn files(&self) -> Vec<PathBuf> {
        self.files.iter().map(|f| f.path.clone()).collect()
    }
}

impl TensorSource for Checkpoint {
    /// Sorted by name (the files' tensors are a map).
    fn names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.tensors.keys().map(String::as_str).collect();
        names.sort_unstable();
        names
    }

    fn get(&self, name: &str) -> Option<TensorView<'_>> {
        let (name, (fi, t)) = self.tensors.get_key_value(name)?;
        let file = &self.files[*fi];
        Some(TensorView {
            name,
            file: &file.path,
            shape: t.shape.clone(),
            dtype: dtype_of(t.dtype).ok_or_else(|| dtype_name(t.dtype)),
            // In bounds: validated by parse_safetensors_header.
            bytes: &(*file.mmap).as_ref()[t.range.clone()],
            shared: Some((&file.mmap, t.range.clone())),
        })
    }

    fn path(&self) -> &Path {
        self.files.first().map_or(Path::new(""), |f| f.path.as_path())
    }

    fn format(&self) -> &'static str {
        FORMAT
    }

    fn supported_dtypes(&self) -> &'static str {
        SUPPORTED_DTYPES
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

/// Loads a Hugging Face model directory, weights kept as `storage` says.
pub fn load_dir(path: &Path, storage: WeightStorage) -> Result<Model> {
    let dir = resolve_model_dir(path)?;
    let config_path = dir.join("config.json");
    let text = std::fs::read_to_string(&config_path).map_err(|e| DensiError::io(&config_path, e))?;
    let json: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| DensiError::Config { path: config_path.clone(), reason: format!("not valid JSON: {e}") })?;
    let config = ModelConfig::from_hf_json(&config_path, &json)?;
    let tokenizer = TextTokenizer::from_hf_dir(&dir, &json)?;
    tokenizer.check_fits(&dir, config.vocab_size)?;
    let ck = Checkpoint::open(&dir)?;
    crate::memory::check_fits(&dir, &ck, &config, storage)?;
    let weights = arch::load_weights(&ck, &HfNames::for_checkpoint(&ck, &config), &config, storage)?;
    let source = ModelSource {
        path: path.to_path_buf(),
        format: "safetensors",
        weight_dtype: source::weight_dtype_summary(&ck),
        weight_files: ck.files(),
    };
    Ok(Model { config, weights, tokenizer, source })
}

/// Hugging Face `transformers` tensor names (the modules' `state_dict` keys) and layouts.
pub struct HfNames {
    architecture: Architecture,
    /// GPT-2's `transformer.` (GPT2LMHeadModel), or nothing (a checkpoint saved from GPT2Model).
    gpt2_prefix: &'static str,
}

impl HfNames {
    pub fn for_checkpoint(ck: &dyn TensorSource, config: &ModelConfig) -> HfNames {
        let gpt2_prefix = if ck.has("transformer.wte.weight") { "transformer." } else { "" };
        HfNames { architecture: config.architecture, gpt2_prefix }
    }
}

impl NameTable for HfNames {
    /// GPT2LMHeadModel: `transformer.{wte, wpe, h.{i}.{ln_1, attn.c_attn, attn.c_proj, ln_2,
    /// mlp.c_fc, mlp.c_proj}, ln_f}`. LlamaForCausalLM / Qwen2ForCausalLM: `model.{embed_tokens,
    /// layers.{i}.{input_layernorm, self_attn.{q,k,v,o}_proj, post_attention_layernorm,
    /// mlp.{gate,up,down}_proj}, norm}` and `lm_head`; Qwen3 adds `self_attn.{q,k}_norm`;
    /// Gemma2ForCausalLM `{pre,post}_feedforward_layernorm` (its `post_attention_layernorm` norms the
    /// attention output); Gemma3ForCausalLM both.
    fn name(&self, tensor: Tensor, layer: Option<usize>, part: Part) -> String {
        let part = match part {
            Part::Weight => "weight",
            Part::Bias => "bias",
        };
        let l = layer.unwrap_or(0);
        let module = match self.architecture {
            Architecture::Gpt2 => {
                let p = self.gpt2_prefix;
                match tensor {
                    Tensor::TokenEmbedding => format!("{p}wte"),
                    Tensor::PositionEmbedding => format!("{p}wpe"),
                    Tensor::OutputNorm => format!("{p}ln_f"),
                    Tensor::Output => "lm_head".to_string(),
                    Tensor::AttnNorm => format!("{p}h.{l}.ln_1"),
                    Tensor::AttnQkv => format!("{p}h.{l}.attn.c_attn"),
                    Tensor::AttnOutput => format!("{p}h.{l}.attn.c_proj"),
                    Tensor::FfnNorm => format!("{p}h.{l}.ln_2"),
                    Tensor::FfnUp => format!("{p}h.{l}.mlp.c_fc"),
                    Tensor::FfnDown => format!("{p}h.{l}.mlp.c_proj"),
                    // Not GPT-2 tensors: a name no checkpoint has, so asking is a missing tensor.
                    other => format!("{p}h.{l}.{other:?}"),
                }
            }
            Architecture::Llama
            | Architecture::Qwen2
            | Architecture::Qwen3
            | Architecture::Gemma
            | Architecture::Gemma2
            | Architecture::Gemma3
            | Architecture::Phi3 => match tensor {
                Tensor::TokenEmbedding => "model.embed_tokens".to_string(),
                Tensor::OutputNorm => "model.norm".to_string(),
                Tensor::Output => "lm_head".to_string(),
                Tensor::AttnNorm => format!("model.layers.{l}.input_layernorm"),
                Tensor::AttnQ => format!("model.layers.{l}.self_attn.q_proj"),
                Tensor::AttnK => format!("model.layers.{l}.self_attn.k_proj"),
                Tensor::AttnV => format!("model.layers.{l}.self_attn.v_proj"),
                Tensor::AttnOutput => format!("model.layers.{l}.self_attn.o_proj"),
                Tensor::AttnQNorm => format!("model.layers.{l}.self_attn.q_norm"),
                Tensor::AttnKNorm => format!("model.layers.{l}.self_attn.k_norm"),
                // Gemma's `post_attention_layernorm` norms the attention output; Llama's is the MLP's
                // input norm.
                Tensor::AttnPostNorm => format!("model.layers.{l}.post_attention_layernorm"),
                Tensor::FfnNorm if self.architecture.post_norms() => {
                    format!("model.layers.{l}.pre_feedforward_layernorm")
                }
                Tensor::FfnNorm => format!("model.layers.{l}.post_attention_layernorm"),
                Tensor::FfnPostNorm => format!("model.layers.{l}.post_feedforward_layernorm"),
                Tensor::FfnGate => format!("model.layers.{l}.mlp.gate_proj"),
                // Phi-3's fused projections (rows q | k | v and gate | up).
                Tensor::AttnQkv => format!("model.layers.{l}.self_attn.qkv_proj"),
                Tensor::FfnUp if self.architecture == Architecture::Phi3 => {
                    format!("model.layers.{l}.mlp.gate_up_proj")
                }
                Tensor::FfnUp => format!("model.layers.{l}.mlp.up_proj"),
                Tensor::FfnDown => format!("model.layers.{l}.mlp.down_proj"),
                // Not Llama tensors: a name no checkpoint has, so asking is a missing tensor.
                other => format!("model.layers.{l}.{other:?}"),
            },
            Architecture::GptNeox => match tensor {
                Tensor::TokenEmbedding => "gpt_neox.embed_in".to_string(),
                Tensor::OutputNorm => "gpt_neox.final_layer_norm".to_string(),
                Tensor::Output => "embed_out".to_string(),
                Tensor::AttnNorm => format!("gpt_neox.layers.{l}.input_layernorm"),
                Tensor::AttnQkv => format!("gpt_neox.layers.{l}.attention.query_key_value"),
                Tensor::AttnOutput => format!("gpt_neox.layers.{l}.attention.dense"),
                Tensor::FfnNorm => format!("gpt_neox.layers.{l}.post_attention_layernorm"),
                Tensor::FfnUp => format!("gpt_neox.layers.{l}.mlp.dense_h_to_4h"),
                Tensor::FfnDown => format!("gpt_neox.layers.{l}.mlp.dense_4h_to_h"),
                // Not GPT-NeoX tensors: a name no checkpoint has, so asking is a missing tensor.
                other => format!("gpt_neox.layers.{l}.{other:?}"),
            },
        };
        format!("{module}.{part}")
    }

    /// GPT-2's projections are Conv1D modules, stored `[in, out]`; Gemma's norms hold w of x̂ · (1 + w).
    fn fixup(&self, tensor: Tensor, c: &ModelConfig) -> Fixup {
        let conv1d = matches!(tensor, Tensor::AttnQkv | Tensor::AttnOutput | Tensor::FfnUp | Tensor::FfnDown);
        let norm = matches!(
            tensor,
            Tensor::AttnNorm
                | Tensor::AttnQNorm
                | Tensor::AttnKNorm
                | Tensor::AttnPostNorm
                | Tensor::FfnNorm
                | Tensor::FfnPostNorm
                | Tensor::OutputNorm
        );
        match c.architecture {
            Architecture::Gpt2 if conv1d => Fixup::Transpose,
            Architecture::Gemma | Architecture::Gemma2 | Architecture::Gemma3 if norm => Fixup::AddOne,
            Architecture::GptNeox if tensor == Tensor::AttnQkv => {
                Fixup::NeoxQkv { heads: c.num_heads, head_dim: c.head_dim }
            }
            _ => Fixup::None,
        }
    }

    /// Buffers older checkpoints saved with the weights (GPT-2's causal mask `attn.bias` and
    /// `attn.masked_bias`, Llama's `rotary_emb.inv_freq`), recomputed by the forward, and the
    /// lm-head's copy of a tied embedding (transformers ties it to the embedding at load).
    fn is_ignored(&self, name: &str, c: &ModelConfig) -> bool {
        let buffer = match self.architecture {
            Architecture::Gpt2 => name.ends_with(".attn.bias") || name.ends_with(".attn.masked_bias"),
            Architecture::Llama
            | Architecture::Qwen2
            | Architecture::Qwen3
            | Architecture::Gemma
            | Architecture::Gemma2
            | Architecture::Gemma3
            | Architecture::Phi3 => name.ends_with(".rotary_emb.inv_freq"),
            // Older Pythia checkpoints: the causal mask and masked-bias buffers, RoPE frequencies.
            Architecture::GptNeox => {
                name.ends_with(".attention.bias")
                    || name.ends_with(".attention.masked_bias")
                    || name.ends_with(".rotary_emb.inv_freq")
            }
        };
        let tied_head = if self.architecture == Architecture::GptNeox { "embed_out.weight" } else { "lm_head.weight" };
        buffer || (c.tie_word_embeddings && name == tied_head)
    }
}
