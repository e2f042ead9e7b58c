//! The two-model scoring worker: loads A and B once (resident weights: both stay in memory) on a
//! background thread, then scores each text it is sent under both, reporting progress and results
//! over a channel.
//!
//! - One vocabulary: [`PairScorer`], the fused reduction of both lm-heads (KL, cross-entropy), on
//!   the CPU.
//! - Different vocabularies: each model's own scorer, then [`align_words`] pairs their words by
//!   byte span (no KL).
//!
//! The prefix cache is single-model: every edit is a full rescore of the text under both models.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender};

use densi::backend::{BackendChoice, BackendOptions};
use densi::error::Result;
use densi::model::{Model, WeightStorage};
use densi::pair::words::{PairWord, align_words};
use densi::pair::{PairScore, PairScorer, vocabulary_difference};
use densi::score::{ScoreOptions, Scorer};

/// A text to score under both models; the answer carries the same generation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairJob {
    pub generation: u64,
    pub name: String,
    pub text: String,
}

/// One text under both models.
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)] // one result per text, moved once
pub enum PairResult {
    /// One vocabulary: token by token, with KL and cross-entropy.
    Tokens(PairScore),
    /// Different vocabularies: word by word (beginning-of-word corrected surprisal, delta).
    Words { text: String, words: Vec<PairWord> },
}

impl PairResult {
    /// The text the result is about (offsets refer to it).
    pub fn text(&self) -> &str {
        match self {
            PairResult::Tokens(s) => &s.text,
            PairResult::Words { text, .. } => text,
        }
    }
}

/// What the worker reports.
#[allow(clippy::large_enum_variant)] // one result per text, moved once
pub enum PairMsg {
    /// Both models are loaded. `vocabulary`: why they cannot be compared token by token (None:
    /// they can).
    Ready {
        device: String,
        vocabulary: Option<String>,
    },
    LoadFailed(String),
    /// `done` of `total` steps of a text scored.
    Progress {
        generation: u64,
        done: usize,
        total: usize,
    },
    Scored {
        generation: u64,
        result: std::result::Result<PairResult, String>,
        seconds: f64,
    },
    /// A warning for the status line.
    Warning(String),
}

/// The worker's job queue; the thread ends when it is dropped.
pub struct PairWorker {
    pub jobs: Sender<PairJob>,
}

/// What the worker loads: A (None: the default model) and B, as given on the command line.
#[derive(Debug, Clone)]
pub struct PairModels {
    pub a: Option<PathBuf>,
    pub b: PathBuf,
    pub weights: WeightStorage,
}

/// Starts the worker thread.
pub fn spawn(models: PairModels, backend: BackendOptions, score: ScoreOptions, out: Sender<PairMsg>) -> PairWorker {
    let (jobs, rx) = std::sync::mpsc::channel::<PairJob>();
    std::thread::Builder::new()
        .name("densi-score-pair".into())
        .spawn(move || run(models, backend, score, rx, out))
        .expect("spawning the scoring thread");
    PairWorker { jobs }
}

/// The loaded pair: the fused scorer, or one scorer per model for word alignment.
// One value for the worker's whole life: its size does not matter.
#[allow(clippy::large_enum_variant)]
enum PairScoring {
    Tokens(PairScorer),
    Words { a: Scorer, b: Scorer },
}

fn load(
    models: &PairModels,
    backend: &BackendOptions,
    score: &ScoreOptions,
) -> Result<(PairScoring, String, Option<String>)> {
    let load_one = |p: Option<&std::path::Path>| -> Result<Arc<Model>> {
        let path = Model::resolve_path(p)?;
        Ok(Arc::new(Model::load_with(&path, models.weights)?))
    };
    let (a, b) = (load_one(models.a.as_deref())?, load_one(Some(&models.b))?);
    match vocabulary_difference(&a, &b) {
        None => {
            let mut scorer = PairScorer::new(a, b, score.clone(), backend.threads)?;
            if backend.choice == BackendChoice::Gpu {
                scorer = scorer.on_gpu(backend.device, backend.dtype, true)?;
            }
            let device = format!("{} · two models", scorer.device());
            Ok((PairScoring::Tokens(scorer), device, None))
        }
        Some(why) => {
            let sa = densi::backend::scorer(&a, backend, score.clone())?;
            let sb = densi::backend::scorer(&b, backend, score.clone())?;
            let device = format!("{} · {} · two models, word by word", sa.backend_name(), sa.device());
            Ok((PairScoring::Words { a: sa, b: sb }, device, Some(why)))
        }
    }
}

fn run(models: PairModels, backend: BackendOptions, score: ScoreOptions, rx: Receiver<PairJob>, out: Sender<PairMsg>) {
    let mut scoring = match load(&models, &backend, &score) {
        Ok((scoring, device, vocabulary)) => {
            let _ = out.send(PairMsg::Ready { device, vocabulary });
            scoring
        }
        Err(e) => {
            let msg = e.to_string();
            let _ = out.send(PairMsg::LoadFailed(msg.clone()));
            // Answer every job with the load error so the view does not wait forever.
            for job in rx {
                let _ =
                    out.send(PairMsg::Scored { generation: job.generation, result: Err(msg.clone()), seconds: 0.0 });
            }
            return;
        }
    };
    while let Ok(first) = rx.recv() {
        // One text: only the newest job matters.
        let job = rx.try_iter().fold(first, |a, b| if b.generation > a.generation { b } else { a });
        let generation = job.generation;
        let start = std::time::Instant::now();
        let result = score_job(&mut scoring, &job, &out).map_err(|e| e.to_string());
        let seconds = start.elapsed().as_secs_f64();
        if let PairScoring::Words { a, b } = &mut scoring {
            for w in a.take_warnings().into_iter().chain(b.take_warnings()) {
                let _ = out.send(PairMsg::Warning(w));
            }
        }
        if out.send(PairMsg::Scored { generation, result, seconds }).is_err() {
            return;
        }
    }
}

fn score_job(scoring: &mut PairScoring, job: &PairJob, out: &Sender<PairMsg>) -> Result<PairResult> {
    let generation = job.generation;
    // `done` of `total` steps, shifted by `offset` and out of `scale` × total.
    let progress = |offset: bool, scale: usize| {
        let out = out.clone();
        move |done: usize, total: usize| {
            let done = if offset { total + done } else { done };
            let _ = out.send(PairMsg::Progress { generation, done, total: scale * total });
        }
    };
    match scoring {
        PairScoring::Tokens(scorer) => {
            Ok(PairResult::Tokens(scorer.score(&job.name, &job.text, &mut progress(false, 1))?))
        }
        PairScoring::Words { a, b } => {
            // A, then B: progress runs over both halves.
            let ta = a.score_with_progress(&job.name, &job.text, &mut progress(false, 2))?;
            let tb = b.score_with_progress(&job.name, &job.text, &mut progress(true, 2))?;
            Ok(PairResult::Words { text: job.text.clone(), words: align_words(&ta, &tb) })
        }
    }
}
