//! `densi devices`: the compute devices densi can use: the GPU adapters wgpu sees (the index is what
//! `--device N` takes) and the CPU.
//!

use anyhow::Result;

/// One adapter, described for people.
pub struct AdapterLine {
    pub summary: String,
    pub details: Vec<String>,
}

/// The adapters as the GPU path numbers them (`densi::gpu::adapters`), so `--device N` means line N.
pub fn adapters() -> Vec<AdapterLine> {
    densi::gpu::adapters()
        .into_iter()
        .map(|a| AdapterLine {
            summary: format!(
                "{} ({}, {}{})",
                a.name,
                a.backend,
                a.device_type,
                if a.is_software { ", software: used only with --backend gpu" } else { "" }
            ),
            details: vec![
                format!("driver: {} {}", a.driver, a.driver_info).trim_end().to_string(),
                format!(
                    "limits: storage binding {} MiB, buffer {} MiB, workgroup storage {} KiB, {} invocations/workgroup",
                    a.max_storage_buffer_binding_size >> 20,
                    a.max_buffer_size >> 20,
                    a.max_compute_workgroup_storage_size >> 10,
                    a.max_compute_invocations_per_workgroup
                ),
                format!(
                    "features: {}",
                    if a.features.is_empty() {
                        "none of SHADER_F16, SUBGROUP, TIMESTAMP_QUERY".into()
                    } else {
                        a.features.join(", ")
                    }
                ),
                format!(
                    "weights under --dtype auto: {}",
                    if a.features.iter().any(|f| f == "SHADER_F16") {
                        "F16/BF16 tensors as f16 (vec4<f16> loads), f32 as f32, quantized blocks as stored"
                    } else {
                        "F16/BF16 tensors as their stored words, f32 as f32, quantized blocks as stored (no SHADER_F16)"
                    }
                ),
            ],
        })
        .collect()
}

/// Lines describing the CPU.
pub fn cpu_line() -> String {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    format!("cpu: {} ({} threads)", cpu_name().unwrap_or_else(|| std::env::consts::ARCH.to_string()), threads)
}

fn cpu_name() -> Option<String> {
    let info = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    info.lines().find(|l| l.starts_with("model name")).and_then(|l| l.split(':').nth(1)).map(|s| s.trim().to_string())
}

pub fn print_devices(out: &mut dyn std::io::Write) -> std::io::Result<()> {
    let adapters = adapters();
    if adapters.is_empty() {
        writeln!(
            out,
            "gpu: no adapter found (install a Vulkan driver, e.g. Debian's mesa-vulkan-drivers, for the software one)"
        )?;
    }
    for (i, a) in adapters.iter().enumerate() {
        writeln!(out, "gpu {i}: {}", a.summary)?;
        for d in &a.details {
            writeln!(out, "       {d}")?;
        }
    }
    writeln!(out, "{}", cpu_line())
}

pub fn run() -> Result<()> {
    let mut out = std::io::stdout().lock();
    print_devices(&mut out)?;
    Ok(())
}
