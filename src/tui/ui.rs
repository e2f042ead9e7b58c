//! The draw function: app state → frame. Pure: it reads the state and writes cells, nothing else.
//!
//! ```text
//! ┌header: metric, scale, view, threshold──────────────────────────────────────┐
//! │legend: the colour scale in bits                                             │
//! ├ pane 1 ───────────┬ pane 2 ───────────┬ pane 3 ───────────┐  (2×2 grid when narrow)
//! │ coloured text     │                   │                   │
//! └ summary, Δ vs 1 ──┴───────────────────┴───────────────────┘
//! ┌ token under cursor ──┬ overview ───────────┬ densest sentences / think points ┐
//! └──────────────────────┴─────────────────────┴──────────────────────────────────┘
//! status line: messages, progress, model
//! ```

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Position, Rect};

use crate::tui::app::{App, Mode};
use crate::tui::widgets;

/// Below this the layout breaks; a message says so instead.
pub const MIN_WIDTH: u16 = 60;
pub const MIN_HEIGHT: u16 = 20;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PaneAreas {
    pub outer: Rect,
    /// Inside the border: where the text goes.
    pub text: Rect,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Areas {
    pub too_small: bool,
    pub header: Rect,
    pub legend: Rect,
    pub panes: Vec<PaneAreas>,
    pub detail: Rect,
    pub overview: Rect,
    pub list: Rect,
    /// The rows of the list's items.
    pub list_inner: Option<Rect>,
    pub status: Rect,
}

/// Lays the app out for a terminal of `size` (each pane's text wrapped to its area, cursors on
/// screen). Call before drawing and on resize.
pub fn relayout(app: &mut App, size: Rect) {
    let text_areas: Vec<Rect> = areas(app, size).panes.iter().map(|p| p.text).collect();
    app.relayout(size, &text_areas);
}

/// Where everything goes for a terminal of `size` (used by drawing, mouse hits and paging alike).
pub fn areas(app: &App, size: Rect) -> Areas {
    if size.width < MIN_WIDTH || size.height < MIN_HEIGHT {
        return Areas { too_small: true, ..Default::default() };
    }
    // Short texts leave the panes mostly empty: give the spare rows to the panels below (up to 20).
    // Pane widths do not depend on the height, so a provisional split tells each pane's line count.
    let n = app.panes.len().max(1);
    let provisional = pane_rects(Rect::new(size.x, 0, size.width, size.height), n);
    let rows_of_panes = if provisional.iter().any(|r| r.y != provisional[0].y) { 2 } else { 1 };
    let need =
        app.panes
            .iter()
            .zip(&provisional)
            .map(|(p, r)| {
                if p.edit.is_some() {
                    size.height as usize
                } else {
                    p.layout_for(r.width.saturating_sub(2)).lines.len()
                }
            })
            .max()
            .unwrap_or(1)
            .max(3);
    let panes_h_needed = need.saturating_add(2).saturating_mul(rows_of_panes).min(u16::MAX as usize) as u16;
    let spare = size.height.saturating_sub(3 + panes_h_needed);
    let bottom_h = (size.height * 2 / 5).clamp(9, 14).max(spare.min(20));
    let [header, legend, panes, bottom, status] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Min(4),
        Constraint::Length(bottom_h),
        Constraint::Length(1),
    ])
    .areas(size);
    let [detail, overview, list] =
        Layout::horizontal([Constraint::Percentage(38), Constraint::Percentage(30), Constraint::Percentage(32)])
            .areas(bottom);

    let rects = pane_rects(panes, n);
    let panes = rects
        .into_iter()
        .map(|outer| PaneAreas {
            outer,
            text: Rect::new(outer.x + 1, outer.y + 1, outer.width.saturating_sub(2), outer.height.saturating_sub(2)),
        })
        .collect();
    // List items: inside the border, below its one-line column header.
    let list_inner =
        (list.height > 3).then(|| Rect::new(list.x + 1, list.y + 2, list.width.saturating_sub(2), list.height - 3));
    Areas { too_small: false, header, legend, panes, detail, overview, list, list_inner, status }
}

/// Side by side when every pane gets at least 30 columns, else a grid of two rows.
fn pane_rects(panes: Rect, n: usize) -> Vec<Rect> {
    if n == 1 || panes.width / n as u16 >= 30 {
        Layout::horizontal(vec![Constraint::Ratio(1, n as u32); n]).split(panes).to_vec()
    } else {
        let cols = n.div_ceil(2);
        let rows = Layout::vertical([Constraint::Ratio(1, 2); 2]).split(panes);
        let mut out = Vec::new();
        for (r, row) in rows.iter().enumerate() {
            let in_row = if r == 0 { cols } else { n - cols };
            out.extend(
                Layout::horizontal(vec![Constraint::Ratio(1, in_row as u32); in_row]).split(*row).iter().copied(),
            );
        }
        out
    }
}

/// Draws the whole screen.
pub fn draw(frame: &mut Frame, app: &App) {
    let size = frame.area();
    let a = areas(app, size);
    let buf = frame.buffer_mut();
    if a.too_small {
        widgets::too_small::render(size, buf);
        return;
    }
    widgets::legend::render_header(app, a.header, buf);
    widgets::legend::render(app, a.legend, buf);
    let mut caret: Option<Position> = None;
    for (i, pa) in a.panes.iter().enumerate() {
        if let Some(c) = widgets::text_view::render(app, i, pa, buf) {
            caret = Some(c);
        }
    }
    widgets::detail::render(app, a.detail, buf);
    widgets::overview::render(app, a.overview, buf);
    widgets::dense_list::render(app, a.list, buf);
    if let Some(c) = widgets::status::render(app, a.status, buf) {
        caret = Some(c);
    }
    if app.mode == Mode::Help {
        widgets::help::render(app, size, buf);
    } else if let Some(c) = caret {
        frame.set_cursor_position(c);
    }
}
