//! One mapping per architecture, from canonical tensors ([`Tensor`](super::mapping::Tensor)) to [`Weights`], written once
//! for every file format. Adding an architecture means a file here, its names in each format's
//! table, and its forward variant.

mod gemma;
mod gpt2;
mod gptneox;
mod llama;
mod phi3;

use super::config::{Architecture, ModelConfig};
use super::mapping::{NameTable, Tensor, WeightLoader};
use super::source::TensorSource;
use super::weights::{Norm, NormKind, WeightStorage, Weights};
use crate::error::Result;

/// The weights of `config`'s architecture from `src`, named by `names`; every tensor of the file
/// must be read or declared unused.
pub fn load_weights(
    src: &dyn TensorSource,
    names: &dyn NameTable,
    config: &ModelConfig,
    storage: WeightStorage,
) -> Result<Weights> {
    let loader = WeightLoader::new(src, names, config, storage);
    let weights = match config.architecture {
        Architecture::Llama | Architecture::Qwen2 | Architecture::Qwen3 => llama::weights(&loader)?,
        Architecture::Gemma | Architecture::Gemma2 | Architecture::Gemma3 => gemma::weights(&loader)?,
        Architecture::Gpt2 => gpt2::weights(&loader)?,
        Architecture::GptNeox => gptneox::weights(&loader)?,
        Architecture::Phi3 => phi3::weights(&loader)?,
    };
    loader.finish()?;
    Ok(weights)
}

/// Layer `l`'s `[head_dim]` RMSNorms of q and k.
fn qk_norms(w: &WeightLoader, l: Option<usize>) -> Result<[Norm; 2]> {
    let hd = w.config().head_dim;
    Ok([
        w.norm_of(Tensor::AttnQNorm, l, NormKind::RmsNorm, hd)?,
        w.norm_of(Tensor::AttnKNorm, l, NormKind::RmsNorm, hd)?,
    ])
}
