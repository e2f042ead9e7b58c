//! The token under the cursor: its text with invisible characters made visible, id, offsets, every
//! metric, and the model's top alternatives with their probabilities as bars.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Widget};

use crate::tui::app::{App, THINK_ENTROPY_BITS, THINK_EXCESS_BITS, THINK_VARENTROPY_BITS2, is_think_point};
use crate::tui::layout::View;
use crate::tui::widgets::{accent, faint, fit, token_text, visible};

pub fn render(app: &App, area: Rect, buf: &mut Buffer) {
    let p = app.pane();
    let title = if app.view == View::Words { " word under cursor " } else { " token under cursor " };
    let block = Block::bordered().title_top(Line::styled(title, accent(app))).border_style(faint(app));
    let inner = block.inner(area);
    block.render(area, buf);
    let w = inner.width as usize;
    let (Some(score), Some(unit)) = (&p.score, p.units.get(p.cursor)) else {
        let msg = if p.pending.is_some() { "scoring…" } else { "nothing scored yet" };
        buf.set_stringn(inner.x, inner.y, msg, w, faint(app));
        return;
    };
    let t = &score.tokens[unit.first];
    let bold = Style::default().add_modifier(Modifier::BOLD);
    let mut lines: Vec<Vec<(String, Style)>> = Vec::new();
    if app.view == View::Words && unit.last > unit.first {
        let word = &score.text[unit.bytes.clone()];
        let s: f64 = score.tokens[unit.first..=unit.last].iter().filter(|t| t.scored).map(|t| t.surprisal_bits).sum();
        lines.push(vec![
            (format!("word '{}' ", visible(word)), bold),
            (format!("{} tokens, Σ surprisal {s:.2} bits", unit.last - unit.first + 1), faint(app)),
        ]);
    }
    lines.push(vec![
        (format!("'{}'", visible(&t.token)), bold),
        (
            if std::str::from_utf8(&t.bytes).is_err() {
                format!(" (part of '{}')", token_text(score, t).trim_start_matches('~'))
            } else {
                String::new()
            },
            faint(app),
        ),
        (
            {
                let mut s = format!("  id {} · #{} · bytes {}..{}", t.id, t.index, t.byte_start, t.byte_end);
                if (t.char_start, t.char_end) != (t.byte_start, t.byte_end) {
                    s.push_str(&format!(" · chars {}..{}", t.char_start, t.char_end));
                }
                s
            },
            faint(app),
        ),
    ]);
    if !t.scored {
        lines.push(vec![("not scored: no context before the first token (--bos none)".into(), faint(app))]);
    } else {
        lines.push(vec![(
            format!("surprisal {:6.2} bits · p {:.3}% · rank {}", t.surprisal_bits, t.probability * 100.0, t.rank),
            Style::default(),
        )]);
        lines.push(vec![(
            format!("entropy   {:6.2} bits · varentropy {:.2} bits²", t.entropy_bits, t.varentropy_bits2),
            Style::default(),
        )]);
        // excess = surprisal − entropy; z = excess / √varentropy (0 when V = 0): metrics::TokenScore.
        lines.push(vec![(format!("surprisal − entropy {:+.2} bits · z {:+.2}", t.excess_bits, t.z), Style::default())]);
        if t.boundary_bits.is_finite() {
            lines.push(vec![(
                format!("new word here: p {:.1}% ({:.2} bits)", 100.0 * (-t.boundary_bits).exp2(), t.boundary_bits),
                faint(app),
            )]);
        }
        if is_think_point(t) {
            let why = if t.entropy_bits >= THINK_ENTROPY_BITS && t.varentropy_bits2 >= THINK_VARENTROPY_BITS2 {
                format!("H ≥ {THINK_ENTROPY_BITS} and V ≥ {THINK_VARENTROPY_BITS2}")
            } else {
                format!("S − H ≥ {THINK_EXCESS_BITS}")
            };
            lines.push(vec![(format!("◆ think point ({why})"), accent(app))]);
        }
        if !t.top.is_empty() {
            lines.push(vec![(format!("top {} alternatives:", t.top.len()), faint(app))]);
        }
    }
    let mut y = inner.y;
    for l in &lines {
        if y >= inner.bottom() {
            return;
        }
        let mut x = inner.x;
        for (s, st) in l {
            if x < inner.right() {
                x = buf.set_stringn(x, y, s, (inner.right() - x) as usize, *st).0;
            }
        }
        y += 1;
    }
    // Alternatives: token, bar, probability; the actual token is marked.
    let tok_w = 14usize.min(w / 3);
    let bar_w = w.saturating_sub(tok_w + 12).max(1);
    for alt in &t.top {
        if y >= inner.bottom() {
            break;
        }
        let is_it = alt.id == t.id;
        let name = fit(&format!("'{}'", visible(&alt.token)), tok_w);
        let cells = (alt.probability.clamp(0.0, 1.0) * bar_w as f64 * 8.0).round() as usize;
        let mut bar = "█".repeat(cells / 8);
        if !cells.is_multiple_of(8) {
            bar.push(['▏', '▎', '▍', '▌', '▋', '▊', '▉'][cells % 8 - 1]);
        }
        let st = if is_it { bold } else { Style::default() };
        let mut x = inner.x;
        x = buf.set_stringn(x, y, format!("{}{name:<tok_w$}", if is_it { "▶" } else { " " }), w, st).0;
        x = buf.set_stringn(x + 1, y, format!("{bar:<bar_w$}"), bar_w, accent(app)).0;
        buf.set_stringn(
            x,
            y,
            format!(" {:6.2}%", alt.probability * 100.0),
            (inner.right().saturating_sub(x)) as usize,
            st,
        );
        y += 1;
    }
}
