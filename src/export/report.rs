//! The HTML report: one self-contained page (no network at view time: the style, the script and the
//! data are inline) showing each text coloured by a metric, with tooltips, a plot along the text, a
//! histogram, the summary, the differences from the first text and the provenance.
//!
//! Everything the page needs to know about the metrics comes from Rust, never re-typed in the
//! script: the colour map ([`crate::display::inferno`] sampled at 256 points, with the readable ink
//! for each), the metric names, units and fixed ranges, GLTR's rank buckets, every token's and
//! word's value of every metric ([`crate::display::unit_value`]) and the think points
//! ([`crate::display::is_think_point`]). The script only draws.
//!
//! The data is a JSON object in a `<script type="application/json">` element (`<` written as
//! `\u003c`, so no text can close the element). Numbers are rounded for size: surprisal, entropy
//! and varentropy to 4 decimals, probabilities to 5 significant digits; the page shows 3 decimals
//! and 4 significant digits.

use std::io::{self, Write};

use serde::Serialize;

use super::Provenance;
use super::compare::{Compared, column_headers, compared};
use super::words::{WordProbability, text_words};
use crate::display::{INFERNO, Metric, RANK_BUCKETS, THINK_ENTROPY_BITS, THINK_EXCESS_BITS, THINK_VARENTROPY_BITS2};
use crate::display::{inferno, ink_on, is_think_point, unit_value, word_value};
use crate::metrics::TextScore;

const PAGE: &str = include_str!("report/page.html");
/// The page's style, shared with the two-model page (`crate::pair::report`).
pub(crate) const STYLE: &str = include_str!("report/report.css");
/// The shared helpers (`common.js`) and then the page's own script.
const SCRIPT: &str = concat!(include_str!("report/common.js"), include_str!("report/report.js"));

/// Colours in the page's scale: inferno at i/255.
const SCALE_STEPS: usize = 256;

#[derive(Serialize)]
struct MetricInfo {
    name: &'static str,
    unit: &'static str,
    range: (f64, f64),
}

#[derive(Serialize)]
struct Scale {
    /// `#rrggbb` of inferno(i / 255), i = 0..=255.
    colours: Vec<String>,
    /// The readable text colour on each.
    ink: Vec<String>,
    /// The samples the map interpolates, for the record.
    inferno_samples: [(u8, u8, u8); 9],
    /// In `Metric::ALL` order; every `values` array below is in the same order.
    metrics: Vec<MetricInfo>,
    rank_buckets: [&'static str; 5],
    think_rule: String,
}

/// One text's tokens, column by column (smaller than an object per token).
#[derive(Serialize, Default)]
struct Tokens {
    /// The token's share of the text: the characters that start inside it. A token that ends
    /// inside a character (byte-level BPE splits emoji and CJK) owns that whole character; a token
    /// holding only the rest of one gets an empty piece. The pieces concatenate to the text.
    piece: Vec<String>,
    /// The token as the tokenizer shows it (`display_bytes`: invalid UTF-8 as `<0xNN>`).
    token: Vec<String>,
    id: Vec<u32>,
    /// Its bytes in hex.
    bytes: Vec<String>,
    scored: Vec<bool>,
    surprisal: Vec<Option<f64>>,
    probability: Vec<Option<f64>>,
    entropy: Vec<Option<f64>>,
    varentropy: Vec<Option<f64>>,
    rank: Vec<Option<u32>>,
    /// `[id, token, probability]` of the top-k alternatives.
    top: Vec<Vec<(u32, String, f64)>>,
    think: Vec<bool>,
    /// The word this token belongs to.
    word: Vec<usize>,
    /// `values[m][i]`: metric m (in `Metric::ALL` order) of token i.
    values: Vec<Vec<Option<f64>>>,
}

#[derive(Serialize, Default)]
struct Words {
    text: Vec<String>,
    /// Its tokens: `first..=last`.
    first: Vec<usize>,
    last: Vec<usize>,
    values: Vec<Vec<Option<f64>>>,
}

#[derive(Serialize)]
struct TextData<'a> {
    id: &'a str,
    /// Its column's title, as `densi compare` heads it: the file name when the texts' file names
    /// are distinct, else the id.
    header: String,
    chars: usize,
    bytes: usize,
    /// The row `densi compare` prints for this text (its differences from the first text included).
    row: Compared,
    tokens: Tokens,
    words: Words,
}

#[derive(Serialize)]
struct PageData<'a> {
    provenance: &'a Provenance,
    scale: Scale,
    texts: Vec<TextData<'a>>,
}

fn hex((r, g, b): (u8, u8, u8)) -> String {
    format!("#{r:02x}{g:02x}{b:02x}")
}

/// Rounded to 4 decimals (None when not finite).
pub(crate) fn round4(x: f64) -> Option<f64> {
    x.is_finite().then(|| (x * 1e4).round() / 1e4 + 0.0)
}

/// Rounded to 5 significant digits (None when not finite).
pub(crate) fn round_significant(x: f64) -> Option<f64> {
    x.is_finite().then(|| format!("{x:.4e}").parse().unwrap_or(x))
}

/// The page's colour scale: `#rrggbb` of inferno(i / 255), i = 0..=255, and the readable ink on each.
pub(crate) fn colour_scale() -> (Vec<String>, Vec<String>) {
    let colours: Vec<(u8, u8, u8)> = (0..SCALE_STEPS).map(|i| inferno(i as f64 / (SCALE_STEPS - 1) as f64)).collect();
    (colours.iter().map(|&c| hex(c)).collect(), colours.iter().map(|&c| hex(ink_on(c))).collect())
}

fn scale() -> Scale {
    let (colours, ink) = colour_scale();
    Scale {
        colours,
        ink,
        inferno_samples: INFERNO,
        metrics: Metric::ALL
            .iter()
            .map(|&m| MetricInfo { name: m.name(), unit: m.unit(), range: m.fixed_range() })
            .collect(),
        rank_buckets: RANK_BUCKETS,
        think_rule: format!(
            "entropy ≥ {THINK_ENTROPY_BITS} bits and varentropy ≥ {THINK_VARENTROPY_BITS2} bits², or surprisal − entropy ≥ {THINK_EXCESS_BITS} bits"
        ),
    }
}

/// Each token's piece of the text (see [`Tokens::piece`]), from the tokens' first bytes: token
/// boundaries moved forward to the next character boundary, the first at 0 and the last at the end.
pub(crate) fn pieces(text: &str, byte_starts: impl IntoIterator<Item = usize>) -> Vec<&str> {
    let boundary = |mut b: usize| {
        b = b.min(text.len());
        while !text.is_char_boundary(b) {
            b += 1;
        }
        b
    };
    let mut starts: Vec<usize> = byte_starts.into_iter().map(boundary).collect();
    if let Some(s) = starts.first_mut() {
        *s = 0;
    }
    // Offsets only grow; a running max keeps the slices valid whatever the tokens say.
    let mut last = 0;
    for s in starts.iter_mut() {
        last = last.max(*s);
        *s = last;
    }
    (0..starts.len()).map(|i| &text[starts[i]..starts.get(i + 1).copied().unwrap_or(text.len())]).collect()
}

fn text_data<'a>(t: &'a TextScore, first: &TextScore, header: String, which: WordProbability) -> TextData<'a> {
    let finite = |x: f64| x.is_finite().then_some(x);
    let mut tokens = Tokens { values: vec![Vec::new(); Metric::ALL.len()], ..Tokens::default() };
    for (tok, piece) in t.tokens.iter().zip(pieces(&t.text, t.tokens.iter().map(|t| t.byte_start))) {
        tokens.piece.push(piece.to_string());
        tokens.token.push(tok.token.clone());
        tokens.id.push(tok.id);
        tokens.bytes.push(tok.bytes.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(" "));
        tokens.scored.push(tok.scored);
        tokens.surprisal.push(finite(tok.surprisal_bits).and_then(round4));
        tokens.probability.push(finite(tok.probability).and_then(round_significant));
        tokens.entropy.push(finite(tok.entropy_bits).and_then(round4));
        tokens.varentropy.push(finite(tok.varentropy_bits2).and_then(round4));
        tokens.rank.push(tok.scored.then_some(tok.rank));
        tokens.top.push(
            tok.top.iter().map(|a| (a.id, a.token.clone(), round_significant(a.probability).unwrap_or(0.0))).collect(),
        );
        tokens.think.push(is_think_point(tok));
        for (m, column) in Metric::ALL.iter().zip(tokens.values.iter_mut()) {
            column.push(unit_value(std::slice::from_ref(tok), *m).and_then(round4));
        }
    }
    let mut ws = Words { values: vec![Vec::new(); Metric::ALL.len()], ..Words::default() };
    tokens.word = vec![0; t.tokens.len()];
    for w in &text_words(t) {
        if w.token_end <= w.token_start {
            continue;
        }
        let index = ws.text.len();
        ws.text.push(w.text.clone());
        ws.first.push(w.token_start);
        ws.last.push(w.token_end - 1);
        let span = &t.tokens[w.token_start..w.token_end];
        for (m, column) in Metric::ALL.iter().zip(ws.values.iter_mut()) {
            column.push(word_value(w.surprisal(which), span, *m).and_then(round4));
        }
        for i in w.token_start..w.token_end {
            tokens.word[i] = index;
        }
    }
    TextData {
        id: &t.id,
        header,
        chars: t.summary.chars,
        bytes: t.summary.bytes,
        row: compared(t, first, which),
        tokens,
        words: ws,
    }
}

/// Minimal HTML escaping for text and attribute values.
pub(crate) fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// The page for `texts` (at least one), as one HTML document.
pub fn render(texts: &[TextScore], provenance: &Provenance) -> String {
    let headers = column_headers(&texts.iter().map(|t| t.id.as_str()).collect::<Vec<_>>());
    let texts_data =
        texts.iter().zip(headers).map(|(t, h)| text_data(t, &texts[0], h, provenance.word_probability)).collect();
    let data = PageData { provenance, scale: scale(), texts: texts_data };
    // Serializing plain structs of strings and numbers cannot fail.
    let json = serde_json::to_string(&data).unwrap_or_else(|_| "{}".into()).replace('<', "\\u003c");
    let title = match texts {
        [one] => format!("densi report: {}", one.id),
        _ => format!("densi report: {} texts", texts.len()),
    };
    fill(PAGE, &[("TITLE", &escape_html(&title)), ("STYLE", STYLE), ("SCRIPT", SCRIPT), ("DATA", &json)])
}

/// The template with each `{{KEY}}` replaced, in one pass (a value is never searched for keys).
pub(crate) fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len() + values.iter().map(|(_, v)| v.len()).sum::<usize>());
    let mut rest = template;
    while let Some(open) = rest.find("{{") {
        out.push_str(&rest[..open]);
        let after = &rest[open + 2..];
        match after.find("}}").and_then(|close| values.iter().find(|(k, _)| *k == &after[..close]).map(|v| (close, v)))
        {
            Some((close, (_, v))) => {
                out.push_str(v);
                rest = &after[close + 2..];
            }
            None => {
                out.push_str("{{");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Writes the page for `texts` to `out`.
pub fn write_report(out: &mut dyn Write, texts: &[TextScore], provenance: &Provenance) -> io::Result<()> {
    out.write_all(render(texts, provenance).as_bytes())?;
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::TokenScore;

    #[test]
    fn pieces_give_a_split_character_to_the_token_it_starts_in() {
        // '水' is E6 B0 B4, split after its second byte.
        let text = "a水!";
        let spans = [(0, 1), (1, 3), (3, 4), (4, 5)];
        let tokens: Vec<TokenScore> = spans
            .iter()
            .enumerate()
            .map(|(i, &(s, e))| TokenScore {
                index: i,
                id: 0,
                token: String::new(),
                bytes: text.as_bytes()[s..e].to_vec(),
                byte_start: s,
                byte_end: e,
                char_start: 0,
                char_end: 0,
                scored: true,
                surprisal_bits: 1.0,
                probability: 0.5,
                entropy_bits: 1.0,
                varentropy_bits2: 0.0,
                rank: 1,
                top: Vec::new(),
                window: 0,
                context_len: 0,
                boundary_bits: 0.5,
                excess_bits: 0.0,
                z: 0.0,
            })
            .collect();
        let starts = || tokens.iter().map(|t| t.byte_start);
        assert_eq!(pieces(text, starts()), ["a", "水", "", "!"]);
        assert_eq!(pieces(text, starts()).concat(), text);
    }

    #[test]
    fn fill_does_not_look_inside_values() {
        let out = fill("<{{A}}|{{B}}|{{C}}>", &[("A", "{{B}}"), ("B", "b")]);
        assert_eq!(out, "<{{B}}|b|{{C}}>");
    }

    #[test]
    fn the_page_is_one_document_with_nothing_external() {
        let html = fill(PAGE, &[("STYLE", STYLE), ("SCRIPT", SCRIPT)]);
        for external in ["http://", "https://", "src=", "<link", "@import", "url("] {
            assert!(!html.contains(external), "the page refers to something outside it: {external}");
        }
    }
}
