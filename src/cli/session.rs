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
    let path = Model::resolve_path(args.model.as_deref())?;
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

/// Scores `inputs` in order and hands each result to `each` as soon as it is done (so exports stream).
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
    for (n, input) in inputs.iter().enumerate() {
        if inputs.len() > 1 {
            bar.set_prefix(format!("text {}/{}", n + 1, inputs.len()));
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
        let result = session.scorer.score_with_progress(&input.id, &input.text, &mut on_progress);
        for w in session.scorer.take_warnings() {
            progress.warn(Some(&bar), &w);
        }
        let result = result?;
        base += result.tokens.len() as u64;
        bar.set_position(base);
        bar.suspend(|| each(result))?;
    }
    bar.finish_and_clear();
    Ok(())
}
