//! Choosing and opening a compute backend, and the GPU → CPU fallback: the one place that knows
//! both [`crate::cpu`] and [`crate::gpu`]. [`crate::score`] sees only a [`Forward`].
//!
//! - `auto`: a real (hardware) GPU adapter when there is one, else the CPU. A device fault mid-run
//!   (device lost, out of memory, validation) finishes on the CPU with a warning.
//! - `gpu`: the wgpu path, also on a software adapter; a device fault is an error.
//! - `cpu`: the native CPU path.
//!
//! Under either GPU choice, a job the GPU path cannot do (a limit, [`GpuErrorKind::Unsupported`],
//! such as a `--top-k` above what the lm-head kernel keeps) runs on the CPU with a warning that
//! says why; `gpu` only routes the top-k limit, other limits stay errors. The CPU fallback honours
//! `--threads`.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

pub use crate::dtype::Dtype;
use crate::error::{DensiError, GpuErrorKind, Result};
use crate::metrics::{BoundaryMask, RowStats};
use crate::model::Model;
use crate::prefix::ReuseCounts;
use crate::score::{Forward, ScoreOptions, Scorer};

/// Which backend to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BackendChoice {
    /// A real GPU adapter when there is one, else the CPU. A GPU device fault mid-run falls back to the CPU.
    #[default]
    Auto,
    /// The wgpu path, even on a software adapter; GPU device faults are errors.
    Gpu,
    /// The native multi-threaded f32 CPU forward (also the GPU's oracle).
    Cpu,
}

impl BackendChoice {
    /// The names `--backend` takes.
    pub const NAMES: [&'static str; 3] = ["auto", "gpu", "cpu"];
}

impl FromStr for BackendChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(BackendChoice::Auto),
            "gpu" => Ok(BackendChoice::Gpu),
            "cpu" => Ok(BackendChoice::Cpu),
            _ => Err(format!("unknown backend `{s}` (auto, gpu, cpu)")),
        }
    }
}

impl fmt::Display for BackendChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BackendChoice::Auto => "auto",
            BackendChoice::Gpu => "gpu",
            BackendChoice::Cpu => "cpu",
        })
    }
}

/// How to open a backend: which one, which adapter, weight storage on the GPU, CPU threads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BackendOptions {
    /// `auto`, `gpu` or `cpu`.
    pub choice: BackendChoice,
    /// Adapter index as listed by `densi devices`.
    pub device: Option<usize>,
    /// Weight storage on the GPU (f16 needs the adapter's SHADER_F16); compute is f32 either way.
    pub dtype: Dtype,
    /// CPU threads (also after a fallback from the GPU); None = all cores.
    pub threads: Option<usize>,
    /// The prefix cache's budget in MiB (`--cache-mb`; 0 turns reuse off); None =
    /// [`crate::prefix::DEFAULT_CACHE_BYTES`].
    pub cache_mb: Option<usize>,
}

/// Opens the backend `opts.choice` names (the one auto-selection: `auto` takes a hardware adapter
/// or the CPU). A GPU backend comes wrapped in [`WithCpuFallback`].
pub fn open(model: &Arc<Model>, opts: &BackendOptions) -> Result<Box<dyn Forward>> {
    let mut forward = open_uncached(model, opts)?;
    if let Some(mb) = opts.cache_mb {
        forward.set_prefix_cache(mb.saturating_mul(1 << 20));
    }
    Ok(forward)
}

fn open_uncached(model: &Arc<Model>, opts: &BackendOptions) -> Result<Box<dyn Forward>> {
    let cpu = || -> Result<Box<dyn Forward>> { cpu_forward(model, opts.threads) };
    match opts.choice {
        BackendChoice::Cpu => cpu(),
        #[cfg(feature = "gpu")]
        BackendChoice::Gpu => {
            let gpu = crate::gpu::GpuForward::new(model.clone(), opts.device, opts.dtype, true)?;
            Ok(Box::new(WithCpuFallback::new(Box::new(gpu), model.clone(), opts.threads, false)))
        }
        #[cfg(not(feature = "gpu"))]
        BackendChoice::Gpu => Err(DensiError::InvalidOption {
            option: "--backend",
            reason: "gpu: this build of densi has no GPU backend (built without the `gpu` feature)".into(),
        }),
        #[cfg(feature = "gpu")]
        BackendChoice::Auto => {
            // Only a real (hardware) adapter is worth it; a software one is far slower than the native CPU path.
            match crate::gpu::GpuForward::new(model.clone(), opts.device, opts.dtype, false) {
                Ok(gpu) => Ok(Box::new(WithCpuFallback::new(Box::new(gpu), model.clone(), opts.threads, true))),
                Err(_) => cpu(),
            }
        }
        #[cfg(not(feature = "gpu"))]
        BackendChoice::Auto => cpu(),
    }
}

fn cpu_forward(model: &Arc<Model>, threads: Option<usize>) -> Result<Box<dyn Forward>> {
    Ok(Box::new(crate::cpu::CpuForward::new(model.clone(), threads)?))
}

/// Loads nothing: builds a [`Scorer`] over an already loaded model with the chosen backend.
pub fn scorer(model: &Arc<Model>, backend: &BackendOptions, score: ScoreOptions) -> Result<Scorer> {
    Scorer::new(model.clone(), open(model, backend)?, score)
}

/// A GPU [`Forward`] with the CPU behind it (built on first need, with the given threads):
/// - a `top_k` above [`Forward::max_top_k`] of the GPU runs on the CPU, with a warning saying so;
/// - with `fall_back_on_faults` (`auto`), a device fault or another limit switches to the CPU for
///   good, with a warning naming the error; without it (`gpu`), they are returned as errors.
pub struct WithCpuFallback {
    gpu: Box<dyn Forward>,
    cpu: Option<Box<dyn Forward>>,
    model: Arc<Model>,
    threads: Option<usize>,
    fall_back_on_faults: bool,
    /// The GPU failed: every later window runs on the CPU.
    failed: bool,
    /// The last window ran on the CPU (what `backend()` and `device()` report).
    on_cpu: bool,
    /// The top-k route was announced already (once per run, not per window).
    top_k_warned: bool,
    warnings: Vec<String>,
    /// The boundary set given to the GPU, handed to the CPU when it is built.
    boundary: Option<Arc<BoundaryMask>>,
    /// The prefix-cache budget set, handed to the CPU when it is built.
    cache_budget: Option<usize>,
}

impl WithCpuFallback {
    /// `gpu`: the primary backend (the GPU forward; tests inject a failing one).
    pub fn new(
        gpu: Box<dyn Forward>,
        model: Arc<Model>,
        threads: Option<usize>,
        fall_back_on_faults: bool,
    ) -> WithCpuFallback {
        WithCpuFallback {
            gpu,
            cpu: None,
            model,
            threads,
            fall_back_on_faults,
            failed: false,
            on_cpu: false,
            top_k_warned: false,
            warnings: Vec::new(),
            boundary: None,
            cache_budget: None,
        }
    }

    fn cpu(&mut self) -> Result<&mut Box<dyn Forward>> {
        if self.cpu.is_none() {
            let mut cpu = cpu_forward(&self.model, self.threads)?;
            if let Some(b) = &self.boundary {
                cpu.set_boundary(b.clone())?;
            }
            if let Some(bytes) = self.cache_budget {
                cpu.set_prefix_cache(bytes);
            }
            self.cpu = Some(cpu);
        }
        Ok(self.cpu.as_mut().expect("built above"))
    }

    fn on_cpu(&mut self, window: &[u32], score_from: usize, top_k: usize, end_row: bool) -> Result<Vec<RowStats>> {
        self.on_cpu = true;
        self.cpu()?.score_rows(window, score_from, top_k, end_row)
    }
}

impl Forward for WithCpuFallback {
    fn backend(&self) -> &'static str {
        match (&self.cpu, self.on_cpu) {
            (Some(cpu), true) => cpu.backend(),
            _ => self.gpu.backend(),
        }
    }

    fn device(&self) -> String {
        match (&self.cpu, self.on_cpu) {
            (Some(cpu), true) => cpu.device(),
            _ => self.gpu.device(),
        }
    }

    fn score_rows(&mut self, window: &[u32], score_from: usize, top_k: usize, end_row: bool) -> Result<Vec<RowStats>> {
        if self.failed {
            return self.on_cpu(window, score_from, top_k, end_row);
        }
        if let Some(kmax) = self.gpu.max_top_k().filter(|&k| top_k > k) {
            let rows = self.on_cpu(window, score_from, top_k, end_row)?;
            if !self.top_k_warned {
                self.top_k_warned = true;
                let device = self.device();
                self.warnings.push(format!(
                    "--top-k {top_k}: the GPU lm-head keeps at most {kmax} alternatives, so this ran on the \
                     CPU ({device})"
                ));
            }
            return Ok(rows);
        }
        self.on_cpu = false;
        match self.gpu.score_rows(window, score_from, top_k, end_row) {
            Err(DensiError::Gpu(e)) if self.fall_back_on_faults => {
                self.failed = true;
                let rows = self.on_cpu(window, score_from, top_k, end_row)?;
                let device = self.device();
                self.warnings.push(match e.kind {
                    GpuErrorKind::Unsupported => {
                        format!("the GPU cannot run this ({}); finishing on the CPU ({device})", e.message)
                    }
                    kind => format!("GPU failed ({kind}: {}); finishing on the CPU ({device})", e.message),
                });
                Ok(rows)
            }
            r => r,
        }
    }

    fn set_boundary(&mut self, boundary: Arc<BoundaryMask>) -> Result<()> {
        self.gpu.set_boundary(boundary.clone())?;
        if let Some(cpu) = &mut self.cpu {
            cpu.set_boundary(boundary.clone())?;
        }
        self.boundary = Some(boundary);
        Ok(())
    }

    fn take_warnings(&mut self) -> Vec<String> {
        let mut w = self.gpu.take_warnings();
        w.append(&mut self.warnings);
        w
    }

    fn max_top_k(&self) -> Option<usize> {
        None
    }

    fn set_timing(&mut self, on: bool) {
        self.gpu.set_timing(on);
    }

    fn kernel_timings(&self) -> Option<Vec<(String, f64)>> {
        if self.on_cpu { None } else { self.gpu.kernel_timings() }
    }

    fn set_prefix_cache(&mut self, budget_bytes: usize) {
        self.cache_budget = Some(budget_bytes);
        self.gpu.set_prefix_cache(budget_bytes);
        if let Some(cpu) = &mut self.cpu {
            cpu.set_prefix_cache(budget_bytes);
        }
    }

    /// The counts of whichever side ran (the CPU's after a fallback or a top-k route).
    fn reuse_counts(&self) -> Option<ReuseCounts> {
        match (&self.cpu, self.on_cpu) {
            (Some(cpu), true) => cpu.reuse_counts(),
            _ => self.gpu.reuse_counts(),
        }
    }

    fn gpu_buffer_bytes(&self) -> Option<u64> {
        self.gpu.gpu_buffer_bytes()
    }
}
