//! The header line (metric, scale, view, threshold) and the legend: the colour scale in bits.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};

use crate::tui::app::{App, Metric, RANK_BUCKETS, ScaleMode};
use crate::tui::layout::View;
use crate::tui::scale::{self, ColorSupport, Paint};
use crate::tui::widgets::{accent, faint};

pub fn render_header(app: &App, area: Rect, buf: &mut Buffer) {
    let (lo, hi) = app.scale_range();
    let m = app.metric;
    let unit = if m.unit().is_empty() { String::new() } else { format!(" [{}]", m.unit()) };
    let scale = match (app.scale, m) {
        (_, Metric::Rank) => "GLTR buckets".to_string(),
        (ScaleMode::Fixed, _) => format!("fixed {}–{}", m.fmt(lo), m.fmt(hi)),
        (ScaleMode::Fitted, _) => format!("fitted {}–{}", m.fmt(lo), m.fmt(hi)),
    };
    let view = if app.view == View::Tokens { "tokens" } else { "words" };
    let paint = if app.paint == Paint::Background { "bg" } else { "fg" };
    let parts = [
        (" densi ".to_string(), accent(app).add_modifier(Modifier::BOLD | Modifier::REVERSED)),
        (format!(" {}{unit} ", m.name()), Style::default().add_modifier(Modifier::BOLD)),
        ("(m) │ ".into(), faint(app)),
        (format!("scale {scale} "), Style::default()),
        ("(s) │ ".into(), faint(app)),
        (format!("{view} "), Style::default()),
        ("(w) │ ".into(), faint(app)),
        (format!("{paint} "), Style::default()),
        ("(c) │ ".into(), faint(app)),
        (format!("n/N ≥ {} ", m.fmt(app.threshold())), Style::default()),
        ("(+/-) │ ".into(), faint(app)),
        (format!("sync {} ", if app.sync_scroll { "on" } else { "off" }), Style::default()),
        ("(S) │ ".into(), faint(app)),
        ("? keys".into(), accent(app)),
    ];
    let mut x = area.x;
    for (s, st) in parts {
        if x >= area.right() {
            break;
        }
        let (nx, _) = buf.set_stringn(x, area.y, &s, (area.right() - x) as usize, st);
        x = nx;
    }
}

/// The scale: a colour bar from the low to the high end, labelled in the metric's unit.
pub fn render(app: &App, area: Rect, buf: &mut Buffer) {
    let m = app.metric;
    let range = app.scale_range();
    let mut x = area.x + 1;
    let y = area.y;
    let put = |buf: &mut Buffer, x: &mut u16, s: &str, st: Style| {
        if *x < area.right() {
            let (nx, _) = buf.set_stringn(*x, y, s, (area.right() - *x) as usize, st);
            *x = nx;
        }
    };
    if m == Metric::Rank {
        put(buf, &mut x, "rank: ", faint(app));
        for (i, label) in RANK_BUCKETS.iter().enumerate() {
            let st = scale::style_for(i as f64 / 4.0, app.paint, app.colors);
            put(buf, &mut x, &format!(" {label} "), st);
            put(buf, &mut x, " ", Style::default());
        }
    } else if app.colors == ColorSupport::None {
        // Four levels, each with its range.
        let (lo, hi) = range;
        let names = ["dim", "plain", "bold", "bold+underline"];
        for (i, name) in names.iter().enumerate() {
            let a = lo + (hi - lo) * i as f64 / 4.0;
            let label = if i == 3 {
                format!("≥{}", m.fmt(a))
            } else {
                format!("<{}", m.fmt(lo + (hi - lo) * (i + 1) as f64 / 4.0))
            };
            put(buf, &mut x, &format!("{name} {label}"), Style::default().add_modifier(scale::level_modifier(i)));
            put(buf, &mut x, "  ", Style::default());
        }
        put(buf, &mut x, m.unit(), faint(app));
    } else {
        let (lo, hi) = range;
        put(buf, &mut x, &format!("{} ", m.fmt(lo)), Style::default());
        let w: u16 = 32;
        for i in 0..w {
            let t = (i as f64 + 0.5) / w as f64;
            let st = match app.paint {
                Paint::Background => scale::style_for(t, Paint::Background, app.colors),
                Paint::Foreground => scale::style_for(t, Paint::Foreground, app.colors),
            };
            let sym = if app.paint == Paint::Background { " " } else { "█" };
            put(buf, &mut x, sym, st);
        }
        put(buf, &mut x, &format!(" {} {}", m.fmt(hi), m.unit()), Style::default());
    }
    let mark = if app.colors == ColorSupport::None { "italic" } else { "underlined" };
    put(buf, &mut x, &format!("   {mark} = think point   "), faint(app));
    put(buf, &mut x, "reversed = cursor", faint(app));
}
