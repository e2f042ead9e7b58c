//! The native CPU forward pass: one plain function per layer, multi-threaded, f32. It is the
//! fallback backend and the oracle that every GPU kernel is tested against.
//! TODO(cpu helper): implement.

use std::sync::Arc;

use crate::error::{DensiError, Result};
use crate::metrics::RowStats;
use crate::model::Model;
use crate::score::Forward;

pub struct CpuForward {
    model: Arc<Model>,
    threads: usize,
}

impl CpuForward {
    /// `threads`: None = all cores (rayon's global pool).
    pub fn new(model: Arc<Model>, threads: Option<usize>) -> Result<CpuForward> {
        Ok(CpuForward { model, threads: threads.unwrap_or_else(rayon::current_num_threads) })
    }
}

impl Forward for CpuForward {
    fn backend(&self) -> &'static str {
        "cpu"
    }
    fn device(&self) -> String {
        format!("cpu, {} threads", self.threads)
    }
    fn score_window(&mut self, _window: &[u32], _score_from: usize, _top_k: usize) -> Result<Vec<RowStats>> {
        let _ = &self.model;
        Err(DensiError::Other("cpu forward not implemented yet".into()))
    }
}
