//! The library's error type. Every variant names the file or argument at fault, so the CLI can
//! print one clear line (`densi: <error>`) and exit.

use std::path::PathBuf;

pub type Result<T, E = DensiError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum DensiError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },

    #[error("no model found: {tried}; run `models/fetch.sh` to download the default model, or pass --model PATH")]
    ModelNotFound { tried: String },

    /// A model file that exists but is not what it claims to be (bad magic, truncated, out-of-bounds tensor data...).
    #[error("{path}: invalid {format} file: {reason}")]
    InvalidModelFile { path: PathBuf, format: &'static str, reason: String },

    #[error("{path}: unsupported architecture `{found}` (supported: {supported})")]
    UnsupportedArchitecture { path: PathBuf, found: String, supported: &'static str },

    #[error("{path}: tensor `{tensor}` has unsupported type {found} (supported: {supported})")]
    UnsupportedTensorType { path: PathBuf, tensor: String, found: String, supported: &'static str },

    /// A config (config.json or GGUF metadata) that lacks a field or has an impossible value.
    #[error("{path}: bad model config: {reason}")]
    Config { path: PathBuf, reason: String },

    #[error("{path}: missing tensor `{tensor}`")]
    MissingTensor { path: PathBuf, tensor: String },

    #[error("{path}: tensor `{tensor}` has shape {found:?}, expected {expected:?}")]
    TensorShape { path: PathBuf, tensor: String, found: Vec<usize>, expected: Vec<usize> },

    #[error("{path}: tokenizer: {reason}")]
    Tokenizer { path: PathBuf, reason: String },

    /// Bad text input: empty, not UTF-8, ... `what` names the input (a file path, `-`, `--text #2`).
    #[error("{what}: {reason}")]
    Input { what: String, reason: String },

    /// A bad option value (`--bos`, `--window`, ...).
    #[error("{option}: {reason}")]
    InvalidOption { option: &'static str, reason: String },

    /// The GPU path failed (no adapter, device lost, out of memory, a limit the model does not fit).
    #[error("GPU: {0}")]
    Gpu(String),

    #[error("{0}")]
    Other(String),
}

impl DensiError {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        DensiError::Io { path: path.into(), source }
    }
}
