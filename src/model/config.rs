//! One `ModelConfig` for every supported architecture, filled from `config.json` or GGUF metadata.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Architecture {
    /// GPT2LMHeadModel: LayerNorm, learned positions, gelu_new MLP, tied lm_head.
    Gpt2,
    /// LlamaForCausalLM / GGUF `llama`: RMSNorm, RoPE, GQA, SwiGLU.
    Llama,
    /// Qwen2ForCausalLM / GGUF `qwen2`: Llama plus q/k/v biases.
    Qwen2,
}

impl Architecture {
    pub const SUPPORTED: &'static str = "GPT2LMHeadModel (gpt2), LlamaForCausalLM (llama), Qwen2ForCausalLM (qwen2)";

    pub fn name(self) -> &'static str {
        match self {
            Architecture::Gpt2 => "gpt2",
            Architecture::Llama => "llama",
            Architecture::Qwen2 => "qwen2",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ModelConfig {
    pub architecture: Architecture,
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_layers: usize,
    pub num_heads: usize,
    /// Key/value heads (grouped-query attention); equals `num_heads` without GQA.
    pub num_kv_heads: usize,
    pub head_dim: usize,
    pub intermediate_size: usize,
    /// Longest sequence the model was trained on (`n_positions`, `max_position_embeddings`, `context_length`).
    pub context_length: usize,
    /// RoPE base (Llama/Qwen2); unused for GPT-2.
    pub rope_theta: f32,
    /// LayerNorm / RMSNorm epsilon.
    pub norm_eps: f32,
    pub tie_word_embeddings: bool,
}

impl ModelConfig {
    /// Number of weights, counting a tied embedding once.
    pub fn parameter_count(&self) -> usize {
        let (h, i, v, l) = (self.hidden_size, self.intermediate_size, self.vocab_size, self.num_layers);
        let kv = self.num_kv_heads * self.head_dim;
        let q = self.num_heads * self.head_dim;
        let attn = h * q + 2 * h * kv + q * h;
        let (mlp, norms, biases, pos) = match self.architecture {
            Architecture::Gpt2 => (2 * h * i, 4 * h, q + 2 * kv + h + i + h, self.context_length * h),
            Architecture::Llama => (3 * h * i, 2 * h, 0, 0),
            Architecture::Qwen2 => (3 * h * i, 2 * h, q + 2 * kv, 0),
        };
        let final_norm = if self.architecture == Architecture::Gpt2 { 2 * h } else { h };
        let head = if self.tie_word_embeddings { 0 } else { v * h };
        v * h + pos + l * (attn + mlp + norms + biases) + final_norm + head
    }

    /// Forward FLOPs to score `context` tokens in one causal pass, as in the roofline:
    /// 2 × (matmul weights, including the lm_head) per token, plus causal attention
    /// (QKᵀ and PV: 2 × 2 × head_dim × heads per (query, key) pair, T(T+1)/2 pairs).
    pub fn forward_flops(&self, tokens: usize) -> f64 {
        let (h, i, v, l) = (self.hidden_size, self.intermediate_size, self.vocab_size, self.num_layers);
        let kv = self.num_kv_heads * self.head_dim;
        let q = self.num_heads * self.head_dim;
        let mlp = match self.architecture {
            Architecture::Gpt2 => 2 * h * i,
            _ => 3 * h * i,
        };
        let matmul_weights = (l * (h * q + 2 * h * kv + q * h + mlp) + v * h) as f64;
        let t = tokens as f64;
        let attn_pairs = t * (t + 1.0) / 2.0;
        2.0 * matmul_weights * t + (l as f64) * 4.0 * (q as f64) * attn_pairs
    }
}

impl ModelConfig {
    /// Checks the dimensions a forward pass relies on; the error is a reason without the file name.
    pub fn validate(&self) -> std::result::Result<(), String> {
        let nonzero = [
            ("vocab_size", self.vocab_size),
            ("hidden_size", self.hidden_size),
            ("num_layers", self.num_layers),
            ("num_heads", self.num_heads),
            ("num_kv_heads", self.num_kv_heads),
            ("head_dim", self.head_dim),
            ("intermediate_size", self.intermediate_size),
            ("context_length", self.context_length),
        ];
        // A bound far above any real model keeps every product of two dimensions within 2^48,
        // so the loaders' shape arithmetic cannot overflow on a hostile file.
        const MAX_DIM: usize = 1 << 24;
        for (name, v) in nonzero {
            if v == 0 {
                return Err(format!("{name} is 0"));
            }
            if v > MAX_DIM {
                return Err(format!("{name} = {v} is absurd (more than {MAX_DIM})"));
            }
        }
        if !self.num_heads.is_multiple_of(self.num_kv_heads) {
            return Err(format!(
                "num_heads {} is not a multiple of num_kv_heads {}",
                self.num_heads, self.num_kv_heads
            ));
        }
        if !(self.norm_eps.is_finite() && self.norm_eps >= 0.0) {
            return Err(format!("norm epsilon {} is not a finite non-negative number", self.norm_eps));
        }
        match self.architecture {
            Architecture::Gpt2 => {
                if self.num_heads * self.head_dim != self.hidden_size {
                    return Err(format!(
                        "num_heads {} × head_dim {} != hidden_size {}",
                        self.num_heads, self.head_dim, self.hidden_size
                    ));
                }
            }
            Architecture::Llama | Architecture::Qwen2 => {
                if !self.head_dim.is_multiple_of(2) {
                    return Err(format!("head_dim {} is odd; rotary embeddings need pairs", self.head_dim));
                }
                if !(self.rope_theta.is_finite() && self.rope_theta > 0.0) {
                    return Err(format!("rope_theta {} is not a positive number", self.rope_theta));
                }
            }
        }
        Ok(())
    }

    /// Reads a Hugging Face `config.json`. Fields without a default in `transformers`' config
    /// class are required (a missing one is named in the error); the others take that class's
    /// default, so a config saved by `save_pretrained` and one written by hand read the same.
    pub fn from_hf_json(path: &std::path::Path, json: &serde_json::Value) -> crate::Result<ModelConfig> {
        let err = |reason: String| crate::DensiError::Config { path: path.to_path_buf(), reason };
        let architecture = hf_architecture(path, json)?;
        let f = HfFields { json, err: &err };
        let config = match architecture {
            Architecture::Gpt2 => {
                let hidden_size = f.usize_req("n_embd")?;
                let num_heads = f.usize_req("n_head")?;
                let act = f.str_or("activation_function", "gelu_new")?;
                if act != "gelu_new" {
                    return Err(err(format!("activation_function `{act}` is not supported (only gelu_new)")));
                }
                for flag in ["scale_attn_by_inverse_layer_idx", "reorder_and_upcast_attn"] {
                    if f.bool_or(flag, false)? {
                        return Err(err(format!("`{flag}: true` is not supported")));
                    }
                }
                let context_length = match f.usize_opt("n_positions")? {
                    Some(n) => n,
                    None => f.usize_opt("n_ctx")?.ok_or_else(|| err("missing field `n_positions`".into()))?,
                };
                ModelConfig {
                    architecture,
                    vocab_size: f.usize_req("vocab_size")?,
                    hidden_size,
                    num_layers: f.usize_req("n_layer")?,
                    num_heads,
                    num_kv_heads: num_heads,
                    head_dim: hidden_size.checked_div(num_heads).unwrap_or(0),
                    intermediate_size: f.usize_opt("n_inner")?.unwrap_or(4 * hidden_size),
                    context_length,
                    rope_theta: 0.0,
                    norm_eps: f.f32_or("layer_norm_epsilon", 1e-5)?,
                    tie_word_embeddings: true,
                }
            }
            Architecture::Llama | Architecture::Qwen2 => {
                let hidden_size = f.usize_req("hidden_size")?;
                let num_heads = f.usize_req("num_attention_heads")?;
                let act = f.str_or("hidden_act", "silu")?;
                if act != "silu" {
                    return Err(err(format!("hidden_act `{act}` is not supported (only silu)")));
                }
                if architecture == Architecture::Qwen2 && f.bool_or("use_sliding_window", false)? {
                    return Err(err("`use_sliding_window: true` is not supported".into()));
                }
                // transformers ≥ 5 keeps rope_theta (and scaling) under `rope_parameters`.
                let rope = json.get("rope_parameters").filter(|v| !v.is_null());
                let scaling = json.get("rope_scaling").filter(|v| !v.is_null()).or(rope);
                if let Some(s) = scaling {
                    let kind =
                        s.get("rope_type").or_else(|| s.get("type")).and_then(|v| v.as_str()).unwrap_or("default");
                    if kind != "default" {
                        return Err(err(format!("rope scaling `{kind}` is not supported")));
                    }
                }
                let rope_theta = match rope.and_then(|r| r.get("rope_theta")) {
                    Some(v) => {
                        v.as_f64().ok_or_else(|| err("`rope_parameters.rope_theta` is not a number".into()))? as f32
                    }
                    None => f.f32_or("rope_theta", 10000.0)?,
                };
                let default_ctx = if architecture == Architecture::Llama { 2048 } else { 32768 };
                ModelConfig {
                    architecture,
                    vocab_size: f.usize_req("vocab_size")?,
                    hidden_size,
                    num_layers: f.usize_req("num_hidden_layers")?,
                    num_heads,
                    num_kv_heads: f.usize_opt("num_key_value_heads")?.unwrap_or(num_heads),
                    head_dim: match f.usize_opt("head_dim")? {
                        Some(d) => d,
                        None if num_heads == 0 => 0,
                        None => hidden_size / num_heads,
                    },
                    intermediate_size: f.usize_req("intermediate_size")?,
                    context_length: f.usize_opt("max_position_embeddings")?.unwrap_or(default_ctx),
                    rope_theta,
                    norm_eps: f.f32_or("rms_norm_eps", 1e-6)?,
                    tie_word_embeddings: f.bool_or("tie_word_embeddings", false)?,
                }
            }
        };
        config.validate().map_err(err)?;
        Ok(config)
    }
}

/// `architectures[0]`, else `model_type`.
fn hf_architecture(path: &std::path::Path, json: &serde_json::Value) -> crate::Result<Architecture> {
    let archs: Vec<&str> = json
        .get("architectures")
        .and_then(|a| a.as_array())
        .map(|a| a.iter().filter_map(|s| s.as_str()).collect())
        .unwrap_or_default();
    let model_type = json.get("model_type").and_then(|m| m.as_str());
    let by_class = archs.first().map(|a| match *a {
        "GPT2LMHeadModel" | "GPT2Model" => Some(Architecture::Gpt2),
        "LlamaForCausalLM" | "LlamaModel" => Some(Architecture::Llama),
        "Qwen2ForCausalLM" | "Qwen2Model" => Some(Architecture::Qwen2),
        _ => None,
    });
    let by_type = model_type.map(|m| match m {
        "gpt2" => Some(Architecture::Gpt2),
        "llama" => Some(Architecture::Llama),
        "qwen2" => Some(Architecture::Qwen2),
        _ => None,
    });
    match (by_class, by_type) {
        (Some(Some(a)), _) => Ok(a),
        (None, Some(Some(a))) => Ok(a),
        (None, None) => Err(crate::DensiError::Config {
            path: path.to_path_buf(),
            reason: "missing field `architectures` (and `model_type`)".into(),
        }),
        _ => Err(crate::DensiError::UnsupportedArchitecture {
            path: path.to_path_buf(),
            found: archs.first().copied().or(model_type).unwrap_or("?").to_string(),
            supported: Architecture::SUPPORTED,
        }),
    }
}

/// Typed access to config.json fields; errors name the field.
struct HfFields<'a, E: Fn(String) -> crate::DensiError> {
    json: &'a serde_json::Value,
    err: &'a E,
}

impl<E: Fn(String) -> crate::DensiError> HfFields<'_, E> {
    fn get(&self, key: &str) -> Option<&serde_json::Value> {
        self.json.get(key).filter(|v| !v.is_null())
    }

    fn usize_opt(&self, key: &str) -> crate::Result<Option<usize>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_u64()
                .map(|n| Some(n as usize))
                .ok_or_else(|| (self.err)(format!("field `{key}` should be a non-negative integer, found {v}"))),
        }
    }

    fn usize_req(&self, key: &str) -> crate::Result<usize> {
        self.usize_opt(key)?.ok_or_else(|| (self.err)(format!("missing field `{key}`")))
    }

    fn f32_or(&self, key: &str, default: f32) -> crate::Result<f32> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v
                .as_f64()
                .map(|x| x as f32)
                .ok_or_else(|| (self.err)(format!("field `{key}` should be a number, found {v}"))),
        }
    }

    fn bool_or(&self, key: &str, default: bool) -> crate::Result<bool> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => {
                v.as_bool().ok_or_else(|| (self.err)(format!("field `{key}` should be true or false, found {v}")))
            }
        }
    }

    fn str_or<'s>(&'s self, key: &str, default: &'s str) -> crate::Result<&'s str> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v.as_str().ok_or_else(|| (self.err)(format!("field `{key}` should be a string, found {v}"))),
        }
    }
}
