//! Key and mouse events → [`Action`]s → changes of the [`App`] state. Anything that touches the
//! outside world (scoring, files) comes back as an [`Effect`] for the event loop to carry out.

use std::path::PathBuf;

use ratatui::crossterm::event::{
    KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseButton, MouseEvent, MouseEventKind,
};
use ratatui::layout::{Position, Rect};

use crate::tui::app::{App, EditState, Effect, ListKind, MAX_PANES, Metric, Mode, Prompt, PromptKind, ScaleMode};
use crate::tui::layout::View;
use crate::tui::scale::Paint;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Quit,
    Left,
    Right,
    Up,
    Down,
    Home,
    End,
    PageUp,
    PageDown,
    NextDense,
    PrevDense,
    ThresholdUp,
    ThresholdDown,
    NextMetric,
    PrevMetric,
    ToggleScale,
    TogglePaint,
    ToggleView,
    ToggleSync,
    NextPane,
    PrevPane,
    AddPane,
    ClosePane,
    /// Edit the focused pane (also Enter on an empty pane).
    Edit,
    /// Ask for a file to open.
    Open,
    /// Ask where to export the focused pane, or all panes.
    Export {
        all: bool,
    },
    Help,
    CloseHelp,
    ToggleList,
    ListNext,
    ListPrev,
    Click {
        col: u16,
        row: u16,
    },
    Hover {
        col: u16,
        row: u16,
    },
    Wheel {
        col: u16,
        row: u16,
        down: bool,
    },
    EditInsert(char),
    EditPaste(String),
    EditBackspace,
    EditDelete,
    EditLeft,
    EditRight,
    EditUp,
    EditDown,
    EditHome,
    EditEnd,
    /// Leave edit mode; rescore when the text changed.
    EditDone,
    PromptInsert(char),
    PromptBackspace,
    PromptSubmit,
    PromptCancel,
    Tick,
}

/// The action for a key while the help screen is up: `q` quits, any other key closes it.
pub fn help_key(key: KeyEvent) -> Action {
    match key.code {
        KeyCode::Char('q') => Action::Quit,
        _ => Action::CloseHelp,
    }
}

/// The action for a key while a text is edited (one-model and two-model views alike).
pub fn edit_key(key: KeyEvent) -> Option<Action> {
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    Some(match key.code {
        KeyCode::Esc => Action::EditDone,
        KeyCode::Char('s') if ctrl => Action::EditDone,
        KeyCode::Char(c) if !ctrl => Action::EditInsert(c),
        KeyCode::Enter => Action::EditInsert('\n'),
        KeyCode::Tab => Action::EditInsert('\t'),
        KeyCode::Backspace => Action::EditBackspace,
        KeyCode::Delete => Action::EditDelete,
        KeyCode::Left => Action::EditLeft,
        KeyCode::Right => Action::EditRight,
        KeyCode::Up => Action::EditUp,
        KeyCode::Down => Action::EditDown,
        KeyCode::Home => Action::EditHome,
        KeyCode::End => Action::EditEnd,
        _ => return None,
    })
}

/// The action for a key in the app's current mode.
pub fn from_key(app: &App, key: KeyEvent) -> Option<Action> {
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
        Mode::Prompt(_) => Some(match key.code {
            KeyCode::Esc => Action::PromptCancel,
            KeyCode::Enter => Action::PromptSubmit,
            KeyCode::Backspace => Action::PromptBackspace,
            KeyCode::Char(c) if !ctrl => Action::PromptInsert(c),
            _ => return None,
        }),
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
            KeyCode::Char('n') => Action::NextDense,
            KeyCode::Char('N') => Action::PrevDense,
            KeyCode::Char('+') | KeyCode::Char('=') => Action::ThresholdUp,
            KeyCode::Char('-') => Action::ThresholdDown,
            KeyCode::Char('m') => Action::NextMetric,
            KeyCode::Char('M') => Action::PrevMetric,
            KeyCode::Char('s') => Action::ToggleScale,
            KeyCode::Char('c') => Action::TogglePaint,
            KeyCode::Char('w') => Action::ToggleView,
            KeyCode::Char('S') => Action::ToggleSync,
            KeyCode::Tab => Action::NextPane,
            KeyCode::BackTab => Action::PrevPane,
            KeyCode::Char('a') => Action::AddPane,
            KeyCode::Char('x') => Action::ClosePane,
            KeyCode::Char('i') => Action::Edit,
            KeyCode::Enter if app.pane().is_empty() => Action::Edit,
            KeyCode::Char('o') => Action::Open,
            KeyCode::Char('e') => Action::Export { all: false },
            KeyCode::Char('E') => Action::Export { all: true },
            KeyCode::Char('?') => Action::Help,
            KeyCode::Char('t') => Action::ToggleList,
            KeyCode::Char(']') => Action::ListNext,
            KeyCode::Char('[') => Action::ListPrev,
            _ => return None,
        }),
    }
}

pub fn from_mouse(app: &App, m: MouseEvent) -> Option<Action> {
    if app.mode != Mode::Normal {
        return None;
    }
    let (col, row) = (m.column, m.row);
    match m.kind {
        MouseEventKind::Down(MouseButton::Left) => Some(Action::Click { col, row }),
        MouseEventKind::Moved => Some(Action::Hover { col, row }),
        MouseEventKind::ScrollDown => Some(Action::Wheel { col, row, down: true }),
        MouseEventKind::ScrollUp => Some(Action::Wheel { col, row, down: false }),
        _ => None,
    }
}

fn contains(r: Rect, col: u16, row: u16) -> bool {
    r.contains(Position { x: col, y: row })
}

/// Applies one action. Returns the work it asks of the event loop.
pub fn apply(app: &mut App, action: Action) -> Vec<Effect> {
    let mut fx = Vec::new();
    match action {
        Action::Quit => app.quit = true,
        Action::Tick => {
            app.tick = app.tick.wrapping_add(1);
            if app.mode == Mode::Edit {
                fx.extend(send_edit(app));
            }
        }
        Action::Left => move_to(app, |p, _| p.cursor.checked_sub(1)),
        Action::Right => move_to(app, |p, _| (p.cursor + 1 < p.units.len()).then_some(p.cursor + 1)),
        Action::Home => move_to(app, |p, _| (!p.units.is_empty()).then_some(0)),
        Action::End => move_to(app, |p, _| p.units.len().checked_sub(1)),
        Action::Up => move_lines(app, -1),
        Action::Down => move_lines(app, 1),
        Action::PageUp | Action::PageDown => {
            // The view moves a page and the cursor with it (to the same screen row).
            let h = app.pane().text_area.height.max(2) as isize - 1;
            let d = if action == Action::PageUp { -h } else { h };
            let p = app.pane_mut();
            let lines = p.wrapped.as_ref().map_or(0, |l| l.lines.len()) as isize;
            let max_top = (lines - p.text_area.height as isize).max(0);
            p.scroll = (p.scroll as isize + d).clamp(0, max_top) as usize;
            move_lines(app, d)
        }
        Action::NextDense | Action::PrevDense => {
            let fwd = action == Action::NextDense;
            let th = app.threshold();
            let p = app.pane();
            let hit = if fwd {
                (p.cursor + 1..p.values.len()).find(|&i| p.values[i] >= th)
            } else {
                (0..p.cursor.min(p.values.len())).rev().find(|&i| p.values[i] >= th)
            };
            match hit {
                Some(i) => move_to(app, |_, _| Some(i)),
                None => {
                    let dir = if fwd { "after" } else { "before" };
                    let th = app.metric.fmt(th);
                    app.status = Some((format!("no {} ≥ {th} {dir} the cursor", app.metric.name()), false));
                }
            }
        }
        Action::ThresholdUp | Action::ThresholdDown => {
            let m = app.metric;
            let step = if action == Action::ThresholdUp { m.threshold_step() } else { -m.threshold_step() };
            let t = &mut app.thresholds[m.index()];
            *t += step;
            if m == Metric::Rank {
                *t = t.clamp(0.0, 4.0);
            }
            let th = *t;
            let count = app.pane().values.iter().filter(|&&v| v >= th).count();
            app.status = Some((format!("n/N threshold: {} ≥ {} ({count} in this pane)", m.name(), m.fmt(th)), false));
        }
        Action::NextMetric | Action::PrevMetric => {
            let i = app.metric.index();
            let n = Metric::ALL.len();
            app.metric = Metric::ALL[if action == Action::NextMetric { (i + 1) % n } else { (i + n - 1) % n }];
            let m = app.metric;
            for p in &mut app.panes {
                p.revalue(m);
            }
        }
        Action::ToggleScale => {
            app.scale = if app.scale == ScaleMode::Fixed { ScaleMode::Fitted } else { ScaleMode::Fixed };
        }
        Action::TogglePaint => {
            app.paint = if app.paint == Paint::Background { Paint::Foreground } else { Paint::Background };
        }
        Action::ToggleView => {
            app.view = if app.view == View::Tokens { View::Words } else { View::Tokens };
            let (view, metric) = (app.view, app.metric);
            for p in &mut app.panes {
                let tok = p.cursor_token();
                p.rebuild(view, metric);
                if let Some(t) = tok {
                    p.cursor = p.token_unit.get(t).copied().unwrap_or(0);
                }
            }
        }
        Action::ToggleSync => {
            app.sync_scroll = !app.sync_scroll;
            app.sync_others();
            app.status =
                Some((format!("synchronized scrolling {}", if app.sync_scroll { "on" } else { "off" }), false));
        }
        Action::NextPane => {
            app.focus = (app.focus + 1) % app.panes.len();
            app.list_sel = 0;
        }
        Action::PrevPane => {
            app.focus = (app.focus + app.panes.len() - 1) % app.panes.len();
            app.list_sel = 0;
        }
        Action::AddPane => {
            if app.panes.len() >= MAX_PANES {
                app.status = Some((format!("at most {MAX_PANES} panes"), true));
            } else {
                let name = format!("pane {}", app.next_id);
                app.focus = app.push_pane(name, String::new());
                fx.extend(apply(app, Action::Edit));
            }
        }
        Action::ClosePane => {
            if app.panes.len() <= 1 {
                app.status = Some(("the last pane cannot be closed (q quits)".into(), true));
            } else {
                app.panes.remove(app.focus);
                app.focus = app.focus.min(app.panes.len() - 1);
                app.list_sel = 0;
            }
        }
        Action::Edit => {
            let p = app.pane_mut();
            let buffer = p.text.clone();
            p.edit = Some(EditState { caret: buffer.len(), buffer, unsent: false });
            app.mode = Mode::Edit;
        }
        Action::EditDone => {
            app.mode = Mode::Normal;
            let i = app.focus;
            let (view, metric) = (app.view, app.metric);
            let p = &mut app.panes[i];
            if let Some(ed) = p.edit.take() {
                let changed = ed.buffer != p.text;
                p.text = ed.buffer;
                if p.text.is_empty() {
                    p.score = None;
                    p.pending = None;
                    p.generation += 1;
                    p.rebuild(view, metric);
                } else if changed || (p.score.is_none() && p.pending.is_none()) {
                    fx.push(app.rescore(i));
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
        | Action::EditDown) => edit(app, |e| edit_buffer(e, a)),
        Action::Open => app.mode = Mode::Prompt(Prompt { kind: PromptKind::Open, input: String::new() }),
        Action::Export { all } => {
            let name = if all { "all".to_string() } else { slug(&app.pane().name) };
            let input = crate::tui::unused_name(&format!("densi-{name}"), "csv");
            app.mode = Mode::Prompt(Prompt { kind: PromptKind::Export { all }, input });
        }
        Action::PromptInsert(c) => {
            if let Mode::Prompt(p) = &mut app.mode {
                p.input.push(c);
            }
        }
        Action::PromptBackspace => {
            if let Mode::Prompt(p) = &mut app.mode {
                p.input.pop();
            }
        }
        Action::PromptCancel => app.mode = Mode::Normal,
        Action::PromptSubmit => {
            let Mode::Prompt(prompt) = std::mem::replace(&mut app.mode, Mode::Normal) else { return fx };
            let path = PathBuf::from(prompt.input.trim());
            if prompt.input.trim().is_empty() {
                app.status = Some(("no file name given".into(), true));
                return fx;
            }
            match prompt.kind {
                PromptKind::Open => fx.push(Effect::Open { path }),
                PromptKind::Export { all } => {
                    let panes: Vec<usize> = if all { (0..app.panes.len()).collect() } else { vec![app.focus] };
                    let panes: Vec<usize> = panes.into_iter().filter(|&i| app.panes[i].score.is_some()).collect();
                    if panes.is_empty() {
                        app.status = Some(("nothing scored yet to export".into(), true));
                    } else {
                        fx.push(Effect::Export { path, panes });
                    }
                }
            }
        }
        Action::Help => app.mode = Mode::Help,
        Action::CloseHelp => app.mode = Mode::Normal,
        Action::ToggleList => {
            app.list = if app.list == ListKind::Sentences { ListKind::ThinkPoints } else { ListKind::Sentences };
            app.list_sel = 0;
        }
        Action::ListNext | Action::ListPrev => {
            let n = list_len(app);
            if n > 0 {
                // The first press jumps to the selected item itself.
                let sel = if action == Action::ListNext {
                    (app.list_sel + 1).min(n - 1)
                } else {
                    app.list_sel.saturating_sub(1)
                };
                jump_to_list_item(app, sel);
            }
        }
        Action::Click { col, row } => {
            if let Some(i) = app.panes.iter().position(|p| contains(p.text_area, col, row)) {
                app.focus = i;
                if let Some(u) = unit_at_screen(app, i, col, row) {
                    app.panes[i].cursor = u;
                }
            } else if let Some(item) = list_item_at(app, col, row) {
                jump_to_list_item(app, item);
            }
        }
        Action::Hover { col, row } => {
            let i = app.focus;
            if contains(app.panes[i].text_area, col, row)
                && let Some(u) = unit_at_screen(app, i, col, row)
            {
                app.panes[i].cursor = u;
            }
        }
        Action::Wheel { col, row, down } => {
            if let Some(i) = app.panes.iter().position(|p| contains(p.text_area, col, row)) {
                app.focus = i;
            }
            move_lines(app, if down { 3 } else { -3 });
        }
    }
    fx
}

fn edit(app: &mut App, f: impl FnOnce(&mut EditState)) {
    if let Some(e) = app.pane_mut().edit.as_mut() {
        let before = e.buffer.clone();
        f(e);
        e.unsent |= e.buffer != before;
    }
}

/// While editing, after a pause: the buffer, when it changed and is not what was last sent, becomes
/// the pane's text and goes to the worker (a new generation; the worker drops older queued ones, and
/// its prefix cache computes only the tokens after the unchanged start).
fn send_edit(app: &mut App) -> Option<Effect> {
    let i = app.focus;
    let p = &mut app.panes[i];
    let ed = p.edit.as_mut()?;
    if !std::mem::take(&mut ed.unsent) || ed.buffer.is_empty() || ed.buffer == p.text {
        return None;
    }
    p.text = ed.buffer.clone();
    Some(app.rescore(i))
}

/// A file-name-safe form of a pane name.
pub fn slug(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '-' })
        .collect::<String>()
        .trim_matches('-')
        .to_string();
    let s = std::path::Path::new(&s).file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or(s);
    if s.is_empty() { "pane".into() } else { s }
}

/// Moves the focused pane's cursor to the unit `f` picks, then keeps it on screen.
fn move_to(app: &mut App, f: impl FnOnce(&crate::tui::app::Pane, &App) -> Option<usize>) {
    let target = f(app.pane(), app);
    if let Some(u) = target {
        app.pane_mut().cursor = u;
    }
    let i = app.focus;
    app.scroll_to_cursor(i);
    app.sync_others();
}

/// Moves the cursor `delta` screen lines up or down, to the unit nearest its column; lines with
/// no unit (blank lines) are skipped.
fn move_lines(app: &mut App, delta: isize) {
    let i = app.focus;
    let p = &app.panes[i];
    if p.units.is_empty() {
        return;
    }
    let lay = p.layout_for(p.text_area.width.max(1));
    let Some(&(line, x)) = lay.unit_pos.get(p.cursor) else { return };
    let n = lay.lines.len() as isize;
    let mut target = line as isize + delta;
    let step = if delta < 0 { -1 } else { 1 };
    let mut found = None;
    // Paging past the end lands on the last line (then on the last unit below).
    if delta.abs() > 1 {
        target = target.clamp(0, n - 1);
        if target == line as isize {
            target = -1; // already on the edge line: fall through to the first or last unit
        }
    }
    while (0..n).contains(&target) {
        if let Some(u) = lay.nearest_on_line(target as usize, x) {
            found = Some(u);
            break;
        }
        target += step;
    }
    // At the very top or bottom, go to the first or last unit.
    let found = found.or(if delta < 0 { Some(0) } else { Some(p.units.len() - 1) });
    drop(lay);
    move_to(app, |_, _| found);
}

fn unit_at_screen(app: &App, i: usize, col: u16, row: u16) -> Option<usize> {
    let p = &app.panes[i];
    let a = p.text_area;
    let lay = p.layout_for(a.width.max(1));
    let line = p.scroll + (row - a.y) as usize;
    lay.unit_at(line, col - a.x).or_else(|| lay.nearest_on_line(line, col - a.x))
}

pub fn list_len(app: &App) -> usize {
    let p = app.pane();
    match app.list {
        ListKind::Sentences => p.sentences.len(),
        ListKind::ThinkPoints => p.think.len(),
    }
}

fn jump_to_list_item(app: &mut App, item: usize) {
    app.list_sel = item;
    let p = app.pane();
    let tok = match app.list {
        ListKind::Sentences => p.sentences.get(item).map(|s| s.token_start),
        ListKind::ThinkPoints => p.think.get(item).copied(),
    };
    if let Some(t) = tok {
        let u = p.token_unit.get(t).copied();
        move_to(app, |_, _| u);
    }
}

fn list_item_at(app: &App, col: u16, row: u16) -> Option<usize> {
    let areas = crate::tui::ui::areas(app, app.size());
    let inner = areas.list_inner?;
    if !contains(inner, col, row) {
        return None;
    }
    let first = crate::tui::widgets::dense_list::first_visible(app.list_sel, inner.height as usize);
    let item = first + (row - inner.y) as usize;
    (item < list_len(app)).then_some(item)
}

/// Applies an editing action (`EditInsert` … `EditDown`) to an edit buffer; other actions do nothing.
/// Shared by the one-model and the two-model views.
pub fn edit_buffer(e: &mut EditState, action: Action) {
    match action {
        Action::EditInsert(c) => {
            e.buffer.insert(e.caret, c);
            e.caret += c.len_utf8();
        }
        Action::EditPaste(s) => {
            let s = s.replace("\r\n", "\n").replace('\r', "\n");
            e.buffer.insert_str(e.caret, &s);
            e.caret += s.len();
        }
        Action::EditBackspace => {
            if let Some(c) = e.buffer[..e.caret].chars().next_back() {
                e.caret -= c.len_utf8();
                e.buffer.remove(e.caret);
            }
        }
        Action::EditDelete if e.caret < e.buffer.len() => {
            e.buffer.remove(e.caret);
        }
        Action::EditLeft => {
            if let Some(c) = e.buffer[..e.caret].chars().next_back() {
                e.caret -= c.len_utf8();
            }
        }
        Action::EditRight => {
            if let Some(c) = e.buffer[e.caret..].chars().next() {
                e.caret += c.len_utf8();
            }
        }
        Action::EditHome => e.caret = e.buffer[..e.caret].rfind('\n').map_or(0, |i| i + 1),
        Action::EditEnd => e.caret += e.buffer[e.caret..].find('\n').unwrap_or(e.buffer.len() - e.caret),
        Action::EditUp | Action::EditDown => {
            let down = action == Action::EditDown;
            let start = e.buffer[..e.caret].rfind('\n').map_or(0, |i| i + 1);
            let col = e.buffer[start..e.caret].chars().count();
            let target = if down {
                match e.buffer[e.caret..].find('\n') {
                    Some(i) => e.caret + i + 1,
                    None => return,
                }
            } else {
                if start == 0 {
                    return;
                }
                e.buffer[..start - 1].rfind('\n').map_or(0, |i| i + 1)
            };
            let line_end = e.buffer[target..].find('\n').map_or(e.buffer.len(), |i| target + i);
            e.caret = e.buffer[target..line_end].char_indices().nth(col).map_or(line_end, |(i, _)| target + i);
        }
        _ => {}
    }
}
