//! Phi-3: Llama's block (RMSNorm, RoPE, grouped-query attention, SwiGLU, no biases) with q/k/v
//! stored fused (`qkv_proj`, llama.cpp's `attn_qkv`: rows q, then k, then v) and gate/up fused
//! (`gate_up_proj`, llama.cpp's `ffn_up`: rows gate, then up), split at load into the canonical
//! projections. Sliding windows and partial rotary dims are in [`ModelConfig`](crate::model::ModelConfig).

use crate::error::Result;
use crate::model::mapping::{Optional, Part, Tensor, WeightLoader, split_rows};
use crate::model::weights::{Block, Mlp, NormKind, Weights};

pub(super) fn weights(w: &WeightLoader) -> Result<Weights> {
    let c = w.config();
    let (h, hd, i) = (c.hidden_size, c.head_dim, c.intermediate_size);
    let (q_dim, kv_dim) = (c.num_heads * hd, c.num_kv_heads * hd);
    let none = Optional::Absent;
    let token_embedding = w.matrix(Tensor::TokenEmbedding, None, Part::Weight, c.vocab_size, h)?;
    // Not preallocated: num_layers comes from the file; each block's tensors must exist.
    let mut blocks = Vec::new();
    for l in 0..c.num_layers {
        let l = Some(l);
        let qkv = w.linear(Tensor::AttnQkv, l, q_dim + 2 * kv_dim, h, none)?;
        let [q, k, v] = split_rows(&qkv, [q_dim, kv_dim, kv_dim]);
        // Tensor::FfnUp holds gate | up in Phi-3's files.
        let [gate, up] = split_rows(&w.linear(Tensor::FfnUp, l, 2 * i, h, none)?, [i, i]);
        blocks.push(Block {
            attn_norm: w.norm(Tensor::AttnNorm, l, NormKind::RmsNorm)?,
            q,
            k,
            v,
            o: w.linear(Tensor::AttnOutput, l, h, q_dim, none)?,
            mlp_norm: w.norm(Tensor::FfnNorm, l, NormKind::RmsNorm)?,
            mlp: Mlp::SwiGlu { gate, up, down: w.linear(Tensor::FfnDown, l, h, i, none)? },
            qk_norm: None,
            post_norms: None,
        });
    }
    let final_norm = w.norm(Tensor::OutputNorm, None, NormKind::RmsNorm)?;
    let lm_head =
        if c.tie_word_embeddings { None } else { Some(w.linear(Tensor::Output, None, c.vocab_size, h, none)?) };
    Ok(Weights { token_embedding, position_embedding: None, blocks, final_norm, lm_head })
}
