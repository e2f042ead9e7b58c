//! `densi tui --model A --model B`: one text under two models. Pane A above pane B (side by side
//! when wide), coloured on one shared scale by surprisal or entropy (each pane its own model), by
//! `delta_bits` (diverging) or by KL either way; the detail panel puts both models' numbers and top-k
//! lists side by side. Same shape as the one-model view: [`app::PairApp`] is plain state,
//! [`action`] changes it, [`ui::draw`] is pure, [`worker`] loads both models and scores.

pub mod action;
pub mod app;
pub mod ui;
pub mod worker;

#[cfg(test)]
mod tests;

use std::time::Duration;

use ratatui::crossterm::event::Event as CtEvent;
use ratatui::layout::Rect;

use crate::tui::action::Action;
use crate::tui::event::{Event, EventSource};
use app::{PairApp, PairEffect};
use densi::backend::BackendOptions;
use densi::error::Result;
use densi::score::ScoreOptions;
use worker::{PairJob, PairModels};

/// What `densi tui --model A --model B` was asked to open.
#[derive(Debug, Clone)]
pub struct PairOptions {
    /// (name, text): the one text.
    pub input: (String, String),
    pub models: PairModels,
    pub backend: BackendOptions,
    pub score: ScoreOptions,
}

fn file_name(p: &std::path::Path) -> String {
    p.file_name().map_or_else(|| p.display().to_string(), |n| n.to_string_lossy().into_owned())
}

/// Runs the two-model view until the user quits; restores the terminal on every exit path.
pub fn run(options: PairOptions) -> Result<()> {
    let name_a = densi::model::Model::resolve_path(options.models.a.as_deref())
        .map_or_else(|_| "model A".into(), |p| file_name(&p));
    let names = [name_a, file_name(&options.models.b)];
    let (name, text) = options.input;
    let mut app = PairApp::new(name, text, names, crate::tui::scale::ColorSupport::detect());

    let (_guard, mut terminal) = super::setup_terminal()?;
    // Started after stderr is silenced: loading may probe GPU drivers, which may print.
    let (tx, rx) = std::sync::mpsc::channel();
    let worker = worker::spawn(options.models, options.backend, options.score, tx);
    let mut events = EventSource::new(rx);
    let first = app.initial_jobs();
    execute(&worker, first);
    while !app.quit {
        let size = terminal.size().map_err(super::term_err)?;
        ui::relayout(&mut app, Rect::new(0, 0, size.width, size.height));
        terminal.draw(|f| ui::draw(f, &app)).map_err(super::term_err)?;
        let actions = match events.next(Duration::from_millis(120)).map_err(super::term_err)? {
            Event::Terminal(CtEvent::Key(k)) => action::from_key(&app, k).into_iter().collect(),
            Event::Terminal(CtEvent::Mouse(m)) => action::from_mouse(&app, m).into_iter().collect(),
            Event::Terminal(CtEvent::Paste(s)) if app.mode == crate::tui::app::Mode::Edit => {
                vec![Action::EditPaste(s)]
            }
            Event::Terminal(_) => vec![],
            Event::Worker(m) => {
                app.handle_worker(m);
                vec![]
            }
            Event::Tick => vec![Action::Tick],
        };
        for a in actions {
            if a != Action::Tick {
                app.status = None;
            }
            let fx = action::apply(&mut app, a);
            execute(&worker, fx);
        }
    }
    drop(terminal);
    drop(_guard);
    drop(worker);
    Ok(())
}

fn execute(worker: &worker::PairWorker, effects: Vec<PairEffect>) {
    for fx in effects {
        match fx {
            PairEffect::Score { generation, name, text } => {
                let _ = worker.jobs.send(PairJob { generation, name, text });
            }
        }
    }
}
