//! `densi._densi`: the native half of the `densi` Python package (the Python half, in
//! `python/densi/`, holds the public API). PyO3 glue only; the library is used through [`engine`].

mod engine;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyList, PyString};

use engine::{Column, Engine, ScoreArgs, TextScore, Values};

/// A library error as the `densi._errors` exception of its kind, with the CLI's one-line message.
fn to_py(py: Python<'_>, e: engine::Error) -> PyErr {
    let message = e.to_string();
    let class = engine::error_class(&e);
    match py.import("densi._errors").and_then(|m| m.getattr(class)).and_then(|c| c.call1((message.clone(),))) {
        Ok(exc) => PyErr::from_value(exc),
        Err(import_failed) => import_failed,
    }
}

/// A loaded model with its backend. Thread-safe: calls on one model are serialised.
#[pyclass(module = "densi._densi", frozen)]
struct Model {
    engine: Arc<Engine>,
}

#[pymethods]
impl Model {
    #[new]
    #[pyo3(signature = (path=None, backend="auto", device=None, threads=None, weights=None))]
    fn new(
        py: Python<'_>,
        path: Option<PathBuf>,
        backend: &str,
        device: Option<usize>,
        threads: Option<usize>,
        weights: Option<String>,
    ) -> PyResult<Model> {
        let backend = backend.to_string();
        let engine = py
            .detach(move || Engine::load(path.as_deref(), &backend, device, threads, weights.as_deref()))
            .map_err(|e| to_py(py, e))?;
        Ok(Model { engine: Arc::new(engine) })
    }

    #[getter]
    fn path(&self) -> PathBuf {
        self.engine.path()
    }

    #[getter]
    fn architecture(&self) -> &'static str {
        self.engine.architecture()
    }

    #[getter]
    fn parameters(&self) -> usize {
        self.engine.parameters()
    }

    #[getter]
    fn context_length(&self) -> usize {
        self.engine.context_length()
    }

    /// (`cpu` | `gpu`, device description).
    #[getter]
    fn backend(&self) -> (String, String) {
        self.engine.backend()
    }

    fn token_count(&self, py: Python<'_>, text: &str) -> PyResult<usize> {
        self.engine.token_count(text).map_err(|e| to_py(py, e))
    }

    fn sha256(&self, py: Python<'_>) -> PyResult<String> {
        let engine = self.engine.clone();
        py.detach(move || engine.sha256()).map_err(|e| to_py(py, e))
    }

    /// Scores one text with the GIL released. `progress(done, total)` is called (with the GIL) after
    /// every window. Returns (result, warnings).
    #[pyo3(signature = (id, text, bos, window, stride, top_k, progress=None))]
    #[allow(clippy::too_many_arguments)]
    fn score_text(
        &self,
        py: Python<'_>,
        id: String,
        text: String,
        bos: String,
        window: Option<i64>,
        stride: Option<i64>,
        top_k: i64,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<(Score, Vec<String>)> {
        let args = ScoreArgs { bos, window, stride, top_k };
        let engine = self.engine.clone();
        // An exception raised by the callback is kept and raised once the text is done.
        let callback_error: Arc<Mutex<Option<PyErr>>> = Arc::new(Mutex::new(None));
        let slot = callback_error.clone();
        let mut on_progress = move |done: usize, total: usize| {
            if let Some(cb) = &progress {
                Python::attach(|py| {
                    let r = py.check_signals().and_then(|_| cb.call1(py, (done, total)).map(|_| ()));
                    if let Err(e) = r {
                        slot.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert(e);
                    }
                });
            }
        };
        let result = py.detach(move || engine.score(&id, &text, &args, &mut on_progress));
        if let Some(e) = callback_error.lock().unwrap_or_else(|p| p.into_inner()).take() {
            return Err(e);
        }
        let (score, warnings) = result.map_err(|e| to_py(py, e))?;
        Ok((Score { inner: Arc::new(score) }, warnings))
    }

    /// Writes scored texts as a Parquet export (the CLI's `densi export -f parquet`), atomically.
    #[pyo3(signature = (path, scores, level="token", units="bits", force=false))]
    fn write_parquet(
        &self,
        py: Python<'_>,
        path: PathBuf,
        scores: Vec<Py<Score>>,
        level: &str,
        units: &str,
        force: bool,
    ) -> PyResult<()> {
        let texts: Vec<Arc<TextScore>> = scores.iter().map(|s| s.get().inner.clone()).collect();
        let (engine, level, units) = (self.engine.clone(), level.to_string(), units.to_string());
        py.detach(move || {
            let refs: Vec<&TextScore> = texts.iter().map(|t| t.as_ref()).collect();
            engine.write_parquet(&path, &refs, &level, &units, force)
        })
        .map_err(|e| to_py(py, e))
    }
}

/// One scored text (immutable).
#[pyclass(module = "densi._densi", frozen)]
struct Score {
    inner: Arc<TextScore>,
}

#[pymethods]
impl Score {
    #[getter]
    fn id(&self) -> &str {
        &self.inner.id
    }

    #[getter]
    fn text(&self) -> &str {
        &self.inner.text
    }

    /// Number of tokens.
    fn __len__(&self) -> usize {
        self.inner.tokens.len()
    }

    /// This text's object of the JSON export (`densi export -f json`), as a JSON string.
    #[pyo3(signature = (level="token", units="bits"))]
    fn to_json(&self, py: Python<'_>, level: &str, units: &str) -> PyResult<String> {
        engine::text_json(&self.inner, level, units).map_err(|e| to_py(py, e))
    }
}

/// The long-format table of several scored texts, one entry per column:
/// (name, kind, data, valid). kind: `str` (data: list of str), `int` (int64 bytes), `float`
/// (float64 bytes, NaN where missing), `bool` (one byte each); valid: None, or one byte per row (1 = present).
#[pyfunction]
#[pyo3(signature = (scores, level="token", units="bits"))]
fn columns<'py>(
    py: Python<'py>,
    scores: Vec<Py<Score>>,
    level: &str,
    units: &str,
) -> PyResult<Vec<(String, &'static str, Bound<'py, PyAny>, Option<Bound<'py, PyByteArray>>)>> {
    let texts: Vec<Arc<TextScore>> = scores.iter().map(|s| s.get().inner.clone()).collect();
    let refs: Vec<&TextScore> = texts.iter().map(|t| t.as_ref()).collect();
    let cols = engine::columns(&refs, level, units).map_err(|e| to_py(py, e))?;
    cols.into_iter().map(|c| column_to_py(py, c)).collect()
}

/// Fills `bytearray`s straight from the column's values (one copy, into Python-owned memory that
/// numpy then wraps with `frombuffer`, without copying again).
fn column_to_py(
    py: Python<'_>,
    c: Column,
) -> PyResult<(String, &'static str, Bound<'_, PyAny>, Option<Bound<'_, PyByteArray>>)> {
    fn fill<'py, const N: usize, T: Copy>(
        py: Python<'py>,
        v: &[T],
        bytes: impl Fn(T) -> [u8; N],
    ) -> PyResult<Bound<'py, PyByteArray>> {
        PyByteArray::new_with(py, v.len() * N, |buf| {
            for (chunk, &x) in buf.chunks_exact_mut(N).zip(v) {
                chunk.copy_from_slice(&bytes(x));
            }
            Ok(())
        })
    }
    let (kind, data): (&'static str, Bound<'_, PyAny>) = match &c.values {
        Values::Str(v) => ("str", PyList::new(py, v.iter().map(|s| PyString::new(py, s)))?.into_any()),
        Values::Int(v) => ("int", fill(py, v, i64::to_ne_bytes)?.into_any()),
        Values::Float(v) => ("float", fill(py, v, f64::to_ne_bytes)?.into_any()),
        Values::Bool(v) => ("bool", fill(py, v, |b| [b as u8])?.into_any()),
    };
    let valid = c.valid.as_ref().map(|v| fill(py, v, |b| [b as u8])).transpose()?;
    Ok((c.name, kind, data, valid))
}

/// Decodes bytes as the CLI reads a file (UTF-8, not empty), with its error message.
#[pyfunction]
fn decode(py: Python<'_>, what: &str, data: &[u8]) -> PyResult<String> {
    engine::decode(what, data).map_err(|e| to_py(py, e))
}

#[pymodule]
fn _densi(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Model>()?;
    m.add_class::<Score>()?;
    m.add_function(wrap_pyfunction!(columns, m)?)?;
    m.add_function(wrap_pyfunction!(decode, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
