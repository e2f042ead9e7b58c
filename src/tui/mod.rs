//! `densi tui`: the interactive terminal UI.
//! TODO(tui helper): implement. The CLI calls [`run`].

use std::path::PathBuf;

use crate::backend::BackendOptions;
use crate::error::Result;
use crate::score::ScoreOptions;

/// What `densi tui` was asked to open.
#[derive(Debug, Clone, Default)]
pub struct TuiOptions {
    /// (name, text) per pane; empty = the example prompts in docs/examples/.
    pub inputs: Vec<(String, String)>,
    /// Model path as given (`--model`); resolved with `Model::resolve_path`.
    pub model: Option<PathBuf>,
    pub backend: BackendOptions,
    pub score: ScoreOptions,
}

/// Runs the UI until the user quits; restores the terminal on every exit path.
pub fn run(options: TuiOptions) -> Result<()> {
    let _ = options;
    Err(crate::DensiError::Other("the TUI is not implemented yet".into()))
}
