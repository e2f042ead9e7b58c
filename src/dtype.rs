//! The one dtype enum: how the GPU stores weights (`--dtype`). Its own module so that `backend`
//! (options) and `gpu` (kernels) both use it without importing each other.

use std::fmt;
use std::str::FromStr;

/// Weight storage on the GPU (the CPU computes in f32 whatever this says): the one dtype enum of
/// the CLI's `--dtype`, [`crate::backend::BackendOptions`] and the GPU kernels. What each matrix
/// ends up as is decided in one place, `gpu::contract::WeightFormat::for_stored`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Dtype {
    /// f16 storage where the adapter has SHADER_F16 and the tensor is 16-bit in the file (F16, and
    /// BF16 that fits f16's range); f32 weights stay f32, quantized blocks stay as stored.
    #[default]
    Auto,
    /// 32-bit float for f32 weights; 16-bit tensors as their stored words (exact, no SHADER_F16).
    F32,
    /// f16 storage, f32 accumulation, also for f32 weights; needs the adapter's SHADER_F16.
    F16,
}

impl Dtype {
    /// The names `--dtype` takes.
    pub const NAMES: [&'static str; 3] = ["auto", "f32", "f16"];
}

impl FromStr for Dtype {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(Dtype::Auto),
            "f32" => Ok(Dtype::F32),
            "f16" => Ok(Dtype::F16),
            _ => Err(format!("unknown dtype `{s}` (auto, f32, f16)")),
        }
    }
}

impl fmt::Display for Dtype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Dtype::Auto => "auto",
            Dtype::F32 => "f32",
            Dtype::F16 => "f16",
        })
    }
}
