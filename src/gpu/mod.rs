//! The GPU path: WGSL kernels from `shaders/` run through wgpu.
//! TODO(gpu helper): implement. This stub keeps the API the rest of the crate calls.

use std::sync::Arc;

use crate::backend::BackendOptions;
use crate::error::{DensiError, Result};
use crate::metrics::RowStats;
use crate::model::Model;
use crate::score::Forward;

pub struct GpuForward {
    _model: Arc<Model>,
}

impl GpuForward {
    /// Uploads the model to the adapter chosen by `opts.device` (or the best one).
    /// `allow_software`: accept a software adapter (lavapipe) — `--backend gpu` does, `auto` does not.
    pub fn new(model: Arc<Model>, opts: &BackendOptions, allow_software: bool) -> Result<GpuForward> {
        let _ = (model, opts, allow_software);
        Err(DensiError::Gpu("the GPU path is not implemented yet".into()))
    }
}

impl Forward for GpuForward {
    fn backend(&self) -> &'static str {
        "gpu"
    }
    fn device(&self) -> String {
        String::new()
    }
    fn score_window(&mut self, _window: &[u32], _score_from: usize, _top_k: usize) -> Result<Vec<RowStats>> {
        Err(DensiError::Gpu("not implemented".into()))
    }
}
