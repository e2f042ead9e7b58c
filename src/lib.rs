//! densi: token information density. For every token of a text, a real causal language model's
//! surprisal, entropy, varentropy, rank and top alternatives.
//!
//! Data flows one way: model file → [`model::Model`] (config + f32 weights + tokenizer) →
//! a [`score::Forward`] backend ([`cpu`] or [`gpu`]) → [`metrics`] → exports, CLI, TUI.
//!
//! ```no_run
//! use std::sync::Arc;
//! let model = Arc::new(densi::model::Model::load(&densi::model::Model::resolve_path(None)?)?);
//! let backend = Box::new(densi::cpu::CpuForward::new(model.clone(), None)?);
//! let mut scorer = densi::score::Scorer::new(model, backend, Default::default())?;
//! let result = scorer.score("example", "My favorite color is blue")?;
//! for t in &result.tokens {
//!     println!("{:>12} {:6.2} bits", t.token, t.surprisal_bits);
//! }
//! # Ok::<(), densi::DensiError>(())
//! ```

pub mod backend;
pub mod bench;
pub mod cpu;
pub mod display;
pub mod dtype;
pub mod error;
pub mod export;
#[cfg(feature = "gpu")]
pub mod gpu;
pub mod metrics;
pub mod model;
pub mod score;
pub mod text;

pub use error::{DensiError, Result};
