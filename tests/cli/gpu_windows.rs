//! Multi-window scoring on the GPU, end to end: `densi export --backend gpu --window 16 --stride 8`
//! on a tiny fixture and a text of 111 tokens (13 windows), against the same command on the CPU.
//! Same tokens, windows and contexts; surprisal and entropy within 1e-3 bits (the GPU tests'
//! tolerance). Without a GPU adapter: a loud skip, or a failure under DENSI_REQUIRE_GPU=1.

use crate::common::*;

const BITS: f64 = 1e-3;

fn export(backend: &str, model: &str, text: &str) -> Out {
    let mut args = vec!["export", "-f", "json", "--backend", backend, "--window", "16", "--stride", "8"];
    // The adapter the GPU tests use (`DENSI_TEST_ADAPTER=N`, as in tests/gpu), else densi's own choice.
    let device = std::env::var("DENSI_TEST_ADAPTER").ok();
    if let Some(d) = device.as_deref().filter(|_| backend == "gpu") {
        args.extend(["--device", d]);
    }
    args.extend(["--model", model, text]);
    run(&args)
}

#[test]
fn gpu_scores_many_windows_like_the_cpu() {
    let (Some(model), Some(text)) = (fixture("llama"), fixture("texts/english.txt")) else { return };
    let gpu = export("gpu", s(&model), s(&text));
    if gpu.code != 0 && std::env::var("DENSI_REQUIRE_GPU").as_deref() != Ok("1") {
        eprintln!("\n*** SKIPPED gpu_scores_many_windows_like_the_cpu: no GPU here ({}) ***\n", gpu.stderr.trim());
        return;
    }
    assert_eq!(gpu.code, 0, "densi --backend gpu failed:\n{}", gpu.stderr);
    let cpu = export("cpu", s(&model), s(&text));
    assert_eq!(cpu.code, 0, "{}", cpu.stderr);
    let (gpu, cpu) = (json(&gpu.stdout), json(&cpu.stdout));
    assert_eq!(gpu["provenance"]["backend"], "gpu");
    for doc in [&gpu, &cpu] {
        assert_eq!((&doc["provenance"]["window"], &doc["provenance"]["stride"]), (&16.into(), &8.into()));
    }
    let (g, c) = (gpu["texts"][0]["tokens"].as_array().unwrap(), cpu["texts"][0]["tokens"].as_array().unwrap());
    assert_eq!(g.len(), c.len(), "token count");
    let windows = g.iter().map(|t| t["window"].as_u64().unwrap()).max().unwrap() + 1;
    assert!(windows >= 10, "{} tokens in only {windows} windows", g.len());
    let mut worst = 0.0f64;
    for (a, b) in g.iter().zip(c) {
        for key in ["id", "byte_start", "scored", "window", "context_len"] {
            assert_eq!(a[key], b[key], "token {}: {key}", a["index"]);
        }
        for key in ["surprisal_bits", "entropy_bits"] {
            let d = (f(&a[key]) - f(&b[key])).abs();
            assert!(
                d <= BITS || (f(&a[key]).is_nan() && f(&b[key]).is_nan()),
                "token {}: {key} {} vs {}",
                a["index"],
                a[key],
                b[key]
            );
            worst = worst.max(d);
        }
    }
    eprintln!("{} tokens in {windows} windows: max |GPU - CPU| {worst:.2e} bits", g.len());
}
