//! GGUF v2/v3: header, metadata, tensor infos, alignment; F32/F16/BF16/Q8_0/Q4_0/Q4_1 dequantized to f32.
//! TODO(formats helper): implement.

use std::path::Path;

use super::Model;
use crate::error::{DensiError, Result};

pub fn load(path: &Path) -> Result<Model> {
    Err(DensiError::Other(format!("{}: GGUF loading not implemented yet", path.display())))
}
