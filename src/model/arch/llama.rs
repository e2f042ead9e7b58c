//! Llama, Qwen2 (Llama plus q/k/v biases) and Qwen3 (Llama plus q/k norms): RMSNorm, RoPE,
//! grouped-query attention, SwiGLU. Gemma's loader is this one with its own MLP and norms
//! ([`GatedFamily`]).

use crate::error::Result;
use crate::model::config::Architecture;
use crate::model::mapping::{Optional, Part, Tensor, WeightLoader};
use crate::model::weights::{Block, Linear, Mlp, NormKind, Weights};

/// What separates the RMSNorm, separate-q/k/v, gated-MLP families (Llama/Qwen, Gemma) in their weights.
pub(super) struct GatedFamily {
    /// Biases of q, k and v.
    pub qkv_bias: Optional,
    /// Biases of the output projection and the MLP.
    pub other_bias: Optional,
    /// The MLP from its three linears (gate, up, down).
    pub mlp: fn(Linear, Linear, Linear) -> Mlp,
}

pub(super) fn weights(w: &WeightLoader) -> Result<Weights> {
    // Qwen2 always has q/k/v biases and no others; Llama may have them (`attention_bias`,
    // `mlp_bias`): read when present.
    let qwen2 = w.config().architecture == Architecture::Qwen2;
    family_weights(
        w,
        GatedFamily {
            qkv_bias: if qwen2 { Optional::Required } else { Optional::IfPresent },
            other_bias: if qwen2 { Optional::Absent } else { Optional::IfPresent },
            mlp: |gate, up, down| Mlp::SwiGlu { gate, up, down },
        },
    )
}

/// The weights of a gated family member; q/k norms and post-norms where the architecture has them.
pub(super) fn family_weights(w: &WeightLoader, family: GatedFamily) -> Result<Weights> {
    let c = w.config();
    let (h, hd, i) = (c.hidden_size, c.head_dim, c.intermediate_size);
    let (q_dim, kv_dim) = (c.num_heads * hd, c.num_kv_heads * hd);
    let (qkv_bias, other_bias) = (family.qkv_bias, family.other_bias);
    let token_embedding = w.matrix(Tensor::TokenEmbedding, None, Part::Weight, c.vocab_size, h)?;
    // Not preallocated: num_layers comes from the file; each block's tensors must exist.
    let mut blocks = Vec::new();
    for l in 0..c.num_layers {
        let l = Some(l);
        blocks.push(Block {
            attn_norm: w.norm(Tensor::AttnNorm, l, NormKind::RmsNorm)?,
            q: w.linear(Tensor::AttnQ, l, q_dim, h, qkv_bias)?,
            k: w.linear(Tensor::AttnK, l, kv_dim, h, qkv_bias)?,
            v: w.linear(Tensor::AttnV, l, kv_dim, h, qkv_bias)?,
            o: w.linear(Tensor::AttnOutput, l, h, q_dim, other_bias)?,
            mlp_norm: w.norm(Tensor::FfnNorm, l, NormKind::RmsNorm)?,
            mlp: (family.mlp)(
                w.linear(Tensor::FfnGate, l, i, h, other_bias)?,
                w.linear(Tensor::FfnUp, l, i, h, other_bias)?,
                w.linear(Tensor::FfnDown, l, h, i, other_bias)?,
            ),
            qk_norm: if c.architecture.qk_norm() { Some(super::qk_norms(w, l)?) } else { None },
            post_norms: if c.architecture.post_norms() {
                Some([
                    w.norm(Tensor::AttnPostNorm, l, NormKind::RmsNorm)?,
                    w.norm(Tensor::FfnPostNorm, l, NormKind::RmsNorm)?,
                ])
            } else {
                None
            },
        });
    }
    let final_norm = w.norm(Tensor::OutputNorm, None, NormKind::RmsNorm)?;
    let lm_head = if c.tie_word_embeddings {
        None
    } else {
        Some(w.linear(Tensor::Output, None, c.vocab_size, h, Optional::IfPresent)?)
    };
    Ok(Weights { token_embedding, position_embedding: None, blocks, final_norm, lm_head })
}
