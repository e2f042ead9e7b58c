//! Hugging Face model directories: config.json + (sharded) safetensors + tokenizer.
//! TODO(formats helper): implement.

use std::path::Path;

use super::Model;
use crate::error::{DensiError, Result};

pub fn load_dir(path: &Path) -> Result<Model> {
    Err(DensiError::Other(format!("{}: safetensors loading not implemented yet", path.display())))
}
