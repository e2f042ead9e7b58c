//! The scoring worker: loads the model once on a background thread, then scores texts as they
//! come, reporting progress and results over a channel. The UI never waits on it.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender};

use crate::tui::event::{Reuse, ScoreRun, WorkerMsg};
use densi::backend::BackendOptions;
use densi::model::Model;
use densi::score::ScoreOptions;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub pane_id: u64,
    pub generation: u64,
    pub name: String,
    pub text: String,
}

/// The scoring thread's job queue. The thread is not joined: it ends when `jobs` is dropped, and the
/// UI never waits for a long text being scored when the user quits.
pub struct Worker {
    pub jobs: Sender<Job>,
}

/// Starts the worker thread. It ends when `jobs`' sender is dropped.
pub fn spawn(model: Option<PathBuf>, backend: BackendOptions, score: ScoreOptions, out: Sender<WorkerMsg>) -> Worker {
    let (jobs, rx) = std::sync::mpsc::channel::<Job>();
    std::thread::Builder::new()
        .name("densi-score".into())
        .spawn(move || run(model, backend, score, rx, out))
        .expect("spawning the scoring thread");
    Worker { jobs }
}

fn run(
    model: Option<PathBuf>,
    backend: BackendOptions,
    score: ScoreOptions,
    rx: Receiver<Job>,
    out: Sender<WorkerMsg>,
) {
    let scorer = Model::resolve_path(model.as_deref())
        .and_then(|p| Model::load(&p))
        .and_then(|m| densi::backend::scorer(&Arc::new(m), &backend, score));
    let mut scorer = match scorer {
        Ok(s) => {
            let device = format!("{} · {}", s.backend_name(), s.device());
            let _ = out.send(WorkerMsg::Ready { device, model: s.model().clone() });
            s
        }
        Err(e) => {
            let msg = e.to_string();
            let _ = out.send(WorkerMsg::LoadFailed(msg.clone()));
            // Answer every job with the load error so no pane waits forever.
            for job in rx {
                let _ = out.send(WorkerMsg::Scored {
                    pane_id: job.pane_id,
                    generation: job.generation,
                    result: Err(msg.clone()),
                    run: ScoreRun::default(),
                });
            }
            return;
        }
    };
    let mut queue: VecDeque<Job> = VecDeque::new();
    loop {
        if queue.is_empty() {
            match rx.recv() {
                Ok(j) => queue.push_back(j),
                Err(_) => return,
            }
        }
        queue.extend(rx.try_iter());
        // A newer text for a pane makes its older ones moot.
        let latest: Vec<Job> = queue
            .iter()
            .filter(|j| !queue.iter().any(|k| k.pane_id == j.pane_id && k.generation > j.generation))
            .cloned()
            .collect();
        queue = latest.into();
        // Shortest text first: a short prompt is not kept waiting behind a long document.
        let i = (0..queue.len()).min_by_key(|&i| queue[i].text.len()).unwrap();
        let job = queue.remove(i).unwrap();
        let (pane_id, generation) = (job.pane_id, job.generation);
        let progress_out = out.clone();
        let mut progress = move |done: usize, total: usize| {
            let _ = progress_out.send(WorkerMsg::Progress { pane_id, generation, done, total });
        };
        // The prefix cache's counters before and after tell how much of this text was computed.
        let before = scorer.reuse_counts();
        let start = std::time::Instant::now();
        let result = scorer.score_with_progress(&job.name, &job.text, &mut progress).map_err(|e| e.to_string());
        let seconds = start.elapsed().as_secs_f64();
        let reuse = match (before, scorer.reuse_counts()) {
            (Some(a), Some(b)) => Some(Reuse {
                positions: b.positions.saturating_sub(a.positions),
                computed: b.computed.saturating_sub(a.computed),
            }),
            _ => None,
        };
        let run = ScoreRun { seconds, reuse };
        for w in scorer.take_warnings() {
            let _ = out.send(WorkerMsg::Warning(w));
        }
        if out.send(WorkerMsg::Scored { pane_id, generation, result, run }).is_err() {
            return;
        }
    }
}
