//! GPT-NeoX (Pythia): LayerNorm with bias, fused q/k/v (regrouped to q | k | v by the name table's
//! fix-up where the format stores NeoX's per-head order), exact-GELU MLP, biases everywhere, untied
//! lm-head. Partial rotary dims and the parallel residual are in
//! [`ModelConfig`](crate::model::ModelConfig), not in the weights.

use crate::error::Result;
use crate::model::mapping::{Optional, Part, Tensor, WeightLoader, split_rows3};
use crate::model::weights::{Block, Mlp, NormKind, Weights};

pub(super) fn weights(w: &WeightLoader) -> Result<Weights> {
    let c = w.config();
    let (h, i) = (c.hidden_size, c.intermediate_size);
    let token_embedding = w.matrix(Tensor::TokenEmbedding, None, Part::Weight, c.vocab_size, h)?;
    // Not preallocated: num_layers comes from the file; each block's tensors must exist.
    let mut blocks = Vec::new();
    for l in 0..c.num_layers {
        let l = Some(l);
        let [q, k, v] = split_rows3(&w.linear(Tensor::AttnQkv, l, 3 * h, h, Optional::Required)?);
        blocks.push(Block {
            attn_norm: w.norm(Tensor::AttnNorm, l, NormKind::LayerNorm)?,
            q,
            k,
            v,
            o: w.linear(Tensor::AttnOutput, l, h, h, Optional::Required)?,
            mlp_norm: w.norm(Tensor::FfnNorm, l, NormKind::LayerNorm)?,
            mlp: Mlp::GeluErf {
                fc: w.linear(Tensor::FfnUp, l, i, h, Optional::Required)?,
                proj: w.linear(Tensor::FfnDown, l, h, i, Optional::Required)?,
            },
            qk_norm: None,
            post_norms: None,
        });
    }
    let final_norm = w.norm(Tensor::OutputNorm, None, NormKind::LayerNorm)?;
    let lm_head = if c.tie_word_embeddings {
        None
    } else {
        Some(w.linear(Tensor::Output, None, c.vocab_size, h, Optional::Absent)?)
    };
    Ok(Weights { token_embedding, position_embedding: None, blocks, final_norm, lm_head })
}
