//! The TUI's tests: the draw function on ratatui's TestBackend and the actions on the app state,
//! with scored texts built from transformers' reference values (no model needed). The end-to-end
//! test of the real binary in tmux is `tests/cli/tui_e2e.rs`. `words.rs` checks that the word view
//! shows the words of `export --level word`, with the real tokenizer when the default model is there;
//! `worker.rs` scores an edit at the end of a long text with the real model through the prefix cache.

mod actions;
mod common;
mod reference;
mod render;
mod words;
mod worker;
