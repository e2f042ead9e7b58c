//! GGUF's side of the mapping: llama.cpp's metadata keys → [`ModelConfig`], and its tensor names
//! (gguf-py's `TensorNameMap` in the other direction) with the one layout fix-up it needs.

use crate::error::{DensiError, Result};
use crate::model::config::{Architecture, AttentionConfig, ModelConfig, RopeScaling};
use crate::model::mapping::{Fixup, NameTable, Part, Tensor};
use crate::model::source::TensorSource;

use super::reader::GgufFile;

const SUPPORTED_ARCHS: &str =
    "GGUF general.architecture llama, qwen2, qwen3, gemma, gemma2, gemma3, gpt2, gptneox, phi3";

/// llama.cpp's tensor names (`llama-arch.cpp`), the same for every architecture.
pub struct GgufNames;

impl NameTable for GgufNames {
    fn name(&self, tensor: Tensor, layer: Option<usize>, part: Part) -> String {
        let base = match tensor {
            Tensor::TokenEmbedding => "token_embd",
            Tensor::PositionEmbedding => "position_embd",
            Tensor::OutputNorm => "output_norm",
            Tensor::Output => "output",
            Tensor::AttnNorm => "attn_norm",
            Tensor::AttnQ => "attn_q",
            Tensor::AttnK => "attn_k",
            Tensor::AttnV => "attn_v",
            Tensor::AttnQkv => "attn_qkv",
            Tensor::AttnOutput => "attn_output",
            Tensor::FfnNorm => "ffn_norm",
            Tensor::FfnGate => "ffn_gate",
            Tensor::FfnUp => "ffn_up",
            Tensor::FfnDown => "ffn_down",
            Tensor::AttnQNorm => "attn_q_norm",
            Tensor::AttnKNorm => "attn_k_norm",
            Tensor::AttnPostNorm => "post_attention_norm",
            Tensor::FfnPostNorm => "post_ffw_norm",
        };
        let part = match part {
            Part::Weight => "weight",
            Part::Bias => "bias",
        };
        match layer {
            Some(l) => format!("blk.{l}.{base}.{part}"),
            None => format!("{base}.{part}"),
        }
    }

    /// Only the llama converter permutes Q/K (for ggml's NORM rope); qwen2, qwen3 and gemma3 use
    /// NEOX rope and keep Hugging Face order. Gemma's norm weights are stored as 1 + w already
    /// (convert_hf_to_gguf.py adds its `norm_shift`), so they are read as they are. GPT-2's Conv1D weights were already transposed to `[out, in]`.
    fn fixup(&self, tensor: Tensor, c: &ModelConfig) -> Fixup {
        match (c.architecture, tensor) {
            (Architecture::Llama, Tensor::AttnQ) => Fixup::UnpermuteRope { heads: c.num_heads, head_dim: c.head_dim },
            (Architecture::Llama, Tensor::AttnK) => {
                Fixup::UnpermuteRope { heads: c.num_kv_heads, head_dim: c.head_dim }
            }
            _ => Fixup::None,
        }
    }

    /// The rope factor tensors were read with the metadata, into [`RopeScaling`].
    fn is_ignored(&self, name: &str, c: &ModelConfig) -> bool {
        match &c.attention.rope_scaling {
            RopeScaling::Factors { .. } => name == "rope_freqs.weight",
            RopeScaling::LongRope { .. } => name == "rope_factors_long.weight" || name == "rope_factors_short.weight",
            _ => false,
        }
    }
}

/// `general.architecture` → [`ModelConfig`], from llama.cpp's `{arch}.*` keys.
pub fn config_from_metadata(file: &GgufFile) -> Result<ModelConfig> {
    let arch_name = file
        .meta_str("general.architecture")?
        .ok_or_else(|| file.config_err("missing metadata `general.architecture`".into()))?;
    let architecture = match arch_name {
        "llama" => Architecture::Llama,
        "qwen2" => Architecture::Qwen2,
        "qwen3" => Architecture::Qwen3,
        "gemma" => Architecture::Gemma,
        "gemma2" => Architecture::Gemma2,
        "gemma3" => Architecture::Gemma3,
        "gpt2" => Architecture::Gpt2,
        "gptneox" => Architecture::GptNeox,
        "phi3" => Architecture::Phi3,
        other => {
            return Err(DensiError::UnsupportedArchitecture {
                path: file.path.clone(),
                found: other.to_string(),
                supported: SUPPORTED_ARCHS,
            });
        }
    };
    let a = arch_name;
    let hidden_size = file.meta_usize_req(&format!("{a}.embedding_length"))?;
    let num_layers = file.meta_usize_req(&format!("{a}.block_count"))?;
    let num_heads = file.meta_usize_req(&format!("{a}.attention.head_count"))?;
    let num_kv_heads = file.meta_u64(&format!("{a}.attention.head_count_kv"))?.map_or(num_heads, |v| v as usize);
    let intermediate_size = file.meta_usize_req(&format!("{a}.feed_forward_length"))?;
    let context_length = file.meta_usize_req(&format!("{a}.context_length"))?;
    if num_heads == 0 {
        return Err(file.config_err(format!("`{a}.attention.head_count` is 0")));
    }
    let head_dim = match file.meta_u64(&format!("{a}.attention.key_length"))? {
        Some(k) => k as usize,
        None if !hidden_size.is_multiple_of(num_heads) => {
            return Err(file.config_err(format!(
                "`{a}.attention.head_count` = {num_heads} does not divide `{a}.embedding_length` = {hidden_size} \
                 (and no `{a}.attention.key_length` gives the head size)"
            )));
        }
        None => hidden_size / num_heads,
    };
    // The embedding's row count is the vocabulary size; `{arch}.vocab_size` is optional.
    let vocab_size = match file.meta_u64(&format!("{a}.vocab_size"))? {
        Some(v) => v as usize,
        None => match file.header.tensor(&GgufNames.name(Tensor::TokenEmbedding, None, Part::Weight)) {
            Some(t) if t.ne.len() == 2 => t.ne[1] as usize,
            _ => return Err(file.config_err(format!("missing `{a}.vocab_size` and no 2-D `token_embd.weight`"))),
        },
    };
    // What GPT-NeoX and Phi-3 set beyond the default attention: GPT-NeoX's RoPE on the first
    // `rope.dimension_count` dims of each head, attention and MLP in parallel unless
    // `use_parallel_residual` is false (llama.cpp's default: true); Phi-3's window and rotary dims.
    let mut own = AttentionConfig::default();
    let (rope_theta, norm_eps) = if architecture == Architecture::Gpt2 {
        let eps = file
            .meta_f32(&format!("{a}.attention.layer_norm_epsilon"))?
            .ok_or_else(|| file.config_err(format!("missing metadata `{a}.attention.layer_norm_epsilon`")))?;
        (0.0, eps)
    } else if architecture == Architecture::GptNeox {
        let rot = file
            .meta_u64(&format!("{a}.rope.dimension_count"))?
            .ok_or_else(|| file.config_err(format!("missing metadata `{a}.rope.dimension_count`")))?;
        if rot as usize > head_dim {
            return Err(file.config_err(format!(
                "`{a}.rope.dimension_count` = {rot} is larger than the head ({head_dim} dimensions)"
            )));
        }
        own.rope_dims = Some(rot as usize);
        own.parallel_residual = match file.meta(&format!("{a}.use_parallel_residual")) {
            None => true,
            Some(v) => v.as_bool().ok_or_else(|| {
                file.config_err(format!(
                    "metadata `{a}.use_parallel_residual` should be a bool, found {}",
                    v.type_name()
                ))
            })?,
        };
        let eps = file
            .meta_f32(&format!("{a}.attention.layer_norm_epsilon"))?
            .ok_or_else(|| file.config_err(format!("missing metadata `{a}.attention.layer_norm_epsilon`")))?;
        (file.meta_f32(&format!("{a}.rope.freq_base"))?.unwrap_or(10000.0), eps)
    } else {
        // A window on every layer: Mistral-style llama GGUFs (where the key is set and > 0).
        if architecture == Architecture::Llama
            && let Some(window) = file.meta_u64(&format!("{a}.attention.sliding_window"))?
            && window > 0
        {
            own.sliding_window = Some(window as usize);
            own.local_layers = vec![true; num_layers];
        }
        if architecture == Architecture::Phi3 {
            // llama.cpp: a window on every layer when `phi3.attention.sliding_window` > 0.
            if let Some(window) = file.meta_u64(&format!("{a}.attention.sliding_window"))?
                && window > 0
            {
                own.sliding_window = Some(window as usize);
                own.local_layers = vec![true; num_layers];
            }
            if let Some(rot) = file.meta_u64(&format!("{a}.rope.dimension_count"))? {
                own.rope_dims = Some(rot as usize);
            }
        }
        if let Some(rot) = file.meta_u64(&format!("{a}.rope.dimension_count"))?
            && rot as usize > head_dim
        {
            return Err(file.config_err(format!(
                "`{a}.rope.dimension_count` = {rot} is larger than the head ({head_dim} dimensions)"
            )));
        }
        if let Some(rot) = file.meta_u64(&format!("{a}.rope.dimension_count"))?
            && rot as usize != head_dim
            && architecture != Architecture::Phi3
        {
            return Err(file.config_err(format!(
                    "`{a}.rope.dimension_count` = {rot} but head_dim = {head_dim}: partial rotary embeddings are not supported"
                )));
        }
        let theta = file.meta_f32(&format!("{a}.rope.freq_base"))?.unwrap_or(10000.0);
        let eps = file
            .meta_f32(&format!("{a}.attention.layer_norm_rms_epsilon"))?
            .ok_or_else(|| file.config_err(format!("missing metadata `{a}.attention.layer_norm_rms_epsilon`")))?;
        (theta, eps)
    };
    let mut attention = if matches!(architecture, Architecture::Gemma2 | Architecture::Gemma3) {
        gemma_attention(file, architecture, num_layers, hidden_size, num_heads, head_dim)?
    } else {
        own
    };
    if architecture != Architecture::Gpt2 {
        let rope_dims = attention.rope_dims.unwrap_or(head_dim).min(head_dim);
        attention.rope_scaling = rope_scaling(file, a, context_length, rope_dims)?;
    }
    let config = ModelConfig {
        architecture,
        vocab_size,
        hidden_size,
        num_layers,
        num_heads,
        num_kv_heads,
        head_dim,
        intermediate_size,
        context_length,
        rope_theta,
        norm_eps,
        tie_word_embeddings: !file.has(&GgufNames.name(Tensor::Output, None, Part::Weight)),
        attention,
    };
    config.validate().map_err(|reason| file.config_err(reason))?;
    Ok(config)
}

/// Gemma's local layers as llama.cpp reads them (`llama-model.cpp`, LLM_ARCH_GEMMA2 / GEMMA3): the
/// window from `{arch}.attention.sliding_window` (required); Gemma 2: every other layer global,
/// one RoPE base, soft-capping from `gemma2.attn_logit_softcapping` / `final_logit_softcapping`;
/// Gemma 3: every 6th layer global (or `gemma3.attention.sliding_window_pattern`), local RoPE base
/// `gemma3.rope.freq_base_swa` or 10000, no soft-capping. Scores scaled by 1/√head_dim, except the
/// 27B models' 1/√(hidden / heads) (46 layers for Gemma 2, 62 for Gemma 3; a GGUF has no
/// `query_pre_attn_scalar`, and those are the values the models' configs give).
fn gemma_attention(
    file: &GgufFile,
    architecture: Architecture,
    num_layers: usize,
    hidden_size: usize,
    num_heads: usize,
    head_dim: usize,
) -> Result<AttentionConfig> {
    let a = architecture.name();
    let gemma2 = architecture == Architecture::Gemma2;
    let key = format!("{a}.attention.sliding_window");
    let window = file.meta_usize_req(&key)?;
    if window == 0 {
        return Err(file.config_err(format!("`{key}` is 0 (a local layer would see no key)")));
    }
    let pattern_key = format!("{a}.attention.sliding_window_pattern");
    let pattern = file.meta_u64(&pattern_key)?.map_or(if gemma2 { 2 } else { 6 }, |p| p as usize);
    if pattern == 0 {
        return Err(file.config_err(format!("`{pattern_key}` is 0")));
    }
    let (rope_local_theta, score_softcap, logit_softcap) = if gemma2 {
        (None, file.meta_f32("gemma2.attn_logit_softcapping")?, file.meta_f32("gemma2.final_logit_softcapping")?)
    } else {
        for key in ["gemma3.attn_logit_softcapping", "gemma3.final_logit_softcapping"] {
            if file.meta(key).is_some() {
                return Err(file.config_err(format!("`{key}` is set: soft-capping is not implemented for gemma3")));
            }
        }
        (Some(file.meta_f32("gemma3.rope.freq_base_swa")?.unwrap_or(10_000.0)), None, None)
    };
    let big = if gemma2 { 46 } else { 62 };
    let query_pre_attn_scalar = if num_layers == big { hidden_size / num_heads } else { head_dim };
    Ok(AttentionConfig {
        sliding_window: Some(window),
        local_layers: (0..num_layers).map(|l| (l + 1) % pattern != 0).collect(),
        rope_local_theta,
        query_pre_attn_scalar: Some(query_pre_attn_scalar as f32),
        score_softcap,
        logit_softcap,
        ..AttentionConfig::default()
    })
}

/// `{arch}.rope.scaling.*` (and the legacy `rope.scale_linear`) and the rope factor tensors, read
/// as llama.cpp's converter writes them from a Hugging Face config: `linear` (factor), `yarn`
/// (factor, original context, `yarn_beta_fast` / `yarn_beta_slow`, `yarn_attn_factor` =
/// transformers' `attention_factor`), `longrope` or Phi-3's `rope_factors_long` /
/// `rope_factors_short` tensors (with `rope.scaling.attn_factor`), and llama3's `rope_freqs.weight`
/// (per-pair divisors). Values transformers has no counterpart for (a YaRN extrapolation factor
/// other than 1, a log multiplier) are refused rather than ignored.
fn rope_scaling(file: &GgufFile, a: &str, context_length: usize, rope_dims: usize) -> Result<RopeScaling> {
    let key = |k: &str| format!("{a}.rope.scaling.{k}");
    let factor_key = key("factor");
    let factor = file.meta_f32(&factor_key)?.map(f64::from);
    let original = file.meta_u64(&key("original_context_length"))?.map(|n| n as usize);
    // A 1-D f32 tensor of one value per rotary pair, named in errors.
    let factors = |name: &str| -> Result<Option<Vec<f64>>> {
        let Some(view) = file.get(name) else { return Ok(None) };
        let values = match (view.shape.len(), crate::model::dequant::to_f32(&view)) {
            (1, Some(v)) => v,
            _ => {
                return Err(file.config_err(format!(
                    "tensor `{name}` should be 1-D floats (one rope factor per rotary pair), found {:?} {}",
                    view.shape,
                    view.dtype_name()
                )));
            }
        };
        if values.len() != rope_dims / 2 {
            return Err(file.config_err(format!(
                "tensor `{name}` has {} rope factors; the {rope_dims} rotary dims need {}",
                values.len(),
                rope_dims / 2
            )));
        }
        Ok(Some(values.into_iter().map(f64::from).collect()))
    };
    let freqs = factors("rope_freqs.weight")?;
    let long = factors("rope_factors_long.weight")?;
    let short = factors("rope_factors_short.weight")?;
    let kind = match file.meta_str(&key("type"))? {
        Some(k) => k.to_string(),
        None if long.is_some() || short.is_some() => "longrope".into(),
        None => match file.meta_f32(&format!("{a}.rope.scale_linear"))? {
            Some(s) if s != 1.0 => {
                return if freqs.is_some() {
                    Err(file.config_err("both `rope.scale_linear` and `rope_freqs.weight`: not supported".into()))
                } else {
                    Ok(RopeScaling::Linear { factor: s as f64 })
                };
            }
            _ => "none".into(),
        },
    };
    if freqs.is_some() && kind != "none" {
        return Err(file.config_err(format!(
            "`{}` = `{kind}` and a `rope_freqs.weight` tensor: two rope scalings at once are not supported",
            key("type")
        )));
    }
    if (long.is_some() || short.is_some()) && kind != "longrope" {
        return Err(file.config_err(format!("rope factor tensors with `{}` = `{kind}`", key("type"))));
    }
    let need = |what: &str, v: Option<f64>| {
        v.ok_or_else(|| file.config_err(format!("missing metadata `{}` (needed by `{kind}` rope scaling)", key(what))))
    };
    let scaling = match kind.as_str() {
        "none" => match freqs {
            Some(factors) => RopeScaling::Factors { factors },
            None => RopeScaling::None,
        },
        "linear" => RopeScaling::Linear { factor: need("factor", factor)? },
        "yarn" => {
            for (k, neutral) in [("yarn_ext_factor", 1.0), ("yarn_log_multiplier", 0.0)] {
                if let Some(v) = file.meta_f32(&key(k))?
                    && v != neutral
                {
                    return Err(file.config_err(format!("`{}` = {v} is not supported (only {neutral})", key(k))));
                }
            }
            let factor = need("factor", factor)?;
            let original_context = need("original_context_length", original.map(|n| n as f64))? as usize;
            let mscale = if factor <= 1.0 { 1.0 } else { 0.1 * factor.ln() + 1.0 };
            RopeScaling::Yarn {
                factor,
                original_context,
                beta_fast: file.meta_f32(&key("yarn_beta_fast"))?.map_or(32.0, f64::from),
                beta_slow: file.meta_f32(&key("yarn_beta_slow"))?.map_or(1.0, f64::from),
                truncate: true,
                attention_factor: file.meta_f32(&key("yarn_attn_factor"))?.map_or(mscale, f64::from),
            }
        }
        "longrope" => {
            let (Some(long_factor), Some(short_factor)) = (long, short) else {
                return Err(file.config_err(
                    "longrope rope scaling needs both tensors `rope_factors_long.weight` and `rope_factors_short.weight`"
                        .into(),
                ));
            };
            let original_context = need("original_context_length", original.map(|n| n as f64))? as usize;
            // Phi3MiniModel writes the attention factor; its formula where a file lacks it.
            let scale = context_length as f64 / original_context.max(1) as f64;
            let default = if scale > 1.0 { (1.0 + scale.ln() / (original_context as f64).ln()).sqrt() } else { 1.0 };
            RopeScaling::LongRope {
                short_factor,
                long_factor,
                original_context,
                attention_factor: file.meta_f32(&key("attn_factor"))?.map_or(default, f64::from),
            }
        }
        other => {
            return Err(file.config_err(format!(
                "`{}` = `{other}` is not supported (densi implements none, linear, yarn, longrope, and llama3 as `rope_freqs.weight`)",
                key("type")
            )));
        }
    };
    scaling.validate(rope_dims).map_err(|reason| file.config_err(format!("{reason} (`{}`)", key("*"))))?;
    Ok(scaling)
}
