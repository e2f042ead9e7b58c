//! The TUI's tests: the draw function on ratatui's TestBackend and the actions on the app state,
//! with scored texts built from transformers' reference values (no model needed). The end-to-end
//! test of the real binary in tmux is `tests/cli/tui_e2e.rs`.

mod actions;
mod common;
mod reference;
mod render;
