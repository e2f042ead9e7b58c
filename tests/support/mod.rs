//! The one rule for tests that need the default model, shared by the three test binaries (each
//! `main.rs` includes this file with `#[path]`): the model, or a loud skip; with
//! `DENSI_REQUIRE_MODEL=1` (CI) a missing model fails the test instead of skipping it.
#![allow(dead_code)]

use std::path::PathBuf;

/// models/SmolLM2-135M-Instruct.Q4_1.gguf, or None with a loud note; panics under `DENSI_REQUIRE_MODEL=1`.
pub fn default_model() -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models").join(densi::model::DEFAULT_MODEL_FILE);
    if p.exists() {
        return Some(p);
    }
    if require_model() {
        panic!("DENSI_REQUIRE_MODEL=1 but {} is missing; run models/fetch.sh", p.display());
    }
    eprintln!("\n*** SKIPPED: the default model {} is missing; run models/fetch.sh ***\n", p.display());
    None
}

/// Whether CI asked for every model test to run (`DENSI_REQUIRE_MODEL=1`).
pub fn require_model() -> bool {
    std::env::var_os("DENSI_REQUIRE_MODEL").is_some_and(|v| v == "1")
}
