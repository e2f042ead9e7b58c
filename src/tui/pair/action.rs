//! Keys and mouse → [`Action`]s (the one-model view's, a subset) → changes of the [`PairApp`] state.
//! The selection is one unit shown in both panes; Tab moves the focus between pane A and pane B.

use ratatui::crossterm::event::{
    KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseButton, MouseEvent, MouseEventKind,
};
use ratatui::layout::{Position, Rect};

use crate::tui::action::{Action, edit_buffer, edit_key, help_key};
use crate::tui::app::{EditState, Mode, ScaleMode};
use crate::tui::pair::app::{PairApp, PairEffect, Side};

/// The action for a key in the app's current mode.
pub fn from_key(app: &PairApp, key: KeyEvent) -> Option<Action> {
    if key.kind == KeyEventKind::Release {
        return None;
    }
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    if ctrl && key.code == KeyCode::Char('c') {
        return Some(Action::Quit);
    }
    match &app.mode {
        Mode::Help => Some(help_key(key)),
        Mode::Edit => edit_key(key),
        Mode::Prompt(_) => None,
        Mode::Normal => Some(match key.code {
            KeyCode::Char('q') | KeyCode::Esc => Action::Quit,
            KeyCode::Left | KeyCode::Char('h') => Action::Left,
            KeyCode::Right | KeyCode::Char('l') => Action::Right,
            KeyCode::Up | KeyCode::Char('k') => Action::Up,
            KeyCode::Down | KeyCode::Char('j') => Action::Down,
            KeyCode::Home | KeyCode::Char('g') => Action::Home,
            KeyCode::End | KeyCode::Char('G') => Action::End,
            KeyCode::PageUp => Action::PageUp,
            KeyCode::PageDown | KeyCode::Char(' ') => Action::PageDown,
            KeyCode::Char('m') => Action::NextMetric,
            KeyCode::Char('M') => Action::PrevMetric,
            KeyCode::Char('s') => Action::ToggleScale,
            KeyCode::Tab => Action::NextPane,
            KeyCode::BackTab => Action::PrevPane,
            KeyCode::Char('i') => Action::Edit,
            KeyCode::Enter if app.text.is_empty() => Action::Edit,
            KeyCode::Char('?') => Action::Help,
            _ => return None,
        }),
    }
}

pub fn from_mouse(app: &PairApp, m: MouseEvent) -> Option<Action> {
    if app.mode != Mode::Normal {
        return None;
    }
    let (col, row) = (m.column, m.row);
    match m.kind {
        MouseEventKind::Down(MouseButton::Left) => Some(Action::Click { col, row }),
        MouseEventKind::ScrollDown => Some(Action::Wheel { col, row, down: true }),
        MouseEventKind::ScrollUp => Some(Action::Wheel { col, row, down: false }),
        _ => None,
    }
}

fn contains(r: Rect, col: u16, row: u16) -> bool {
    r.contains(Position { x: col, y: row })
}

/// The pane under a screen cell.
fn side_at(app: &PairApp, col: u16, row: u16) -> Option<Side> {
    [Side::A, Side::B].into_iter().zip(app.text_areas).find(|(_, a)| contains(*a, col, row)).map(|(s, _)| s)
}

/// Applies one action (those the two-model view has; the rest do nothing). Returns the work it asks
/// of the event loop.
pub fn apply(app: &mut PairApp, action: Action) -> Vec<PairEffect> {
    let mut fx = Vec::new();
    match action {
        Action::Quit => app.quit = true,
        Action::Tick => {
            app.tick = app.tick.wrapping_add(1);
            if app.mode == Mode::Edit {
                fx.extend(send_edit(app));
            }
        }
        Action::Left => move_to(app, app.cursor.checked_sub(1)),
        Action::Right => move_to(app, (app.cursor + 1 < app.units.len()).then_some(app.cursor + 1)),
        Action::Home => move_to(app, (!app.units.is_empty()).then_some(0)),
        Action::End => move_to(app, app.units.len().checked_sub(1)),
        Action::Up => move_lines(app, -1),
        Action::Down => move_lines(app, 1),
        Action::PageUp | Action::PageDown => {
            let h = app.text_areas[0].height.max(2) as isize - 1;
            move_lines(app, if action == Action::PageUp { -h } else { h });
        }
        Action::NextMetric | Action::PrevMetric => {
            let ms = app.metrics();
            let i = ms.iter().position(|&m| m == app.metric).unwrap_or(0);
            let n = ms.len();
            app.metric = ms[if action == Action::NextMetric { (i + 1) % n } else { (i + n - 1) % n }];
            app.revalue();
            if app.words() && app.metric == crate::tui::pair::app::PairMetric::Delta {
                app.status = Some(("delta only: no KL, the two models have different vocabularies".into(), false));
            }
        }
        Action::ToggleScale => {
            app.scale = if app.scale == ScaleMode::Fixed { ScaleMode::Fitted } else { ScaleMode::Fixed };
        }
        Action::NextPane | Action::PrevPane => {
            app.focus = if app.focus == Side::A { Side::B } else { Side::A };
        }
        Action::Edit => {
            let buffer = app.text.clone();
            app.edit = Some(EditState { caret: buffer.len(), buffer, unsent: false });
            app.mode = Mode::Edit;
        }
        Action::EditDone => {
            app.mode = Mode::Normal;
            if let Some(ed) = app.edit.take() {
                let changed = ed.buffer != app.text;
                app.text = ed.buffer;
                if !app.text.is_empty() && (changed || (app.result.is_none() && app.pending.is_none())) {
                    fx.push(app.rescore());
                }
            }
        }
        a @ (Action::EditInsert(_)
        | Action::EditPaste(_)
        | Action::EditBackspace
        | Action::EditDelete
        | Action::EditLeft
        | Action::EditRight
        | Action::EditHome
        | Action::EditEnd
        | Action::EditUp
        | Action::EditDown) => {
            if let Some(e) = app.edit.as_mut() {
                let before = e.buffer.clone();
                edit_buffer(e, a);
                e.unsent |= e.buffer != before;
            }
        }
        Action::Help => app.mode = Mode::Help,
        Action::CloseHelp => app.mode = Mode::Normal,
        Action::Click { col, row } => {
            if let Some(side) = side_at(app, col, row) {
                app.focus = side;
                if let Some(u) = unit_at_screen(app, side, col, row) {
                    app.cursor = u;
                }
            }
        }
        Action::Wheel { col, row, down } => {
            if let Some(side) = side_at(app, col, row) {
                app.focus = side;
            }
            move_lines(app, if down { 3 } else { -3 });
        }
        _ => {}
    }
    fx
}

/// While editing, after a pause: a changed buffer becomes the text and is rescored under both models
/// (in full: the prefix cache is single-model).
fn send_edit(app: &mut PairApp) -> Option<PairEffect> {
    let ed = app.edit.as_mut()?;
    if !std::mem::take(&mut ed.unsent) || ed.buffer.is_empty() || ed.buffer == app.text {
        return None;
    }
    app.text = ed.buffer.clone();
    Some(app.rescore())
}

fn move_to(app: &mut PairApp, target: Option<usize>) {
    if let Some(u) = target {
        app.cursor = u;
    }
    app.scroll_to_cursor();
}

/// Moves the selection `delta` screen lines, to the unit nearest its column (blank lines skipped).
fn move_lines(app: &mut PairApp, delta: isize) {
    if app.units.is_empty() {
        return;
    }
    let lay = app.layout_for(app.text_areas[0].width.max(1));
    let Some(&(line, x)) = lay.unit_pos.get(app.cursor) else { return };
    let n = lay.lines.len() as isize;
    let mut target = line as isize + delta;
    let step = if delta < 0 { -1 } else { 1 };
    if delta.abs() > 1 {
        target = target.clamp(0, n - 1);
        if target == line as isize {
            target = -1;
        }
    }
    let mut found = None;
    while (0..n).contains(&target) {
        if let Some(u) = lay.nearest_on_line(target as usize, x) {
            found = Some(u);
            break;
        }
        target += step;
    }
    let found = found.or(if delta < 0 { Some(0) } else { Some(app.units.len() - 1) });
    drop(lay);
    move_to(app, found);
}

fn unit_at_screen(app: &PairApp, side: Side, col: u16, row: u16) -> Option<usize> {
    let a = app.text_areas[side as usize];
    let lay = app.layout_for(a.width.max(1));
    let line = app.scroll + (row - a.y) as usize;
    lay.unit_at(line, col - a.x).or_else(|| lay.nearest_on_line(line, col - a.x))
}
