//! Two-model exports: csv/tsv (columns [`PAIR_TOKEN_COLUMNS`] / [`PAIR_WORD_COLUMNS`], RFC 4180
//! quoting and number format of the single-model table), json (one document: provenance, then the
//! texts) and jsonl (one text per line, each with the provenance). The json token and word objects
//! use the csv's column names. Bits only; no Parquet yet.

use std::io::{self, Write};

use serde::Serialize;

use super::words::{NO_KL, PairWord};
use super::{ModelProvenance, PairScore, PairToken};
use crate::error::{DensiError, Result};
use crate::export::columns::{PAIR_TOKEN_COLUMNS, PAIR_WORD_COLUMNS};
use crate::export::table::{field, num};
use crate::export::{Format, Level, utc_now_iso8601};

/// Where a two-model export's numbers came from.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PairProvenance {
    /// `densi 0.1.0`.
    pub densi_version: String,
    /// The reference model A (Binoculars' observer).
    pub model_a: ModelProvenance,
    /// Model B (Binoculars' performer).
    pub model_b: ModelProvenance,
    /// `cpu` or `gpu`.
    pub backend: String,
    /// The device.
    pub device: String,
    /// Window length in tokens (`None` when each model's own context decided it: see the texts' settings).
    pub window: Option<usize>,
    /// Window stride in tokens.
    pub stride: Option<usize>,
    /// Alternatives kept per token.
    pub top_k: usize,
    /// Always `bits`.
    pub units: &'static str,
    /// `token` or `word`.
    pub level: String,
    /// Why a word-level export has no KL (None for token level).
    pub note: Option<&'static str>,
    /// UTC, ISO 8601.
    pub date: String,
}

impl PairProvenance {
    /// Provenance of an export at `level`; `window`/`stride` as scored (None when the two models
    /// were scored with windows of their own).
    pub fn new(
        model_a: ModelProvenance,
        model_b: ModelProvenance,
        backend: &str,
        device: String,
        window: Option<(usize, usize)>,
        top_k: usize,
        level: Level,
    ) -> PairProvenance {
        PairProvenance {
            densi_version: format!("densi {}", env!("CARGO_PKG_VERSION")),
            model_a,
            model_b,
            backend: backend.into(),
            device,
            window: window.map(|w| w.0),
            stride: window.map(|w| w.1),
            top_k,
            units: "bits",
            level: level.name().to_string(),
            note: (level == Level::Word).then_some(NO_KL),
            date: utc_now_iso8601(),
        }
    }
}

/// Writes two-model results one text at a time: `begin`, `write_tokens` or `write_words`..., `finish`.
pub struct PairExporter<W: Write> {
    out: W,
    format: Format,
    level: Level,
    provenance: PairProvenance,
    texts: usize,
}

/// A token under both models, as the json export names its fields (the csv's column names).
#[derive(Serialize)]
struct TokenRecord<'a> {
    token_index: usize,
    token_id: u32,
    #[serde(flatten)]
    rest: TokenRest<'a>,
}

#[derive(Serialize)]
struct TokenRest<'a> {
    token: &'a str,
    byte_start: usize,
    byte_end: usize,
    char_start: usize,
    char_end: usize,
    scored: bool,
    surprisal_bits_a: f64,
    surprisal_bits_b: f64,
    delta_bits: f64,
    entropy_bits_a: f64,
    entropy_bits_b: f64,
    rank_a: Option<u32>,
    rank_b: Option<u32>,
    kl_ab_bits: f64,
    kl_ba_bits: f64,
    cross_entropy_ab_bits: f64,
    top1_differs: bool,
    top_a: &'a [crate::metrics::Alternative],
    top_b: &'a [crate::metrics::Alternative],
}

impl<'a> TokenRecord<'a> {
    fn of(t: &'a PairToken) -> TokenRecord<'a> {
        TokenRecord {
            token_index: t.index,
            token_id: t.id,
            rest: TokenRest {
                token: &t.token,
                byte_start: t.byte_start,
                byte_end: t.byte_end,
                char_start: t.char_start,
                char_end: t.char_end,
                scored: t.scored,
                surprisal_bits_a: t.surprisal_bits_a,
                surprisal_bits_b: t.surprisal_bits_b,
                delta_bits: t.delta_bits,
                entropy_bits_a: t.entropy_bits_a,
                entropy_bits_b: t.entropy_bits_b,
                rank_a: t.scored.then_some(t.rank_a),
                rank_b: t.scored.then_some(t.rank_b),
                kl_ab_bits: t.kl_ab_bits,
                kl_ba_bits: t.kl_ba_bits,
                cross_entropy_ab_bits: t.cross_entropy_ab_bits,
                top1_differs: t.top1_differs,
                top_a: &t.top_a,
                top_b: &t.top_b,
            },
        }
    }
}

#[derive(Serialize)]
struct WordRecord<'a> {
    word_index: usize,
    word: &'a str,
    byte_start: usize,
    byte_end: usize,
    char_start: usize,
    char_end: usize,
    tokens_a: usize,
    tokens_b: usize,
    surprisal_bits_a: f64,
    surprisal_bits_b: f64,
    delta_bits: f64,
    scored: bool,
}

impl<'a> WordRecord<'a> {
    fn of(w: &'a PairWord) -> WordRecord<'a> {
        WordRecord {
            word_index: w.index,
            word: &w.word,
            byte_start: w.byte_start,
            byte_end: w.byte_end,
            char_start: w.char_start,
            char_end: w.char_end,
            tokens_a: w.tokens_a,
            tokens_b: w.tokens_b,
            surprisal_bits_a: w.surprisal_bits_a,
            surprisal_bits_b: w.surprisal_bits_b,
            delta_bits: w.delta_bits,
            scored: w.scored,
        }
    }
}

/// A text's json object: provenance (jsonl), id, text, then the summary and tokens, or the words.
#[derive(Serialize)]
struct TextRecord<'a, S: Serialize, R: Serialize> {
    #[serde(skip_serializing_if = "Option::is_none")]
    provenance: Option<&'a PairProvenance>,
    id: &'a str,
    text: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    summary: Option<S>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tokens: Option<Vec<R>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    words: Option<Vec<R>>,
}

fn io_err(e: io::Error) -> DensiError {
    DensiError::Other(format!("writing the export: {e}"))
}

impl<W: Write> PairExporter<W> {
    /// Writes the header (csv/tsv column names; json's opening and provenance).
    pub fn begin(mut out: W, format: Format, level: Level, provenance: PairProvenance) -> Result<PairExporter<W>> {
        match format {
            Format::Csv | Format::Tsv => {
                let names: &[&str] = if level == Level::Token { &PAIR_TOKEN_COLUMNS } else { &PAIR_WORD_COLUMNS };
                let d = delimiter(format);
                write_row(&mut out, names.iter().map(|c| field(c, d)).collect(), d).map_err(io_err)?;
            }
            Format::Json => {
                out.write_all(b"{\"provenance\":").map_err(io_err)?;
                serde_json::to_writer(&mut out, &provenance).map_err(|e| io_err(e.into()))?;
                out.write_all(b",\"texts\":[").map_err(io_err)?;
            }
            Format::Jsonl => {}
            #[cfg(feature = "parquet")]
            Format::Parquet => {
                return Err(DensiError::InvalidOption {
                    option: "--format",
                    reason: "two-model exports are csv, tsv, json or jsonl (no parquet yet)".into(),
                });
            }
        }
        Ok(PairExporter { out, format, level, provenance, texts: 0 })
    }

    /// Writes one text scored token by token under both models.
    pub fn write_tokens(&mut self, t: &PairScore) -> io::Result<()> {
        assert_eq!(self.level, Level::Token, "a token-level export");
        match self.format {
            Format::Csv | Format::Tsv => {
                let d = delimiter(self.format);
                for tok in &t.tokens {
                    let rank = |r: u32| if tok.scored { r.to_string() } else { String::new() };
                    let fields = vec![
                        field(&t.id, d),
                        tok.index.to_string(),
                        tok.id.to_string(),
                        field(&tok.token, d),
                        tok.byte_start.to_string(),
                        tok.byte_end.to_string(),
                        tok.char_start.to_string(),
                        tok.char_end.to_string(),
                        num(tok.surprisal_bits_a),
                        num(tok.surprisal_bits_b),
                        num(tok.delta_bits),
                        num(tok.entropy_bits_a),
                        num(tok.entropy_bits_b),
                        rank(tok.rank_a),
                        rank(tok.rank_b),
                        num(tok.kl_ab_bits),
                        num(tok.kl_ba_bits),
                        num(tok.cross_entropy_ab_bits),
                    ];
                    write_row(&mut self.out, fields, d)?;
                }
                Ok(())
            }
            _ => {
                let tokens: Vec<TokenRecord> = t.tokens.iter().map(TokenRecord::of).collect();
                self.write_json(&t.id, &t.text, Some(&t.summary), Some(tokens), None::<Vec<WordRecord>>)
            }
        }
    }

    /// Writes one text's paired words.
    pub fn write_words(&mut self, id: &str, text: &str, words: &[PairWord]) -> io::Result<()> {
        assert_eq!(self.level, Level::Word, "a word-level export");
        match self.format {
            Format::Csv | Format::Tsv => {
                let d = delimiter(self.format);
                for w in words {
                    let fields = vec![
                        field(id, d),
                        w.index.to_string(),
                        field(&w.word, d),
                        w.byte_start.to_string(),
                        w.byte_end.to_string(),
                        w.char_start.to_string(),
                        w.char_end.to_string(),
                        w.tokens_a.to_string(),
                        w.tokens_b.to_string(),
                        num(w.surprisal_bits_a),
                        num(w.surprisal_bits_b),
                        num(w.delta_bits),
                        w.scored.to_string(),
                    ];
                    write_row(&mut self.out, fields, d)?;
                }
                Ok(())
            }
            _ => {
                let words: Vec<WordRecord> = words.iter().map(WordRecord::of).collect();
                self.write_json(id, text, None::<&()>, None::<Vec<TokenRecord>>, Some(words))
            }
        }
    }

    fn write_json<S: Serialize, T: Serialize, R: Serialize>(
        &mut self,
        id: &str,
        text: &str,
        summary: Option<S>,
        tokens: Option<Vec<T>>,
        words: Option<Vec<R>>,
    ) -> io::Result<()> {
        let jsonl = self.format == Format::Jsonl;
        if !jsonl {
            self.out.write_all(if self.texts > 0 { b",\n" } else { b"\n" })?;
        }
        let provenance = jsonl.then_some(&self.provenance);
        match (tokens, words) {
            (Some(tokens), _) => {
                let r = TextRecord { provenance, id, text, summary, tokens: Some(tokens), words: None::<Vec<T>> };
                serde_json::to_writer(&mut self.out, &r)?;
            }
            (None, words) => {
                let r = TextRecord { provenance, id, text, summary, tokens: None::<Vec<R>>, words };
                serde_json::to_writer(&mut self.out, &r)?;
            }
        }
        if jsonl {
            self.out.write_all(b"\n")?;
            self.out.flush()?;
        }
        self.texts += 1;
        Ok(())
    }

    /// Writes json's closing brackets, flushes, and returns the writer.
    pub fn finish(mut self) -> io::Result<W> {
        if self.format == Format::Json {
            self.out.write_all(b"\n]}\n")?;
        }
        self.out.flush()?;
        Ok(self.out)
    }
}

fn delimiter(format: Format) -> u8 {
    if format == Format::Tsv { b'\t' } else { b',' }
}

fn write_row(out: &mut dyn Write, fields: Vec<String>, delim: u8) -> io::Result<()> {
    let mut line = fields.join(std::str::from_utf8(&[delim]).expect("an ASCII delimiter"));
    line.push('\n');
    out.write_all(line.as_bytes())
}
