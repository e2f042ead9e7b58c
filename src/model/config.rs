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
