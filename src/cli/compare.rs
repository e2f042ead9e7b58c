//! `densi compare A B [C...]`: several prompts side by side, each with its difference from the first.

use std::io::Write;

use anyhow::Result;
use densi::export::WordProbability;
use densi::export::words::{densest_sentence, text_words};
use densi::export::{Level, Provenance, Units};
use densi::metrics::{TextScore, TokenScore};
use serde::Serialize;

use super::args::{CompareArgs, CompareFormat};
use super::input::read_inputs;
use super::progress::Progress;
use super::score::{pad, pad_left, quote, truncate};
use super::session::{open_session, score_inputs};

/// One token, briefly.
#[derive(Debug, Serialize)]
struct TokenBrief {
    index: usize,
    token: String,
    surprisal_bits: f64,
    /// Entropy of the distribution before this token.
    entropy_bits: f64,
    rank: u32,
}

impl TokenBrief {
    fn of(t: &TokenScore) -> TokenBrief {
        TokenBrief {
            index: t.index,
            token: t.token.clone(),
            surprisal_bits: t.surprisal_bits,
            entropy_bits: t.entropy_bits,
            rank: t.rank,
        }
    }
}

/// A word, briefly: its surprisal is the one `--word-probability` picks (corrected by default).
#[derive(Debug, Serialize)]
struct WordBrief {
    index: usize,
    word: String,
    tokens: usize,
    surprisal_bits: f64,
    /// Entropy before the word's first token.
    entropy_bits: f64,
}

#[derive(Debug, Serialize)]
struct SentenceBrief {
    text: String,
    byte_start: usize,
    byte_end: usize,
    tokens: usize,
    total_bits: f64,
    mean_bits_per_token: f64,
}

/// This text minus the first.
#[derive(Debug, Serialize)]
struct Diff {
    tokens: i64,
    total_bits: f64,
    mean_bits_per_token: f64,
    bits_per_char: f64,
    perplexity: f64,
    /// None when either text has none.
    fast_detectgpt: Option<f64>,
}

#[derive(Debug, Serialize)]
struct Compared {
    id: String,
    tokens: usize,
    scored_tokens: usize,
    chars: usize,
    total_bits: f64,
    mean_bits_per_token: f64,
    bits_per_char: f64,
    perplexity: f64,
    /// Σ(−s + H) / √ΣV over the scored tokens (Bao et al. 2024; unit-free): `metrics::Summary::fast_detectgpt`.
    fast_detectgpt: Option<f64>,
    /// The text's last token: how predictable its ending was.
    last_token: Option<TokenBrief>,
    /// The last word with a letter or digit in it (punctuation after it skipped): the "answer" of a prompt.
    last_word: Option<WordBrief>,
    /// The token before which the model was least sure (highest entropy).
    most_uncertain: Option<TokenBrief>,
    /// The most surprising token.
    densest_token: Option<TokenBrief>,
    /// The sentence with the highest mean surprisal per token.
    densest_sentence: Option<SentenceBrief>,
    diff_from_first: Diff,
}

fn max_by(tokens: &[TokenScore], key: impl Fn(&TokenScore) -> f64) -> Option<TokenBrief> {
    tokens
        .iter()
        .filter(|t| t.scored)
        .fold(None, |best: Option<&TokenScore>, t| match best {
            Some(b) if key(b) >= key(t) => Some(b),
            _ => Some(t),
        })
        .map(TokenBrief::of)
}

fn compared(t: &TextScore, first: &TextScore, word_probability: WordProbability) -> Compared {
    let s = &t.summary;
    let f = &first.summary;
    Compared {
        id: t.id.clone(),
        tokens: s.tokens,
        scored_tokens: s.scored_tokens,
        chars: s.chars,
        total_bits: s.total_bits,
        mean_bits_per_token: s.mean_bits_per_token,
        bits_per_char: s.bits_per_char,
        perplexity: s.perplexity,
        fast_detectgpt: s.fast_detectgpt,
        last_token: t.tokens.last().filter(|t| t.scored).map(TokenBrief::of),
        last_word: text_words(t).into_iter().rev().find(|w| w.scored && w.text.chars().any(char::is_alphanumeric)).map(
            |w| WordBrief {
                index: w.index,
                tokens: w.tokens(),
                surprisal_bits: w.surprisal(word_probability),
                entropy_bits: w.entropy_bits,
                word: w.text,
            },
        ),
        most_uncertain: max_by(&t.tokens, |t| t.entropy_bits),
        densest_token: max_by(&t.tokens, |t| t.surprisal_bits),
        densest_sentence: densest_sentence(&t.text, &t.tokens).map(|d| SentenceBrief {
            tokens: d.tokens(),
            mean_bits_per_token: d.mean_bits_per_token(),
            text: d.text,
            byte_start: d.byte_start,
            byte_end: d.byte_end,
            total_bits: d.surprisal_bits,
        }),
        diff_from_first: Diff {
            tokens: s.tokens as i64 - f.tokens as i64,
            total_bits: s.total_bits - f.total_bits,
            mean_bits_per_token: s.mean_bits_per_token - f.mean_bits_per_token,
            bits_per_char: s.bits_per_char - f.bits_per_char,
            perplexity: s.perplexity - f.perplexity,
            fast_detectgpt: s.fast_detectgpt.zip(f.fast_detectgpt).map(|(a, b)| a - b),
        },
    }
}

pub fn run(args: CompareArgs, matches: Option<&clap::ArgMatches>, progress: &Progress) -> Result<()> {
    let inputs = read_inputs(&args.input, matches)?;
    if inputs.len() < 2 {
        return Err(super::usage::UsageError(format!(
            "compare needs at least two inputs (files, `-`, --text or --jsonl), got {}",
            inputs.len()
        ))
        .into());
    }
    let mut session = open_session(&args.model, &args.scoring, progress)?;
    let mut scored = Vec::with_capacity(inputs.len());
    score_inputs(&mut session, &inputs, progress, |t| {
        scored.push(t);
        Ok(())
    })?;
    let rows: Vec<Compared> = scored.iter().map(|t| compared(t, &scored[0], args.scoring.word_probability)).collect();
    let mut out = std::io::stdout().lock();
    match args.format {
        CompareFormat::Json => {
            let sha = session.model.sha256()?;
            let mut prov = Provenance::new(&session.model, sha, &scored[0].settings, Units::Bits, Level::Token);
            prov.word_probability = args.scoring.word_probability;
            #[derive(Serialize)]
            struct Doc<'a> {
                provenance: Provenance,
                texts: &'a [Compared],
            }
            serde_json::to_writer_pretty(&mut out, &Doc { provenance: prov, texts: &rows })?;
            writeln!(out)?;
        }
        CompareFormat::Table => write_table(&mut out, &rows)?,
    }
    out.flush()?;
    Ok(())
}

/// Column headers: the file names when they are distinct, else the ids.
fn headers(rows: &[Compared]) -> Vec<String> {
    let base: Vec<String> = rows
        .iter()
        .map(|r| std::path::Path::new(&r.id).file_name().map_or(r.id.clone(), |n| n.to_string_lossy().into_owned()))
        .collect();
    let mut sorted = base.clone();
    sorted.sort();
    sorted.dedup();
    if sorted.len() == base.len() { base } else { rows.iter().map(|r| r.id.clone()).collect() }
}

fn signed(x: f64, decimals: usize) -> String {
    if x.is_nan() {
        return String::new();
    }
    let s = format!("{:+.*}", decimals, x);
    // "-0.00" and "+0.00" say "no difference".
    if s.trim_start_matches(['+', '-']).chars().all(|c| c == '0' || c == '.') { format!("±{}", &s[1..]) } else { s }
}

fn write_table(out: &mut dyn Write, rows: &[Compared]) -> std::io::Result<()> {
    const LABEL: usize = 22;
    const MAX_COL: usize = 26;
    let num_row = |label: &str,
                   v: &dyn Fn(&Compared) -> f64,
                   d: &dyn Fn(&Compared) -> f64,
                   decimals: usize|
     -> (String, Vec<String>) {
        let cells = rows
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let value = format!("{:.*}", decimals, v(r));
                if i == 0 { value } else { format!("{value} ({})", signed(d(r), decimals)) }
            })
            .collect();
        (label.to_string(), cells)
    };
    let tok = |t: &Option<TokenBrief>| t.as_ref().map_or("-".to_string(), |t| quote(&t.token, MAX_COL));
    let bits = |x: Option<f64>| x.map_or("-".to_string(), |x| format!("{x:.2} bits"));

    let mut table: Vec<(String, Vec<String>)> = vec![
        (
            "tokens".into(),
            rows.iter()
                .enumerate()
                .map(|(i, r)| {
                    if i == 0 { r.tokens.to_string() } else { format!("{} ({:+})", r.tokens, r.diff_from_first.tokens) }
                })
                .collect(),
        ),
        num_row("total bits", &|r| r.total_bits, &|r| r.diff_from_first.total_bits, 2),
        num_row("mean bits/token", &|r| r.mean_bits_per_token, &|r| r.diff_from_first.mean_bits_per_token, 2),
        num_row("bits/char", &|r| r.bits_per_char, &|r| r.diff_from_first.bits_per_char, 3),
        num_row("perplexity", &|r| r.perplexity, &|r| r.diff_from_first.perplexity, 2),
        (
            "fast-detectgpt".into(),
            rows.iter()
                .enumerate()
                .map(|(i, r)| match (r.fast_detectgpt, r.diff_from_first.fast_detectgpt) {
                    (None, _) => "-".into(),
                    (Some(v), Some(d)) if i > 0 => format!("{v:.2} ({})", signed(d, 2)),
                    (Some(v), _) => format!("{v:.2}"),
                })
                .collect(),
        ),
        (
            "last word".into(),
            rows.iter().map(|r| r.last_word.as_ref().map_or("-".into(), |w| quote(&w.word, MAX_COL))).collect(),
        ),
        ("  surprisal".into(), rows.iter().map(|r| bits(r.last_word.as_ref().map(|w| w.surprisal_bits))).collect()),
        (
            "  entropy before it".into(),
            rows.iter().map(|r| bits(r.last_word.as_ref().map(|w| w.entropy_bits))).collect(),
        ),
        ("densest token".into(), rows.iter().map(|r| tok(&r.densest_token)).collect()),
        ("  surprisal".into(), rows.iter().map(|r| bits(r.densest_token.as_ref().map(|t| t.surprisal_bits))).collect()),
        ("highest entropy before".into(), rows.iter().map(|r| tok(&r.most_uncertain)).collect()),
        (
            "  entropy before it".into(),
            rows.iter().map(|r| bits(r.most_uncertain.as_ref().map(|t| t.entropy_bits))).collect(),
        ),
        (
            "densest sentence".into(),
            rows.iter().map(|r| r.densest_sentence.as_ref().map_or("-".into(), |s| quote(&s.text, MAX_COL))).collect(),
        ),
        (
            "  bits/token".into(),
            rows.iter()
                .map(|r| {
                    r.densest_sentence
                        .as_ref()
                        .map_or("-".into(), |s| format!("{:.2} ({} tokens)", s.mean_bits_per_token, s.tokens))
                })
                .collect(),
        ),
    ];
    let heads = headers(rows);
    let widths: Vec<usize> = (0..rows.len())
        .map(|i| {
            let w = table.iter().map(|(_, c)| unicode_width::UnicodeWidthStr::width(c[i].as_str())).max().unwrap_or(0);
            w.max(unicode_width::UnicodeWidthStr::width(heads[i].as_str()).min(MAX_COL)).clamp(8, MAX_COL)
        })
        .collect();
    for (_, cells) in table.iter_mut() {
        for (c, w) in cells.iter_mut().zip(&widths) {
            *c = truncate(c, *w);
        }
    }
    let mut line = pad("", LABEL);
    for (h, w) in heads.iter().zip(&widths) {
        line.push_str("  ");
        line.push_str(&pad_left(&truncate(h, *w), *w));
    }
    writeln!(out, "{}", line.trim_end())?;
    for (label, cells) in &table {
        let mut line = pad(label, LABEL);
        for (c, w) in cells.iter().zip(&widths) {
            line.push_str("  ");
            line.push_str(&pad_left(c, *w));
        }
        writeln!(out, "{line}")?;
    }
    writeln!(out, "(differences from the first text in parentheses; surprisal and entropy in bits, log base 2)")
}
