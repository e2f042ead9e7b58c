//! Word surprisal with the beginning-of-word correction on the GPU path: densi's wgpu forward and
//! boundary mass, through the word export, against the golden words of tests/fixtures/words/ (the
//! same check as the engine binary's CPU test; 2e-3 bits). The GPU is the adapter the tests probed.

use std::sync::Arc;

use crate::common::gpu_ctx;
use densi::backend::{BackendChoice, BackendOptions, Dtype};
use densi::gpu::GpuForward;
use densi::model::Model;
use densi::score::{BoundarySet, Forward};

#[path = "../support/words.rs"]
mod words_support;

fn gpu(model: &Arc<Model>) -> Option<impl Fn(BoundarySet) -> Box<dyn Forward>> {
    let probe = gpu_ctx()?;
    let device = Some(probe.info.index);
    drop(probe);
    let model = model.clone();
    Some(move |_| {
        let opts =
            BackendOptions { choice: BackendChoice::Gpu, device, dtype: Dtype::F32, threads: None, cache_mb: None };
        Box::new(GpuForward::new(model.clone(), opts.device, opts.dtype, true).expect("GPU backend"))
            as Box<dyn Forward>
    })
}

#[test]
fn gpu_words_match_the_golden_tiny_llama() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gguf/tiny-llama-F32.gguf");
    let model = Arc::new(Model::load(&path).unwrap());
    let Some(backend) = gpu(&model) else { return };
    let max = words_support::check_scored_words(&model, "tiny_llama_words.json", &backend);
    eprintln!("tiny-llama-F32 (GPU): max |Δ| word surprisal {max:.2e} bits");
}

#[test]
fn gpu_words_match_the_golden_default_model() {
    let Some(path) = crate::support::default_model() else { return };
    let model = Arc::new(Model::load(&path).unwrap());
    let Some(backend) = gpu(&model) else { return };
    let max = words_support::check_scored_words(&model, "smollm2_words.json", &backend);
    eprintln!("default model (GPU): max |Δ| word surprisal {max:.2e} bits");
}
