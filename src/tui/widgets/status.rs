//! The bottom line: the current message or mode, the prompt being typed, and the model's state.

use ratatui::buffer::Buffer;
use ratatui::layout::{Position, Rect};
use ratatui::style::Style;

use crate::tui::app::{App, Mode, ModelState, PromptKind};
use crate::tui::event::ScoreRun;
use crate::tui::widgets::text_view::SPINNER;
use crate::tui::widgets::{accent, error_style, faint, fit};

/// How a result was computed: `2196 tokens · 2 computed, 2195 reused · 0.49 s` (positions counted as
/// the backend counts them, a prepended BOS included; without a prefix cache only the tokens and time).
pub fn run_line(tokens: usize, run: &ScoreRun) -> String {
    match run.reuse {
        Some(r) => {
            format!("{tokens} tokens · {} computed, {} reused · {:.2} s", r.computed, r.reused(), run.seconds)
        }
        None => format!("{tokens} tokens · {:.2} s", run.seconds),
    }
}

/// Returns where the caret goes while a prompt is being typed.
pub fn render(app: &App, area: Rect, buf: &mut Buffer) -> Option<Position> {
    let w = area.width as usize;
    let spin = SPINNER[(app.tick % SPINNER.len() as u64) as usize];
    let (right, right_style) = match &app.model {
        ModelState::Loading(m) => (format!("{spin} loading {m} "), accent(app)),
        ModelState::Ready(d) => (format!("{d} "), faint(app)),
        ModelState::Failed(_) => ("model failed to load ".to_string(), error_style(app)),
    };
    let right = fit(&right, w / 2);
    let rw = right.chars().count();
    let left_w = w.saturating_sub(rw + 1);
    let mut caret = None;
    match &app.mode {
        Mode::Prompt(p) => {
            let label = match p.kind {
                PromptKind::Open => "open file: ".to_string(),
                PromptKind::Export { all: false } => {
                    "export this pane (.csv .tsv .json .jsonl; Enter writes, Esc cancels): ".to_string()
                }
                PromptKind::Export { all: true } => {
                    "export all panes (.csv .tsv .json .jsonl; Enter writes, Esc cancels): ".to_string()
                }
            };
            let x = buf.set_stringn(area.x, area.y, &label, left_w, accent(app)).0;
            let x =
                buf.set_stringn(x, area.y, &p.input, left_w.saturating_sub(label.chars().count()), Style::default()).0;
            caret = Some(Position { x: x.min(area.right().saturating_sub(1)), y: area.y });
        }
        Mode::Edit => {
            // Rescored as the user types: how the latest result was computed.
            let hint = "EDIT: scored as you type; Esc (or Ctrl-S) leaves";
            let x = buf.set_stringn(area.x, area.y, hint, left_w, accent(app)).0;
            let p = app.pane();
            if let (Some(s), Some(run)) = (&p.score, &p.run) {
                let used = (x - area.x) as usize;
                let line = format!(" · {}", run_line(s.tokens.len(), run));
                buf.set_stringn(
                    x,
                    area.y,
                    fit(&line, left_w.saturating_sub(used)),
                    left_w.saturating_sub(used),
                    faint(app),
                );
            }
        }
        _ => {
            let (msg, st) = match &app.status {
                Some((m, true)) => (m.clone(), error_style(app)),
                Some((m, false)) => (m.clone(), Style::default()),
                None => {
                    ("? keys · q quit · Tab pane · m metric · n/N dense · i edit · e export".to_string(), faint(app))
                }
            };
            buf.set_stringn(area.x, area.y, fit(&msg, left_w), left_w, st);
        }
    }
    buf.set_stringn(area.right().saturating_sub(rw as u16), area.y, &right, rw, right_style);
    caret
}
