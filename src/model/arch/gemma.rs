//! Gemma 1, 2 and 3 (text): RMSNorm x̂ · (1 + w) (the name tables give 1 + w: Hugging Face stores
//! w, llama.cpp's converter 1 + w), GeGLU (tanh GELU) MLP, no biases, tied lm-head; Gemma 2 and 3
//! add a norm after attention and after the MLP; Gemma 3 q/k norms. Llama's loader with the GeGLU
//! MLP and no biases. Sliding windows, RoPE bases, soft-capping and the embedding scale are in
//! [`ModelConfig`](crate::model::ModelConfig), not in the weights.

use super::llama::{GatedFamily, family_weights};
use crate::error::Result;
use crate::model::mapping::{Optional, WeightLoader};
use crate::model::weights::{Mlp, Weights};

pub(super) fn weights(w: &WeightLoader) -> Result<Weights> {
    family_weights(
        w,
        GatedFamily {
            qkv_bias: Optional::Absent,
            other_bias: Optional::Absent,
            mlp: |gate, up, down| Mlp::GeGlu { gate, up, down },
        },
    )
}
