//! The GPU path: WGSL kernels from `shaders/` run through wgpu.
//! TODO(gpu helper): implement.
