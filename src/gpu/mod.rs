//! The GPU path: WGSL kernels from `shaders/` run through wgpu on any Vulkan, Metal, DX12 or GL adapter.
//!
//! - [`context`]: adapters, device setup (real limits, optional features), error capture (typed kinds).
//! - [`contract`]: the Rust ↔ WGSL contract: parameter blocks, bindings, shared constants; the WGSL side is generated.
//! - [`kernels`]: the pipelines, the ops with their parameters/grids, and the one-pass executor.
//! - [`forward`]: the model on the device (weights uploaded once, buffers reused) and the fused lm-head.
//! - [`ops`]: single kernels on host data, for the kernel tests.
//! - [`pair`]: two models of one vocabulary on one device and the fused pair reduction.
//!
//! See `docs/kernels.md` for each kernel's tiling, what it fuses and the lm-head's numerics.

pub mod context;
pub mod contract;
pub mod forward;
pub mod kernels;
pub mod ops;
pub mod pair;

use std::sync::Arc;

use crate::dtype::Dtype;
use crate::error::Result;
use crate::metrics::{BoundaryMask, RowStats};
use crate::model::Model;
use crate::prefix::{DEFAULT_CACHE_BYTES, ReuseCounts};
use crate::score::Forward;

pub use context::{AdapterSummary, GpuContext, adapters};
pub use forward::GpuModel;

pub struct GpuForward {
    _model: Arc<Model>,
    gpu: GpuModel,
    device: String,
}

impl GpuForward {
    /// Uploads the model as `dtype` to adapter `device` (as `densi devices` lists them) or the best one.
    /// `allow_software`: accept a software adapter (lavapipe) — `--backend gpu` does, `auto` does not.
    pub fn new(model: Arc<Model>, device: Option<usize>, dtype: Dtype, allow_software: bool) -> Result<GpuForward> {
        let ctx = GpuContext::new(device, allow_software)?;
        let device = ctx.describe();
        let mut gpu = GpuModel::new(ctx, &model.config, &model.weights, dtype)?;
        gpu.set_prefix_cache(DEFAULT_CACHE_BYTES);
        let device = format!("{device}, weights {} (--dtype {dtype})", gpu.weight_storage());
        Ok(GpuForward { _model: model, gpu, device })
    }

    /// FLOPs of the last forward.
    pub fn last_flops(&self) -> f64 {
        self.gpu.last_flops()
    }

    pub fn adapter(&self) -> &AdapterSummary {
        &self.gpu.ctx.info
    }
}

impl Forward for GpuForward {
    fn backend(&self) -> &'static str {
        "gpu"
    }
    fn device(&self) -> String {
        self.device.clone()
    }
    fn score_rows(&mut self, window: &[u32], score_from: usize, top_k: usize, end_row: bool) -> Result<Vec<RowStats>> {
        self.gpu.score_rows(window, score_from, top_k, end_row)
    }
    fn set_boundary(&mut self, boundary: Arc<BoundaryMask>) -> Result<()> {
        self.gpu.set_boundary(&boundary)
    }
    fn max_top_k(&self) -> Option<usize> {
        Some(kernels::LM_KMAX)
    }
    /// Timestamp queries per kernel from the next forward on (when the adapter has TIMESTAMP_QUERY).
    fn set_timing(&mut self, on: bool) {
        self.gpu.set_timing(on);
    }
    fn kernel_timings(&self) -> Option<Vec<(String, f64)>> {
        self.gpu.kernel_timings()
    }
    fn gpu_buffer_bytes(&self) -> Option<u64> {
        Some(self.gpu.buffer_bytes())
    }
    fn take_warnings(&mut self) -> Vec<String> {
        self.gpu.take_notes()
    }
    fn set_prefix_cache(&mut self, budget_bytes: usize) {
        self.gpu.set_prefix_cache(budget_bytes);
    }
    fn reuse_counts(&self) -> Option<ReuseCounts> {
        Some(self.gpu.reuse_counts())
    }
}
