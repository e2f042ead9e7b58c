//! Colour scales: a value in [0, 1] → a colour on a perceptually ordered map (matplotlib's inferno),
//! rendered as truecolor, as the nearest xterm-256 colour, or (NO_COLOR) as a text attribute level.

use ratatui::style::{Color, Modifier, Style};

/// What the terminal can show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColorSupport {
    TrueColor,
    Ansi256,
    /// `NO_COLOR` is set: levels are shown with dim / plain / bold / bold+underline.
    None,
}

impl ColorSupport {
    /// `NO_COLOR` (any non-empty value, per no-color.org) wins; `COLORTERM=truecolor|24bit` means 24-bit colour.
    pub fn detect() -> ColorSupport {
        Self::from_env(std::env::var("NO_COLOR").ok().as_deref(), std::env::var("COLORTERM").ok().as_deref())
    }

    pub fn from_env(no_color: Option<&str>, colorterm: Option<&str>) -> ColorSupport {
        if no_color.is_some_and(|v| !v.is_empty()) {
            ColorSupport::None
        } else if matches!(colorterm, Some("truecolor") | Some("24bit")) {
            ColorSupport::TrueColor
        } else {
            ColorSupport::Ansi256
        }
    }
}

#[cfg(test)]
use densi::display::INFERNO;
pub use densi::display::inferno;
use densi::display::ink_on;
#[cfg(test)]
use densi::display::luminance;

/// The nearest xterm-256 colour: the 6×6×6 cube (16..=231) or the grey ramp (232..=255).
pub fn to_ansi256((r, g, b): (u8, u8, u8)) -> u8 {
    const LEVELS: [u8; 6] = [0, 95, 135, 175, 215, 255];
    let nearest = |c: u8| (0..6).min_by_key(|&i| (LEVELS[i] as i32 - c as i32).abs()).unwrap();
    let (ri, gi, bi) = (nearest(r), nearest(g), nearest(b));
    let cube = (LEVELS[ri], LEVELS[gi], LEVELS[bi]);
    let dist = |(p, q, s): (u8, u8, u8)| {
        let d = |x: u8, y: u8| (x as i32 - y as i32).pow(2);
        d(p, r) + d(q, g) + d(s, b)
    };
    let avg = (r as i32 + g as i32 + b as i32) / 3;
    let gi_ = ((avg - 8).max(0) / 10).min(23) as u8;
    let grey = 8 + 10 * gi_;
    if dist((grey, grey, grey)) < dist(cube) { 232 + gi_ } else { 16 + 36 * ri as u8 + 6 * gi as u8 + bi as u8 }
}

/// A colour in the terminal's colour space.
pub fn color(rgb: (u8, u8, u8), support: ColorSupport) -> Color {
    match support {
        ColorSupport::TrueColor => Color::Rgb(rgb.0, rgb.1, rgb.2),
        ColorSupport::Ansi256 => Color::Indexed(to_ansi256(rgb)),
        ColorSupport::None => Color::Reset,
    }
}

/// Levels used when there is no colour: t < 1/4 dim, < 1/2 plain, < 3/4 bold, else bold + underline.
pub fn level(t: f64) -> usize {
    if !t.is_finite() {
        return 0;
    }
    ((t.clamp(0.0, 1.0) * 4.0) as usize).min(3)
}

pub fn level_modifier(level: usize) -> Modifier {
    match level {
        0 => Modifier::DIM,
        1 => Modifier::empty(),
        2 => Modifier::BOLD,
        _ => Modifier::BOLD | Modifier::UNDERLINED,
    }
}

/// Whether a metric colours the background (text stays readable) or the text itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paint {
    Background,
    Foreground,
}

/// The style of a token whose value sits at t ∈ [0, 1] of the scale.
pub fn style_for(t: f64, paint: Paint, support: ColorSupport) -> Style {
    if support == ColorSupport::None {
        return Style::default().add_modifier(level_modifier(level(t)));
    }
    match paint {
        Paint::Background => {
            let rgb = inferno(t);
            let fg = ink_on(rgb);
            Style::default().bg(color(rgb, support)).fg(color(fg, support))
        }
        // Inferno's darkest quarter vanishes on a dark terminal: text uses its upper part.
        Paint::Foreground => Style::default().fg(color(inferno(0.25 + 0.75 * t), support)),
    }
}

/// A diverging map for signed values (delta): t = 0 blue (B less surprised than A), 0.5 a neutral
/// grey (no difference), 1 red (B more surprised). Lightness falls symmetrically from the centre.
pub fn diverging(t: f64) -> (u8, u8, u8) {
    const BLUE: (f64, f64, f64) = (33.0, 102.0, 172.0);
    const MID: (f64, f64, f64) = (60.0, 60.0, 60.0);
    const RED: (f64, f64, f64) = (178.0, 24.0, 43.0);
    let t = if t.is_finite() { t.clamp(0.0, 1.0) } else { 0.5 };
    let (from, to, u) = if t < 0.5 { (BLUE, MID, t * 2.0) } else { (MID, RED, (t - 0.5) * 2.0) };
    let mix = |a: f64, b: f64| (a + (b - a) * u).round() as u8;
    (mix(from.0, to.0), mix(from.1, to.1), mix(from.2, to.2))
}

/// The style of a signed value at t ∈ [0, 1] of a scale centred on 0 ([`diverging`]); without
/// colour, the level of its distance from the centre.
pub fn diverging_style(t: f64, support: ColorSupport) -> Style {
    if support == ColorSupport::None {
        return Style::default().add_modifier(level_modifier(level((t - 0.5).abs() * 2.0)));
    }
    let rgb = diverging(t);
    Style::default().bg(color(rgb, support)).fg(color(ink_on(rgb), support))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inferno_ends_and_monotone_lightness() {
        assert_eq!(inferno(0.0), INFERNO[0]);
        assert_eq!(inferno(1.0), INFERNO[8]);
        assert_eq!(inferno(f64::NAN), INFERNO[0]);
        let mut last = -1.0;
        for i in 0..=100 {
            let l = luminance(inferno(i as f64 / 100.0));
            assert!(l >= last - 1e-9, "lightness drops at {i}");
            last = l;
        }
    }

    #[test]
    fn ansi256_maps_cube_corners_and_greys() {
        assert_eq!(to_ansi256((0, 0, 0)), 16);
        assert_eq!(to_ansi256((255, 255, 255)), 231);
        assert_eq!(to_ansi256((255, 0, 0)), 196);
        assert_eq!(to_ansi256((128, 128, 128)), 244);
    }

    #[test]
    fn diverging_is_blue_grey_red() {
        let (lo, mid, hi) = (diverging(0.0), diverging(0.5), diverging(1.0));
        assert!(lo.2 > lo.0 && hi.0 > hi.2, "{lo:?} {hi:?}");
        assert_eq!(mid, (60, 60, 60));
        assert_eq!(diverging(f64::NAN), mid);
    }

    #[test]
    fn no_color_wins() {
        assert_eq!(ColorSupport::from_env(Some("1"), Some("truecolor")), ColorSupport::None);
        assert_eq!(ColorSupport::from_env(Some(""), Some("truecolor")), ColorSupport::TrueColor);
        assert_eq!(ColorSupport::from_env(None, None), ColorSupport::Ansi256);
    }
}
