//! The backend's GPU → CPU fallback (src/backend.rs): a device fault under `auto` finishes on the CPU
//! with the `--threads` asked for and the CPU's exact numbers; under `gpu` it is an error; a top-k
//! above what the GPU lm-head keeps runs on the CPU and says so, under either choice. The faults are
//! injected with a wrapper `Forward` that fails like the GPU does (a `DensiError::Gpu` of a kind).

use crate::common;

use std::path::Path;
use std::sync::Arc;

use densi::backend::{BackendChoice, BackendOptions, WithCpuFallback};
use densi::error::GpuErrorKind;
use densi::metrics::{RowStats, TextScore};
use densi::model::Model;
use densi::score::{Forward, ScoreOptions, Scorer};
use densi::{DensiError, Result};

const TEXT: &str = "The quick brown fox jumps over the lazy dog. Prices rose 3.5% in 2024, said Dr. Smith.";

fn tiny_llama() -> Arc<Model> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/llama");
    Arc::new(Model::load(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
}

/// Short windows, so one text takes several forward passes and a fault can strike mid-text.
fn options(top_k: usize) -> ScoreOptions {
    ScoreOptions { window: Some(8), stride: Some(4), top_k, ..Default::default() }
}

/// A stand-in GPU: the real CPU forward for the first `ok_windows` windows, then a GPU error of `kind`.
/// It keeps at most `kmax` alternatives, as the GPU lm-head does.
struct InjectedGpu {
    inner: Box<dyn Forward>,
    ok_windows: usize,
    kind: GpuErrorKind,
    kmax: usize,
}

impl Forward for InjectedGpu {
    fn backend(&self) -> &'static str {
        "gpu"
    }
    fn device(&self) -> String {
        "injected GPU".into()
    }
    fn score_rows(&mut self, window: &[u32], score_from: usize, top_k: usize, end_row: bool) -> Result<Vec<RowStats>> {
        assert!(top_k <= self.kmax, "top-k {top_k} reached a GPU that keeps {}", self.kmax);
        if self.ok_windows == 0 {
            return Err(DensiError::gpu(self.kind, "injected fault"));
        }
        self.ok_windows -= 1;
        self.inner.score_rows(window, score_from, top_k, end_row)
    }
    fn set_boundary(&mut self, boundary: Arc<densi::metrics::BoundaryMask>) -> Result<()> {
        self.inner.set_boundary(boundary)
    }
    fn max_top_k(&self) -> Option<usize> {
        Some(self.kmax)
    }
}

fn injected(model: &Arc<Model>, ok_windows: usize, kind: GpuErrorKind, auto: bool) -> Box<dyn Forward> {
    let cpu = densi::cpu::CpuForward::new(model.clone(), None).unwrap();
    let gpu = InjectedGpu { inner: Box::new(cpu), ok_windows, kind, kmax: 16 };
    Box::new(WithCpuFallback::new(Box::new(gpu), model.clone(), Some(1), auto))
}

/// The reference: the CPU backend alone, one thread.
fn cpu_run(model: &Arc<Model>, top_k: usize) -> TextScore {
    let backend = BackendOptions { choice: BackendChoice::Cpu, threads: Some(1), ..Default::default() };
    densi::backend::scorer(model, &backend, options(top_k)).unwrap().score("text", TEXT).unwrap()
}

fn assert_same_numbers(got: &TextScore, want: &TextScore) {
    assert_eq!(got.tokens.len(), want.tokens.len());
    assert!(got.settings.windows > 2, "the text should take several windows");
    for (a, b) in got.tokens.iter().zip(&want.tokens) {
        let same = |x: f64, y: f64| x == y || (x.is_nan() && y.is_nan());
        assert!(
            same(a.surprisal_bits, b.surprisal_bits),
            "token {}: {} vs {}",
            a.index,
            a.surprisal_bits,
            b.surprisal_bits
        );
        assert!(same(a.entropy_bits, b.entropy_bits), "token {}", a.index);
        assert!(same(a.varentropy_bits2, b.varentropy_bits2), "token {}", a.index);
        assert_eq!(a.rank, b.rank, "token {}", a.index);
        let ids = |t: &densi::metrics::TokenScore| t.top.iter().map(|x| x.id).collect::<Vec<_>>();
        assert_eq!(ids(a), ids(b), "token {}", a.index);
    }
}

#[test]
fn device_fault_under_auto_finishes_on_the_cpu_with_its_threads() {
    let model = tiny_llama();
    for ok_windows in [0, 2] {
        let mut scorer =
            Scorer::new(model.clone(), injected(&model, ok_windows, GpuErrorKind::DeviceLost, true), options(5))
                .unwrap();
        let got = scorer.score("text", TEXT).unwrap();
        let warnings = scorer.take_warnings();
        assert_eq!(scorer.backend_name(), "cpu");
        assert!(scorer.device().starts_with("cpu, 1 thread"), "{}", scorer.device());
        assert_eq!(got.settings.backend, "cpu");
        assert!(got.settings.device.starts_with("cpu, 1 thread"), "{}", got.settings.device);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("GPU failed (device lost: injected fault)"), "{}", warnings[0]);
        assert!(warnings[0].contains("finishing on the CPU (cpu, 1 thread"), "{}", warnings[0]);
        assert_same_numbers(&got, &cpu_run(&model, 5));
    }
}

#[test]
fn device_fault_under_gpu_is_an_error_of_its_kind() {
    let model = tiny_llama();
    for kind in [GpuErrorKind::DeviceLost, GpuErrorKind::OutOfMemory, GpuErrorKind::Validation] {
        assert!(kind.is_device_fault());
        let mut scorer = Scorer::new(model.clone(), injected(&model, 1, kind, false), options(5)).unwrap();
        match scorer.score("text", TEXT) {
            Err(DensiError::Gpu(e)) => assert_eq!(e.kind, kind),
            other => panic!("{kind}: expected a GPU error, got {:?}", other.map(|r| r.settings.backend)),
        }
    }
}

#[test]
fn top_k_above_the_gpu_limit_runs_on_the_cpu_and_says_why() {
    let model = tiny_llama();
    for auto in [true, false] {
        // The injected GPU would work (no fault): only the top-k sends the job to the CPU.
        let forward = injected(&model, usize::MAX, GpuErrorKind::DeviceLost, auto);
        let mut scorer = Scorer::new(model.clone(), forward, options(17)).unwrap();
        let got = scorer.score("text", TEXT).unwrap();
        let warnings = scorer.take_warnings();
        assert_eq!(got.settings.backend, "cpu");
        assert!(got.settings.device.starts_with("cpu, 1 thread"), "{}", got.settings.device);
        assert_eq!(warnings.len(), 1, "one notice per run, not per window: {warnings:?}");
        let w = &warnings[0];
        assert!(w.contains("--top-k 17") && w.contains("at most 16") && w.contains("ran on the CPU"), "{w}");
        assert!(!w.contains("failed"), "nothing failed: {w}");
        assert_same_numbers(&got, &cpu_run(&model, 17));

        // At the limit, the GPU does the work.
        let forward = injected(&model, usize::MAX, GpuErrorKind::DeviceLost, auto);
        let mut scorer = Scorer::new(model.clone(), forward, options(16)).unwrap();
        let got = scorer.score("text", TEXT).unwrap();
        assert_eq!((got.settings.backend.as_str(), got.settings.device.as_str()), ("gpu", "injected GPU"));
        assert!(scorer.take_warnings().is_empty());
    }
}

#[test]
fn a_gpu_limit_under_auto_is_not_called_a_failure() {
    let model = tiny_llama();
    let mut scorer =
        Scorer::new(model.clone(), injected(&model, 1, GpuErrorKind::Unsupported, true), options(5)).unwrap();
    let got = scorer.score("text", TEXT).unwrap();
    let warnings = scorer.take_warnings();
    assert_eq!(got.settings.backend, "cpu");
    assert!(warnings[0].starts_with("the GPU cannot run this (injected fault)"), "{}", warnings[0]);
    assert!(!warnings[0].contains("failed"), "{}", warnings[0]);
    assert_same_numbers(&got, &cpu_run(&model, 5));
}

/// The real GPU backend (lavapipe in CI): `--backend gpu --top-k 17` scores on the CPU and says so;
/// `--top-k 16` stays on the GPU.
#[test]
fn real_gpu_top_k_17() {
    let Some(_probe) = common::gpu_ctx() else { return };
    drop(_probe);
    let model = tiny_llama();
    let backend = BackendOptions { choice: BackendChoice::Gpu, threads: Some(1), ..Default::default() };
    let mut scorer = densi::backend::scorer(&model, &backend, options(17)).unwrap();
    let got = scorer.score("text", TEXT).unwrap();
    let warnings = scorer.take_warnings();
    assert_eq!(got.settings.backend, "cpu");
    assert!(warnings.iter().any(|w| w.contains("--top-k 17") && w.contains("ran on the CPU")), "{warnings:?}");
    assert_same_numbers(&got, &cpu_run(&model, 17));

    let mut scorer = densi::backend::scorer(&model, &backend, options(16)).unwrap();
    let got = scorer.score("text", TEXT).unwrap();
    assert_eq!(got.settings.backend, "gpu");
    assert!(scorer.take_warnings().is_empty());
}

#[test]
fn adapter_errors_have_a_kind() {
    match densi::gpu::GpuContext::new(Some(999), true) {
        Err(DensiError::Gpu(e)) => assert_eq!(e.kind, GpuErrorKind::Unsupported, "{e}"),
        Err(e) => panic!("not a GPU error: {e}"),
        Ok(_) => panic!("there are not 1000 adapters"),
    }
}
