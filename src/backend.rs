//! Choosing and opening a compute backend: `auto` (a real GPU when there is one, else the CPU),
//! `gpu` (the wgpu path, also on a software adapter), or `cpu`.

use std::sync::Arc;

use crate::error::Result;
use crate::model::Model;
use crate::score::{BackendChoice, Forward, ScoreOptions, Scorer};

/// Weight storage on the GPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GpuDtype {
    #[default]
    F32,
    /// f16 storage, f32 accumulation; needs the adapter's SHADER_F16.
    F16,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BackendOptions {
    pub choice: BackendChoice,
    /// Adapter index as listed by `densi devices`.
    pub device: Option<usize>,
    pub dtype: GpuDtype,
    /// CPU threads; None = all cores.
    pub threads: Option<usize>,
}

/// Opens the backend. Returns it with whether a GPU failure should fall back to the CPU (`auto` only).
pub fn open(model: &Arc<Model>, opts: &BackendOptions) -> Result<(Box<dyn Forward>, bool)> {
    let cpu =
        || -> Result<Box<dyn Forward>> { Ok(Box::new(crate::cpu::CpuForward::new(model.clone(), opts.threads)?)) };
    match opts.choice {
        BackendChoice::Cpu => Ok((cpu()?, false)),
        #[cfg(feature = "gpu")]
        BackendChoice::Gpu => Ok((Box::new(crate::gpu::GpuForward::new(model.clone(), opts, true)?), false)),
        #[cfg(not(feature = "gpu"))]
        BackendChoice::Gpu => Err(crate::DensiError::InvalidOption {
            option: "--backend",
            reason: "gpu: this build of densi has no GPU backend (built without the `gpu` feature)".into(),
        }),
        #[cfg(feature = "gpu")]
        BackendChoice::Auto => {
            // Only a real (hardware) adapter is worth it; a software one is far slower than the native CPU path.
            match crate::gpu::GpuForward::new(model.clone(), opts, false) {
                Ok(gpu) => Ok((Box::new(gpu), true)),
                Err(_) => Ok((cpu()?, false)),
            }
        }
        #[cfg(not(feature = "gpu"))]
        BackendChoice::Auto => Ok((cpu()?, false)),
    }
}

/// Loads nothing: builds a [`Scorer`] over an already loaded model with the chosen backend.
pub fn scorer(model: &Arc<Model>, backend: &BackendOptions, score: ScoreOptions) -> Result<Scorer> {
    let (forward, fallback) = open(model, backend)?;
    Scorer::new(model.clone(), forward, score, fallback)
}
