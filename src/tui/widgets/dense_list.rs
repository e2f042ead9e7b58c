//! Where the focused text is dense: its densest sentences (ranked by bits per token; total bits shown
//! too) or its think
//! points, each jumpable with `[` / `]` or a click.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Widget};

use crate::tui::app::{App, ListKind};
use crate::tui::widgets::{accent, faint, fit, token_text, visible_breaks};

/// The first item shown so that item `sel` is visible in `height` rows.
pub fn first_visible(sel: usize, height: usize) -> usize {
    sel.saturating_sub(height.saturating_sub(1))
}

pub fn render(app: &App, area: Rect, buf: &mut Buffer) {
    let p = app.pane();
    let title = match app.list {
        ListKind::Sentences => " densest sentences ",
        ListKind::ThinkPoints => " think points ",
    };
    let block = Block::bordered()
        .title_top(Line::styled(title, accent(app)))
        .title_top(Line::styled(" t · [ ] ", faint(app)).right_aligned())
        .border_style(faint(app));
    let inner = block.inner(area);
    block.render(area, buf);
    let w = inner.width as usize;
    if inner.height < 2 {
        return;
    }
    let Some(score) = &p.score else {
        buf.set_stringn(inner.x, inner.y, "nothing scored yet", w, faint(app));
        return;
    };
    let header = match app.list {
        ListKind::Sentences => "  bits  b/tok  sentence",
        ListKind::ThinkPoints => "   # token           H     V   S−H",
    };
    buf.set_stringn(inner.x, inner.y, header, w, faint(app));
    let list_h = (inner.height - 1) as usize;
    let n = match app.list {
        ListKind::Sentences => p.sentences.len(),
        ListKind::ThinkPoints => p.think.len(),
    };
    if n == 0 {
        let msg = match app.list {
            ListKind::Sentences => "no sentences",
            ListKind::ThinkPoints => "no think points (see ? for the rule)",
        };
        buf.set_stringn(inner.x, inner.y + 1, msg, w, faint(app));
        return;
    }
    // Only the visible rows are formatted (a long text has thousands of sentences).
    let row_text = |k: usize| match app.list {
        ListKind::Sentences => {
            let s = &p.sentences[k];
            let text = visible_breaks(&s.text);
            format!("{:6.1} {:6.2}  {}", s.surprisal_bits, s.mean_bits_per_token(), fit(&text, w))
        }
        ListKind::ThinkPoints => {
            let i = p.think[k];
            let t = &score.tokens[i];
            let tok = fit(&format!("'{}'", token_text(score, t)), 12);
            format!(
                "{i:4} {tok:<12}{:5.1} {:5.1} {:+5.1}",
                t.entropy_bits,
                t.varentropy_bits2,
                t.surprisal_bits - t.entropy_bits
            )
        }
    };
    let first = first_visible(app.list_sel, list_h);
    for k in (first..n).take(list_h) {
        let row = row_text(k);
        let y = inner.y + 1 + (k - first) as u16;
        let st = if k == app.list_sel { Style::default().add_modifier(Modifier::REVERSED) } else { Style::default() };
        buf.set_stringn(inner.x, y, fit(&row, w), w, st);
    }
}
