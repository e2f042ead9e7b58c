//! Adapter listing and the `auto` / `gpu` choice: `auto` refuses a software adapter (so the CPU is
//! used), `--backend gpu` takes it.

use crate::common;

use densi::gpu::{GpuContext, adapters};

#[test]
fn adapters_are_listed_and_software_is_refused_by_auto() {
    let list = adapters();
    if list.is_empty() {
        if std::env::var("DENSI_REQUIRE_GPU").as_deref() == Ok("1") {
            panic!("DENSI_REQUIRE_GPU=1 but no GPU adapter");
        }
        eprintln!("SKIPPED: no GPU adapter");
        assert!(matches!(GpuContext::new(None, true), Err(densi::DensiError::Gpu(_))));
        return;
    }
    for a in &list {
        eprintln!("{a:?}");
        assert!(!a.name.is_empty());
        assert!(a.max_storage_buffer_binding_size > 0);
    }
    if list.iter().all(|a| a.is_software) {
        match GpuContext::new(None, false) {
            Err(densi::DensiError::Gpu(e)) => assert!(e.message.contains("software"), "{e}"),
            Err(e) => panic!("wrong error kind: {e}"),
            Ok(c) => panic!("auto accepted the software adapter {}", c.describe()),
        }
        let c = GpuContext::new(None, true).expect("--backend gpu takes the software adapter");
        assert!(c.info.is_software);
    }
    match GpuContext::new(Some(list.len()), true) {
        Err(densi::DensiError::Gpu(e)) => assert!(e.message.contains("--device"), "{e}"),
        _ => panic!("an adapter index past the end must be a Gpu error"),
    }
}

/// With TIMESTAMP_QUERY, a timed forward reports per-kernel times; without it, none.
#[test]
fn kernel_timings_when_available() {
    let Some(ctx) = common::gpu_ctx() else { return };
    let has_ts = ctx.has(wgpu::Features::TIMESTAMP_QUERY);
    let (cfg, w) = common::random_model(densi::model::Architecture::Llama, 300, 32, 1, 2, 1, 48, 64, true, 21);
    let mut gpu = densi::gpu::GpuModel::new(ctx, &cfg, &w, densi::backend::Dtype::F32).unwrap();
    gpu.set_timing(true);
    gpu.score_window(&[1, 2, 3, 4, 5], 1, 5).unwrap();
    match gpu.kernel_timings() {
        Some(t) => {
            assert!(has_ts);
            eprintln!("{t:?}");
            assert!(t.iter().any(|(n, _)| n == "attention"));
            assert!(t.iter().all(|(_, s)| *s >= 0.0 && s.is_finite()));
        }
        None => assert!(!has_ts, "TIMESTAMP_QUERY is present but no timings came back"),
    }
}
