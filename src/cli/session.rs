//! What the scoring commands share: loading the model, opening the backend, scoring the inputs in
//! order with progress.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Result;
use densi::metrics::TextScore;
use densi::model::Model;
use densi::score::Scorer;

use super::args::{ModelArgs, ScoringArgs};
use super::input::Input;
use super::progress::Progress;

/// Resolves (`--model`, `$DENSI_MODEL`, the default) and loads the model, with a spinner.
pub fn load_model(args: &ModelArgs, progress: &Progress) -> Result<Arc<Model>> {
    let path = Model::resolve_path(args.single()?)?;
    let spinner = progress.spinner(format!("loading {}", path.display()));
    let model = Model::load_with(&path, args.weights)?;
    spinner.finish_and_clear();
    Ok(Arc::new(model))
}

/// The model and a scorer on the chosen backend.
pub struct Session {
    pub model: Arc<Model>,
    pub scorer: Scorer,
}

pub fn open_session(model: &ModelArgs, scoring: &ScoringArgs, progress: &Progress) -> Result<Session> {
    let model = load_model(model, progress)?;
    let scorer = densi::backend::scorer(&model, &scoring.backend.options(), scoring.score_options())?;
    Ok(Session { model, scorer })
}

/// Texts reordered at once for prefix reuse: bounds the results held back to keep the input order.
const REORDER_CHUNK: usize = 256;

/// Scores `inputs` and hands each result to `each` in input order (so exports stream). Within chunks
/// of [`REORDER_CHUNK`] texts, the scorer runs them in [`Scorer::reuse_order`] (texts sharing a token
/// prefix one after another, so the backend's prefix cache computes only what differs) and results
/// wait until those before them are handed on. A text that fails stops the run after the texts
/// before it (in input order) are handed on, as in input order.
pub fn score_inputs(
    session: &mut Session,
    inputs: &[Input],
    progress: &Progress,
    mut each: impl FnMut(TextScore) -> Result<()>,
) -> Result<()> {
    // The bar counts tokens over all texts; knowing the total takes one extra tokenization, done only
    // when the bar is shown.
    let total: u64 = if progress.enabled() {
        inputs.iter().map(|i| session.model.tokenizer.encode(&i.text).map(|e| e.ids.len() as u64).unwrap_or(0)).sum()
    } else {
        0
    };
    let bar = progress.tokens(total);
    let start = Instant::now();
    let mut base = 0u64;
    let mut done = 0usize;
    for chunk in inputs.chunks(REORDER_CHUNK) {
        let texts: Vec<&str> = chunk.iter().map(|i| i.text.as_str()).collect();
        let order = if chunk.len() > 1 { session.scorer.reuse_order(&texts) } else { vec![0] };
        let mut results: Vec<Option<TextScore>> = (0..chunk.len()).map(|_| None).collect();
        let (mut next, mut failed): (usize, Option<(usize, anyhow::Error)>) = (0, None);
        for i in order {
            // After a failure only the texts before it still matter.
            if failed.as_ref().is_some_and(|(f, _)| i > *f) {
                continue;
            }
            done += 1;
            if inputs.len() > 1 {
                bar.set_prefix(format!("text {done}/{}", inputs.len()));
            } else {
                bar.set_prefix("scoring");
            }
            let b = bar.clone();
            let mut on_progress = move |done: usize, _total: usize| {
                let pos = base + done as u64;
                b.set_position(pos);
                let secs = start.elapsed().as_secs_f64();
                if secs > 0.0 {
                    b.set_message(format!("· {:.0} tokens/s", pos as f64 / secs));
                }
            };
            let input = &chunk[i];
            let result = session.scorer.score_with_progress(&input.id, &input.text, &mut on_progress);
            for w in session.scorer.take_warnings() {
                progress.warn(Some(&bar), &w);
            }
            match result {
                Ok(r) => {
                    base += r.tokens.len() as u64;
                    bar.set_position(base);
                    results[i] = Some(r);
                }
                Err(e) => {
                    if failed.as_ref().is_none_or(|(f, _)| i < *f) {
                        failed = Some((i, e.into()));
                    }
                }
            }
            // Hand on every result whose predecessors are all handed on.
            while let Some(r) = results.get_mut(next).and_then(Option::take) {
                bar.suspend(|| each(r))?;
                next += 1;
            }
        }
        if let Some((i, e)) = failed {
            while next < i {
                let r = results[next].take().expect("texts before the failure are scored");
                bar.suspend(|| each(r))?;
                next += 1;
            }
            bar.finish_and_clear();
            return Err(e);
        }
    }
    bar.finish_and_clear();
    Ok(())
}
