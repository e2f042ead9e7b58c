//! The wgpu backend against the CPU oracle: adapters, single kernels on odd shapes, the tiny
//! fixtures and the default model (lavapipe in CI).

mod arch;
mod attention;
mod bank_conflicts;
mod boundary;
mod common;
mod contract;
mod devices;
mod fallback;
mod fixtures;
mod kernels;
mod model;
mod pair;
mod prefix_cache;
mod resident;
mod stored;
#[path = "../support/mod.rs"]
mod support;
mod words;
