//! One module per widget. Each draws one part of the screen from the app state into a buffer.

pub mod dense_list;
pub mod detail;
pub mod help;
pub mod legend;
pub mod overview;
pub mod status;
pub mod text_view;
pub mod too_small;

use ratatui::style::{Color, Modifier, Style};

use crate::tui::app::App;
use crate::tui::scale::ColorSupport;

/// Chrome (borders, titles, labels) in an accent colour, or bold without colour.
pub fn accent(app: &App) -> Style {
    accent_in(app.colors)
}

/// [`accent`] for a colour support (the two-model view has no [`App`]).
pub fn accent_in(colors: ColorSupport) -> Style {
    match colors {
        ColorSupport::None => Style::default().add_modifier(Modifier::BOLD),
        _ => Style::default().fg(Color::Cyan),
    }
}

/// Secondary text.
pub fn faint(app: &App) -> Style {
    faint_in(app.colors)
}

/// [`faint`] for a colour support.
pub fn faint_in(colors: ColorSupport) -> Style {
    match colors {
        ColorSupport::None => Style::default().add_modifier(Modifier::DIM),
        _ => Style::default().fg(Color::DarkGray),
    }
}

pub fn error_style(app: &App) -> Style {
    error_style_in(app.colors)
}

/// [`error_style`] for a colour support.
pub fn error_style_in(colors: ColorSupport) -> Style {
    match colors {
        ColorSupport::None => Style::default().add_modifier(Modifier::BOLD | Modifier::REVERSED),
        _ => Style::default().fg(Color::Red).add_modifier(Modifier::BOLD),
    }
}

/// Text with only newlines, tabs and control characters made visible (spaces stay spaces).
pub fn visible_breaks(s: &str) -> String {
    s.chars().map(|c| if c == ' ' { ' ' } else { visible(&c.to_string()).chars().next().unwrap_or(c) }).collect()
}

/// A token's text with its invisible characters made visible: space `·`, newline `↵`, tab `→`,
/// other control characters as their Unicode control pictures.
pub fn visible(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            ' ' => '·',
            '\n' => '↵',
            '\t' => '→',
            c if (c as u32) < 0x20 => char::from_u32(0x2400 + c as u32).unwrap_or('?'),
            '\u{7f}' => '␡',
            c => c,
        })
        .collect()
}

/// Truncates to at most `w` terminal cells, ending with `…` when cut.
pub fn fit(s: &str, w: usize) -> String {
    use unicode_width::UnicodeWidthChar;
    let total: usize = s.chars().map(|c| c.width().unwrap_or(0)).sum();
    if total <= w {
        return s.to_string();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in s.chars() {
        let cw = c.width().unwrap_or(0);
        if used + cw + 1 > w {
            break;
        }
        out.push(c);
        used += cw;
    }
    if w > 0 {
        out.push('…');
    }
    out
}

/// The text a token stands for: its own bytes when they are valid UTF-8, else the characters of
/// the source text it touches (a byte-level token can hold part of a character), marked with `~`.
pub fn token_text(score: &densi::metrics::TextScore, t: &densi::metrics::TokenScore) -> String {
    if std::str::from_utf8(&t.bytes).is_ok() || t.bytes.is_empty() {
        return visible(&t.token);
    }
    let text = &score.text;
    let (mut a, mut b) = (t.byte_start.min(text.len()), t.byte_end.min(text.len()));
    while !text.is_char_boundary(a) {
        a -= 1;
    }
    while !text.is_char_boundary(b) {
        b += 1;
    }
    format!("~{}", visible(&text[a..b]))
}
