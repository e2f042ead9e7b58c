//! Model formats: bytes in, `Model` (config + f32 weights + tokenizer) out. Knows nothing of
//! backends, metrics, exports or screens.
//!
//! One loading path for every format: a file format is a [`source::TensorSource`] (`gguf`,
//! `safetensors`) plus its name table; an architecture is one mapping in `arch/` from canonical
//! tensors to [`Weights`]; [`mapping::WeightLoader`] joins them and [`dequant`] converts.

mod arch;
pub mod config;
#[doc(hidden)]
pub mod dequant;
#[doc(hidden)]
pub mod gguf;
pub(crate) mod mapping;
#[doc(hidden)]
pub mod matrix;
#[doc(hidden)]
pub mod safetensors;
#[doc(hidden)]
pub mod source;
pub mod tokenizer;
#[doc(hidden)]
pub mod weights;

use std::path::{Path, PathBuf};

pub use config::{Architecture, ModelConfig};
pub use matrix::Matrix;
pub use source::{DType, TensorSource, TensorView};
pub use tokenizer::{Encoding, TextTokenizer};
pub use weights::{Block, Linear, Mlp, Norm, NormKind, WeightStorage, Weights};

use crate::error::{DensiError, Result};

/// The default model's file name, relative to `models/`.
pub const DEFAULT_MODEL_FILE: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";

/// Where a model came from, for provenance.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ModelSource {
    /// The file or directory the model was loaded from.
    pub path: PathBuf,
    /// `gguf` or `safetensors`.
    pub format: &'static str,
    /// Storage type of the weights on disk, e.g. `Q4_1`, `F16`, `mixed Q4_1/Q6_K`; compute is always f32.
    pub weight_dtype: String,
    /// The files whose bytes define the weights (for sha256 provenance).
    pub weight_files: Vec<PathBuf>,
}

/// A loaded model: config, weights, tokenizer and where they came from.
pub struct Model {
    /// Hyper-parameters.
    pub config: ModelConfig,
    /// Weights in the canonical layout (see [`weights`]).
    pub weights: Weights,
    /// The model's tokenizer.
    pub tokenizer: TextTokenizer,
    /// The file(s) it was loaded from.
    pub source: ModelSource,
}

impl Model {
    /// Loads a GGUF file, or a Hugging Face model directory (also inside the hub cache layout),
    /// with the default [`WeightStorage`].
    pub fn load(path: &Path) -> Result<Model> {
        Self::load_with(path, WeightStorage::default())
    }

    /// [`Model::load`] with the weight matrices kept as `storage` says.
    pub fn load_with(path: &Path, storage: WeightStorage) -> Result<Model> {
        let meta = std::fs::metadata(path).map_err(|e| DensiError::io(path, e))?;
        // A file of a Hugging Face directory (`model.safetensors`, `config.json`, a shard) means its directory.
        let names_hf_file = path.extension().is_some_and(|e| e == "safetensors")
            || path.file_name().is_some_and(|n| n == "config.json" || n == "model.safetensors.index.json");
        match path.parent() {
            _ if meta.is_dir() => safetensors::load_dir(path, storage),
            Some(dir) if names_hf_file => {
                safetensors::load_dir(if dir.as_os_str().is_empty() { Path::new(".") } else { dir }, storage)
            }
            _ => gguf::load(path, storage),
        }
    }

    /// Resolves which model to load: an explicit path, then `$DENSI_MODEL`, then
    /// `models/SmolLM2-135M-Instruct.Q4_1.gguf` (relative to the working directory, then to the crate).
    pub fn resolve_path(explicit: Option<&Path>) -> Result<PathBuf> {
        if let Some(p) = explicit {
            if p.exists() {
                return Ok(p.to_path_buf());
            }
            return Err(DensiError::ModelNotFound { tried: format!("{} does not exist", p.display()) });
        }
        if let Some(p) = std::env::var_os("DENSI_MODEL").filter(|p| !p.is_empty()) {
            let p = PathBuf::from(p);
            if p.exists() {
                return Ok(p);
            }
            return Err(DensiError::ModelNotFound { tried: format!("DENSI_MODEL={} does not exist", p.display()) });
        }
        let candidates = [
            Path::new("models").join(DEFAULT_MODEL_FILE),
            Path::new(env!("CARGO_MANIFEST_DIR")).join("models").join(DEFAULT_MODEL_FILE),
        ];
        for c in &candidates {
            if c.exists() {
                return Ok(c.clone());
            }
        }
        Err(DensiError::ModelNotFound {
            tried: format!("no --model, no DENSI_MODEL, and {} does not exist", candidates[0].display()),
        })
    }

    /// sha256 of the weight files (hex; files joined in order). Reads the files once more.
    pub fn sha256(&self) -> Result<String> {
        use sha2::{Digest, Sha256};
        use std::io::Read;
        let mut h = Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        for f in &self.source.weight_files {
            let mut file = std::fs::File::open(f).map_err(|e| DensiError::io(f, e))?;
            loop {
                let n = file.read(&mut buf).map_err(|e| DensiError::io(f, e))?;
                if n == 0 {
                    break;
                }
                h.update(&buf[..n]);
            }
        }
        Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
    }
}
