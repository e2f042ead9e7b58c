//! GPT-2: LayerNorm, learned positions, fused q/k/v (`c_attn`), gelu_new MLP, biases everywhere.

use crate::error::Result;
use crate::model::mapping::{Optional, Part, Tensor, WeightLoader, split_rows3};
use crate::model::weights::{Block, Linear, Mlp, NormKind, Weights};

/// What separates the fused-q/k/v LayerNorm families (GPT-2 and GPT-NeoX) in their weights.
pub(super) struct LayerNormFamily {
    /// A learned position embedding (GPT-2) or none (rotary, in the config).
    pub learned_positions: bool,
    /// The MLP from its two linears (fc, proj).
    pub mlp: fn(Linear, Linear) -> Mlp,
    /// An untied lm-head's bias: GPT-2's may carry one, NeoX's has none.
    pub head_bias: Optional,
}

pub(super) fn weights(w: &WeightLoader) -> Result<Weights> {
    family_weights(
        w,
        LayerNormFamily {
            learned_positions: true,
            mlp: |fc, proj| Mlp::Gelu { fc, proj },
            head_bias: Optional::IfPresent,
        },
    )
}

/// The weights of a fused-q/k/v LayerNorm family member.
pub(super) fn family_weights(w: &WeightLoader, family: LayerNormFamily) -> Result<Weights> {
    let c = w.config();
    let (h, i) = (c.hidden_size, c.intermediate_size);
    let token_embedding = w.matrix(Tensor::TokenEmbedding, None, Part::Weight, c.vocab_size, h)?;
    let position_embedding = family
        .learned_positions
        .then(|| w.matrix(Tensor::PositionEmbedding, None, Part::Weight, c.context_length, h))
        .transpose()?;
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
            mlp: (family.mlp)(
                w.linear(Tensor::FfnUp, l, i, h, Optional::Required)?,
                w.linear(Tensor::FfnDown, l, h, i, Optional::Required)?,
            ),
            qk_norm: None,
            post_norms: None,
        });
    }
    let final_norm = w.norm(Tensor::OutputNorm, None, NormKind::LayerNorm)?;
    let lm_head = if c.tie_word_embeddings {
        None
    } else {
        Some(w.linear(Tensor::Output, None, c.vocab_size, h, family.head_bias)?)
    };
    Ok(Weights { token_embedding, position_embedding, blocks, final_norm, lm_head })
}
