//! The library's error type. Every variant names the file or argument at fault, so the CLI can
//! print one clear line (`densi: <error>`) and exit.

use std::path::PathBuf;

/// The library's result type.
pub type Result<T, E = DensiError> = std::result::Result<T, E>;

/// Every error the library returns. Its `Display` is one line naming the file or argument at fault.
#[derive(Debug, thiserror::Error)]
pub enum DensiError {
    /// Reading or writing `path` failed; the `io::Error` is kept as the source.
    #[error("{path}: {source}")]
    Io {
        /// The file at fault.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },

    /// No model at the explicit path, `$DENSI_MODEL` or the default location.
    #[error("no model found: {tried}; run `models/fetch.sh` to download the default model, or pass --model PATH")]
    ModelNotFound {
        /// Where densi looked.
        tried: String,
    },

    /// The model needs more memory than the machine has available (checked before loading it).
    #[error(
        "{path}: needs about {needed_mib} MiB of memory to load and score ({what}), but only {available_mib} MiB is available (MemAvailable)"
    )]
    OutOfMemory {
        /// The model file.
        path: PathBuf,
        /// Estimated peak need, MiB.
        needed_mib: u64,
        /// MemAvailable of /proc/meminfo, MiB.
        available_mib: u64,
        /// What the estimate counts (weight storage and context).
        what: String,
    },

    /// A model file that exists but is not what it claims to be (bad magic, truncated, out-of-bounds tensor data...).
    #[error("{path}: invalid {format} file: {reason}")]
    InvalidModelFile {
        /// The model file.
        path: PathBuf,
        /// `gguf`, `safetensors`, ...
        format: &'static str,
        /// What is wrong with it.
        reason: String,
    },

    /// The model's architecture is not one densi runs.
    #[error("{path}: unsupported architecture `{found}` (supported: {supported})")]
    UnsupportedArchitecture {
        /// The model file or config.
        path: PathBuf,
        /// The architecture the file names.
        found: String,
        /// The ones densi supports.
        supported: &'static str,
    },

    /// A tensor stored in a type densi cannot read.
    #[error("{path}: tensor `{tensor}` has unsupported type {found} (supported: {supported})")]
    UnsupportedTensorType {
        /// The model file.
        path: PathBuf,
        /// The tensor's name in the file.
        tensor: String,
        /// Its storage type.
        found: String,
        /// The types densi reads.
        supported: &'static str,
    },

    /// A config (config.json or GGUF metadata) that lacks a field or has an impossible value.
    #[error("{path}: bad model config: {reason}")]
    Config {
        /// The config file or GGUF file.
        path: PathBuf,
        /// The field at fault and why.
        reason: String,
    },

    /// A tensor the architecture needs is not in the file.
    #[error("{path}: missing tensor `{tensor}`")]
    MissingTensor {
        /// The model file (or directory).
        path: PathBuf,
        /// The tensor's name in the file's naming scheme.
        tensor: String,
    },

    /// A tensor whose shape does not fit the config.
    #[error("{path}: tensor `{tensor}` has shape {found:?}, expected {expected:?}")]
    TensorShape {
        /// The model file.
        path: PathBuf,
        /// The tensor's name in the file.
        tensor: String,
        /// The shape stored in the file.
        found: Vec<usize>,
        /// The shape the config implies.
        expected: Vec<usize>,
    },

    /// The tokenizer could not be built or failed on a text.
    #[error("{path}: tokenizer: {reason}")]
    Tokenizer {
        /// The tokenizer's file (or the GGUF file holding its metadata).
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },

    /// Bad text input: empty, not UTF-8, ... `what` names the input (a file path, `-`, `--text #2`).
    #[error("{what}: {reason}")]
    Input {
        /// The input at fault.
        what: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A bad option value (`--bos`, `--window`, ...).
    #[error("{option}: {reason}")]
    InvalidOption {
        /// The option, as the CLI spells it.
        option: &'static str,
        /// Why the value is refused.
        reason: String,
    },

    /// The GPU path failed; [`GpuError::kind`] says how, so `--backend auto` can tell a device fault
    /// (finish on the CPU) from a limit of the GPU path (route to the CPU, saying why).
    #[error("GPU: {0}")]
    Gpu(GpuError),

    /// Anything else, already phrased as one line.
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
    /// What kind of failure (the fallback branches on it).
    pub kind: GpuErrorKind,
    /// One line: the step, adapter or option at fault.
    pub message: String,
}

impl GpuError {
    /// A GPU error of `kind`.
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

    /// A [`DensiError::Io`] for `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        DensiError::Io { path: path.into(), source }
    }
}
