//! `--model A --model B` on `score`, `export`, `compare` and `report`: one text under two models (A is the
//! reference; in the Binoculars score A is the observer and B the performer). Token level needs one
//! vocabulary (the library checks it); `export --level word` pairs words of any two models.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Result, anyhow};
use densi::export::{Format, Level};
use densi::metrics::TextScore;
use densi::model::Model;
use densi::pair::export::{PairExporter, PairProvenance};
use densi::pair::words::{NO_KL, PairWord, PairWordSummary, align_words};
use densi::pair::{ModelProvenance, PairScore, PairScorer, PairSummary};
use serde::Serialize;

use super::args::{CompareFormat, ModelArgs, ScoringArgs};
use super::export::{Out, write_error};
use super::input::Input;
use super::progress::Progress;
use super::score::{pad, quote};

/// Loads A and B, with a spinner each.
fn load_pair(args: &ModelArgs, (a, b): (&Path, &Path), progress: &Progress) -> Result<(Arc<Model>, Arc<Model>)> {
    let load = |p: &Path| -> Result<Arc<Model>> {
        let path = Model::resolve_path(Some(p))?;
        let spinner = progress.spinner(format!("loading {}", path.display()));
        let model = Model::load_with(&path, args.weights)?;
        spinner.finish_and_clear();
        Ok(Arc::new(model))
    };
    Ok((load(a)?, load(b)?))
}

fn pair_scorer(
    model: &ModelArgs,
    scoring: &ScoringArgs,
    paths: (&Path, &Path),
    progress: &Progress,
) -> Result<PairScorer> {
    let (a, b) = load_pair(model, paths, progress)?;
    let scorer = PairScorer::new(a, b, scoring.score_options(), scoring.backend.threads)?;
    if scoring.backend.backend == densi::BackendChoice::Gpu {
        let opts = scoring.backend.options();
        return Ok(scorer.on_gpu(opts.device, opts.dtype, true)?);
    }
    Ok(scorer)
}

/// Scores every input under both models, in order, with a bar over the inputs' tokens.
fn score_all(
    scorer: &PairScorer,
    inputs: &[Input],
    progress: &Progress,
    mut each: impl FnMut(PairScore) -> Result<()>,
) -> Result<()> {
    let total: u64 = if progress.enabled() {
        inputs.iter().map(|i| scorer.model_a().tokenizer.encode(&i.text).map_or(0, |e| e.ids.len() as u64)).sum()
    } else {
        0
    };
    let bar = progress.tokens(total);
    bar.set_prefix("two models");
    let mut base = 0u64;
    for input in inputs {
        let b = bar.clone();
        let r = scorer.score(&input.id, &input.text, &mut |done, _| b.set_position(base + done as u64))?;
        base += r.tokens.len() as u64;
        bar.suspend(|| each(r))?;
    }
    bar.finish_and_clear();
    Ok(())
}

/// Word level, any two vocabularies: each text scored by A, then by B, on each model's own
/// single-model path (either backend); `each` gets the input, both models and both scores.
fn score_words(
    model: &ModelArgs,
    scoring: &ScoringArgs,
    inputs: &[Input],
    paths: (&Path, &Path),
    progress: &Progress,
    mut each: impl FnMut(&Input, &Model, &Model, &TextScore, &TextScore) -> Result<()>,
) -> Result<()> {
    let (a, b) = load_pair(model, paths, progress)?;
    let backend = scoring.backend.options();
    let mut sa = densi::backend::scorer(&a, &backend, scoring.score_options())?;
    let mut sb = densi::backend::scorer(&b, &backend, scoring.score_options())?;
    for (k, input) in inputs.iter().enumerate() {
        let spinner = progress.spinner(format!("text {}/{}: scoring under A, then B", k + 1, inputs.len()));
        let ta: TextScore = sa.score(&input.id, &input.text)?;
        let tb: TextScore = sb.score(&input.id, &input.text)?;
        spinner.finish_and_clear();
        each(input, &a, &b, &ta, &tb)?;
    }
    Ok(())
}

/// The window and stride both scores used, when they agree (models of different contexts may not).
fn shared_window(ta: &TextScore, tb: &TextScore) -> Option<(usize, usize)> {
    let same = (ta.settings.window, ta.settings.stride) == (tb.settings.window, tb.settings.stride);
    same.then_some((ta.settings.window, ta.settings.stride))
}

/// `densi score --model A --model B --level word`: a per-word table and a summary per text.
pub fn score_word_table(
    inputs: &[Input],
    model: &ModelArgs,
    scoring: &ScoringArgs,
    paths: (&Path, &Path),
    progress: &Progress,
) -> Result<()> {
    let stdout = std::io::stdout();
    let mut first = true;
    score_words(model, scoring, inputs, paths, progress, |input, _, _, ta, tb| {
        let words = align_words(ta, tb);
        let mut out = stdout.lock();
        if !first {
            writeln!(out)?;
        }
        first = false;
        writeln!(out, "{}  (A = {}, B = {}; by word)", input.id, paths.0.display(), paths.1.display())?;
        writeln!(
            out,
            "{:>5}  {}  {:>7}  {:>7}  {:>7}  {:>5}  {:>5}",
            "#",
            pad("word", 18),
            "s_A",
            "s_B",
            "delta",
            "tok_A",
            "tok_B"
        )?;
        for w in &words {
            let word = pad(&quote(&w.word, 18), 18);
            if !w.scored {
                writeln!(out, "{:>5}  {word}  (not scored: a token of it has no context)", w.index)?;
                continue;
            }
            writeln!(
                out,
                "{:>5}  {word}  {:>7.2}  {:>7.2}  {:>+7.2}  {:>5}  {:>5}",
                w.index, w.surprisal_bits_a, w.surprisal_bits_b, w.delta_bits, w.tokens_a, w.tokens_b
            )?;
        }
        writeln!(out, "{}", word_summary_line(&PairWordSummary::of(&words)))?;
        out.flush()?;
        Ok(())
    })
}

/// `summary: 12 words; A 40.1 bits (3.34 bits/word), B …; mean delta +0.21 bits, mean |delta| 1.02 bits; r 0.91; no KL …`.
fn word_summary_line(s: &PairWordSummary) -> String {
    if s.scored_words == 0 {
        return "summary: no word scored".into();
    }
    format!(
        "summary: {} words ({} scored); A {:.2} bits ({:.3} bits/word), B {:.2} bits ({:.3} bits/word); \
         mean delta {:+.3} bits, mean |delta| {:.3} bits; correlation {:.3}; {}",
        s.words,
        s.scored_words,
        s.total_bits_a,
        s.mean_bits_per_word_a,
        s.total_bits_b,
        s.mean_bits_per_word_b,
        s.mean_delta_bits,
        s.mean_abs_delta_bits,
        s.correlation,
        NO_KL
    )
}

/// `densi score --model A --model B`: a per-token table and a summary per text.
pub fn score(
    inputs: &[Input],
    model: &ModelArgs,
    scoring: &ScoringArgs,
    paths: (&Path, &Path),
    progress: &Progress,
) -> Result<()> {
    let scorer = pair_scorer(model, scoring, paths, progress)?;
    let stdout = std::io::stdout();
    let mut first = true;
    score_all(&scorer, inputs, progress, |t| {
        let mut out = stdout.lock();
        if !first {
            writeln!(out)?;
        }
        first = false;
        writeln!(out, "{}  (A = {}, B = {})", t.id, paths.0.display(), paths.1.display())?;
        writeln!(
            out,
            "{:>5}  {}  {:>7}  {:>7}  {:>7}  {:>6}  {:>6}  {:>6}  {:>6}  {:>7}",
            "#",
            pad("token", 18),
            "s_A",
            "s_B",
            "delta",
            "H_A",
            "H_B",
            "rank_A",
            "rank_B",
            "KL(A‖B)"
        )?;
        for tok in &t.tokens {
            let token = pad(&quote(&tok.token, 18), 18);
            if !tok.scored {
                writeln!(out, "{:>5}  {token}  (no context: not scored)", tok.index)?;
                continue;
            }
            writeln!(
                out,
                "{:>5}  {token}  {:>7.2}  {:>7.2}  {:>+7.2}  {:>6.2}  {:>6.2}  {:>6}  {:>6}  {:>7.4}",
                tok.index,
                tok.surprisal_bits_a,
                tok.surprisal_bits_b,
                tok.delta_bits,
                tok.entropy_bits_a,
                tok.entropy_bits_b,
                tok.rank_a,
                tok.rank_b,
                tok.kl_ab_bits
            )?;
        }
        writeln!(out, "{}", summary_line(&t.summary))?;
        out.flush()?;
        Ok(())
    })
}

/// `summary: perplexity A 8.12, B 9.40; mean KL(A‖B) 0.123 bits, KL(B‖A) 0.130 bits; top-1 differs at 12.0%; binoculars 0.93`.
fn summary_line(s: &PairSummary) -> String {
    if s.scored_tokens == 0 {
        return "summary: no token scored (the first token has no context with --bos none)".into();
    }
    format!(
        "summary: {} tokens; perplexity A {:.2}, B {:.2}; mean KL(A‖B) {:.4} bits, KL(B‖A) {:.4} bits; \
         cross-entropy A→B {:.3} bits; top-1 differs at {:.1}% of positions; binoculars {:.4} (A observer, B performer)",
        s.scored_tokens,
        s.perplexity_a,
        s.perplexity_b,
        s.mean_kl_ab_bits,
        s.mean_kl_ba_bits,
        s.mean_cross_entropy_ab_bits,
        100.0 * s.top1_disagreement,
        s.binoculars
    )
}

fn provenance_of(model: &Model, settings: &densi::ScoreSettings, progress: &Progress) -> Result<ModelProvenance> {
    let spinner = progress.spinner(format!("hashing {} (sha256)", model.source.path.display()));
    let sha = model.sha256()?;
    spinner.finish_and_clear();
    Ok(ModelProvenance::new(model, sha, &settings.bos_policy, settings.bos_token))
}

/// `densi export --model A --model B`: token level under one vocabulary, or word level under any two.
pub(super) fn export(
    args: &super::args::ExportArgs,
    inputs: &[Input],
    out: Out,
    paths: (&Path, &Path),
    progress: &Progress,
) -> Result<Out> {
    let format: Format = args.format.into();
    let level: Level = args.level.into();
    if args.units != super::args::UnitsArg::Bits {
        return Err(super::usage::UsageError(
            "two-model exports are in bits (--units nats is not supported with two models)".into(),
        )
        .into());
    }
    if format == Format::Parquet {
        return Err(
            super::usage::UsageError("two-model exports are csv, tsv, json or jsonl (no parquet yet)".into()).into()
        );
    }
    let mut out = Some(out);
    let mut exporter: Option<PairExporter<Out>> = None;
    let top_k = args.scoring.top_k;
    match level {
        Level::Token => {
            let scorer = pair_scorer(&args.model, &args.scoring, paths, progress)?;
            score_all(&scorer, inputs, progress, |t| {
                if exporter.is_none() {
                    let (a, b) = (scorer.model_a(), scorer.model_b());
                    let pa = provenance_of(a, &t.settings, progress)?;
                    let pb = provenance_of(b, &t.settings, progress)?;
                    let prov = PairProvenance::new(
                        pa,
                        pb,
                        scorer.backend(),
                        scorer.device(),
                        Some((t.settings.window, t.settings.stride)),
                        top_k,
                        level,
                    );
                    let w = out.take().ok_or_else(|| anyhow!("output already taken"))?;
                    exporter = Some(PairExporter::begin(w, format, level, prov)?);
                }
                let e = exporter.as_mut().ok_or_else(|| anyhow!("no exporter"))?;
                e.write_tokens(&t).map_err(|e| write_error(&args.output, e))
            })?;
        }
        Level::Word => {
            score_words(&args.model, &args.scoring, inputs, paths, progress, |input, a, b, ta, tb| {
                if exporter.is_none() {
                    let pa = provenance_of(a, &ta.settings, progress)?;
                    let pb = provenance_of(b, &tb.settings, progress)?;
                    let prov = PairProvenance::new(
                        pa,
                        pb,
                        &ta.settings.backend,
                        ta.settings.device.clone(),
                        shared_window(ta, tb),
                        top_k,
                        level,
                    );
                    let w = out.take().ok_or_else(|| anyhow!("output already taken"))?;
                    exporter = Some(PairExporter::begin(w, format, level, prov)?);
                }
                let e = exporter.as_mut().ok_or_else(|| anyhow!("no exporter"))?;
                e.write_words(&input.id, &input.text, &align_words(ta, tb)).map_err(|e| write_error(&args.output, e))
            })?;
        }
    }
    let exporter = exporter.ok_or_else(|| anyhow!("nothing was scored"))?;
    exporter.finish().map_err(|e| write_error(&args.output, e))
}

/// The positions of largest KL(A‖B) listed by `compare`.
const TOP_KL: usize = 10;
/// Bytes of context shown on each side of a listed token.
const CONTEXT_BYTES: usize = 24;

/// One of the largest-KL positions, with its token in context.
#[derive(Serialize)]
struct KlPosition {
    token_index: usize,
    token: String,
    kl_ab_bits: f64,
    kl_ba_bits: f64,
    surprisal_bits_a: f64,
    surprisal_bits_b: f64,
    top1_a: Option<String>,
    top1_b: Option<String>,
    /// The text around the token, the token in [brackets].
    context: String,
}

#[derive(Serialize)]
struct ComparedPair<'a> {
    id: &'a str,
    summary: &'a PairSummary,
    largest_kl: Vec<KlPosition>,
}

/// The `n` positions of largest KL(A‖B), largest first (ties: earlier first).
fn largest_kl(t: &PairScore, n: usize) -> Vec<KlPosition> {
    let mut idx: Vec<usize> = (0..t.tokens.len()).filter(|&i| t.tokens[i].scored).collect();
    idx.sort_by(|&x, &y| t.tokens[y].kl_ab_bits.total_cmp(&t.tokens[x].kl_ab_bits).then(x.cmp(&y)));
    idx.truncate(n);
    idx.into_iter()
        .map(|i| {
            let tok = &t.tokens[i];
            KlPosition {
                token_index: i,
                token: tok.token.clone(),
                kl_ab_bits: tok.kl_ab_bits,
                kl_ba_bits: tok.kl_ba_bits,
                surprisal_bits_a: tok.surprisal_bits_a,
                surprisal_bits_b: tok.surprisal_bits_b,
                top1_a: tok.top_a.first().map(|a| a.token.clone()),
                top1_b: tok.top_b.first().map(|a| a.token.clone()),
                context: in_context(&t.text, tok.byte_start, tok.byte_end),
            }
        })
        .collect()
}

/// `…text before [token] text after…`, cut at character boundaries, line breaks shown as `⏎`.
fn in_context(text: &str, start: usize, end: usize) -> String {
    let floor = |mut i: usize| {
        while !text.is_char_boundary(i) {
            i -= 1;
        }
        i
    };
    let ceil = |mut i: usize| {
        while i < text.len() && !text.is_char_boundary(i) {
            i += 1;
        }
        i
    };
    // A token inside a multi-byte character: widen to whole characters.
    let (start, end) = (floor(start), ceil(end));
    let from = floor(start.saturating_sub(CONTEXT_BYTES));
    let to = ceil((end + CONTEXT_BYTES).min(text.len()));
    let s = format!(
        "{}{}[{}]{}{}",
        if from > 0 { "…" } else { "" },
        &text[from..start],
        &text[start..end],
        &text[end..to],
        if to < text.len() { "…" } else { "" }
    );
    s.replace('\n', "⏎").replace('\r', "").replace('\t', " ")
}

/// `densi compare --model A --model B TEXT...`: a summary per text and its largest-KL positions.
pub fn compare(
    inputs: &[Input],
    model: &ModelArgs,
    scoring: &ScoringArgs,
    format: CompareFormat,
    paths: (&Path, &Path),
    progress: &Progress,
) -> Result<()> {
    let scorer = pair_scorer(model, scoring, paths, progress)?;
    let mut scored = Vec::with_capacity(inputs.len());
    score_all(&scorer, inputs, progress, |t| {
        scored.push(t);
        Ok(())
    })?;
    let mut out = std::io::stdout().lock();
    match format {
        CompareFormat::Json => {
            let (a, b) = (scorer.model_a(), scorer.model_b());
            let settings = &scored[0].settings;
            let prov = PairProvenance::new(
                provenance_of(a, settings, progress)?,
                provenance_of(b, settings, progress)?,
                scorer.backend(),
                scorer.device(),
                Some((settings.window, settings.stride)),
                scoring.top_k,
                Level::Token,
            );
            #[derive(Serialize)]
            struct Doc<'a> {
                provenance: PairProvenance,
                texts: Vec<ComparedPair<'a>>,
            }
            let texts = scored
                .iter()
                .map(|t| ComparedPair { id: &t.id, summary: &t.summary, largest_kl: largest_kl(t, TOP_KL) })
                .collect();
            serde_json::to_writer_pretty(&mut out, &Doc { provenance: prov, texts })?;
            writeln!(out)?;
        }
        CompareFormat::Table => {
            writeln!(out, "A = {}", paths.0.display())?;
            writeln!(out, "B = {}", paths.1.display())?;
            for t in &scored {
                let s = &t.summary;
                writeln!(out)?;
                writeln!(out, "{}", t.id)?;
                let rows = [
                    ("tokens scored", format!("{}", s.scored_tokens)),
                    ("perplexity A", format!("{:.3}", s.perplexity_a)),
                    ("perplexity B", format!("{:.3}", s.perplexity_b)),
                    ("mean KL(A‖B)", format!("{:.4} bits", s.mean_kl_ab_bits)),
                    ("mean KL(B‖A)", format!("{:.4} bits", s.mean_kl_ba_bits)),
                    ("mean cross-entropy A→B", format!("{:.4} bits", s.mean_cross_entropy_ab_bits)),
                    ("top-1 agreement", format!("{:.1}%", 100.0 * (1.0 - s.top1_disagreement))),
                    ("binoculars", format!("{:.4} (A observer, B performer)", s.binoculars)),
                ];
                for (label, value) in rows {
                    writeln!(out, "  {}  {value}", pad(label, 24))?;
                }
                writeln!(out, "  largest KL(A‖B), bits:")?;
                for p in largest_kl(t, TOP_KL) {
                    writeln!(
                        out,
                        "  {:>6}  {:>8.4}  A {:>5.2} B {:>5.2} bits  {}",
                        format!("#{}", p.token_index),
                        p.kl_ab_bits,
                        p.surprisal_bits_a,
                        p.surprisal_bits_b,
                        p.context
                    )?;
                }
            }
            writeln!(out, "\n(KL(A‖B) = Σ p_A log₂(p_A/p_B) in bits; A is the reference)")?;
        }
    }
    out.flush()?;
    Ok(())
}

/// One of the words of largest |delta_bits|, in context.
#[derive(Serialize)]
struct DeltaWord {
    word_index: usize,
    word: String,
    surprisal_bits_a: f64,
    surprisal_bits_b: f64,
    delta_bits: f64,
    /// The text around the word, the word in [brackets].
    context: String,
}

/// The `n` scored words of largest |delta_bits|, largest first (ties: earlier first).
fn largest_delta(text: &str, words: &[PairWord], n: usize) -> Vec<DeltaWord> {
    let mut idx: Vec<usize> = (0..words.len()).filter(|&i| words[i].scored).collect();
    idx.sort_by(|&x, &y| words[y].delta_bits.abs().total_cmp(&words[x].delta_bits.abs()).then(x.cmp(&y)));
    idx.truncate(n);
    idx.into_iter()
        .map(|i| {
            let w = &words[i];
            DeltaWord {
                word_index: i,
                word: w.word.clone(),
                surprisal_bits_a: w.surprisal_bits_a,
                surprisal_bits_b: w.surprisal_bits_b,
                delta_bits: w.delta_bits,
                context: in_context(text, w.byte_start, w.byte_end),
            }
        })
        .collect()
}

/// `densi compare --model A --model B --level word TEXT...`: per text the word-level summary and the
/// ten words where the models differ most; any two vocabularies.
pub fn compare_words(
    inputs: &[Input],
    model: &ModelArgs,
    scoring: &ScoringArgs,
    format: CompareFormat,
    paths: (&Path, &Path),
    progress: &Progress,
) -> Result<()> {
    #[derive(Serialize)]
    struct ComparedWords {
        id: String,
        summary: PairWordSummary,
        largest_delta: Vec<DeltaWord>,
    }
    let mut texts = Vec::with_capacity(inputs.len());
    let mut prov = None;
    score_words(model, scoring, inputs, paths, progress, |input, a, b, ta, tb| {
        if prov.is_none() && format == CompareFormat::Json {
            let (pa, pb) = (provenance_of(a, &ta.settings, progress)?, provenance_of(b, &tb.settings, progress)?);
            let window = shared_window(ta, tb);
            prov = Some(PairProvenance::new(
                pa,
                pb,
                &ta.settings.backend,
                ta.settings.device.clone(),
                window,
                scoring.top_k,
                Level::Word,
            ));
        }
        let words = align_words(ta, tb);
        texts.push(ComparedWords {
            id: input.id.clone(),
            summary: PairWordSummary::of(&words),
            largest_delta: largest_delta(&input.text, &words, TOP_KL),
        });
        Ok(())
    })?;
    let mut out = std::io::stdout().lock();
    match format {
        CompareFormat::Json => {
            #[derive(Serialize)]
            struct Doc {
                provenance: PairProvenance,
                texts: Vec<ComparedWords>,
            }
            let provenance = prov.ok_or_else(|| anyhow!("nothing was scored"))?;
            serde_json::to_writer_pretty(&mut out, &Doc { provenance, texts })?;
            writeln!(out)?;
        }
        CompareFormat::Table => {
            writeln!(out, "A = {}", paths.0.display())?;
            writeln!(out, "B = {}", paths.1.display())?;
            for t in &texts {
                let s = &t.summary;
                writeln!(out)?;
                writeln!(out, "{}", t.id)?;
                let rows = [
                    ("words scored", format!("{} of {}", s.scored_words, s.words)),
                    ("bits A", format!("{:.2} ({:.3} bits/word)", s.total_bits_a, s.mean_bits_per_word_a)),
                    ("bits B", format!("{:.2} ({:.3} bits/word)", s.total_bits_b, s.mean_bits_per_word_b)),
                    ("mean delta (B − A)", format!("{:+.3} bits", s.mean_delta_bits)),
                    ("mean |delta|", format!("{:.3} bits", s.mean_abs_delta_bits)),
                    ("correlation", format!("{:.3} (Pearson, word surprisal A vs B)", s.correlation)),
                ];
                for (label, value) in rows {
                    writeln!(out, "  {}  {value}", pad(label, 24))?;
                }
                writeln!(out, "  largest |delta|, bits:")?;
                for w in &t.largest_delta {
                    writeln!(
                        out,
                        "  {:>6}  {:>+8.3}  A {:>5.2} B {:>5.2} bits  {}",
                        format!("#{}", w.word_index),
                        w.delta_bits,
                        w.surprisal_bits_a,
                        w.surprisal_bits_b,
                        w.context
                    )?;
                }
            }
            writeln!(out, "\n(word surprisal is beginning-of-word corrected; delta = B − A; {NO_KL})")?;
        }
    }
    out.flush()?;
    Ok(())
}

/// `densi report --model A --model B TEXT...`: the two-model page (`densi::pair::report`), written
/// atomically to `out`.
pub fn report(
    args: &super::args::ReportArgs,
    inputs: &[Input],
    mut out: densi::export::AtomicFile,
    paths: (&Path, &Path),
    progress: &Progress,
) -> Result<()> {
    let scorer = pair_scorer(&args.model, &args.scoring, paths, progress)?;
    let mut scored = Vec::with_capacity(inputs.len());
    score_all(&scorer, inputs, progress, |t| {
        scored.push(t);
        Ok(())
    })?;
    let settings = &scored[0].settings;
    let prov = PairProvenance::new(
        provenance_of(scorer.model_a(), settings, progress)?,
        provenance_of(scorer.model_b(), settings, progress)?,
        scorer.backend(),
        scorer.device(),
        Some((settings.window, settings.stride)),
        args.scoring.top_k,
        Level::Token,
    );
    let written = densi::pair::report::write_report(&mut out, &scored, &prov).and_then(|()| out.flush());
    written.map_err(|e| anyhow::Error::new(e).context(format!("{}: writing", args.output.display())))?;
    out.commit()?;
    Ok(())
}
