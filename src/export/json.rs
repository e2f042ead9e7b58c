//! json and jsonl. Objects are written field by field (not through `serde_json::Value`) so keys keep
//! a readable, documented order and unit-dependent names (`surprisal_bits` / `surprisal_nats`).
//! A metric that does not exist (an unscored first token) is `null`.
//!
//! json: `{"provenance": {...}, "texts": [TEXT, ...]}`.
//! jsonl: one TEXT per line, each with its own `provenance` field first.
//!
//! TEXT = `{"id", "text", "summary": {...}, "end_boundary_bits", "settings": {...}, "tokens": [...]}`;
//! with `--level word`, `"words": [...]` instead of `"tokens"`. `summary.fast_detectgpt` =
//! Σ(−s + H) / √ΣV (unit-free, null when ΣV = 0); `end_boundary_{bits,nats}` = −log B after the
//! last token; each token ends with `excess_{bits,nats}`, `z`, `boundary_{bits,nats}` (see table.rs).

use std::io::{self, Write};

use serde::Serialize;

use super::words::text_words;
use super::{ExportOptions, Level, Provenance, Units};
use crate::metrics::{Summary, TextScore, TokenScore};

/// Writes one JSON object, field by field, in order.
struct Obj<'a> {
    out: &'a mut dyn Write,
    first: bool,
}

impl<'a> Obj<'a> {
    fn new(out: &'a mut dyn Write) -> io::Result<Obj<'a>> {
        out.write_all(b"{")?;
        Ok(Obj { out, first: true })
    }

    fn key(&mut self, k: &str) -> io::Result<()> {
        if !self.first {
            self.out.write_all(b",")?;
        }
        self.first = false;
        serde_json::to_writer(&mut *self.out, k)?;
        self.out.write_all(b":")
    }

    fn field<T: Serialize + ?Sized>(&mut self, k: &str, v: &T) -> io::Result<()> {
        self.key(k)?;
        serde_json::to_writer(&mut *self.out, v)?;
        Ok(())
    }

    fn end(self) -> io::Result<()> {
        self.out.write_all(b"}")
    }
}

/// Starts a `json` document: the provenance and the opening of `texts`.
pub fn write_document_start(out: &mut dyn Write, provenance: &Provenance) -> io::Result<()> {
    out.write_all(b"{\"provenance\":")?;
    serde_json::to_writer(&mut *out, provenance)?;
    out.write_all(b",\"texts\":[")
}

fn write_summary(out: &mut dyn Write, s: &Summary, u: Units) -> io::Result<()> {
    let n = u.name();
    let mut o = Obj::new(out)?;
    o.field("tokens", &s.tokens)?;
    o.field("scored_tokens", &s.scored_tokens)?;
    o.field("bytes", &s.bytes)?;
    o.field("chars", &s.chars)?;
    o.field(&format!("total_{n}"), &u.info(s.total_bits))?;
    o.field(&format!("mean_{n}_per_token"), &u.info(s.mean_bits_per_token))?;
    o.field(&format!("{n}_per_byte"), &u.info(s.bits_per_byte))?;
    o.field(&format!("{n}_per_char"), &u.info(s.bits_per_char))?;
    o.field("perplexity", &s.perplexity)?;
    o.field("fast_detectgpt", &s.fast_detectgpt)?;
    o.end()
}

fn write_token(out: &mut dyn Write, t: &TokenScore, u: Units) -> io::Result<()> {
    let n = u.name();
    let mut o = Obj::new(out)?;
    o.field("index", &t.index)?;
    o.field("id", &t.id)?;
    o.field("token", &t.token)?;
    o.field("byte_start", &t.byte_start)?;
    o.field("byte_end", &t.byte_end)?;
    o.field("char_start", &t.char_start)?;
    o.field("char_end", &t.char_end)?;
    o.field("scored", &t.scored)?;
    o.field(&format!("surprisal_{n}"), &u.info(t.surprisal_bits))?;
    o.field("probability", &t.probability)?;
    o.field(&format!("entropy_{n}"), &u.info(t.entropy_bits))?;
    o.field(&format!("varentropy_{n}2"), &u.var(t.varentropy_bits2))?;
    o.field("rank", &if t.scored { Some(t.rank) } else { None })?;
    o.field("top", &t.top)?;
    o.field("window", &t.window)?;
    o.field("context_len", &t.context_len)?;
    o.field(&format!("excess_{n}"), &u.info(t.excess_bits))?;
    o.field("z", &t.z)?;
    o.field(&format!("boundary_{n}"), &u.info(t.boundary_bits))?;
    o.end()
}

/// One text object; `provenance` is written first when given (jsonl).
pub fn write_text(
    out: &mut dyn Write,
    options: &ExportOptions,
    t: &TextScore,
    provenance: Option<&Provenance>,
) -> io::Result<()> {
    let u = options.units;
    let n = u.name();
    let mut o = Obj::new(out)?;
    if let Some(p) = provenance {
        o.field("provenance", p)?;
    }
    o.field("id", &t.id)?;
    o.field("text", &t.text)?;
    o.key("summary")?;
    write_summary(o.out, &t.summary, u)?;
    o.field(&format!("end_boundary_{n}"), &t.end_boundary_bits.map(|b| u.info(b)))?;
    o.field("settings", &t.settings)?;
    match options.level {
        Level::Token => {
            o.key("tokens")?;
            o.out.write_all(b"[")?;
            for (i, tok) in t.tokens.iter().enumerate() {
                if i > 0 {
                    o.out.write_all(b",")?;
                }
                write_token(o.out, tok, u)?;
            }
            o.out.write_all(b"]")?;
        }
        Level::Word => {
            o.key("words")?;
            o.out.write_all(b"[")?;
            for (i, w) in text_words(t).iter().enumerate() {
                if i > 0 {
                    o.out.write_all(b",")?;
                }
                let mut wo = Obj::new(o.out)?;
                wo.field("index", &w.index)?;
                wo.field("word", &w.text)?;
                wo.field("byte_start", &w.byte_start)?;
                wo.field("byte_end", &w.byte_end)?;
                wo.field("char_start", &w.char_start)?;
                wo.field("char_end", &w.char_end)?;
                wo.field("token_start", &w.token_start)?;
                wo.field("token_end", &w.token_end)?;
                wo.field("tokens", &w.tokens())?;
                wo.field("scored", &w.scored)?;
                wo.field(&format!("surprisal_{n}"), &u.info(w.surprisal_bits))?;
                wo.field(&format!("surprisal_{n}_uncorrected"), &u.info(w.surprisal_bits_uncorrected))?;
                wo.field(&format!("bow_{n}"), &u.info(w.bow_bits))?;
                wo.field(&format!("eow_{n}"), &u.info(w.eow_bits))?;
                wo.field("probability", &w.probability())?;
                wo.field(&format!("entropy_{n}"), &u.info(w.entropy_bits))?;
                wo.end()?;
            }
            o.out.write_all(b"]")?;
        }
    }
    o.end()
}
