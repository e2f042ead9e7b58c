//! Everything the Python package uses from the densi library, in one place (the rest of the crate
//! is PyO3 glue and never names a `densi::` item): loading a model like the CLI, choosing a backend,
//! scoring with the CLI's options, the JSON export's text object, the typed long-format columns,
//! and the Parquet export.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

pub use densi::DensiError as Error;
use densi::backend::{BackendChoice, BackendOptions};
use densi::export::columns::Columns;
pub use densi::export::columns::{Column, Values};
use densi::export::{AtomicFile, ExportOptions, Exporter, Format, Level, OutputMode, Provenance, Units};
use densi::metrics::BosPolicy;
pub use densi::metrics::TextScore;
use densi::model::{Model, WeightStorage};
use densi::score::{ScoreOptions, Scorer};

pub type Result<T> = std::result::Result<T, Error>;

/// The Python exception class (in `densi._errors`) for a library error.
pub fn error_class(e: &Error) -> &'static str {
    match e {
        Error::ModelNotFound { .. } => "ModelNotFoundError",
        Error::Io { .. } => "FileAccessError",
        Error::InvalidModelFile { .. }
        | Error::UnsupportedArchitecture { .. }
        | Error::UnsupportedTensorType { .. }
        | Error::Config { .. }
        | Error::MissingTensor { .. }
        | Error::TensorShape { .. }
        | Error::Tokenizer { .. } => "ModelFileError",
        Error::Input { .. } => "InputError",
        Error::InvalidOption { .. } => "OptionError",
        Error::Gpu(_) => "GpuError",
        _ => "DensiError",
    }
}

fn option_error(option: &'static str, reason: String) -> Error {
    Error::InvalidOption { option, reason }
}

/// Scoring options as Python passes them (strings for enums, `None` for defaults).
#[derive(Debug, Clone)]
pub struct ScoreArgs {
    pub bos: String,
    pub window: Option<i64>,
    pub stride: Option<i64>,
    pub top_k: i64,
}

impl ScoreArgs {
    fn options(&self) -> Result<ScoreOptions> {
        let count = |option: &'static str, v: i64| {
            usize::try_from(v).map_err(|_| option_error(option, format!("{v} must not be negative")))
        };
        Ok(ScoreOptions {
            bos: self.bos.parse::<BosPolicy>().map_err(|reason| option_error("--bos", reason))?,
            window: self.window.map(|w| count("--window", w)).transpose()?,
            stride: self.stride.map(|s| count("--stride", s)).transpose()?,
            top_k: count("--top-k", self.top_k)?,
            ..ScoreOptions::default()
        })
    }
}

pub fn parse_level(s: &str) -> Result<Level> {
    s.parse().map_err(|reason| option_error("--level", reason))
}

pub fn parse_units(s: &str) -> Result<Units> {
    s.parse().map_err(|reason| option_error("--units", reason))
}

/// A loaded model and a scorer for the last options used (rebuilt when the options change).
pub struct Engine {
    model: Arc<Model>,
    backend: BackendOptions,
    scorer: Mutex<Option<(ScoreOptions, Scorer)>>,
    sha256: OnceLock<String>,
}

impl Engine {
    /// Loads like the CLI: `path`, else `$DENSI_MODEL`, else the default model; a GGUF file or a
    /// Hugging Face directory. `backend`: `auto`, `gpu` or `cpu`; `weights`: `resident` or `f32`
    /// (`--weights`; default the CLI's).
    pub fn load(
        path: Option<&Path>,
        backend: &str,
        device: Option<usize>,
        threads: Option<usize>,
        weights: Option<&str>,
    ) -> Result<Engine> {
        let choice: BackendChoice = backend.parse().map_err(|reason| option_error("--backend", reason))?;
        let storage: WeightStorage = match weights {
            Some(w) => w.parse().map_err(|reason| option_error("--weights", reason))?,
            None => WeightStorage::default(),
        };
        let model = Arc::new(Model::load_with(&Model::resolve_path(path)?, storage)?);
        let backend = BackendOptions { choice, device, threads, ..Default::default() };
        // Open the backend now, so a bad backend or device fails at construction, as in the CLI.
        let scorer = densi::backend::scorer(&model, &backend, ScoreOptions::default())?;
        Ok(Engine {
            model,
            backend,
            scorer: Mutex::new(Some((ScoreOptions::default(), scorer))),
            sha256: OnceLock::new(),
        })
    }

    pub fn path(&self) -> PathBuf {
        self.model.source.path.clone()
    }

    pub fn architecture(&self) -> &'static str {
        self.model.config.architecture.name()
    }

    pub fn parameters(&self) -> usize {
        self.model.config.parameter_count()
    }

    pub fn context_length(&self) -> usize {
        self.model.config.context_length
    }

    /// `cpu` or `gpu` and the device, of the scorer in use.
    pub fn backend(&self) -> (String, String) {
        let guard = self.scorer.lock().unwrap_or_else(|p| p.into_inner());
        match guard.as_ref() {
            Some((_, s)) => (s.backend_name().to_string(), s.device()),
            None => (String::new(), String::new()),
        }
    }

    /// Tokens in `text` (no BOS), for progress totals.
    pub fn token_count(&self, text: &str) -> Result<usize> {
        Ok(self.model.tokenizer.encode(text)?.ids.len())
    }

    /// sha256 of the weight files (computed once).
    pub fn sha256(&self) -> Result<String> {
        if let Some(s) = self.sha256.get() {
            return Ok(s.clone());
        }
        let s = self.model.sha256()?;
        Ok(self.sha256.get_or_init(|| s).clone())
    }

    /// Scores one text; `progress(done, total)` after every window. Returns the result and any
    /// warnings (a GPU failure that fell back to the CPU).
    pub fn score(
        &self,
        id: &str,
        text: &str,
        args: &ScoreArgs,
        progress: &mut (dyn FnMut(usize, usize) + Send + 'static),
    ) -> Result<(TextScore, Vec<String>)> {
        let options = args.options()?;
        let mut guard = self.scorer.lock().unwrap_or_else(|p| p.into_inner());
        if guard.as_ref().is_none_or(|(o, _)| *o != options) {
            // Drop the old scorer first: a GPU backend holds the weights on the device.
            *guard = None;
            let scorer = densi::backend::scorer(&self.model, &self.backend, options.clone())?;
            *guard = Some((options, scorer));
        }
        let (_, scorer) = guard.as_mut().expect("scorer set above");
        let result = scorer.score_with_progress(id, text, progress);
        let warnings = scorer.take_warnings();
        Ok((result?, warnings))
    }

    /// Writes `texts` as a Parquet export (same bytes as `densi export -f parquet` up to the date in
    /// the provenance), atomically.
    pub fn write_parquet(
        &self,
        path: &Path,
        texts: &[&TextScore],
        level: &str,
        units: &str,
        force: bool,
    ) -> Result<()> {
        let (level, units) = (parse_level(level)?, parse_units(units)?);
        let first = texts
            .first()
            .ok_or_else(|| Error::Input { what: path.display().to_string(), reason: "no results to write".into() })?;
        let provenance = Provenance::new(&self.model, self.sha256()?, &first.settings, units, level);
        let file = AtomicFile::create(path, OutputMode::Atomic, force)?;
        let options = ExportOptions { format: Format::Parquet, units, level };
        let write_err = |e: std::io::Error| Error::io(path, e);
        let mut e = Exporter::begin(file, options, provenance)?;
        for t in texts {
            e.write_text(t).map_err(write_err)?;
        }
        e.finish().map_err(write_err)?.commit()
    }
}

/// The JSON export's object for one text (`densi export -f json`, one element of `texts`).
pub fn text_json(t: &TextScore, level: &str, units: &str) -> Result<String> {
    let options = ExportOptions { format: Format::Json, units: parse_units(units)?, level: parse_level(level)? };
    let mut out = Vec::new();
    densi::export::json::write_text(&mut out, &options, t, None)
        .map_err(|e| Error::Other(format!("writing JSON: {e}")))?;
    String::from_utf8(out).map_err(|e| Error::Other(format!("writing JSON: {e}")))
}

/// The long-format table of `texts` (the csv's columns, typed).
pub fn columns(texts: &[&TextScore], level: &str, units: &str) -> Result<Vec<Column>> {
    let mut c = Columns::new(parse_level(level)?, parse_units(units)?);
    for t in texts {
        c.push(t);
    }
    Ok(c.into_columns())
}

/// Bytes → text as the CLI reads a file: UTF-8, not empty; the error names `what` and the first bad byte.
pub fn decode(what: &str, bytes: &[u8]) -> Result<String> {
    let bad = |reason: String| Error::Input { what: what.to_string(), reason };
    if bytes.is_empty() {
        return Err(bad("empty input (0 bytes)".into()));
    }
    match std::str::from_utf8(bytes) {
        Ok(s) => Ok(s.to_string()),
        Err(e) => {
            let at = e.valid_up_to();
            let before = &bytes[..at];
            let line = 1 + before.iter().filter(|&&b| b == b'\n').count();
            let line_start = before.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
            let column = 1 + String::from_utf8_lossy(&before[line_start..]).chars().count();
            Err(bad(format!(
                "not valid UTF-8: byte 0x{:02X} at byte offset {at} (line {line}, column {column}); decode it with errors=\"replace\" to replace invalid bytes with U+FFFD",
                bytes[at]
            )))
        }
    }
}
