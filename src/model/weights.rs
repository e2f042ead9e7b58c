//! Model weights in one canonical, architecture-neutral layout, always f32 (quantized and
//! half-precision files are dequantized at load). Names mirror the checkpoint:
//! `blocks[i].q` is `model.layers.{i}.self_attn.q_proj` (Llama) or the first third of
//! `transformer.h.{i}.attn.c_attn` (GPT-2).
//!
//! Conventions every backend relies on:
//! - `Linear::weight` is `[out_features, in_features]` row-major (PyTorch `nn.Linear` layout);
//!   GPT-2's Conv1D `[in, out]` weights are transposed at load.
//! - Q and K rows are in Hugging Face order (rotate-half RoPE: dimension j pairs with j + head_dim/2);
//!   GGUF's interleaved permutation is undone at load.

#[derive(Debug, Clone)]
pub struct Linear {
    /// `[out_features, in_features]`, row-major.
    pub weight: Vec<f32>,
    /// `[out_features]`.
    pub bias: Option<Vec<f32>>,
    pub in_features: usize,
    pub out_features: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NormKind {
    /// y = (x − mean) / sqrt(var + eps) · weight + bias
    LayerNorm,
    /// y = x / sqrt(mean(x²) + eps) · weight
    RmsNorm,
}

#[derive(Debug, Clone)]
pub struct Norm {
    pub kind: NormKind,
    /// `[hidden]`.
    pub weight: Vec<f32>,
    /// `[hidden]`; LayerNorm only.
    pub bias: Option<Vec<f32>>,
    pub eps: f32,
}

#[derive(Debug, Clone)]
pub enum Mlp {
    /// GPT-2: proj(gelu_new(fc(x))).
    Gelu { fc: Linear, proj: Linear },
    /// Llama/Qwen2: down(silu(gate(x)) · up(x)).
    SwiGlu { gate: Linear, up: Linear, down: Linear },
}

#[derive(Debug, Clone)]
pub struct Block {
    pub attn_norm: Norm,
    /// `[num_heads·head_dim, hidden]`
    pub q: Linear,
    /// `[num_kv_heads·head_dim, hidden]`
    pub k: Linear,
    /// `[num_kv_heads·head_dim, hidden]`
    pub v: Linear,
    /// `[hidden, num_heads·head_dim]`
    pub o: Linear,
    pub mlp_norm: Norm,
    pub mlp: Mlp,
}

#[derive(Debug, Clone)]
pub struct Weights {
    /// `[vocab, hidden]`, row-major.
    pub token_embedding: Vec<f32>,
    /// GPT-2 only: `[context_length, hidden]`.
    pub position_embedding: Option<Vec<f32>>,
    pub blocks: Vec<Block>,
    pub final_norm: Norm,
    /// `None` when tied to `token_embedding`.
    pub lm_head: Option<Linear>,
}

impl Weights {
    /// The `[vocab, hidden]` output projection (the embedding when tied).
    pub fn lm_head_weight(&self) -> &[f32] {
        match &self.lm_head {
            Some(l) => &l.weight,
            None => &self.token_embedding,
        }
    }

    /// Optional `[vocab]` output bias (no supported architecture has one today).
    pub fn lm_head_bias(&self) -> Option<&[f32]> {
        self.lm_head.as_ref().and_then(|l| l.bias.as_deref())
    }
}
