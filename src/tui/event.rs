//! Everything the event loop waits on: terminal events (keys, mouse, resize, paste) and messages
//! from the scoring worker, merged into one stream.

use std::sync::mpsc::{Receiver, TryRecvError};
use std::time::{Duration, Instant};

use ratatui::crossterm::event::{self as ct, Event as CtEvent};

use densi::metrics::TextScore;

/// What the worker reports. A scored text travels inline: one message per text, moved once, so boxing
/// it would buy nothing.
#[allow(clippy::large_enum_variant)]
pub enum WorkerMsg {
    /// The model is loaded (kept by the event loop for exports' provenance); the backend's device.
    Ready {
        device: String,
        model: std::sync::Arc<densi::model::Model>,
    },
    LoadFailed(String),
    /// `done` of `total` tokens of a pane's text scored.
    Progress {
        pane_id: u64,
        generation: u64,
        done: usize,
        total: usize,
    },
    Scored {
        pane_id: u64,
        generation: u64,
        result: Result<TextScore, String>,
        run: ScoreRun,
    },
    /// E.g. a GPU failure that made the scorer fall back to the CPU.
    Warning(String),
}

/// How one text was scored: the time it took and, where the backend keeps a prefix cache, how many
/// positions it computed of those it scored (the rest were reused from an earlier text).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ScoreRun {
    /// Wall time of the scoring call, in seconds.
    pub seconds: f64,
    /// Positions asked of the backend (every window's, a BOS included) and positions computed:
    /// the difference of [`densi::score::Scorer::reuse_counts`] before and after. None: no cache.
    pub reuse: Option<Reuse>,
}

/// Positions scored vs computed for one text (see [`ScoreRun::reuse`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reuse {
    pub positions: u64,
    pub computed: u64,
}

impl Reuse {
    /// Positions that came from the prefix cache.
    pub fn reused(&self) -> u64 {
        self.positions.saturating_sub(self.computed)
    }
}

/// `M`: what the worker sends ([`WorkerMsg`]; the two-model worker's [`crate::tui::pair::worker::PairMsg`]).
#[allow(clippy::large_enum_variant)] // carries a WorkerMsg, see there
pub enum Event<M = WorkerMsg> {
    Terminal(CtEvent),
    Worker(M),
    /// Nothing happened for a while (drives the spinner).
    Tick,
}

pub struct EventSource<M = WorkerMsg> {
    worker: Receiver<M>,
    worker_gone: bool,
}

impl<M> EventSource<M> {
    pub fn new(worker: Receiver<M>) -> EventSource<M> {
        EventSource { worker, worker_gone: false }
    }

    /// The next event, or `Tick` after `timeout`. Worker messages are checked between short
    /// terminal polls, so neither side waits on the other for more than ~20 ms.
    pub fn next(&mut self, timeout: Duration) -> std::io::Result<Event<M>> {
        let deadline = Instant::now() + timeout;
        loop {
            if !self.worker_gone {
                match self.worker.try_recv() {
                    Ok(m) => return Ok(Event::Worker(m)),
                    Err(TryRecvError::Disconnected) => self.worker_gone = true,
                    Err(TryRecvError::Empty) => {}
                }
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(Event::Tick);
            }
            if ct::poll((deadline - now).min(Duration::from_millis(20)))? {
                return Ok(Event::Terminal(ct::read()?));
            }
        }
    }
}
