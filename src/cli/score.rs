//! `densi score`: a readable per-token table and a summary line per text, on stdout.

use std::io::Write;

use anyhow::Result;
use densi::metrics::{Summary, TextScore};
use unicode_width::UnicodeWidthStr;

use super::args::{LevelArg, ScoreArgs};
use super::input::read_inputs;
use super::progress::Progress;
use super::session::{open_session, score_inputs};

pub fn run(args: ScoreArgs, matches: Option<&clap::ArgMatches>, progress: &Progress) -> Result<()> {
    let inputs = read_inputs(&args.input, matches)?;
    if inputs.is_empty() {
        return Err(super::usage::no_input());
    }
    if let Some(paths) = args.model.pair()? {
        return match args.level {
            LevelArg::Token => super::pair::score(&inputs, &args.model, &args.scoring, paths, progress),
            LevelArg::Word => super::pair::score_word_table(&inputs, &args.model, &args.scoring, paths, progress),
        };
    }
    let mut session = open_session(&args.model, &args.scoring, progress)?;
    let stdout = std::io::stdout();
    let mut first = true;
    score_inputs(&mut session, &inputs, progress, |t| {
        let mut out = stdout.lock();
        if !first {
            writeln!(out)?;
        }
        first = false;
        match args.level {
            LevelArg::Token => write_table(&mut out, &t)?,
            LevelArg::Word => write_word_table(&mut out, &t)?,
        }
        out.flush()?;
        Ok(())
    })
}

const TOKEN_COLS: usize = 18;

fn write_table(out: &mut dyn Write, t: &TextScore) -> std::io::Result<()> {
    writeln!(out, "{}", t.id)?;
    writeln!(
        out,
        "{:>5}  {}  {:>9}  {:>8}  {:>6}  top alternative",
        "#",
        pad("token", TOKEN_COLS),
        "surprisal",
        "entropy",
        "rank"
    )?;
    writeln!(out, "{:>5}  {}  {:>9}  {:>8}  {:>6}", "", pad("", TOKEN_COLS), "bits", "bits", "")?;
    for tok in &t.tokens {
        let token = pad(&quote(&tok.token, TOKEN_COLS), TOKEN_COLS);
        if !tok.scored {
            writeln!(out, "{:>5}  {token}  {:>9}  {:>8}  {:>6}  (no context: not scored)", tok.index, "-", "-", "-")?;
            continue;
        }
        let alt = match tok.top.first() {
            Some(a) if a.id == tok.id => match tok.top.get(1) {
                Some(b) => format!("= top; next {} {:.1}%", quote(&b.token, TOKEN_COLS), 100.0 * b.probability),
                None => "= top".to_string(),
            },
            Some(a) => format!("{} {:.1}%", quote(&a.token, TOKEN_COLS), 100.0 * a.probability),
            None => String::new(),
        };
        writeln!(
            out,
            "{:>5}  {token}  {:>9.2}  {:>8.2}  {:>6}  {alt}",
            tok.index, tok.surprisal_bits, tok.entropy_bits, tok.rank
        )?;
    }
    writeln!(out, "{}", summary_line(&t.summary))
}

/// `score --level word`: a word per row (the one word definition, [`densi::text`]), with the
/// beginning-of-word-corrected surprisal and the plain sum over its tokens.
fn write_word_table(out: &mut dyn Write, t: &TextScore) -> std::io::Result<()> {
    writeln!(out, "{}", t.id)?;
    writeln!(
        out,
        "{:>5}  {}  {:>9}  {:>9}  {:>8}  {:>6}",
        "#",
        pad("word", TOKEN_COLS),
        "surprisal",
        "Σ tokens",
        "entropy",
        "tokens"
    )?;
    writeln!(out, "{:>5}  {}  {:>9}  {:>9}  {:>8}", "", pad("", TOKEN_COLS), "bits", "bits", "bits")?;
    for w in densi::export::words::text_words(t) {
        let word = pad(&quote(&w.text, TOKEN_COLS), TOKEN_COLS);
        if !w.scored {
            writeln!(
                out,
                "{:>5}  {word}  {:>9}  {:>9}  {:>8}  {:>6}  (not scored)",
                w.index,
                "-",
                "-",
                "-",
                w.tokens()
            )?;
            continue;
        }
        writeln!(
            out,
            "{:>5}  {word}  {:>9.2}  {:>9.2}  {:>8.2}  {:>6}",
            w.index,
            w.surprisal_bits,
            w.surprisal_bits_uncorrected,
            w.entropy_bits,
            w.tokens()
        )?;
    }
    writeln!(out, "{}", summary_line(&t.summary))
}

/// `6 tokens, 18.52 bits, 3.09 bits/token, 0.74 bits/char, perplexity 8.5, fast-detectgpt -0.41`.
pub fn summary_line(s: &Summary) -> String {
    let plural = if s.tokens == 1 { "" } else { "s" };
    if s.scored_tokens == 0 {
        return format!(
            "summary: {} token{plural}, none scored (the first token has no context with --bos none)",
            s.tokens
        );
    }
    let scored = if s.scored_tokens != s.tokens { format!(" ({} scored)", s.scored_tokens) } else { String::new() };
    // Fast-DetectGPT (Bao et al. 2024), same model as sampler and scorer: Σ(−s + H) / √ΣV, unit-free.
    let detect = s.fast_detectgpt.map_or(String::new(), |d| format!(", fast-detectgpt {d:.2}"));
    format!(
        "summary: {} token{plural}{scored}, {:.2} bits, {:.2} bits/token, {:.3} bits/char, perplexity {:.2}{detect}",
        s.tokens, s.total_bits, s.mean_bits_per_token, s.bits_per_char, s.perplexity
    )
}

/// A token in double quotes with invisible characters made visible (`\n`, `\t`, `\u{..}`), cut to
/// `max` display columns with `…`.
pub fn quote(s: &str, max: usize) -> String {
    let mut body = String::new();
    for c in s.chars() {
        match c {
            '\n' => body.push_str("\\n"),
            '\t' => body.push_str("\\t"),
            '\r' => body.push_str("\\r"),
            '"' => body.push_str("\\\""),
            c if c.is_control() => body.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => body.push(c),
        }
    }
    truncate(&format!("\"{body}\""), max)
}

/// Cut to `max` display columns, ending in `…` when cut.
pub fn truncate(s: &str, max: usize) -> String {
    if s.width() <= max {
        return s.to_string();
    }
    let mut out = String::new();
    let mut w = 0;
    for c in s.chars() {
        let cw = unicode_width::UnicodeWidthChar::width(c).unwrap_or(0);
        if w + cw + 1 > max {
            break;
        }
        out.push(c);
        w += cw;
    }
    out.push('…');
    out
}

/// Pad on the right to `width` display columns.
pub fn pad(s: &str, width: usize) -> String {
    let w = s.width();
    if w >= width { s.to_string() } else { format!("{s}{}", " ".repeat(width - w)) }
}

/// Pad on the left to `width` display columns.
pub fn pad_left(s: &str, width: usize) -> String {
    let w = s.width();
    if w >= width { s.to_string() } else { format!("{}{s}", " ".repeat(width - w)) }
}
