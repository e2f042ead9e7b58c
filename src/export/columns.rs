//! The long-format table (one row per token, or per word) as typed columns, for exports that keep
//! types: Parquet, and the Python package's numpy/pandas/Arrow columns.
//!
//! Same columns, in the same order and with the same values, as the csv export ([`super::table`]);
//! a csv empty field is a missing value (null) here. Types:
//! - `text_id`, `token`, `word`, `top1_token`: UTF-8 strings (`top1_token` is null when no
//!   alternative was kept: an unscored token, or `--top-k 0`);
//! - offsets, indices, counts and `token_id`: 64-bit integers; `rank`: a 64-bit integer, null for an
//!   unscored token;
//! - surprisal, probability, entropy, varentropy (in the export's units): f64, null exactly where the
//!   metric does not exist (NaN in the engine: an unscored token or a word containing one);
//! - `scored`: boolean.

use super::table::{token_columns, word_columns};
use super::words::text_words;
use super::{Level, Units};
use crate::metrics::TextScore;

/// The csv/tsv columns of a two-model export, one row per token (`--model A --model B`, one
/// vocabulary); the json/jsonl token objects use the same names. Bits.
pub const PAIR_TOKEN_COLUMNS: [&str; 18] = [
    "text_id",
    "token_index",
    "token_id",
    "token",
    "byte_start",
    "byte_end",
    "char_start",
    "char_end",
    "surprisal_bits_a",
    "surprisal_bits_b",
    "delta_bits",
    "entropy_bits_a",
    "entropy_bits_b",
    "rank_a",
    "rank_b",
    "kl_ab_bits",
    "kl_ba_bits",
    "cross_entropy_ab_bits",
];

/// The columns of a two-model export by word (`--level word`, any two vocabularies). Bits.
pub const PAIR_WORD_COLUMNS: [&str; 13] = [
    "text_id",
    "word_index",
    "word",
    "byte_start",
    "byte_end",
    "char_start",
    "char_end",
    "tokens_a",
    "tokens_b",
    "surprisal_bits_a",
    "surprisal_bits_b",
    "delta_bits",
    "scored",
];

/// One column's values. Missing values hold a filler (`""`, 0, NaN) and are marked in [`Column::valid`].
#[derive(Debug, Clone, PartialEq)]
pub enum Values {
    Str(Vec<String>),
    Int(Vec<i64>),
    Float(Vec<f64>),
    Bool(Vec<bool>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub name: String,
    pub values: Values,
    /// For a nullable column, whether each row has a value; `None` for a column that is never null.
    pub valid: Option<Vec<bool>>,
}

impl Column {
    pub fn nullable(&self) -> bool {
        self.valid.is_some()
    }

    pub fn len(&self) -> usize {
        match &self.values {
            Values::Str(v) => v.len(),
            Values::Int(v) => v.len(),
            Values::Float(v) => v.len(),
            Values::Bool(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn push(&mut self, cell: Cell) {
        let valid = match (&mut self.values, cell) {
            (Values::Str(v), Cell::Str(s)) => {
                v.push(s.to_string());
                true
            }
            (Values::Str(v), Cell::NullStr) => {
                v.push(String::new());
                false
            }
            (Values::Int(v), Cell::Int(x)) => {
                v.push(x);
                true
            }
            (Values::Int(v), Cell::NullInt) => {
                v.push(0);
                false
            }
            (Values::Float(v), Cell::Float(x)) => {
                v.push(x);
                !x.is_nan()
            }
            (Values::Bool(v), Cell::Bool(b)) => {
                v.push(b);
                true
            }
            (values, cell) => unreachable!("column {}: {cell:?} pushed onto {values:?}", self.name),
        };
        if let Some(mask) = &mut self.valid {
            mask.push(valid);
        } else {
            debug_assert!(valid, "null in the non-nullable column {}", self.name);
        }
    }

    fn clear(&mut self) {
        match &mut self.values {
            Values::Str(v) => v.clear(),
            Values::Int(v) => v.clear(),
            Values::Float(v) => v.clear(),
            Values::Bool(v) => v.clear(),
        }
        if let Some(mask) = &mut self.valid {
            mask.clear();
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Cell<'a> {
    Str(&'a str),
    NullStr,
    Int(i64),
    NullInt,
    /// NaN is a missing value.
    Float(f64),
    Bool(bool),
}

/// Column kinds, in the order of [`token_columns`] / [`word_columns`]: (kind, nullable).
#[derive(Debug, Clone, Copy)]
enum Kind {
    Str,
    Int,
    Float,
    Bool,
}

const TOKEN_KINDS: [(Kind, bool); 19] = [
    (Kind::Str, false),  // text_id
    (Kind::Int, false),  // token_index
    (Kind::Int, false),  // token_id
    (Kind::Str, false),  // token
    (Kind::Int, false),  // byte_start
    (Kind::Int, false),  // byte_end
    (Kind::Int, false),  // char_start
    (Kind::Int, false),  // char_end
    (Kind::Float, true), // surprisal
    (Kind::Float, true), // probability
    (Kind::Float, true), // entropy
    (Kind::Float, true), // varentropy
    (Kind::Int, true),   // rank
    (Kind::Str, true),   // top1_token
    (Kind::Float, true), // top1_probability
    (Kind::Bool, false), // scored
    (Kind::Float, true), // excess
    (Kind::Float, true), // z
    (Kind::Float, true), // boundary
];

const WORD_KINDS: [(Kind, bool); 17] = [
    (Kind::Str, false),  // text_id
    (Kind::Int, false),  // word_index
    (Kind::Str, false),  // word
    (Kind::Int, false),  // byte_start
    (Kind::Int, false),  // byte_end
    (Kind::Int, false),  // char_start
    (Kind::Int, false),  // char_end
    (Kind::Int, false),  // token_start
    (Kind::Int, false),  // token_end
    (Kind::Int, false),  // tokens
    (Kind::Float, true), // surprisal (corrected)
    (Kind::Float, true), // surprisal_uncorrected
    (Kind::Float, true), // bow
    (Kind::Float, true), // eow
    (Kind::Float, true), // probability
    (Kind::Float, true), // entropy
    (Kind::Bool, false), // scored
];

/// Rows of finished texts, appended text by text; [`clear`](Columns::clear) after writing them out.
#[derive(Debug, Clone)]
pub struct Columns {
    level: Level,
    units: Units,
    columns: Vec<Column>,
    rows: usize,
}

impl Columns {
    pub fn new(level: Level, units: Units) -> Columns {
        let (names, kinds): (Vec<String>, &[(Kind, bool)]) = match level {
            Level::Token => (token_columns(units.name()), &TOKEN_KINDS),
            Level::Word => (word_columns(units.name()), &WORD_KINDS),
        };
        assert_eq!(names.len(), kinds.len(), "one kind per csv column");
        let columns = names
            .into_iter()
            .zip(kinds)
            .map(|(name, &(kind, nullable))| Column {
                name,
                values: match kind {
                    Kind::Str => Values::Str(Vec::new()),
                    Kind::Int => Values::Int(Vec::new()),
                    Kind::Float => Values::Float(Vec::new()),
                    Kind::Bool => Values::Bool(Vec::new()),
                },
                valid: nullable.then(Vec::new),
            })
            .collect();
        Columns { level, units, columns, rows: 0 }
    }

    /// The columns, in the csv's order.
    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    pub fn into_columns(self) -> Vec<Column> {
        self.columns
    }

    /// Rows so far.
    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn clear(&mut self) {
        self.columns.iter_mut().for_each(Column::clear);
        self.rows = 0;
    }

    fn push_row(&mut self, cells: &[Cell]) {
        debug_assert_eq!(cells.len(), self.columns.len());
        for (col, cell) in self.columns.iter_mut().zip(cells) {
            col.push(*cell);
        }
        self.rows += 1;
    }

    /// Appends one text's rows.
    pub fn push(&mut self, text: &TextScore) {
        let u = self.units;
        let int = |x: usize| Cell::Int(x as i64);
        match self.level {
            Level::Token => {
                for t in &text.tokens {
                    let (top1, top1_p) = match t.top.first() {
                        Some(a) => (Cell::Str(&a.token), Cell::Float(a.probability)),
                        None => (Cell::NullStr, Cell::Float(f64::NAN)),
                    };
                    self.push_row(&[
                        Cell::Str(&text.id),
                        int(t.index),
                        Cell::Int(t.id.into()),
                        Cell::Str(&t.token),
                        int(t.byte_start),
                        int(t.byte_end),
                        int(t.char_start),
                        int(t.char_end),
                        Cell::Float(u.info(t.surprisal_bits)),
                        Cell::Float(t.probability),
                        Cell::Float(u.info(t.entropy_bits)),
                        Cell::Float(u.var(t.varentropy_bits2)),
                        if t.scored { Cell::Int(t.rank.into()) } else { Cell::NullInt },
                        top1,
                        top1_p,
                        Cell::Bool(t.scored),
                        Cell::Float(u.info(t.excess_bits)),
                        Cell::Float(t.z),
                        Cell::Float(u.info(t.boundary_bits)),
                    ]);
                }
            }
            Level::Word => {
                for w in text_words(text) {
                    self.push_row(&[
                        Cell::Str(&text.id),
                        int(w.index),
                        Cell::Str(&w.text),
                        int(w.byte_start),
                        int(w.byte_end),
                        int(w.char_start),
                        int(w.char_end),
                        int(w.token_start),
                        int(w.token_end),
                        int(w.tokens()),
                        Cell::Float(u.info(w.surprisal_bits)),
                        Cell::Float(u.info(w.surprisal_bits_uncorrected)),
                        Cell::Float(u.info(w.bow_bits)),
                        Cell::Float(u.info(w.eow_bits)),
                        Cell::Float(w.probability()),
                        Cell::Float(u.info(w.entropy_bits)),
                        Cell::Bool(w.scored),
                    ]);
                }
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::export::{ExportOptions, Format, table};
    use crate::metrics::{Alternative, BosPolicy, ScoreSettings, Summary, TokenScore};

    /// "Hi there": an unscored first token (as under `--bos none`) and a scored one with one alternative.
    /// Hand-made values: this tests the layout of the table, not the model.
    pub(crate) fn text() -> TextScore {
        let token = |index: usize, s: &str, start: usize, scored: bool| TokenScore {
            index,
            id: 100 + index as u32,
            token: s.to_string(),
            bytes: s.as_bytes().to_vec(),
            byte_start: start,
            byte_end: start + s.len(),
            char_start: start,
            char_end: start + s.len(),
            scored,
            surprisal_bits: if scored { 3.25 } else { f64::NAN },
            probability: if scored { 0.10511205190671431 } else { f64::NAN },
            entropy_bits: if scored { 5.5 } else { f64::NAN },
            varentropy_bits2: if scored { 0.1 } else { f64::NAN },
            rank: if scored { 4 } else { 0 },
            top: if scored { vec![Alternative { id: 7, token: " here".into(), probability: 0.5 }] } else { vec![] },
            window: 0,
            context_len: index,
            boundary_bits: if scored { 0.75 } else { f64::NAN },
            excess_bits: if scored { 3.25 - 5.5 } else { f64::NAN },
            z: if scored { (3.25 - 5.5) / 0.1f64.sqrt() } else { f64::NAN },
        };
        let tokens = vec![token(0, "Hi", 0, false), token(1, " there", 2, true)];
        let summary = Summary::of(&tokens, "Hi there");
        TextScore {
            id: "t,1".into(),
            text: "Hi there".into(),
            tokens,
            summary,
            settings: ScoreSettings {
                bos_policy: BosPolicy::None,
                bos_token: None,
                window: 8,
                stride: 4,
                windows: 1,
                top_k: 1,
                backend: "cpu".into(),
                device: "test".into(),
            },
            end_boundary_bits: Some(1.5),
        }
    }

    /// A column's value as the csv writes it (empty when null).
    fn csv_field(c: &Column, row: usize) -> String {
        if c.valid.as_ref().is_some_and(|v| !v[row]) {
            return String::new();
        }
        match &c.values {
            Values::Str(v) => table::field(&v[row], b','),
            Values::Int(v) => v[row].to_string(),
            Values::Float(v) => table::num(v[row]),
            Values::Bool(v) => v[row].to_string(),
        }
    }

    #[test]
    fn columns_hold_the_csv_rows() {
        let t = text();
        for level in [Level::Token, Level::Word] {
            for units in [Units::Bits, Units::Nats] {
                let mut cols = Columns::new(level, units);
                cols.push(&t);
                cols.push(&t);
                let options = ExportOptions { format: Format::Csv, units, level };
                let mut csv = Vec::new();
                table::write_header(&mut csv, &options).unwrap();
                table::write_rows(&mut csv, &options, &t).unwrap();
                table::write_rows(&mut csv, &options, &t).unwrap();
                let csv = String::from_utf8(csv).unwrap();
                let mut lines = csv.lines();
                let header: Vec<&str> = lines.next().unwrap().split(',').collect();
                let names: Vec<&str> = cols.columns().iter().map(|c| c.name.as_str()).collect();
                assert_eq!(names, header);
                let rows: Vec<&str> = lines.collect();
                assert_eq!(cols.rows(), rows.len());
                for (r, line) in rows.iter().enumerate() {
                    let ours: Vec<String> = cols.columns().iter().map(|c| csv_field(c, r)).collect();
                    assert_eq!(ours.join(","), *line, "{level:?} {units:?} row {r}");
                }
                assert!(cols.columns().iter().all(|c| c.len() == cols.rows()));
                cols.clear();
                assert_eq!(cols.rows(), 0);
                assert!(cols.columns().iter().all(Column::is_empty));
            }
        }
    }
}
