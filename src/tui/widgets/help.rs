//! `?`: every key, and the rules behind think points, word values and the colour scale.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Block, Clear, Paragraph, Widget, Wrap};

use crate::tui::app::{App, THINK_ENTROPY_BITS, THINK_EXCESS_BITS, THINK_VARENTROPY_BITS2};
use crate::tui::widgets::accent;

/// The key list, also printed in docs/tui.md.
pub const KEYS: &[(&str, &str)] = &[
    ("← → / h l", "previous / next token (word in word view)"),
    ("↑ ↓ / k j", "line up / down"),
    ("Home End / g G", "first / last token"),
    ("PgUp PgDn / Space", "page up / down"),
    ("mouse", "click: cursor (and focus); hover: cursor in the focused pane; wheel: scroll"),
    ("n / N", "next / previous token at or above the threshold of the current metric"),
    ("+ / -", "raise / lower that threshold"),
    ("m / M", "next / previous metric: surprisal, entropy, varentropy, surprisal − entropy, rank"),
    ("s", "scale: fitted to all panes (one shared scale) / fixed (0–20 bits)"),
    ("c", "colour the background / the text"),
    ("w", "word view / token view"),
    ("t", "list: densest sentences / think points"),
    ("[ / ]", "previous / next list item (jumps to it)"),
    ("Tab / Shift-Tab", "next / previous pane"),
    ("S", "synchronized scrolling on / off"),
    ("a", "add a pane (up to 4) and type its text"),
    ("x", "close the pane"),
    ("i, Enter on an empty pane", "edit the text, rescored as you type; Esc or Ctrl-S leaves"),
    ("o", "open a file into a pane"),
    ("e / E", "export this pane / all panes (asks for the file name)"),
    ("?", "this help (any key closes it)"),
    ("q / Esc / Ctrl-C", "quit"),
];

pub fn rules() -> Vec<String> {
    vec![
        format!(
            "Think points (underlined; italic without colour): tokens where entropy ≥ {THINK_ENTROPY_BITS} bits and varentropy ≥ {THINK_VARENTROPY_BITS2} bits² (the model is unsure and torn between very different continuations), or surprisal − entropy ≥ {THINK_EXCESS_BITS} bits (far more surprising than the model expected)."
        ),
        "Words (as in export --level word): surprisal is the sum over the word's tokens; entropy, varentropy and rank are those before its first token. Densest sentences: highest mean bits per token.".into(),
        "Scale: fitted = 0 to the largest value in any pane (surprisal − entropy: smallest to largest); fixed = 0–20 bits, 0–40 bits² for varentropy, −10–+10 bits for surprisal − entropy. Rank: GLTR buckets 1, 2–10, 11–100, 101–1000, >1000.".into(),
    ]
}

pub fn render(app: &App, size: Rect, buf: &mut Buffer) {
    let w = size.width.saturating_sub(4).min(110);
    let h = size.height.saturating_sub(2);
    let area = Rect::new(size.x + (size.width - w) / 2, size.y + (size.height - h) / 2, w, h);
    Clear.render(area, buf);
    let mut lines: Vec<Line> = Vec::new();
    for (k, v) in KEYS {
        lines.push(Line::from(vec![
            ratatui::text::Span::styled(format!("{k:>25}  "), accent(app)),
            ratatui::text::Span::raw(*v),
        ]));
    }
    lines.push(Line::raw(""));
    for r in rules() {
        lines.push(Line::raw(r));
    }
    Paragraph::new(lines)
        .wrap(Wrap { trim: false })
        .block(Block::bordered().title_top(Line::styled(" densi tui: keys (any key closes) ", accent(app))))
        .render(area, buf);
}
