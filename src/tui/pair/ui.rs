//! The two-model view's draw function: state → frame. Pure: it reads the state and writes cells.
//!
//! ```text
//! header: colouring, scale, keys
//! legend: the one colour scale of both panes
//! summary: perplexities, mean KL both ways, top-1 agreement, Binoculars
//! ┌ A · model-a.gguf ───────────┐        ┌ A ────────┬ B ────────┐
//! │ the text, coloured under A  │        │           │           │  (side by side when wide)
//! ├ B · model-b.gguf ───────────┤        └───────────┴───────────┘
//! │ the text, coloured under B  │
//! └─────────────────────────────┘
//! ┌ selected token: A | B, delta, KL both ways, cross-entropy, both top-k lists ┐
//! status line: messages, progress, models
//! ```

use ratatui::Frame;
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Position, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Widget, Wrap};

use crate::tui::app::{Mode, ModelState, ScaleMode};
use crate::tui::layout;
use crate::tui::pair::app::{PairApp, Side};
use crate::tui::scale;
use crate::tui::ui::{MIN_HEIGHT, MIN_WIDTH};
use crate::tui::widgets::text_view::SPINNER;
use crate::tui::widgets::{accent_in, error_style_in, faint_in, fit};

/// Panes side by side from this terminal width (each then still has ~70 columns of text).
pub const SIDE_BY_SIDE_WIDTH: u16 = 140;

/// The keys of the two-model view (`?`, and README's TUI section).
pub const PAIR_KEYS: &[(&str, &str)] = &[
    ("← → / h l", "previous / next token (word when the vocabularies differ), in both panes"),
    ("↑ ↓ / k j, PgUp PgDn", "line / page up and down"),
    ("Home End / g G", "first / last token"),
    ("Tab / Shift-Tab", "focus pane A / pane B (the selection is shared)"),
    ("m / M", "colouring: surprisal, entropy (each pane its model), delta_bits, KL(A‖B), KL(B‖A)"),
    ("s", "scale: fitted to both panes / fixed (0–20 bits, delta ±10, KL 0–4)"),
    ("i, Enter on an empty text", "edit; rescored under both models as you type (full rescore)"),
    ("mouse", "click: select (and focus); wheel: scroll"),
    ("?", "this help (any key closes it)"),
    ("q / Esc / Ctrl-C", "quit"),
];

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PairAreas {
    pub too_small: bool,
    pub header: Rect,
    pub legend: Rect,
    pub summary: Rect,
    /// Outer rectangles of pane A and pane B.
    pub panes: [Rect; 2],
    /// Inside their borders: where the text goes.
    pub texts: [Rect; 2],
    pub detail: Rect,
    pub status: Rect,
}

/// Where everything goes for a terminal of `size`.
pub fn areas(app: &PairApp, size: Rect) -> PairAreas {
    if size.width < MIN_WIDTH || size.height < MIN_HEIGHT {
        return PairAreas { too_small: true, ..Default::default() };
    }
    // The detail panel gets what it shows (both top-k lists too) as long as each pane keeps 3 lines
    // of text; the panes get the rest.
    let d = app.detail();
    let want = (d.lines.len() + 1 + d.top.len() + 2).max(6) as u16;
    let stacked = size.width < SIDE_BY_SIDE_WIDTH;
    let panes_min = if stacked { 10 } else { 5 };
    let detail_h = want.min(size.height.saturating_sub(4 + panes_min));
    let [header, legend, summary, panes, detail, status] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Min(panes_min),
        Constraint::Length(detail_h),
        Constraint::Length(1),
    ])
    .areas(size);
    let [a, b] = if !stacked {
        Layout::horizontal([Constraint::Ratio(1, 2); 2]).areas(panes)
    } else {
        Layout::vertical([Constraint::Ratio(1, 2); 2]).areas(panes)
    };
    let inner = |r: Rect| Rect::new(r.x + 1, r.y + 1, r.width.saturating_sub(2), r.height.saturating_sub(2));
    // Both texts wrap at one width (the narrower), so they break into the same lines.
    let (ta, tb) = (inner(a), inner(b));
    let w = ta.width.min(tb.width);
    let texts = [Rect { width: w, ..ta }, Rect { width: w, ..tb }];
    PairAreas { too_small: false, header, legend, summary, panes: [a, b], texts, detail, status }
}

/// Lays the app out for a terminal of `size`. Call before drawing and on resize.
pub fn relayout(app: &mut PairApp, size: Rect) {
    let a = areas(app, size);
    app.relayout(size, a.texts);
}

/// Draws the whole screen.
pub fn draw(frame: &mut Frame, app: &PairApp) {
    let size = frame.area();
    let a = areas(app, size);
    let buf = frame.buffer_mut();
    if a.too_small {
        crate::tui::widgets::too_small::render(size, buf);
        return;
    }
    render_header(app, a.header, buf);
    render_legend(app, a.legend, buf);
    if let Some(s) = app.summary_line() {
        buf.set_stringn(
            a.summary.x,
            a.summary.y,
            fit(&s, a.summary.width as usize),
            a.summary.width as usize,
            Style::default(),
        );
    }
    let mut caret = None;
    for side in [Side::A, Side::B] {
        if let Some(c) = render_pane(app, side, a.panes[side as usize], a.texts[side as usize], buf) {
            caret = Some(c);
        }
    }
    render_detail(app, a.detail, buf);
    render_status(app, a.status, buf);
    if app.mode == Mode::Help {
        render_help(app, size, buf);
    } else if let Some(c) = caret {
        frame.set_cursor_position(c);
    }
}

fn render_header(app: &PairApp, area: Rect, buf: &mut Buffer) {
    let m = app.metric;
    let what = if m.per_model() { "each pane its own model" } else { "one value per position, both panes" };
    let scale = if app.scale == ScaleMode::Fixed { "fixed" } else { "fitted" };
    let level = if app.words() { "words (different vocabularies)" } else { "tokens" };
    let s = format!(" densi · two models · {} ({what}) · {scale} scale · {level} · m colouring · ? keys", m.name());
    buf.set_stringn(area.x, area.y, fit(&s, area.width as usize), area.width as usize, accent_in(app.colors));
}

/// The colour of a value on the app's scale.
fn value_style(app: &PairApp, v: f64, range: (f64, f64)) -> Style {
    if !v.is_finite() {
        return faint_in(app.colors);
    }
    let t = densi::display::scale_position(v, range);
    if app.metric.diverging() {
        scale::diverging_style(t, app.colors)
    } else {
        scale::style_for(t, scale::Paint::Background, app.colors)
    }
}

fn render_legend(app: &PairApp, area: Rect, buf: &mut Buffer) {
    let range = app.scale_range();
    let lo = format!(" {:.1} ", range.0);
    let hi = format!(" {:.1} bits", range.1);
    let mut x = buf.set_stringn(area.x, area.y, &lo, area.width as usize, Style::default()).0;
    let steps = 24u16.min(area.width.saturating_sub(30));
    for i in 0..steps {
        let v = range.0 + (range.1 - range.0) * (i as f64 + 0.5) / steps as f64;
        x = buf.set_stringn(x, area.y, " ", 1, value_style(app, v, range)).0;
    }
    let note = if app.metric.diverging() { " (blue: B less surprised than A; red: more)" } else { "" };
    let rest = area.right().saturating_sub(x) as usize;
    buf.set_stringn(x, area.y, fit(&format!("{hi}{note}"), rest), rest, Style::default());
}

fn render_pane(app: &PairApp, side: Side, outer: Rect, text: Rect, buf: &mut Buffer) -> Option<Position> {
    let focused = side == app.focus;
    let (label, name) = match side {
        Side::A => ("A", &app.model_names[0]),
        Side::B => ("B", &app.model_names[1]),
    };
    let title = format!(" {label} · {name} ");
    let mut block = Block::bordered().title_top(Line::raw(fit(&title, outer.width.saturating_sub(4) as usize)));
    if let Some(p) = app.pending {
        let pct = (p.done * 100).checked_div(p.total).map(|p| format!(" {p}%")).unwrap_or_default();
        let spin = SPINNER[(app.tick % SPINNER.len() as u64) as usize];
        block = block.title_top(Line::styled(format!(" {spin} scoring{pct} "), accent_in(app.colors)).right_aligned());
    }
    if let (Some(e), Side::A) = (&app.error, side) {
        block = block.title_bottom(Line::styled(
            fit(&format!(" {e} "), outer.width.saturating_sub(4) as usize),
            error_style_in(app.colors),
        ));
    }
    let border = if focused { accent_in(app.colors) } else { faint_in(app.colors) };
    block.border_style(border).render(outer, buf);
    if text.width == 0 || text.height == 0 {
        return None;
    }
    let editing = focused && app.mode == Mode::Edit;
    if editing && let Some(ed) = &app.edit {
        return render_editor(&ed.buffer, ed.caret, text, buf);
    }
    if app.shown_text().is_empty() {
        let msg = if app.pending.is_some() { "scoring…" } else { "empty: i or Enter to type" };
        buf.set_stringn(text.x, text.y, msg, text.width as usize, faint_in(app.colors));
        return None;
    }
    let lay = app.layout_for(text.width);
    let range = app.scale_range();
    let values = &app.values[side as usize];
    for (row, line) in lay.lines.iter().skip(app.scroll).take(text.height as usize).enumerate() {
        let y = text.y + row as u16;
        for seg in line {
            if seg.x >= text.width {
                continue;
            }
            let style = match seg.unit {
                Some(u) => {
                    let st = value_style(app, values.get(u).copied().unwrap_or(f64::NAN), range);
                    if u == app.cursor { st.add_modifier(Modifier::REVERSED) } else { st }
                }
                None => Style::default(),
            };
            buf.set_stringn(text.x + seg.x, y, &seg.text, (text.width - seg.x) as usize, style);
        }
    }
    None
}

/// The edit buffer, plain, scrolled so the caret is visible; returns the caret's cell.
fn render_editor(buffer: &str, caret: usize, area: Rect, buf: &mut Buffer) -> Option<Position> {
    let lay = layout::wrap(buffer, &[], area.width);
    let before = layout::wrap(&buffer[..caret], &[], area.width);
    let caret_line = before.lines.len().saturating_sub(1);
    let caret_x = before.lines.last().and_then(|l| l.last()).map_or(0, |s| s.x + s.width);
    let (caret_line, caret_x) = if caret_x >= area.width { (caret_line + 1, 0) } else { (caret_line, caret_x) };
    let top = (caret_line + 1).saturating_sub(area.height as usize);
    for (row, line) in lay.lines.iter().skip(top).take(area.height as usize).enumerate() {
        for seg in line {
            buf.set_stringn(
                area.x + seg.x,
                area.y + row as u16,
                &seg.text,
                (area.width - seg.x) as usize,
                Style::default(),
            );
        }
    }
    Some(Position { x: area.x + caret_x, y: area.y + (caret_line - top) as u16 })
}

fn render_detail(app: &PairApp, area: Rect, buf: &mut Buffer) {
    let title = if app.words() { " selected word: A | B " } else { " selected token: A | B " };
    let block =
        Block::bordered().title_top(Line::styled(title, accent_in(app.colors))).border_style(faint_in(app.colors));
    let inner = block.inner(area);
    block.render(area, buf);
    let w = inner.width as usize;
    let d = app.detail();
    if d.lines.is_empty() {
        let msg = if app.pending.is_some() { "scoring under both models…" } else { "nothing scored yet" };
        buf.set_stringn(inner.x, inner.y, msg, w, faint_in(app.colors));
        return;
    }
    let mut y = inner.y;
    let bold = Style::default().add_modifier(Modifier::BOLD);
    for (i, l) in d.lines.iter().enumerate() {
        if y >= inner.bottom() {
            return;
        }
        let st = if i == 0 { bold } else { Style::default() };
        buf.set_stringn(inner.x, y, fit(l, w), w, st);
        y += 1;
    }
    if d.top.is_empty() || y >= inner.bottom() {
        return;
    }
    let col = w / 2;
    let head = format!("{:<col$}{}", "A's top alternatives", "B's top alternatives");
    buf.set_stringn(inner.x, y, fit(&head, w), w, faint_in(app.colors));
    y += 1;
    for (a, b) in &d.top {
        if y >= inner.bottom() {
            return;
        }
        buf.set_stringn(inner.x, y, fit(a, col.saturating_sub(1)), col, Style::default());
        buf.set_stringn(inner.x + col as u16, y, fit(b, w - col), w - col, Style::default());
        y += 1;
    }
}

fn render_status(app: &PairApp, area: Rect, buf: &mut Buffer) {
    let w = area.width as usize;
    let spin = SPINNER[(app.tick % SPINNER.len() as u64) as usize];
    let (right, right_style) = match &app.model {
        ModelState::Loading(m) => (format!("{spin} loading {m} "), accent_in(app.colors)),
        ModelState::Ready(d) => (format!("{d} "), faint_in(app.colors)),
        ModelState::Failed(_) => ("models failed to load ".to_string(), error_style_in(app.colors)),
    };
    let right = fit(&right, w / 2);
    let rw = right.chars().count();
    let left_w = w.saturating_sub(rw + 1);
    let (msg, st) = match (&app.mode, &app.status) {
        (Mode::Edit, _) => (
            "EDIT: rescored under both models as you type (a full rescore: the prefix cache is single-model); Esc leaves"
                .to_string(),
            accent_in(app.colors),
        ),
        (_, Some((m, true))) => (m.clone(), error_style_in(app.colors)),
        (_, Some((m, false))) => (m.clone(), Style::default()),
        (_, None) => match (app.pending, app.seconds) {
            (Some(p), _) if p.total > 0 => {
                (format!("scoring under A and B: {} of {} (full rescore)", p.done, p.total), faint_in(app.colors))
            }
            (None, Some(s)) => {
                (format!("scored under both models in {s:.2} s · ? keys · q quit · Tab pane · m colouring · i edit"), faint_in(app.colors))
            }
            _ => ("? keys · q quit · Tab pane · m colouring · i edit".to_string(), faint_in(app.colors)),
        },
    };
    buf.set_stringn(area.x, area.y, fit(&msg, left_w), left_w, st);
    buf.set_stringn(area.right().saturating_sub(rw as u16), area.y, &right, rw, right_style);
}

fn render_help(app: &PairApp, size: Rect, buf: &mut Buffer) {
    let w = size.width.saturating_sub(4).min(110);
    let h = size.height.saturating_sub(2);
    let area = Rect::new(size.x + (size.width - w) / 2, size.y + (size.height - h) / 2, w, h);
    Clear.render(area, buf);
    let mut lines: Vec<Line> = PAIR_KEYS
        .iter()
        .map(|(k, v)| Line::from(vec![Span::styled(format!("{k:>26}  "), accent_in(app.colors)), Span::raw(*v)]))
        .collect();
    lines.push(Line::raw(""));
    lines.push(Line::raw(
        "A is the reference. delta_bits = surprisal_B − surprisal_A; KL(A‖B) = Σ p_A log₂(p_A/p_B); cross-entropy A→B = −Σ p_A log₂ p_B. Binoculars = mean surprisal under B / mean cross-entropy A→B (A observer, B performer). Different vocabularies: words paired by byte span, delta only (no KL).",
    ));
    Paragraph::new(lines)
        .wrap(Wrap { trim: false })
        .block(
            Block::bordered()
                .title_top(Line::styled(" densi tui, two models: keys (any key closes) ", accent_in(app.colors))),
        )
        .render(area, buf);
}
