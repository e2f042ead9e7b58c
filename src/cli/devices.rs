//! `densi devices`: the compute devices densi can use: the GPU adapters wgpu sees (the index is what
//! `--device N` takes) and the CPU.
//!
//! TODO(when the GPU path lands): take the list from `densi::gpu::adapters()` so that the indices are
//! by construction the ones `GpuForward` uses; until then it is enumerated here the same way
//! (wgpu's instance from the environment, all backends, in wgpu's order).

use anyhow::Result;

/// One adapter, described for people.
pub struct AdapterLine {
    pub summary: String,
    pub details: Vec<String>,
}

pub fn adapters() -> Vec<AdapterLine> {
    let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
    let adapters = pollster::block_on(instance.enumerate_adapters(wgpu::Backends::all()));
    adapters
        .iter()
        .map(|a| {
            let info = a.get_info();
            let limits = a.limits();
            let features = a.features();
            let wanted = [
                ("SHADER_F16", wgpu::Features::SHADER_F16),
                ("SUBGROUP", wgpu::Features::SUBGROUP),
                ("TIMESTAMP_QUERY", wgpu::Features::TIMESTAMP_QUERY),
            ];
            let have: Vec<&str> = wanted.iter().filter(|(_, f)| features.contains(*f)).map(|(n, _)| *n).collect();
            let software = info.device_type == wgpu::DeviceType::Cpu;
            AdapterLine {
                summary: format!(
                    "{} ({:?}, {:?}{})",
                    info.name,
                    info.backend,
                    info.device_type,
                    if software { ", software: used only with --backend gpu" } else { "" }
                ),
                details: vec![
                    format!("driver: {} {}", info.driver, info.driver_info).trim_end().to_string(),
                    format!(
                        "limits: storage binding {} MiB, buffer {} MiB, workgroup storage {} KiB, {} invocations/workgroup",
                        limits.max_storage_buffer_binding_size >> 20,
                        limits.max_buffer_size >> 20,
                        limits.max_compute_workgroup_storage_size >> 10,
                        limits.max_compute_invocations_per_workgroup
                    ),
                    format!("features: {}", if have.is_empty() { "none of SHADER_F16, SUBGROUP, TIMESTAMP_QUERY".into() } else { have.join(", ") }),
                ],
            }
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
        writeln!(out, "gpu: no adapter found (install a Vulkan driver, e.g. Debian's mesa-vulkan-drivers, for the software one)")?;
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
