//! Text layout: a scored text cut into units the cursor moves over (tokens, or the words of
//! [`densi::text`]), then wrapped
//! into screen lines of segments. Pure functions of (text, tokens, view, width).

use std::ops::Range;

use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

use densi::metrics::TokenScore;

/// What the cursor moves over and what gets one colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    Tokens,
    Words,
}

/// One token, or one word (a run of tokens).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unit {
    /// First and last token index (inclusive).
    pub first: usize,
    pub last: usize,
    /// The bytes of the text this unit paints: char-aligned, disjoint from the other units' and
    /// in order. Empty for a token that only continues a character begun by the previous token.
    pub bytes: Range<usize>,
}

fn floor_char(text: &str, mut i: usize) -> usize {
    i = i.min(text.len());
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn ceil_char(text: &str, mut i: usize) -> usize {
    i = i.min(text.len());
    while !text.is_char_boundary(i) {
        i += 1;
    }
    i
}

/// Tokens as display units: each token paints the characters it touches that no earlier token painted.
pub fn token_units(text: &str, tokens: &[TokenScore]) -> Vec<Unit> {
    span_units(text, tokens.iter().map(|t| (t.byte_start, t.byte_end)))
}

/// Byte spans (in text order: tokens, or the paired words of two models) as display units, one each:
/// each paints the characters it touches that no earlier span painted.
pub fn span_units(text: &str, spans: impl IntoIterator<Item = (usize, usize)>) -> Vec<Unit> {
    let mut out = Vec::new();
    let mut prev_end = 0usize;
    for (i, (byte_start, byte_end)) in spans.into_iter().enumerate() {
        let start = floor_char(text, byte_start).max(prev_end);
        let end = ceil_char(text, byte_end).max(start);
        out.push(Unit { first: i, last: i, bytes: start..end });
        prev_end = end;
    }
    out
}

/// Words, as [`densi::text`] defines them (the words of `export --level word`): each word paints
/// its tokens' characters, including the whitespace its first token carries.
pub fn word_units(text: &str, tokens: &[TokenScore]) -> Vec<Unit> {
    let tokens_painted = token_units(text, tokens);
    densi::text::word_groups(text, tokens)
        .into_iter()
        .map(|g| {
            let (first, last) = (g.tokens.start, g.tokens.end - 1);
            Unit { first, last, bytes: tokens_painted[first].bytes.start..tokens_painted[last].bytes.end }
        })
        .collect()
}

pub fn units(text: &str, tokens: &[TokenScore], view: View) -> Vec<Unit> {
    match view {
        View::Tokens => token_units(text, tokens),
        View::Words => word_units(text, tokens),
    }
}

/// token index → index of the unit that holds it.
pub fn token_to_unit(units: &[Unit], n_tokens: usize) -> Vec<usize> {
    let mut map = vec![0usize; n_tokens];
    for (ui, u) in units.iter().enumerate() {
        for slot in &mut map[u.first..=u.last] {
            *slot = ui;
        }
    }
    map
}

/// A run of cells on one screen line painted as one unit (or as plain text when `unit` is None).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seg {
    pub unit: Option<usize>,
    pub x: u16,
    pub width: u16,
    pub text: String,
}

/// A wrapped text: `lines[l]` are the segments on line l, left to right.
#[derive(Debug, Clone, Default)]
pub struct TextLayout {
    pub width: u16,
    pub lines: Vec<Vec<Seg>>,
    /// (line, x) where each unit starts.
    pub unit_pos: Vec<(usize, u16)>,
}

/// How a character is drawn: invisible ones are made visible, tabs become an arrow plus spaces.
fn visible(c: char) -> (Option<char>, &'static str, u16) {
    match c {
        '\t' => (None, "→   ", 4),
        c if (c as u32) < 0x20 => (char::from_u32(0x2400 + c as u32), "", 1),
        '\u{7f}' => (Some('␡'), "", 1),
        c => match c.width() {
            Some(w) => (Some(c), "", w as u16),
            None => (Some('�'), "", 1),
        },
    }
}

/// The glyph that marks a newline (it belongs to, and is coloured as, the token that holds it).
pub const NEWLINE_GLYPH: char = '↵';

/// Wraps the text at `width` cells. Units move to the next line whole when they fit on one line;
/// longer ones are broken at characters. Text not covered by a unit is laid out as plain text.
pub fn wrap(text: &str, units: &[Unit], width: u16) -> TextLayout {
    let width = width.max(1);
    let mut pieces: Vec<(Option<usize>, Range<usize>)> = Vec::with_capacity(units.len() + 2);
    let mut at = 0usize;
    for (i, u) in units.iter().enumerate() {
        if u.bytes.start > at {
            pieces.push((None, at..u.bytes.start));
        }
        pieces.push((Some(i), u.bytes.clone()));
        at = at.max(u.bytes.end);
    }
    if at < text.len() {
        pieces.push((None, at..text.len()));
    }

    // Word wrap: a run is a piece that starts with whitespace (or follows a line break) and the
    // pieces up to the next such piece, so `((8-2)*3` moves to the next line as one. run_w[i] is
    // the width of the run starting at piece i, up to its first newline.
    let starts_run = |i: usize| {
        i == 0
            || text[pieces[i].1.clone()].starts_with(char::is_whitespace)
            || text[pieces[i - 1].1.clone()].ends_with(char::is_whitespace)
    };
    let mut run_w = vec![0u16; pieces.len()];
    for i in (0..pieces.len()).rev() {
        let s = &text[pieces[i].1.clone()];
        let head: u32 = s.chars().take_while(|&c| c != '\n').map(|c| visible(c).2 as u32).sum();
        let rest =
            if !s.contains('\n') && i + 1 < pieces.len() && !starts_run(i + 1) { run_w[i + 1] as u32 } else { 0 };
        run_w[i] = (head + rest).min(u16::MAX as u32) as u16;
    }

    let mut lay = TextLayout { width, lines: vec![Vec::new()], unit_pos: vec![(0, 0); units.len()] };
    let mut x: u16 = 0;
    for (k, (unit, range)) in pieces.iter().cloned().enumerate() {
        let s = &text[range];
        let first_w = if starts_run(k) { run_w[k] } else { 0 };
        if x > 0 && first_w > 0 && x + first_w > width && first_w <= width {
            lay.lines.push(Vec::new());
            x = 0;
        }
        if let Some(u) = unit {
            lay.unit_pos[u] = (lay.lines.len() - 1, x);
        }
        let mut seg = Seg { unit, x, width: 0, text: String::new() };
        // A segment's width is what ratatui will draw: the width of its text taken as a whole (an
        // emoji ZWJ sequence inside one token is one 2-cell grapheme, not the sum of its emoji).
        // Returns where the next segment starts.
        let flush = |lay: &mut TextLayout, seg: &mut Seg, next_x: Option<u16>| -> u16 {
            let w = UnicodeWidthStr::width(seg.text.as_str()) as u16;
            let after = seg.x + w;
            let mut done = std::mem::replace(
                seg,
                Seg { unit: seg.unit, x: next_x.unwrap_or(after), width: 0, text: String::new() },
            );
            done.width = w;
            if !done.text.is_empty() {
                lay.lines.last_mut().unwrap().push(done);
            }
            next_x.unwrap_or(after)
        };
        let mut prev = '\0';
        for c in s.chars() {
            let (glyph, extra, mut w) = if c == '\n' { (Some(NEWLINE_GLYPH), "", 1) } else { visible(c) };
            // Joined emoji and skin-tone modifiers take no cell of their own.
            if prev == '\u{200d}' || ('\u{1F3FB}'..='\u{1F3FF}').contains(&c) {
                w = 0;
            }
            prev = c;
            if w > 0 && x + w > width {
                flush(&mut lay, &mut seg, Some(0));
                lay.lines.push(Vec::new());
                x = 0;
            }
            if let Some(g) = glyph {
                seg.text.push(g);
            }
            seg.text.push_str(extra);
            seg.width += w;
            x += w;
            if c == '\n' {
                flush(&mut lay, &mut seg, Some(0));
                lay.lines.push(Vec::new());
                x = 0;
            }
        }
        x = flush(&mut lay, &mut seg, None);
    }
    lay
}

impl TextLayout {
    /// The unit drawn at (line, x), if any.
    pub fn unit_at(&self, line: usize, x: u16) -> Option<usize> {
        self.lines.get(line)?.iter().find(|s| s.unit.is_some() && s.x <= x && x < s.x + s.width.max(1))?.unit
    }

    /// The unit on `line` closest to column x (for moving up and down).
    pub fn nearest_on_line(&self, line: usize, x: u16) -> Option<usize> {
        let segs = self.lines.get(line)?;
        segs.iter()
            .filter(|s| s.unit.is_some())
            .min_by_key(|s| {
                if x < s.x {
                    s.x - x
                } else if x >= s.x + s.width {
                    x + 1 - s.x - s.width
                } else {
                    0
                }
            })?
            .unit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tok(text: &str, a: usize, b: usize) -> TokenScore {
        TokenScore {
            index: 0,
            id: 0,
            token: densi::metrics::display_bytes(&text.as_bytes()[a..b]),
            bytes: text.as_bytes()[a..b].to_vec(),
            byte_start: a,
            byte_end: b,
            char_start: 0,
            char_end: 0,
            scored: true,
            surprisal_bits: 1.0,
            probability: 0.5,
            entropy_bits: 1.0,
            varentropy_bits2: 1.0,
            rank: 1,
            top: vec![],
            window: 0,
            context_len: 1,
            boundary_bits: f64::NAN,
            excess_bits: f64::NAN,
            z: f64::NAN,
        }
    }

    #[test]
    fn split_character_is_painted_by_its_first_token() {
        // "a水": 水 is 3 bytes split over two tokens (1..3, 3..4).
        let text = "a水";
        let toks = [tok(text, 0, 1), tok(text, 1, 3), tok(text, 3, 4)];
        let units = token_units(text, &toks);
        assert_eq!(units.iter().map(|u| u.bytes.clone()).collect::<Vec<_>>(), vec![0..1, 1..4, 4..4]);
        let words = word_units(text, &toks);
        assert_eq!(words.len(), 1);
        assert_eq!((words[0].first, words[0].last), (0, 2));
    }

    #[test]
    fn wrap_keeps_runs_of_tokens_without_spaces_together() {
        let text = "ab ((8-2)*3 cd";
        let toks = [
            tok(text, 0, 2),
            tok(text, 2, 5),
            tok(text, 5, 6),
            tok(text, 6, 8),
            tok(text, 8, 10),
            tok(text, 10, 11),
            tok(text, 11, 14),
        ];
        let lay = wrap(text, &token_units(text, &toks), 9);
        let lines: Vec<String> = lay.lines.iter().map(|l| l.iter().map(|s| s.text.as_str()).collect()).collect();
        assert_eq!(lines, vec!["ab", " ((8-2)*3", " cd"]);
    }

    #[test]
    fn emoji_sequences_take_the_cells_ratatui_draws() {
        // 👩‍👩‍👧 (ZWJ sequence) in one token, then "ok": ratatui draws the sequence as one 2-cell grapheme.
        let text = "👩\u{200d}👩\u{200d}👧ok";
        let split = text.len() - 2;
        let toks = [tok(text, 0, split), tok(text, split, text.len())];
        let lay = wrap(text, &token_units(text, &toks), 40);
        assert_eq!(lay.lines[0][0].width, 2);
        assert_eq!(lay.unit_pos[1], (0, 2));
    }

    #[test]
    fn wrap_moves_whole_units_and_marks_newlines() {
        let text = "ab cd\nef";
        let toks = [tok(text, 0, 2), tok(text, 2, 5), tok(text, 5, 6), tok(text, 6, 8)];
        let u = token_units(text, &toks);
        let lay = wrap(text, &u, 4);
        let lines: Vec<String> = lay.lines.iter().map(|l| l.iter().map(|s| s.text.as_str()).collect()).collect();
        assert_eq!(lines, vec!["ab", " cd↵", "ef"]);
        assert_eq!(lay.unit_pos, vec![(0, 0), (1, 0), (1, 3), (2, 0)]);
        assert_eq!(lay.unit_at(1, 2), Some(1));
        assert_eq!(lay.unit_at(1, 3), Some(2));
    }
}
