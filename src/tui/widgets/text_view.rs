//! A pane: its text coloured token by token (only the visible lines are drawn), its summary and the
//! difference from the first pane, or the editor when the pane is being edited.

use ratatui::buffer::Buffer;
use ratatui::layout::Position;
use ratatui::style::{Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Widget};

use crate::tui::app::{App, Mode, Pane};
use crate::tui::layout::{self, Unit};
use crate::tui::scale::{self, ColorSupport};
use crate::tui::ui::PaneAreas;
use crate::tui::widgets::{accent, error_style, faint, fit};
use densi::metrics::Summary;

pub const SPINNER: [&str; 8] = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧"];

/// The pane's summary and its difference from the first pane; shorter forms for narrow panes.
fn summary_line(s: &Summary, first: Option<&Summary>, width: usize) -> String {
    let delta = |long: bool| match first {
        Some(f) if long => format!(
            "· Δ1 {:+.1} bits {:+.2} b/tok ",
            s.total_bits - f.total_bits,
            s.mean_bits_per_token - f.mean_bits_per_token
        ),
        Some(f) => format!("· Δ1 {:+.1} b ", s.total_bits - f.total_bits),
        None => String::new(),
    };
    let long = format!(
        " {:.1} bits · {:.2} b/tok {}· {:.2} b/ch · ppl {:.1} ",
        s.total_bits,
        s.mean_bits_per_token,
        delta(true),
        s.bits_per_char,
        s.perplexity
    );
    if long.chars().count() <= width {
        return long;
    }
    let mid = format!(" {:.1} bits · {:.2} b/tok {}", s.total_bits, s.mean_bits_per_token, delta(true));
    if mid.chars().count() <= width {
        return mid;
    }
    format!(" {:.1} b · {:.2} b/t {}", s.total_bits, s.mean_bits_per_token, delta(false))
}

/// Draws pane `i`; returns where the terminal caret goes when the pane is being edited.
pub fn render(app: &App, i: usize, areas: &PaneAreas, buf: &mut Buffer) -> Option<Position> {
    let p = &app.panes[i];
    let focused = i == app.focus;
    let editing = focused && app.mode == Mode::Edit && p.edit.is_some();

    // A path is shown by its file name (the full name is in exports).
    let short = std::path::Path::new(&p.name).file_name().map(|n| n.to_string_lossy()).filter(|_| p.name.contains('/'));
    let mut title = format!(" {} {} ", i + 1, short.as_deref().unwrap_or(&p.name));
    if let Some(s) = &p.score {
        title.push_str(&format!("· {} tok ", s.summary.tokens));
    }
    let mut block = Block::bordered().title_top(Line::raw(fit(&title, areas.outer.width.saturating_sub(4) as usize)));
    if let Some(pend) = p.pending {
        let pct = (pend.done * 100).checked_div(pend.total).map(|p| format!(" {p}%")).unwrap_or_default();
        let spin = SPINNER[(app.tick % SPINNER.len() as u64) as usize];
        block = block.title_top(Line::styled(format!(" {spin} scoring{pct} "), accent(app)).right_aligned());
    } else if editing {
        block = block.title_top(Line::styled(" EDIT · Esc: done ", accent(app)).right_aligned());
    }
    if let Some(e) = &p.error {
        block = block.title_bottom(Line::styled(
            fit(&format!(" {e} "), areas.outer.width.saturating_sub(4) as usize),
            error_style(app),
        ));
    } else if let Some(s) = &p.score {
        let first = (i > 0).then(|| app.panes[0].score.as_ref().map(|s| &s.summary)).flatten();
        let w = areas.outer.width.saturating_sub(4) as usize;
        block = block.title_bottom(Line::raw(fit(&summary_line(&s.summary, first, w), w)));
    }
    let border = if focused { accent(app) } else { faint(app) };
    block.border_style(border).render(areas.outer, buf);

    let area = areas.text;
    if area.width == 0 || area.height == 0 {
        return None;
    }
    if editing {
        return render_editor(app, p, area, buf);
    }
    if p.shown_text().is_empty() {
        let msg = if p.pending.is_some() { "scoring…" } else { "empty: i or Enter to type, o to open a file" };
        buf.set_stringn(area.x, area.y, msg, area.width as usize, faint(app));
        return None;
    }
    let lay = p.layout_for(area.width);
    let range = app.scale_range();
    let cursor = if focused { display_cursor(p) } else { None };
    for (row, line) in lay.lines.iter().skip(p.scroll).take(area.height as usize).enumerate() {
        let y = area.y + row as u16;
        for seg in line {
            if seg.x >= area.width {
                continue;
            }
            let style = match seg.unit {
                Some(u) => unit_style(app, p, u, range, cursor == Some(u)),
                None => Style::default(),
            };
            buf.set_stringn(area.x + seg.x, y, &seg.text, (area.width - seg.x) as usize, style);
        }
    }
    None
}

/// The unit that shows the cursor: a token that paints nothing (the second half of a split
/// character) shows it on the token that painted the character.
fn display_cursor(p: &Pane) -> Option<usize> {
    let mut u = p.cursor;
    while u > 0 && p.units.get(u)?.bytes.is_empty() {
        u -= 1;
    }
    (u < p.units.len()).then_some(u)
}

/// A unit's style: colour (or NO_COLOR level) by its value, think points marked, the cursor reversed.
pub fn unit_style(app: &App, p: &Pane, u: usize, range: (f64, f64), is_cursor: bool) -> Style {
    let v = p.values.get(u).copied().unwrap_or(f64::NAN);
    let mut st =
        if v.is_finite() { scale::style_for(app.scale_t(v, range), app.paint, app.colors) } else { faint(app) };
    if is_think_unit(p, &p.units[u]) {
        st = st.add_modifier(if app.colors == ColorSupport::None { Modifier::ITALIC } else { Modifier::UNDERLINED });
    }
    if is_cursor {
        st = st.add_modifier(Modifier::REVERSED);
    }
    st
}

fn is_think_unit(p: &Pane, u: &Unit) -> bool {
    let i = p.think.partition_point(|&t| t < u.first);
    p.think.get(i).is_some_and(|&t| t <= u.last)
}

/// The editor: the buffer wrapped at the pane's width, scrolled so the caret is visible. The part
/// equal to the text of the latest result is coloured by it (the buffer is rescored as the user
/// types); the rest is plain until its result comes.
fn render_editor(app: &App, p: &Pane, area: ratatui::layout::Rect, buf: &mut Buffer) -> Option<Position> {
    let ed = p.edit.as_ref()?;
    let scored = p.scored_units_in_buffer();
    let lay = layout::wrap(&ed.buffer, scored, area.width);
    // The caret sits where the text before it ends (wrapped with the same units, so the lines agree).
    let scored_before = &scored[..scored.partition_point(|u| u.bytes.end <= ed.caret)];
    let before = layout::wrap(&ed.buffer[..ed.caret], scored_before, area.width);
    let range = app.scale_range();
    let caret_line = before.lines.len() - 1;
    let caret_x = before.lines.last().and_then(|l| l.last()).map_or(0, |s| s.x + s.width);
    let (caret_line, caret_x) = if caret_x >= area.width { (caret_line + 1, 0) } else { (caret_line, caret_x) };
    let top = (caret_line + 1).saturating_sub(area.height as usize);
    for (row, line) in lay.lines.iter().skip(top).take(area.height as usize).enumerate() {
        for seg in line {
            let style = seg.unit.map_or(Style::default(), |u| unit_style(app, p, u, range, false));
            buf.set_stringn(area.x + seg.x, area.y + row as u16, &seg.text, (area.width - seg.x) as usize, style);
        }
    }
    Some(Position { x: area.x + caret_x, y: area.y + (caret_line - top) as u16 })
}
