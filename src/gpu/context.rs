//! Adapter discovery and device setup: real limits, optional features, error capture.
//!
//! Nothing here panics on a GPU problem: no adapter, a refused software adapter, a failed device
//! request, an uncaptured validation/OOM error or a lost device all become `DensiError::Gpu`, with the
//! [`GpuErrorKind`] the backend's fallback branches on.

use std::sync::{Arc, Mutex};

use serde::Serialize;

use crate::error::{DensiError, GpuError, GpuErrorKind, Result};

/// One adapter as `densi devices` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct AdapterSummary {
    /// Index for `--device N`.
    pub index: usize,
    pub name: String,
    /// `Vulkan`, `Metal`, `Dx12`, `Gl`.
    pub backend: String,
    /// `DiscreteGpu`, `IntegratedGpu`, `VirtualGpu`, `Cpu`, `Other`.
    pub device_type: String,
    pub driver: String,
    pub driver_info: String,
    /// A software rasteriser (lavapipe, WARP, llvmpipe): `auto` does not use it.
    pub is_software: bool,
    pub max_storage_buffer_binding_size: u64,
    pub max_buffer_size: u64,
    pub max_compute_workgroup_storage_size: u32,
    pub max_compute_invocations_per_workgroup: u32,
    pub max_compute_workgroups_per_dimension: u32,
    /// The optional features densi uses that this adapter has (`SHADER_F16`, `SUBGROUP`, `TIMESTAMP_QUERY`).
    pub features: Vec<String>,
}

/// Vulkan, Metal and DX12 are probed first. GL (EGL on Linux) is probed only when none of them has an
/// adapter: on a headless Linux box Mesa's EGL prints "XDG_RUNTIME_DIR is invalid" to stderr while
/// probing, and every GPU that has a GL driver there has a Vulkan one too. `WGPU_BACKEND=gl` (wgpu's
/// own variable; also `vulkan`, `metal`, `dx12`) picks backends explicitly.
const PRIMARY_BACKENDS: wgpu::Backends =
    wgpu::Backends::VULKAN.union(wgpu::Backends::METAL).union(wgpu::Backends::DX12);

/// The optional features densi asks for when present; every kernel also works without them.
fn wanted_features() -> wgpu::Features {
    wgpu::Features::SHADER_F16 | wgpu::Features::SUBGROUP | wgpu::Features::TIMESTAMP_QUERY
}

fn adapters_on(backends: wgpu::Backends) -> Vec<wgpu::Adapter> {
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
    desc.backends = backends;
    pollster::block_on(wgpu::Instance::new(desc).enumerate_adapters(backends))
}

/// Adapters in a stable order (as enumerated), Vulkan/Metal/DX12 first, GL last.
fn enumerate() -> Vec<wgpu::Adapter> {
    let mut list = match wgpu::Backends::from_env() {
        Some(backends) => adapters_on(backends),
        None => {
            let primary = adapters_on(PRIMARY_BACKENDS);
            if primary.is_empty() { adapters_on(wgpu::Backends::GL) } else { primary }
        }
    };
    list.sort_by_key(|a| (a.get_info().backend == wgpu::Backend::Gl) as u8);
    list
}

fn feature_names(f: wgpu::Features) -> Vec<String> {
    let mut out = Vec::new();
    for (flag, name) in [
        (wgpu::Features::SHADER_F16, "SHADER_F16"),
        (wgpu::Features::SUBGROUP, "SUBGROUP"),
        (wgpu::Features::TIMESTAMP_QUERY, "TIMESTAMP_QUERY"),
    ] {
        if f.contains(flag) {
            out.push(name.to_string());
        }
    }
    out
}

fn summary(index: usize, a: &wgpu::Adapter) -> AdapterSummary {
    let info = a.get_info();
    let l = a.limits();
    AdapterSummary {
        index,
        name: info.name.clone(),
        backend: format!("{:?}", info.backend),
        device_type: format!("{:?}", info.device_type),
        driver: info.driver.clone(),
        driver_info: info.driver_info.clone(),
        is_software: info.device_type == wgpu::DeviceType::Cpu,
        max_storage_buffer_binding_size: l.max_storage_buffer_binding_size,
        max_buffer_size: l.max_buffer_size,
        max_compute_workgroup_storage_size: l.max_compute_workgroup_storage_size,
        max_compute_invocations_per_workgroup: l.max_compute_invocations_per_workgroup,
        max_compute_workgroups_per_dimension: l.max_compute_workgroups_per_dimension,
        features: feature_names(a.features()),
    }
}

/// Every adapter wgpu finds (Vulkan, Metal, DX12, GL), for `densi devices`.
pub fn adapters() -> Vec<AdapterSummary> {
    enumerate().iter().enumerate().map(|(i, a)| summary(i, a)).collect()
}

/// The kind of a wgpu error: out of memory, validation, or (internal) a device fault.
fn kind_of(e: &wgpu::Error) -> GpuErrorKind {
    match e {
        wgpu::Error::OutOfMemory { .. } => GpuErrorKind::OutOfMemory,
        wgpu::Error::Validation { .. } => GpuErrorKind::Validation,
        wgpu::Error::Internal { .. } => GpuErrorKind::DeviceLost,
    }
}

/// Errors reported by wgpu outside our error scopes, and device loss; checked after every submit.
#[derive(Default)]
struct Faults {
    uncaptured: Option<GpuError>,
    lost: Option<GpuError>,
}

/// An open device on one adapter (a clone shares the device: two models on one GPU).
#[derive(Clone)]
pub struct GpuContext {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub info: AdapterSummary,
    pub limits: wgpu::Limits,
    pub features: wgpu::Features,
    /// Smallest and largest subgroup size the adapter may use (meaningful with `SUBGROUP`).
    pub subgroup_sizes: (u32, u32),
    faults: Arc<Mutex<Faults>>,
}

impl GpuContext {
    /// Opens adapter `index` (as listed by [`adapters`]) or the best one: discrete, then integrated,
    /// then virtual, then anything; a software adapter only when `allow_software`.
    pub fn new(index: Option<usize>, allow_software: bool) -> Result<GpuContext> {
        let list = enumerate();
        if list.is_empty() {
            return Err(DensiError::gpu(
                GpuErrorKind::Unsupported,
                "no GPU adapter found (no Vulkan, Metal, DX12 or GL driver; install a GPU driver, or Mesa's \
                 `mesa-vulkan-drivers` for the software adapter lavapipe)",
            ));
        }
        let pick = match index {
            Some(i) => {
                let a = list.get(i).ok_or_else(|| {
                    DensiError::gpu(
                        GpuErrorKind::Unsupported,
                        format!("--device {i}: there are only {} adapters (see `densi devices`)", list.len()),
                    )
                })?;
                (i, a)
            }
            None => {
                let rank = |a: &wgpu::Adapter| match a.get_info().device_type {
                    wgpu::DeviceType::DiscreteGpu => 0,
                    wgpu::DeviceType::IntegratedGpu => 1,
                    wgpu::DeviceType::VirtualGpu => 2,
                    wgpu::DeviceType::Other => 3,
                    wgpu::DeviceType::Cpu => 4,
                };
                list.iter().enumerate().min_by_key(|(i, a)| (rank(a), *i)).unwrap()
            }
        };
        let (i, adapter) = pick;
        let info = summary(i, adapter);
        let raw_info = adapter.get_info();
        let subgroup_sizes = (raw_info.subgroup_min_size, raw_info.subgroup_max_size);
        if info.is_software && !allow_software {
            return Err(DensiError::gpu(
                GpuErrorKind::Unsupported,
                format!(
                    "only a software adapter is available ({}, {}); use --backend gpu to run on it anyway",
                    info.name, info.backend
                ),
            ));
        }
        let features = adapter.features() & wanted_features();
        // The adapter's real limits, not WebGPU's defaults (128 MiB bindings, 16 KiB shared memory, ...).
        let limits = adapter.limits();
        let desc = wgpu::DeviceDescriptor {
            label: Some("densi"),
            required_features: features,
            required_limits: limits.clone(),
            experimental_features: wgpu::ExperimentalFeatures::disabled(),
            memory_hints: wgpu::MemoryHints::Performance,
            trace: wgpu::Trace::Off,
        };
        let (device, queue) = pollster::block_on(adapter.request_device(&desc)).map_err(|e| {
            DensiError::gpu(
                GpuErrorKind::Unsupported,
                format!("{} ({}): cannot open the device: {e}", info.name, info.backend),
            )
        })?;
        let faults = Arc::new(Mutex::new(Faults::default()));
        {
            let f = faults.clone();
            // wgpu's default handler panics; ours records the error for the next check.
            device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
                let mut g = f.lock().unwrap_or_else(|p| p.into_inner());
                g.uncaptured.get_or_insert_with(|| GpuError::new(kind_of(&e), e.to_string()));
            }));
            let f = faults.clone();
            device.set_device_lost_callback(move |reason, msg| {
                let mut g = f.lock().unwrap_or_else(|p| p.into_inner());
                g.lost = Some(GpuError::new(GpuErrorKind::DeviceLost, format!("device lost ({reason:?}): {msg}")));
            });
        }
        // The lm-head tile kernel holds 24 KiB of workgroup memory (x, W and logit tiles).
        if limits.max_compute_workgroup_storage_size < 24576 || limits.max_compute_invocations_per_workgroup < 256 {
            return Err(DensiError::gpu(
                GpuErrorKind::Unsupported,
                format!(
                    "{}: too small for densi's kernels (needs 24 KiB workgroup memory and 256 invocations per workgroup)",
                    info.name
                ),
            ));
        }
        Ok(GpuContext { device, queue, info, limits, features, subgroup_sizes, faults })
    }

    /// `NVIDIA H200 (Vulkan)`.
    pub fn describe(&self) -> String {
        format!("{} ({})", self.info.name, self.info.backend)
    }

    pub fn has(&self, f: wgpu::Features) -> bool {
        self.features.contains(f)
    }

    /// A device loss or an error wgpu reported outside any scope, as one `DensiError::Gpu` of its kind.
    pub fn check_faults(&self) -> Result<()> {
        let mut g = self.faults.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(l) = &g.lost {
            return Err(DensiError::Gpu(l.clone()));
        }
        if let Some(e) = g.uncaptured.take() {
            return Err(DensiError::Gpu(e));
        }
        Ok(())
    }

    /// Runs `f` inside out-of-memory and validation error scopes; any error they catch becomes `DensiError::Gpu`.
    pub fn scoped<T>(&self, what: &str, f: impl FnOnce() -> T) -> Result<T> {
        let oom = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let val = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let out = f();
        let v = pollster::block_on(val.pop());
        let o = pollster::block_on(oom.pop());
        if let Some(e) = o {
            return Err(DensiError::gpu(GpuErrorKind::OutOfMemory, format!("{what}: out of GPU memory ({e})")));
        }
        if let Some(e) = v {
            return Err(DensiError::gpu(kind_of(&e), format!("{what}: {e}")));
        }
        self.check_faults()?;
        Ok(out)
    }

    /// Blocks until the queue is idle.
    pub fn wait(&self) -> Result<()> {
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| DensiError::gpu(GpuErrorKind::DeviceLost, format!("waiting for the device: {e}")))?;
        self.check_faults()
    }

    /// Copies `bytes` bytes of `src` (from offset 0) back to the host.
    pub fn read_back(&self, src: &wgpu::Buffer, bytes: u64) -> Result<Vec<u8>> {
        let bytes = bytes.div_ceil(4) * 4;
        let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("densi readback"),
            size: bytes.max(4),
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut enc = self.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("readback") });
        enc.copy_buffer_to_buffer(src, 0, &staging, 0, bytes.max(4));
        self.queue.submit([enc.finish()]);
        self.map_read(&staging, bytes)
    }

    /// Maps a MAP_READ buffer (after the submit that fills it) and copies its first `bytes` bytes out.
    pub fn map_read(&self, staging: &wgpu::Buffer, bytes: u64) -> Result<Vec<u8>> {
        let bytes = bytes.div_ceil(4) * 4;
        let (tx, rx) = std::sync::mpsc::channel();
        staging.map_async(wgpu::MapMode::Read, 0..bytes.max(4), move |r| {
            let _ = tx.send(r);
        });
        self.wait()?;
        match rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                return Err(DensiError::gpu(GpuErrorKind::DeviceLost, format!("reading results back: {e}")));
            }
            Err(_) => {
                return Err(DensiError::gpu(
                    GpuErrorKind::DeviceLost,
                    "reading results back: the map callback never ran",
                ));
            }
        }
        let out = {
            let view = staging
                .get_mapped_range(0..bytes.max(4))
                .map_err(|e| DensiError::gpu(GpuErrorKind::Validation, format!("reading results back: {e}")))?;
            view[..bytes as usize].to_vec()
        };
        staging.unmap();
        Ok(out)
    }
}
