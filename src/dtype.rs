//! The one dtype enum: how the GPU stores weights (`--dtype`). Its own module so that `backend`
//! (options) and `gpu` (kernels) both use it without importing each other.

use std::fmt;
use std::str::FromStr;

/// Weight storage on the GPU (the CPU computes in f32 whatever this says): the one dtype enum of
/// the CLI's `--dtype`, [`crate::backend::BackendOptions`] and the GPU kernels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Dtype {
    #[default]
    F32,
    /// f16 storage, f32 accumulation; needs the adapter's SHADER_F16.
    F16,
}

impl Dtype {
    /// The names `--dtype` takes.
    pub const NAMES: [&'static str; 2] = ["f32", "f16"];

    /// Bytes per stored weight.
    pub fn bytes(self) -> u64 {
        match self {
            Dtype::F32 => 4,
            Dtype::F16 => 2,
        }
    }
}

impl FromStr for Dtype {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "f32" => Ok(Dtype::F32),
            "f16" => Ok(Dtype::F16),
            _ => Err(format!("unknown dtype `{s}` (f32, f16)")),
        }
    }
}

impl fmt::Display for Dtype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Dtype::F32 => "f32",
            Dtype::F16 => "f16",
        })
    }
}
