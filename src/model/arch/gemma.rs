//! Gemma 1, 2 and 3 (text): RMSNorm x̂ · (1 + w) (the name tables give 1 + w: Hugging Face stores
//! w, llama.cpp's converter 1 + w), GeGLU (tanh GELU) MLP, no biases, tied lm-head; Gemma 2 and 3
//! add a norm after attention and after the MLP; Gemma 3 q/k norms. Sliding windows, RoPE bases,
//! soft-capping and the embedding scale are in [`ModelConfig`](crate::model::ModelConfig), not in
//! the weights.

use crate::error::Result;
use crate::model::mapping::{Optional, Part, Tensor, WeightLoader};
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
        blocks.push(Block {
            attn_norm: w.norm(Tensor::AttnNorm, l, NormKind::RmsNorm)?,
            q: w.linear(Tensor::AttnQ, l, q_dim, h, none)?,
            k: w.linear(Tensor::AttnK, l, kv_dim, h, none)?,
            v: w.linear(Tensor::AttnV, l, kv_dim, h, none)?,
            o: w.linear(Tensor::AttnOutput, l, h, q_dim, none)?,
            mlp_norm: w.norm(Tensor::FfnNorm, l, NormKind::RmsNorm)?,
            mlp: Mlp::GeGlu {
                gate: w.linear(Tensor::FfnGate, l, i, h, none)?,
                up: w.linear(Tensor::FfnUp, l, i, h, none)?,
                down: w.linear(Tensor::FfnDown, l, h, i, none)?,
            },
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
