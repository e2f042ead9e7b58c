//! csv and tsv: long format, one row per token (or per word with `--level word`).
//!
//! Quoting follows RFC 4180 for both (tsv uses a tab as the delimiter, as Python's `excel-tab`
//! dialect, pandas and R's `read.delim` expect): a field that contains the delimiter, a double quote,
//! a line break, or leading/trailing whitespace is wrapped in double quotes, with inner double
//! quotes doubled. Numbers use the shortest decimal that reads back as the same f64; a metric
//! that does not exist (an unscored first token) is an empty field.
//!
//! Token-level columns after the original ones: `excess_{bits,nats}` = surprisal − entropy, `z` =
//! (surprisal − entropy) / √varentropy (unit-free; 0 when varentropy is 0), `boundary_{bits,nats}` =
//! −log B(context before the token), B = the probability that a new word starts there.

use std::io::{self, Write};

use super::words::text_words;
use super::{ExportOptions, Format, Level};
use crate::metrics::TextScore;

/// The token-level columns, in order, for `units` (`bits` or `nats`).
pub fn token_columns(units: &str) -> Vec<String> {
    [
        "text_id",
        "token_index",
        "token_id",
        "token",
        "byte_start",
        "byte_end",
        "char_start",
        "char_end",
        "surprisal_{u}",
        "probability",
        "entropy_{u}",
        "varentropy_{u}2",
        "rank",
        "top1_token",
        "top1_probability",
        "scored",
        "excess_{u}",
        "z",
        "boundary_{u}",
    ]
    .iter()
    .map(|c| c.replace("{u}", units))
    .collect()
}

/// The word-level columns, in order.
pub fn word_columns(units: &str) -> Vec<String> {
    [
        "text_id",
        "word_index",
        "word",
        "byte_start",
        "byte_end",
        "char_start",
        "char_end",
        "token_start",
        "token_end",
        "tokens",
        "surprisal_{u}",
        "surprisal_{u}_uncorrected",
        "bow_{u}",
        "eow_{u}",
        "probability",
        "entropy_{u}",
        "scored",
    ]
    .iter()
    .map(|c| c.replace("{u}", units))
    .collect()
}

fn delimiter(format: Format) -> u8 {
    if format == Format::Tsv { b'\t' } else { b',' }
}

/// One field, quoted when it has to be.
pub fn field(s: &str, delim: u8) -> String {
    let needs = s.bytes().any(|b| b == delim || b == b'"' || b == b'\n' || b == b'\r')
        || s.starts_with(char::is_whitespace)
        || s.ends_with(char::is_whitespace);
    if needs { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_string() }
}

/// A float as the shortest decimal that round-trips; empty for NaN (a metric that does not exist).
pub fn num(x: f64) -> String {
    if x.is_nan() { String::new() } else { format!("{x}") }
}

fn write_row(out: &mut dyn Write, fields: &[String], delim: u8) -> io::Result<()> {
    let mut line = String::new();
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            line.push(delim as char);
        }
        line.push_str(f);
    }
    line.push('\n');
    out.write_all(line.as_bytes())
}

/// Writes the csv/tsv header line.
pub fn write_header(out: &mut dyn Write, options: &ExportOptions) -> io::Result<()> {
    let cols = match options.level {
        Level::Token => token_columns(options.units.name()),
        Level::Word => word_columns(options.units.name()),
    };
    let d = delimiter(options.format);
    write_row(out, &cols.iter().map(|c| field(c, d)).collect::<Vec<_>>(), d)
}

/// Writes one text's rows.
pub fn write_rows(out: &mut dyn Write, options: &ExportOptions, text: &TextScore) -> io::Result<()> {
    let d = delimiter(options.format);
    let u = options.units;
    let id = field(&text.id, d);
    match options.level {
        Level::Token => {
            for t in &text.tokens {
                let (top1, top1_p) = match t.top.first() {
                    Some(a) => (field(&a.token, d), num(a.probability)),
                    None => (String::new(), String::new()),
                };
                let row = [
                    id.clone(),
                    t.index.to_string(),
                    t.id.to_string(),
                    field(&t.token, d),
                    t.byte_start.to_string(),
                    t.byte_end.to_string(),
                    t.char_start.to_string(),
                    t.char_end.to_string(),
                    num(u.info(t.surprisal_bits)),
                    num(t.probability),
                    num(u.info(t.entropy_bits)),
                    num(u.var(t.varentropy_bits2)),
                    if t.scored { t.rank.to_string() } else { String::new() },
                    top1,
                    top1_p,
                    t.scored.to_string(),
                    num(u.info(t.excess_bits)),
                    num(t.z),
                    num(u.info(t.boundary_bits)),
                ];
                write_row(out, &row, d)?;
            }
        }
        Level::Word => {
            for w in text_words(text) {
                let row = [
                    id.clone(),
                    w.index.to_string(),
                    field(&w.text, d),
                    w.byte_start.to_string(),
                    w.byte_end.to_string(),
                    w.char_start.to_string(),
                    w.char_end.to_string(),
                    w.token_start.to_string(),
                    w.token_end.to_string(),
                    w.tokens().to_string(),
                    num(u.info(w.surprisal_bits)),
                    num(u.info(w.surprisal_bits_uncorrected)),
                    num(u.info(w.bow_bits)),
                    num(u.info(w.eow_bits)),
                    num(w.probability()),
                    num(u.info(w.entropy_bits)),
                    w.scored.to_string(),
                ];
                write_row(out, &row, d)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(field("blue", b','), "blue");
        assert_eq!(field(" blue", b','), "\" blue\"");
        assert_eq!(field("a,b", b','), "\"a,b\"");
        assert_eq!(field("a,b", b'\t'), "a,b");
        assert_eq!(field("a\tb", b'\t'), "\"a\tb\"");
        assert_eq!(field("say \"hi\"", b','), "\"say \"\"hi\"\"\"");
        assert_eq!(field("\n", b','), "\"\n\"");
        assert_eq!(num(f64::NAN), "");
        assert_eq!(num(0.1), "0.1");
        assert_eq!(num(3.0), "3");
    }
}
