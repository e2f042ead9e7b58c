//! `densi compare A B [C...]`: several prompts side by side, each with its difference from the first.

use std::io::Write;

use anyhow::Result;
use densi::export::compare::{Compared, TokenBrief, column_headers, compared};
use densi::export::{Level, Provenance, Units};
use serde::Serialize;

use super::args::{CompareArgs, CompareFormat, LevelArg};
use super::input::read_inputs;
use super::progress::Progress;
use super::score::{pad, pad_left, quote, truncate};
use super::session::{open_session, score_inputs};

pub fn run(args: CompareArgs, matches: Option<&clap::ArgMatches>, progress: &Progress) -> Result<()> {
    let inputs = read_inputs(&args.input, matches)?;
    if let Some(paths) = args.model.pair()? {
        if inputs.is_empty() {
            return Err(super::usage::no_input());
        }
        return match args.level {
            LevelArg::Token => super::pair::compare(&inputs, &args.model, &args.scoring, args.format, paths, progress),
            LevelArg::Word => {
                super::pair::compare_words(&inputs, &args.model, &args.scoring, args.format, paths, progress)
            }
        };
    }
    if args.level == LevelArg::Word {
        return Err(super::usage::UsageError(
            "compare --level word needs two models (--model A --model B); one model's words are in \
             `densi score --level word` and `densi export --level word`"
                .into(),
        )
        .into());
    }
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
    let heads = column_headers(&rows.iter().map(|r| r.id.as_str()).collect::<Vec<_>>());
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
