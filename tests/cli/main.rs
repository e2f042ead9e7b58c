//! The `densi` binary end to end: argument and input errors, the tiny fixtures and the default model
//! against transformers' values, every export format, and the TUI in tmux.

mod common;
mod default_model;
mod errors;
mod excess_columns;
mod export_formats;
mod fixtures;
mod gpu_windows;
mod interrupt;
mod memory;
mod pair;
mod report;
#[path = "../support/mod.rs"]
mod support;
mod tui_e2e;
