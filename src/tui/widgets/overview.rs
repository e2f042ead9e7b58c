//! Overview of the focused pane: a sparkline of surprisal over the whole text with the cursor's
//! position marked, a histogram of the chosen metric on the shared scale, and the text's summary.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::Line;
use ratatui::widgets::{Block, Widget};

use crate::tui::app::{App, Metric};
use crate::tui::scale::{self, Paint};
use crate::tui::widgets::{accent, faint};

const BARS: [char; 9] = [' ', '▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// Max of `values` over `n` equal buckets (the peaks are what matter in a surprisal trace).
pub fn bucket_max(values: &[f64], n: usize) -> Vec<f64> {
    if values.is_empty() || n == 0 {
        return Vec::new();
    }
    let n = n.min(values.len());
    (0..n)
        .map(|b| {
            let (s, e) = (b * values.len() / n, ((b + 1) * values.len() / n).max(b * values.len() / n + 1));
            values[s..e].iter().copied().filter(|v| v.is_finite()).fold(0.0, f64::max)
        })
        .collect()
}

/// A vertical bar of `height` rows: the symbol for row `r` (0 = bottom) at fill `f` ∈ [0, 1].
fn bar_cell(f: f64, height: usize, r: usize) -> char {
    let eighths = (f.clamp(0.0, 1.0) * (height * 8) as f64).round() as usize;
    BARS[eighths.saturating_sub(r * 8).min(8)]
}

pub fn render(app: &App, area: Rect, buf: &mut Buffer) {
    let block = Block::bordered().title_top(Line::styled(" overview ", accent(app))).border_style(faint(app));
    let inner = block.inner(area);
    block.render(area, buf);
    let p = app.pane();
    let Some(score) = &p.score else {
        buf.set_stringn(inner.x, inner.y, "nothing scored yet", inner.width as usize, faint(app));
        return;
    };
    let w = inner.width as usize;
    if w < 4 || inner.height < 5 {
        return;
    }
    // Sparkline: surprisal per token on 0–20 bits, 2 rows, max per column.
    let surprisal: Vec<f64> = score.tokens.iter().map(|t| t.surprisal_bits).collect();
    // A short text gets k columns per token; a long one the max over the tokens of each column.
    let k = (w / surprisal.len().max(1)).max(1);
    let cols: Vec<f64> = bucket_max(&surprisal, w).into_iter().flat_map(|v| std::iter::repeat_n(v, k)).collect();
    for (c, v) in cols.iter().enumerate() {
        let f = v / 20.0;
        let st = scale::style_for(f, Paint::Foreground, app.colors);
        for r in 0..2 {
            let y = inner.y + 1 - r as u16;
            buf.set_string(inner.x + c as u16, y, bar_cell(f, 2, r).to_string(), st);
        }
    }
    // Cursor marker under the sparkline.
    if let Some(t) = p.cursor_token() {
        let n = surprisal.len().max(1);
        let c = if k > 1 { t * k + k / 2 } else { t * w / n };
        let c = (c as u16).min(inner.width - 1);
        // The label goes on the side away from the marker.
        let label = "surprisal, 0–20 bits";
        let lw = label.chars().count() as u16;
        let lx = if c < inner.width / 2 { inner.right().saturating_sub(lw) } else { inner.x };
        if lw + 2 <= inner.width {
            buf.set_stringn(lx, inner.y + 2, label, w, faint(app));
        }
        buf.set_string(inner.x + c, inner.y + 2, "▲", accent(app));
    }

    // Histogram of the current metric over the shared scale.
    let hist_h = (inner.height as usize).saturating_sub(6).max(1);
    let range = app.scale_range();
    let bins = if app.metric == Metric::Rank { 5 } else { w.min(40) };
    let mut counts = vec![0usize; bins];
    for v in p.values.iter().filter(|v| v.is_finite()) {
        let t = app.scale_t(*v, range);
        counts[((t * bins as f64) as usize).min(bins - 1)] += 1;
    }
    let max = counts.iter().copied().max().unwrap_or(0).max(1);
    let col_w = (w / bins).max(1);
    let top = inner.y + 3;
    for (b, &c) in counts.iter().enumerate() {
        let f = c as f64 / max as f64;
        let st = scale::style_for((b as f64 + 0.5) / bins as f64, Paint::Foreground, app.colors);
        for r in 0..hist_h {
            let y = top + (hist_h - 1 - r) as u16;
            let sym: String = std::iter::repeat_n(bar_cell(f, hist_h, r), col_w).collect();
            buf.set_stringn(inner.x + (b * col_w) as u16, y, sym, w.saturating_sub(b * col_w), st);
        }
    }
    let axis_y = top + hist_h as u16;
    let lo = app.metric.fmt(range.0);
    let hi = format!("{} {}", app.metric.fmt(range.1), app.metric.unit());
    buf.set_stringn(inner.x, axis_y, &lo, w, faint(app));
    let mid = "histogram".to_string();
    buf.set_stringn(
        inner.x + (lo.len() as u16 + 1).min(inner.width),
        axis_y,
        &mid,
        w.saturating_sub(lo.len() + hi.len() + 2),
        faint(app),
    );
    let hx = inner.right().saturating_sub(hi.chars().count() as u16);
    buf.set_stringn(hx, axis_y, &hi, w, faint(app));

    let s = &score.summary;
    let lines = [
        format!("{} tokens · {:.1} bits total · {:.2} bits/token", s.tokens, s.total_bits, s.mean_bits_per_token),
        format!("{:.3} bits/char · perplexity {:.2}", s.bits_per_char, s.perplexity),
    ];
    for (i, l) in lines.iter().enumerate() {
        let y = axis_y + 1 + i as u16;
        if y < inner.bottom() {
            buf.set_stringn(inner.x, y, l, w, Style::default());
        }
    }
}
