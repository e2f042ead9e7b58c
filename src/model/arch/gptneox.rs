//! GPT-NeoX (Pythia): LayerNorm with bias, fused q/k/v (regrouped to q | k | v by the name table's
//! fix-up where the format stores NeoX's per-head order), exact-GELU MLP, biases everywhere, untied
//! lm-head. GPT-2's loader with rotary positions instead of learned ones; partial rotary dims and
//! the parallel residual are in [`ModelConfig`](crate::model::ModelConfig), not in the weights.

use super::gpt2::{LayerNormFamily, family_weights};
use crate::error::Result;
use crate::model::mapping::{Optional, WeightLoader};
use crate::model::weights::{Mlp, Weights};

pub(super) fn weights(w: &WeightLoader) -> Result<Weights> {
    family_weights(
        w,
        LayerNormFamily {
            learned_positions: false,
            mlp: |fc, proj| Mlp::GeluErf { fc, proj },
            head_bias: Optional::Absent,
        },
    )
}
