//! densi: token information density. For every token of a text, a real causal language model's
//! surprisal, entropy, varentropy, rank and top alternatives.
//!
//! Data flows one way: model file → [`model::Model`] (config + f32 weights + tokenizer) →
//! a [`score::Forward`] backend (CPU, or GPU with the `gpu` feature: [`backend`]) → [`metrics`] → exports, CLI, TUI.
//!
//! Load a model, score a text, read the results, export them (this example runs as a doctest on the
//! default model; `models/fetch.sh` downloads it):
//!
//! ```
//! use std::sync::Arc;
//! use densi::{BackendOptions, ExportOptions, Format, Level, Model, Provenance, ScoreOptions, Units};
//!
//! let model = Arc::new(Model::load(&Model::resolve_path(None)?)?);
//! // `auto`: a real GPU when there is one, else the CPU.
//! let mut scorer = densi::backend::scorer(&model, &BackendOptions::default(), ScoreOptions::default())?;
//! let result = scorer.score("example", "My favorite color is blue")?;
//! for t in &result.tokens {
//!     println!("{:>12} {:6.2} bits, entropy before it {:5.2} bits", t.token, t.surprisal_bits, t.entropy_bits);
//! }
//! assert_eq!(result.tokens.len(), 5);
//! assert!(result.summary.total_bits > 0.0);
//!
//! let provenance = Provenance::new(&model, model.sha256()?, &result.settings, Units::Bits, Level::Word);
//! let options = ExportOptions { format: Format::Csv, units: Units::Bits, level: Level::Word };
//! let csv = densi::export::export_to_vec(&[result], options, provenance)?;
//! assert!(String::from_utf8(csv).unwrap().starts_with("text_id,word_index,word,"));
//! # Ok::<(), densi::DensiError>(())
//! ```

#![warn(missing_docs)]

pub mod backend;
#[doc(hidden)]
pub mod bench;
#[doc(hidden)]
pub mod cpu;
pub mod display;
pub mod dtype;
pub mod error;
pub mod export;
#[cfg(feature = "gpu")]
#[doc(hidden)]
pub mod gpu;
pub mod memory;
pub mod metrics;
pub mod model;
pub mod pair;
pub mod prefix;
pub mod score;
pub mod text;

// The types a library user needs, at the top level.
pub use backend::{BackendChoice, BackendOptions};
pub use dtype::Dtype;
pub use error::{DensiError, GpuErrorKind, Result};
pub use export::{ExportOptions, Exporter, Format, Level, Provenance, Units};
pub use metrics::{Alternative, BosPolicy, ScoreSettings, Summary, TextScore, TokenScore};
pub use model::{Architecture, Model, ModelConfig};
pub use pair::{PairScore, PairScorer};
pub use score::{ScoreOptions, Scorer};
