//! One mapping per architecture, from canonical tensors ([`Tensor`](super::mapping::Tensor)) to [`Weights`], written once
//! for every file format. Adding an architecture means a file here, its names in each format's
//! table, and its forward variant.

mod gpt2;
mod llama;

use super::config::{Architecture, ModelConfig};
use super::mapping::{NameTable, WeightLoader};
use super::source::TensorSource;
use super::weights::{WeightStorage, Weights};
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
        Architecture::Llama | Architecture::Qwen2 => llama::weights(&loader)?,
        Architecture::Gpt2 => gpt2::weights(&loader)?,
    };
    loader.finish()?;
    Ok(weights)
}
