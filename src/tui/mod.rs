//! `densi tui`: the interactive terminal UI.
//! TODO(tui helper): implement.
