//! Exports: the full analysis of scored texts as csv/tsv (one row per token or word, long format),
//! json (one document with provenance), jsonl (one text per line, streamed) or Parquet (typed
//! columns, feature `parquet`), plus word- and
//! sentence-level aggregation and atomic output files.
//!
//! Everything here is plain library code over [`TextScore`]s: the CLI and the TUI write the same bytes.
//!
//! Units: the engine's numbers are bits; `--units nats` multiplies surprisal and entropy by ln 2 and
//! varentropy by (ln 2)², and the column names say so (`surprisal_nats`, `entropy_nats`,
//! `varentropy_nats2`), so a column never holds a unit its name does not state.

pub mod atomic;
#[doc(hidden)]
pub mod columns;
pub mod compare;
#[doc(hidden)]
pub mod json;
#[cfg(feature = "parquet")]
#[doc(hidden)]
pub mod parquet;
pub mod report;
pub(crate) mod table;
pub mod words;

use std::io::Write;
use std::str::FromStr;

use serde::Serialize;

use crate::error::{DensiError, Result};
use crate::metrics::{BosPolicy, LN_2, ScoreSettings, TextScore};
use crate::model::Model;

pub use crate::text::{Span, sentence_spans, word_spans};
pub use atomic::{AtomicFile, OutputMode};
pub use words::{SpanScore, WordProbability, aggregate, corrected_words};

/// Export format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Comma-separated values, RFC 4180 quoting.
    Csv,
    /// Tab-separated values, RFC 4180 quoting.
    Tsv,
    /// One JSON document: provenance and every text.
    Json,
    /// One JSON object per text per line, streamed.
    Jsonl,
    #[cfg(feature = "parquet")]
    /// Apache Parquet: the csv's columns, typed; provenance in the key-value metadata (feature `parquet`).
    Parquet,
}

impl FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "csv" => Ok(Format::Csv),
            "tsv" => Ok(Format::Tsv),
            "json" => Ok(Format::Json),
            "jsonl" => Ok(Format::Jsonl),
            #[cfg(feature = "parquet")]
            "parquet" => Ok(Format::Parquet),
            _ => {
                let parquet = if cfg!(feature = "parquet") { ", parquet" } else { "" };
                Err(format!("unknown format `{s}` (csv, tsv, json, jsonl{parquet})"))
            }
        }
    }
}

impl Format {
    /// The format's name as `-f` takes it.
    pub fn name(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Tsv => "tsv",
            Format::Json => "json",
            Format::Jsonl => "jsonl",
            #[cfg(feature = "parquet")]
            Format::Parquet => "parquet",
        }
    }
}

/// The log base of surprisal, entropy and varentropy in an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Units {
    /// Base-2 logarithms (column names end in `_bits`).
    #[default]
    Bits,
    /// Natural logarithms (column names end in `_nats`).
    Nats,
}

impl FromStr for Units {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "bits" => Ok(Units::Bits),
            "nats" => Ok(Units::Nats),
            _ => Err(format!("unknown units `{s}` (bits, nats)")),
        }
    }
}

impl Units {
    /// `bits` or `nats`: the suffix of column names.
    pub fn name(self) -> &'static str {
        match self {
            Units::Bits => "bits",
            Units::Nats => "nats",
        }
    }

    /// Multiplier from bits to these units (1 or ln 2).
    pub fn per_bit(self) -> f64 {
        match self {
            Units::Bits => 1.0,
            Units::Nats => LN_2,
        }
    }

    /// Converts an information value given in bits (an empty sum's −0 becomes 0).
    pub fn info(self, bits: f64) -> f64 {
        bits * self.per_bit() + 0.0
    }

    /// Converts a varentropy given in bits².
    pub fn var(self, bits2: f64) -> f64 {
        bits2 * self.per_bit() * self.per_bit()
    }
}

/// Rows per token or per word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Level {
    /// One row per token.
    #[default]
    Token,
    /// One row per word (see [`crate::text`]).
    Word,
}

impl FromStr for Level {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "token" => Ok(Level::Token),
            "word" => Ok(Level::Word),
            _ => Err(format!("unknown level `{s}` (token, word)")),
        }
    }
}

impl Level {
    /// The level's name as `--level` takes it.
    pub fn name(self) -> &'static str {
        match self {
            Level::Token => "token",
            Level::Word => "word",
        }
    }
}

/// What an export writes: format, units and level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExportOptions {
    /// Output format.
    pub format: Format,
    /// Bits or nats.
    pub units: Units,
    /// Tokens or words.
    pub level: Level,
}

/// Where numbers came from: written at the top of a json export and in every jsonl line.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Provenance {
    /// `densi 0.1.0`.
    pub densi_version: String,
    /// The model file or directory.
    pub model_path: String,
    /// `gguf` or `safetensors`.
    pub model_format: String,
    /// sha256 of the model's weight files (hex; several files are hashed in order as one stream).
    pub model_sha256: String,
    /// Architecture name (`llama`, `gpt2`, ...).
    pub architecture: String,
    /// Parameter count.
    pub parameters: usize,
    /// Storage type of the weights on disk (compute is f32).
    pub weight_dtype: String,
    /// How the tokenizer was built (e.g. `gguf metadata (gpt2, smollm)`).
    pub tokenizer: String,
    /// `cpu` or `gpu`.
    pub backend: String,
    /// The device, e.g. `cpu, 2 threads`.
    pub device: String,
    /// The first-token policy asked for.
    pub bos_policy: BosPolicy,
    /// The token id prepended as the first token's context, if any.
    pub bos_token: Option<u32>,
    /// That token's text.
    pub bos_token_text: Option<String>,
    /// Window length in tokens.
    pub window: usize,
    /// Window stride in tokens.
    pub stride: usize,
    /// Alternatives kept per token.
    pub top_k: usize,
    /// `bits` or `nats`.
    pub units: String,
    /// `token` or `word`.
    pub level: String,
    /// Which word surprisal the word view and `compare` show: `corrected` or `uncorrected`
    /// (`--word-probability`; word exports carry both).
    pub word_probability: WordProbability,
    /// UTC, ISO 8601, e.g. `2026-11-29T07:12:03Z`.
    pub date: String,
}

impl Provenance {
    /// `sha256`: [`Model::sha256`] (passed in because it reads the whole file again).
    pub fn new(model: &Model, sha256: String, settings: &ScoreSettings, units: Units, level: Level) -> Provenance {
        Provenance {
            densi_version: format!("densi {}", env!("CARGO_PKG_VERSION")),
            model_path: model.source.path.display().to_string(),
            model_format: model.source.format.to_string(),
            model_sha256: sha256,
            architecture: model.config.architecture.name().to_string(),
            parameters: model.config.parameter_count(),
            weight_dtype: model.source.weight_dtype.clone(),
            tokenizer: model.tokenizer.description.clone(),
            backend: settings.backend.clone(),
            device: settings.device.clone(),
            bos_policy: settings.bos_policy.clone(),
            bos_token: settings.bos_token,
            bos_token_text: settings.bos_token.map(|id| model.tokenizer.token_display(id)),
            window: settings.window,
            stride: settings.stride,
            top_k: settings.top_k,
            units: units.name().to_string(),
            level: level.name().to_string(),
            word_probability: WordProbability::default(),
            date: utc_now_iso8601(),
        }
    }
}

/// Writes scored texts in one format, one text at a time: `begin`, `write_text`..., `finish`.
/// jsonl lines are flushed as they are written; Parquet rows go out in row groups.
pub struct Exporter<W: Write + Send> {
    sink: Sink<W>,
    options: ExportOptions,
    provenance: Provenance,
    texts: usize,
}

/// The text formats write straight to `W`; Parquet goes through its column writer.
enum Sink<W: Write + Send> {
    Text(W),
    #[cfg(feature = "parquet")]
    // Boxed: the column writer is far larger than a plain `W`.
    Parquet(Box<parquet::ParquetWriter<W>>),
}

impl<W: Write + Send> Exporter<W> {
    /// Writes the header (csv/tsv column names, the json document's opening and provenance, Parquet's magic).
    pub fn begin(mut out: W, options: ExportOptions, provenance: Provenance) -> Result<Exporter<W>> {
        let io = |e| DensiError::Other(format!("writing the export: {e}"));
        let sink = match options.format {
            Format::Csv | Format::Tsv => {
                table::write_header(&mut out, &options).map_err(io)?;
                Sink::Text(out)
            }
            Format::Json => {
                json::write_document_start(&mut out, &provenance).map_err(io)?;
                Sink::Text(out)
            }
            Format::Jsonl => Sink::Text(out),
            #[cfg(feature = "parquet")]
            Format::Parquet => Sink::Parquet(Box::new(
                parquet::ParquetWriter::new(out, options.level, options.units, &provenance).map_err(io)?,
            )),
        };
        Ok(Exporter { sink, options, provenance, texts: 0 })
    }

    /// Writes one scored text (a line per token or word, or a JSON object).
    pub fn write_text(&mut self, text: &TextScore) -> std::io::Result<()> {
        #[allow(clippy::infallible_destructuring_match)] // one variant without the `parquet` feature
        let out = match &mut self.sink {
            Sink::Text(out) => out,
            #[cfg(feature = "parquet")]
            Sink::Parquet(p) => {
                p.write_text(text)?;
                self.texts += 1;
                return Ok(());
            }
        };
        match self.options.format {
            Format::Csv | Format::Tsv => table::write_rows(out, &self.options, text)?,
            Format::Json => {
                if self.texts > 0 {
                    out.write_all(b",")?;
                }
                out.write_all(b"\n")?;
                json::write_text(out, &self.options, text, None)?;
            }
            Format::Jsonl => {
                json::write_text(out, &self.options, text, Some(&self.provenance))?;
                out.write_all(b"\n")?;
                out.flush()?;
            }
            #[cfg(feature = "parquet")]
            Format::Parquet => unreachable!("Parquet has its own sink"),
        }
        self.texts += 1;
        Ok(())
    }

    /// Texts written so far.
    pub fn texts(&self) -> usize {
        self.texts
    }

    /// Writes the trailer (json's closing brackets, Parquet's last row group and footer), flushes,
    /// and returns the writer.
    pub fn finish(self) -> std::io::Result<W> {
        #[allow(clippy::infallible_destructuring_match)] // one variant without the `parquet` feature
        let mut out = match self.sink {
            Sink::Text(out) => out,
            #[cfg(feature = "parquet")]
            Sink::Parquet(p) => p.finish()?,
        };
        if self.options.format == Format::Json {
            out.write_all(b"\n]}\n")?;
        }
        out.flush()?;
        Ok(out)
    }
}

/// Writes a whole export into memory (for tests and the TUI).
pub fn export_to_vec(texts: &[TextScore], options: ExportOptions, provenance: Provenance) -> Result<Vec<u8>> {
    let mut e = Exporter::begin(Vec::new(), options, provenance)?;
    for t in texts {
        e.write_text(t).map_err(|e| DensiError::Other(format!("writing the export: {e}")))?;
    }
    e.finish().map_err(|e| DensiError::Other(format!("writing the export: {e}")))
}

/// Now, UTC, as `YYYY-MM-DDTHH:MM:SSZ` (from the system clock; no time-zone database needed).
pub fn utc_now_iso8601() -> String {
    let secs =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
    iso8601_from_unix(secs)
}

/// Seconds since 1970-01-01T00:00:00Z → ISO 8601 UTC.
pub fn iso8601_from_unix(secs: i64) -> String {
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem / 60 % 60, rem % 60)
}

/// Days since 1970-01-01 → (year, month, day) in the proleptic Gregorian calendar
/// (Howard Hinnant's `civil_from_days`, http://howardhinnant.github.io/date_algorithms.html).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11], March = 0
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso8601_known_instants() {
        // Values from `date -u -d @SECS +%Y-%m-%dT%H:%M:%SZ` (GNU coreutils).
        assert_eq!(iso8601_from_unix(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso8601_from_unix(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(iso8601_from_unix(1_709_164_799), "2024-02-28T23:59:59Z");
        assert_eq!(iso8601_from_unix(1_798_761_600), "2027-01-01T00:00:00Z");
        assert_eq!(iso8601_from_unix(-1), "1969-12-31T23:59:59Z");
    }

    #[test]
    fn units_convert() {
        assert_eq!(Units::Bits.info(3.0), 3.0);
        assert!((Units::Nats.info(1.0) - std::f64::consts::LN_2).abs() < 1e-15);
        assert!((Units::Nats.var(1.0) - std::f64::consts::LN_2.powi(2)).abs() < 1e-15);
    }
}
