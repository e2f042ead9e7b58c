//! `densi tui`: the interactive terminal UI.
//!
//! The shape of ratatui's own examples: [`app::App`] is the state as plain data, [`action`] turns
//! key and mouse events into actions that change it, [`ui::draw`] is a pure function from state to
//! frame, and [`worker`] loads the model once and scores on a background thread, talking to the UI
//! over channels ([`event`]). Widgets live in [`widgets`], one module each. [`pair`] is the
//! two-model view (`--model A --model B`), built the same way.

pub mod action;
pub mod app;
pub mod event;
pub mod layout;
pub mod pair;
mod quiet_stderr;
pub mod scale;
pub mod ui;
pub mod widgets;
pub mod worker;

#[cfg(test)]
mod tests;

use std::io::{Stdout, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use ratatui::crossterm::event::{
    DisableBracketedPaste, DisableMouseCapture, EnableBracketedPaste, EnableMouseCapture, Event as CtEvent,
};
use ratatui::crossterm::terminal::{EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode};
use ratatui::crossterm::{cursor, execute};
use ratatui::layout::Rect;

use action::Action;
use app::{App, Effect, ModelState};
use densi::backend::BackendOptions;
use densi::error::{DensiError, Result};
use densi::export::{AtomicFile, ExportOptions, Exporter, Format, Level, OutputMode, Provenance, Units};
use densi::metrics::TextScore;
use densi::model::Model;
use densi::score::ScoreOptions;
use event::{Event, EventSource};

/// What `densi tui` was asked to open.
#[derive(Debug, Clone, Default)]
pub struct TuiOptions {
    /// (name, text) per pane; empty = the example prompts in docs/examples/.
    pub inputs: Vec<(String, String)>,
    /// Model path as given (`--model`); resolved with `Model::resolve_path`.
    pub model: Option<PathBuf>,
    pub backend: BackendOptions,
    pub score: ScoreOptions,
    /// Which word surprisal the word view shows.
    pub word_probability: densi::export::WordProbability,
}

/// The example prompts: `docs/examples/*.txt` (relative to the working directory, then to the
/// crate), in name order, named by file stem.
pub fn example_inputs() -> Result<Vec<(String, String)>> {
    let dirs = [PathBuf::from("docs/examples"), Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/examples")];
    let Some(dir) = dirs.iter().find(|d| d.is_dir()) else {
        return Err(DensiError::Input {
            what: "docs/examples".into(),
            reason: "not found; give densi tui a file, `-` or --text".into(),
        });
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| DensiError::io(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for f in files.into_iter().take(app::MAX_PANES) {
        let bytes = std::fs::read(&f).map_err(|e| DensiError::io(&f, e))?;
        let text = String::from_utf8(bytes)
            .map_err(|_| DensiError::Input { what: f.display().to_string(), reason: "not valid UTF-8".into() })?;
        let name = f.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        out.push((name, text));
    }
    if out.is_empty() {
        return Err(DensiError::Input {
            what: dir.display().to_string(),
            reason: "no .txt example prompts in it".into(),
        });
    }
    Ok(out)
}

/// The export format a file name asks for, by its extension.
pub fn format_for(path: &Path) -> Result<Format> {
    let ext = path.extension().map(|e| e.to_string_lossy().to_ascii_lowercase()).unwrap_or_default();
    ext.parse::<Format>().map_err(|_| DensiError::Input {
        what: path.display().to_string(),
        reason: "name the file .csv, .tsv, .json or .jsonl to choose the export format".into(),
    })
}

/// Writes scored texts to `path` with the CLI's exporters (same bytes as `densi export`), in the
/// format its extension names, atomically: a complete file or none. Refuses to overwrite a file.
pub fn export_file(path: &Path, texts: &[&TextScore], level: Level, provenance: Provenance) -> Result<Format> {
    let format = format_for(path)?;
    let options = ExportOptions { format, units: Units::Bits, level };
    let file = AtomicFile::create(path, OutputMode::Atomic, false)?;
    let write_err = |e: std::io::Error| DensiError::io(path, e);
    let mut e = Exporter::begin(file, options, provenance)?;
    for t in texts {
        e.write_text(t).map_err(write_err)?;
    }
    e.finish().map_err(write_err)?.commit()?;
    Ok(format)
}

/// A file name that does not exist yet: `stem.ext`, else `stem-2.ext`, `stem-3.ext`, ...
pub fn unused_name(stem: &str, ext: &str) -> String {
    let first = format!("{stem}.{ext}");
    if !Path::new(&first).exists() {
        return first;
    }
    (2..).map(|i| format!("{stem}-{i}.{ext}")).find(|n| !Path::new(n).exists()).unwrap()
}

fn term_err(e: std::io::Error) -> DensiError {
    DensiError::Other(format!("terminal: {e}"))
}

/// Leaves raw mode and the alternate screen, shows the cursor, gives stderr back. Safe to call twice.
fn restore_terminal() {
    quiet_stderr::restore();
    let _ = disable_raw_mode();
    let mut out = std::io::stdout();
    let _ = execute!(out, DisableBracketedPaste, DisableMouseCapture, LeaveAlternateScreen, cursor::Show);
    let _ = out.flush();
}

/// Restores the terminal when dropped: on return, on error and while unwinding from a panic.
struct TerminalGuard;

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore_terminal();
    }
}

fn setup_terminal() -> Result<(TerminalGuard, Terminal<CrosstermBackend<Stdout>>)> {
    // A panic prints its message after the terminal is back to normal, not into the alternate screen.
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore_terminal();
        previous(info);
    }));
    enable_raw_mode().map_err(term_err)?;
    let guard = TerminalGuard;
    quiet_stderr::silence();
    execute!(std::io::stdout(), EnterAlternateScreen, EnableMouseCapture, EnableBracketedPaste).map_err(term_err)?;
    let terminal = Terminal::new(CrosstermBackend::new(std::io::stdout())).map_err(term_err)?;
    Ok((guard, terminal))
}

/// Runs the UI until the user quits; restores the terminal on every exit path.
pub fn run(options: TuiOptions) -> Result<()> {
    let inputs = if options.inputs.is_empty() { example_inputs()? } else { options.inputs };
    let model_name = densi::model::Model::resolve_path(options.model.as_deref())
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "model".into());

    let mut app = App::new(inputs, scale::ColorSupport::detect());
    app.model = ModelState::Loading(model_name);
    app.set_word_probability(options.word_probability);

    let (_guard, mut terminal) = setup_terminal()?;
    // Started after stderr is silenced: loading probes GPU drivers, which may print.
    let (tx, rx) = std::sync::mpsc::channel();
    let worker = worker::spawn(options.model.clone(), options.backend.clone(), options.score.clone(), tx);
    let mut events = EventSource::new(rx);
    let mut session = Session { worker, model: None, sha256: None };
    let first = app.initial_jobs();
    execute_effects(&mut app, &mut session, first);
    while !app.quit {
        let size = terminal.size().map_err(term_err)?;
        ui::relayout(&mut app, Rect::new(0, 0, size.width, size.height));
        terminal.draw(|f| ui::draw(f, &app)).map_err(term_err)?;
        let actions = match events.next(Duration::from_millis(120)).map_err(term_err)? {
            Event::Terminal(CtEvent::Key(k)) => action::from_key(&app, k).into_iter().collect(),
            Event::Terminal(CtEvent::Mouse(m)) => action::from_mouse(&app, m).into_iter().collect(),
            Event::Terminal(CtEvent::Paste(s)) if app.mode == app::Mode::Edit => vec![Action::EditPaste(s)],
            Event::Terminal(_) => vec![],
            Event::Worker(m) => {
                if let event::WorkerMsg::Ready { model, .. } = &m {
                    session.model = Some(model.clone());
                }
                app.handle_worker(m);
                vec![]
            }
            Event::Tick => vec![Action::Tick],
        };
        for a in actions {
            // A new key clears the last message.
            if !matches!(a, Action::Tick | Action::Hover { .. }) {
                app.status = None;
            }
            let fx = action::apply(&mut app, a);
            execute_effects(&mut app, &mut session, fx);
        }
    }
    drop(terminal);
    drop(_guard);
    drop(session);
    Ok(())
}

/// What the event loop holds besides the app state: the worker, and the loaded model (for exports' provenance).
struct Session {
    worker: worker::Worker,
    model: Option<Arc<Model>>,
    /// The model file's sha256, computed at the first export.
    sha256: Option<String>,
}

/// Carries out what the actions asked for: jobs to the worker, file reads and exports.
fn execute_effects(app: &mut App, session: &mut Session, effects: Vec<Effect>) {
    let mut queue = std::collections::VecDeque::from(effects);
    while let Some(fx) = queue.pop_front() {
        match fx {
            Effect::Score { pane_id, generation, name, text } => {
                let _ = session.worker.jobs.send(worker::Job { pane_id, generation, name, text });
            }
            Effect::Open { path } => {
                let read = std::fs::read(&path)
                    .map_err(|e| e.to_string())
                    .and_then(|b| String::from_utf8(b).map_err(|_| "not valid UTF-8".to_string()));
                queue.extend(app.open_loaded(&path, read));
            }
            Effect::Export { path, panes } => {
                app.status = Some(match export_panes(app, session, &path, &panes) {
                    Ok(msg) => (msg, false),
                    Err(e) => (e.to_string(), true),
                });
            }
        }
    }
}

fn export_panes(app: &App, session: &mut Session, path: &Path, panes: &[usize]) -> Result<String> {
    let scores: Vec<&TextScore> = panes.iter().filter_map(|&i| app.panes.get(i)?.score.as_ref()).collect();
    let model = session.model.clone().ok_or_else(|| DensiError::Other("no model loaded: nothing to export".into()))?;
    format_for(path)?;
    if session.sha256.is_none() {
        session.sha256 = Some(model.sha256()?);
    }
    let level = if app.view == layout::View::Words { Level::Word } else { Level::Token };
    let mut prov =
        Provenance::new(&model, session.sha256.clone().unwrap_or_default(), &scores[0].settings, Units::Bits, level);
    prov.word_probability = app.word_probability;
    let format = export_file(path, &scores, level, prov)?;
    let n = scores.len();
    Ok(format!(
        "wrote {} ({n} text{}, {}, one row per {})",
        path.display(),
        if n == 1 { "" } else { "s" },
        format.name(),
        level.name()
    ))
}
