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

    /// The GPU path failed; [`GpuError::kind`] says how, so `--backend auto` can tell a device fault
    /// (finish on the CPU) from a limit of the GPU path (route to the CPU, saying why).
    #[error("GPU: {0}")]
    Gpu(GpuError),

    #[error("{0}")]
    Other(String),
}

/// What went wrong on the GPU path: the one thing the backend's fallback branches on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GpuErrorKind {
    /// No usable adapter, a missing feature (SHADER_F16), or a limit of the adapter or of densi's
    /// kernels (binding size, head_dim, top-k). Nothing failed: the GPU path cannot do this job.
    Unsupported,
    /// The device ran out of memory.
    OutOfMemory,
    /// The device was lost (driver reset, hang, unplugged) or reported an internal error.
    DeviceLost,
    /// wgpu rejected a call (a validation error): a bug in densi or in the driver.
    Validation,
}

impl GpuErrorKind {
    /// A fault of the device at run time (as opposed to a limit known before anything ran).
    pub fn is_device_fault(self) -> bool {
        !matches!(self, GpuErrorKind::Unsupported)
    }
}

impl std::fmt::Display for GpuErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            GpuErrorKind::Unsupported => "unsupported",
            GpuErrorKind::OutOfMemory => "out of memory",
            GpuErrorKind::DeviceLost => "device lost",
            GpuErrorKind::Validation => "validation error",
        })
    }
}

/// A GPU error: its kind and a message naming the step, the adapter or the option at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct GpuError {
    pub kind: GpuErrorKind,
    pub message: String,
}

impl GpuError {
    pub fn new(kind: GpuErrorKind, message: impl Into<String>) -> GpuError {
        GpuError { kind, message: message.into() }
    }
}

impl DensiError {
    /// A [`DensiError::Gpu`] of `kind`.
    pub fn gpu(kind: GpuErrorKind, message: impl Into<String>) -> Self {
        DensiError::Gpu(GpuError::new(kind, message))
    }

    /// The GPU error's kind, if this is one.
    pub fn gpu_kind(&self) -> Option<GpuErrorKind> {
        match self {
            DensiError::Gpu(e) => Some(e.kind),
            _ => None,
        }
    }

    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        DensiError::Io { path: path.into(), source }
    }
}
