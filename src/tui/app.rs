//! The UI's state as plain data: what is loaded, where each cursor is, which metric and scale.
//! Changed only by [`crate::tui::action`] (user actions) and by worker messages; read by the draw function.
//! What a change needs from outside (scoring, reading or writing a file) it returns as an [`Effect`].

use std::path::PathBuf;

use ratatui::layout::Rect;

use crate::tui::event::ScoreRun;
use crate::tui::layout::{self, TextLayout, Unit, View};
use crate::tui::scale::{ColorSupport, Paint};
use densi::export::SpanScore;
use densi::export::WordProbability;
use densi::export::words::{densest_sentences, text_words};
use densi::metrics::TextScore;

pub use densi::display::{
    Metric, RANK_BUCKETS, THINK_ENTROPY_BITS, THINK_EXCESS_BITS, THINK_VARENTROPY_BITS2, is_think_point, unit_value,
    word_value,
};

/// Work the state asks of the outside world, carried out by the event loop ([`crate::tui::run`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Score `text` for the pane; the result must come back with the same pane id and generation.
    Score { pane_id: u64, generation: u64, name: String, text: String },
    /// Read a file into a pane (then [`App::open_loaded`]).
    Open { path: PathBuf },
    /// Write the scores of these panes (indices) to `path`.
    Export { path: PathBuf, panes: Vec<usize> },
}

/// Scoring in progress for a pane.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pending {
    pub generation: u64,
    pub done: usize,
    pub total: usize,
}

/// In-place editing of a pane's text. The buffer is rescored as the user types: a change marks it
/// `unsent`, and the next [`crate::tui::action::Action::Tick`] (the event loop ticks after 120 ms
/// without an event, so after the user pauses) sends it to the worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EditState {
    pub buffer: String,
    /// Byte offset of the caret in `buffer`.
    pub caret: usize,
    /// The buffer changed since it was last sent to be scored.
    pub unsent: bool,
}

pub struct Pane {
    /// Stable identity (worker results name it; panes may be closed and reordered).
    pub id: u64,
    pub name: String,
    /// The text as last entered; what is being or will be scored.
    pub text: String,
    /// The latest result. While a new text is being scored, the previous result stays here.
    pub score: Option<TextScore>,
    /// Incremented for every text sent to the worker; results of older generations are dropped.
    pub generation: u64,
    pub pending: Option<Pending>,
    /// How `score` was computed (time, positions computed vs reused), when the worker said.
    pub run: Option<ScoreRun>,
    pub error: Option<String>,
    pub edit: Option<EditState>,
    /// Cursor: index into `units`.
    pub cursor: usize,
    /// First visible screen line.
    pub scroll: usize,
    /// Derived from `score` and the view (rebuilt by [`Pane::rebuild`]).
    pub units: Vec<Unit>,
    pub token_unit: Vec<usize>,
    /// Metric value per unit for the app's current metric (NaN = none).
    pub values: Vec<f64>,
    /// Fully scored sentences, densest (mean bits per token) first.
    pub sentences: Vec<SpanScore>,
    /// In word view, the words of `units` (one each) with their corrected surprisal; else empty.
    pub words: Vec<SpanScore>,
    /// Which word surprisal the word view shows (`--word-probability`).
    pub word_probability: WordProbability,
    /// Token indices of think points, in text order.
    pub think: Vec<usize>,
    /// Wrapped text for the last known width (see [`crate::tui::ui::relayout`]); the draw function re-wraps
    /// on the fly when it is missing or stale.
    pub wrapped: Option<TextLayout>,
    /// Where the text was last drawn (for mouse hits and paging).
    pub text_area: Rect,
}

impl Pane {
    pub fn new(id: u64, name: String, text: String) -> Pane {
        Pane {
            id,
            name,
            text,
            score: None,
            generation: 0,
            pending: None,
            run: None,
            error: None,
            edit: None,
            cursor: 0,
            scroll: 0,
            units: Vec::new(),
            token_unit: Vec::new(),
            values: Vec::new(),
            sentences: Vec::new(),
            words: Vec::new(),
            word_probability: WordProbability::default(),
            think: Vec::new(),
            wrapped: None,
            text_area: Rect::default(),
        }
    }

    /// The text on screen: that of the result when there is one (offsets refer to it), else the entered text.
    pub fn shown_text(&self) -> &str {
        self.score.as_ref().map(|s| s.text.as_str()).unwrap_or(&self.text)
    }

    /// Rebuilds everything derived from the score, the view and the metric.
    pub fn rebuild(&mut self, view: View, metric: Metric) {
        match &self.score {
            Some(s) => {
                self.units = layout::units(&s.text, &s.tokens, view);
                self.token_unit = layout::token_to_unit(&self.units, s.tokens.len());
                self.sentences = densest_sentences(&s.text, &s.tokens);
                self.words = if view == View::Words { text_words(s) } else { Vec::new() };
                self.think = s.tokens.iter().enumerate().filter(|(_, t)| is_think_point(t)).map(|(i, _)| i).collect();
            }
            None => {
                self.units.clear();
                self.token_unit.clear();
                self.sentences.clear();
                self.words.clear();
                self.think.clear();
            }
        }
        self.revalue(metric);
        self.cursor = self.cursor.min(self.units.len().saturating_sub(1));
        self.wrapped = None;
    }

    pub fn revalue(&mut self, metric: Metric) {
        self.values = match &self.score {
            Some(s) => self
                .units
                .iter()
                .enumerate()
                .map(|(i, u)| {
                    let tokens = &s.tokens[u.first..=u.last];
                    match self.words.get(i) {
                        Some(w) => word_value(w.surprisal(self.word_probability), tokens, metric),
                        None => unit_value(tokens, metric),
                    }
                    .unwrap_or(f64::NAN)
                })
                .collect(),
            None => Vec::new(),
        };
    }

    /// The wrapped text at `width`: the cached one when it fits, else a fresh one.
    pub fn layout_for(&self, width: u16) -> std::borrow::Cow<'_, TextLayout> {
        match &self.wrapped {
            Some(l) if l.width == width.max(1) => std::borrow::Cow::Borrowed(l),
            _ => std::borrow::Cow::Owned(layout::wrap(self.shown_text(), &self.units, width)),
        }
    }

    /// Token index under the cursor (the first token of a word in word view).
    pub fn cursor_token(&self) -> Option<usize> {
        self.units.get(self.cursor).map(|u| u.first)
    }

    /// While editing: the units of the result that lie in the part of the buffer equal to the scored
    /// text (a prefix of `units`); the edit view colours these and leaves the rest plain.
    pub fn scored_units_in_buffer(&self) -> &[Unit] {
        let (Some(ed), Some(s)) = (&self.edit, &self.score) else { return &[] };
        let same = ed.buffer.bytes().zip(s.text.bytes()).take_while(|(a, b)| a == b).count();
        // A character cut by the first difference is not equal; units are char-aligned.
        let same = (0..=same).rev().find(|&i| ed.buffer.is_char_boundary(i)).unwrap_or(0);
        &self.units[..self.units.partition_point(|u| u.bytes.end <= same)]
    }

    pub fn is_empty(&self) -> bool {
        self.shown_text().is_empty() && self.text.is_empty()
    }
}

/// Which list the side panel shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListKind {
    Sentences,
    ThinkPoints,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PromptKind {
    /// Open a file into a new pane (or the focused empty one).
    Open,
    /// Export the focused pane, or all panes.
    Export { all: bool },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prompt {
    pub kind: PromptKind,
    pub input: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    Normal,
    Help,
    /// Editing the focused pane's text.
    Edit,
    Prompt(Prompt),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelState {
    Loading(String),
    Ready(String),
    Failed(String),
}

/// The fixed or fitted colour scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScaleMode {
    /// Each metric's fixed range (0–20 bits for surprisal and entropy).
    Fixed,
    /// Fitted to the values of all panes (one shared scale, so a colour means the same bits everywhere).
    Fitted,
}

pub const MAX_PANES: usize = 4;

pub struct App {
    pub panes: Vec<Pane>,
    pub focus: usize,
    pub metric: Metric,
    pub scale: ScaleMode,
    pub paint: Paint,
    pub view: View,
    pub colors: ColorSupport,
    /// `n`/`N` threshold per metric (indexed by [`Metric::index`]).
    pub thresholds: [f64; 5],
    pub sync_scroll: bool,
    pub list: ListKind,
    pub list_sel: usize,
    pub mode: Mode,
    /// A one-line message (and whether it is an error).
    pub status: Option<(String, bool)>,
    pub model: ModelState,
    /// Animation counter for the progress spinner.
    pub tick: u64,
    pub next_id: u64,
    pub quit: bool,
    /// Which word surprisal the word view shows (`--word-probability`); every pane gets it.
    pub word_probability: WordProbability,
    /// The terminal's area at the last [`crate::tui::ui::relayout`].
    pub screen: Rect,
}

impl App {
    /// Panes from (name, text) pairs. Nothing is scored yet: see [`App::initial_jobs`].
    pub fn new(inputs: Vec<(String, String)>, colors: ColorSupport) -> App {
        let mut app = App {
            panes: Vec::new(),
            focus: 0,
            metric: Metric::Surprisal,
            scale: ScaleMode::Fitted,
            paint: Paint::Background,
            view: View::Tokens,
            colors,
            thresholds: Metric::ALL.map(Metric::default_threshold),
            sync_scroll: false,
            list: ListKind::Sentences,
            list_sel: 0,
            mode: Mode::Normal,
            status: None,
            model: ModelState::Loading("model".into()),
            tick: 0,
            next_id: 1,
            quit: false,
            word_probability: WordProbability::default(),
            screen: Rect::default(),
        };
        for (name, text) in inputs.into_iter().take(MAX_PANES) {
            app.push_pane(name, text);
        }
        if app.panes.is_empty() {
            app.push_pane("pane 1".into(), String::new());
        }
        app
    }

    pub fn push_pane(&mut self, name: String, text: String) -> usize {
        let id = self.next_id;
        self.next_id += 1;
        let mut pane = Pane::new(id, name, text);
        pane.word_probability = self.word_probability;
        self.panes.push(pane);
        self.panes.len() - 1
    }

    /// Sets which word surprisal the word view shows, for every pane.
    pub fn set_word_probability(&mut self, which: WordProbability) {
        self.word_probability = which;
        for p in &mut self.panes {
            p.word_probability = which;
            p.rebuild(self.view, self.metric);
        }
    }

    pub fn size(&self) -> Rect {
        self.screen
    }

    /// A file was read for `o`: it fills the focused pane when that is empty, else a new pane.
    pub fn open_loaded(&mut self, path: &std::path::Path, result: Result<String, String>) -> Vec<Effect> {
        let name =
            path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| path.display().to_string());
        let text = match result {
            Ok(t) if t.is_empty() => {
                self.status = Some((format!("{}: empty file", path.display()), true));
                return Vec::new();
            }
            Ok(t) => t,
            Err(e) => {
                self.status = Some((format!("{}: {e}", path.display()), true));
                return Vec::new();
            }
        };
        let i = if self.pane().is_empty() && self.pane().pending.is_none() {
            self.focus
        } else if self.panes.len() < MAX_PANES {
            self.push_pane(String::new(), String::new())
        } else {
            self.status = Some((format!("at most {MAX_PANES} panes: close one (x) first"), true));
            return Vec::new();
        };
        self.focus = i;
        let p = &mut self.panes[i];
        p.name = name;
        p.text = text;
        p.score = None;
        p.cursor = 0;
        p.scroll = 0;
        p.rebuild(self.view, self.metric);
        vec![self.rescore(i)]
    }

    pub fn pane(&self) -> &Pane {
        &self.panes[self.focus]
    }

    pub fn pane_mut(&mut self) -> &mut Pane {
        &mut self.panes[self.focus]
    }

    pub fn threshold(&self) -> f64 {
        self.thresholds[self.metric.index()]
    }

    /// The colour scale's range: the metric's fixed one, or [`densi::display::fitted_range`] over every
    /// pane's values (one shared scale, so a colour means the same bits in every pane).
    pub fn scale_range(&self) -> (f64, f64) {
        match self.scale {
            ScaleMode::Fixed => self.metric.fixed_range(),
            ScaleMode::Fitted => {
                densi::display::fitted_range(self.metric, self.panes.iter().flat_map(|p| p.values.iter().copied()))
            }
        }
    }

    /// Position of a value on the scale, 0..1.
    pub fn scale_t(&self, v: f64, range: (f64, f64)) -> f64 {
        densi::display::scale_position(v, range)
    }

    /// Installs a scoring result and how the worker computed it (a stale generation is dropped). The
    /// cursor keeps its place in the text.
    pub fn set_score(
        &mut self,
        pane_id: u64,
        generation: u64,
        result: Result<TextScore, String>,
        run: Option<ScoreRun>,
    ) {
        let (view, metric) = (self.view, self.metric);
        let Some(p) = self.panes.iter_mut().find(|p| p.id == pane_id) else { return };
        if generation != p.generation {
            return;
        }
        p.pending = None;
        match result {
            Ok(score) => {
                let at_byte = p.units.get(p.cursor).map(|u| u.bytes.start).unwrap_or(0);
                p.score = Some(score);
                p.run = run;
                p.error = None;
                p.rebuild(view, metric);
                p.cursor =
                    p.units.iter().position(|u| u.bytes.end > at_byte).unwrap_or(p.units.len().saturating_sub(1));
            }
            Err(e) => {
                if matches!(&self.model, ModelState::Failed(m) if *m == e) {
                    // Already on the status line once; the pane just says why it is plain.
                    p.error = Some("not scored: the model did not load".into());
                } else {
                    self.status = Some((format!("{}: {e}", p.name), true));
                    p.error = Some(e);
                }
            }
        }
    }

    /// Scoring jobs for every pane that has text and no current result.
    pub fn initial_jobs(&mut self) -> Vec<Effect> {
        let mut out = Vec::new();
        for i in 0..self.panes.len() {
            if !self.panes[i].text.is_empty() && self.panes[i].score.is_none() {
                out.push(self.rescore(i));
            }
        }
        out
    }

    /// Marks pane `i` as being rescored and returns the job for the worker.
    pub fn rescore(&mut self, i: usize) -> Effect {
        let p = &mut self.panes[i];
        p.generation += 1;
        p.pending = Some(Pending { generation: p.generation, done: 0, total: 0 });
        p.error = None;
        Effect::Score { pane_id: p.id, generation: p.generation, name: p.name.clone(), text: p.text.clone() }
    }

    /// Wraps every pane's text for the text areas (one per pane) the draw function will use, and keeps
    /// the cursors on screen. Called by [`crate::tui::ui::relayout`], which computes the areas.
    pub fn relayout(&mut self, size: Rect, text_areas: &[Rect]) {
        self.screen = size;
        for (p, &area) in self.panes.iter_mut().zip(text_areas) {
            p.text_area = area;
            let w = area.width.max(1);
            if p.wrapped.as_ref().is_none_or(|l| l.width != w) {
                p.wrapped = Some(layout::wrap(p.shown_text(), &p.units, w));
            }
        }
        for i in 0..self.panes.len() {
            if !self.sync_scroll || i == self.focus {
                self.scroll_to_cursor(i);
            }
        }
        self.sync_others();
    }

    /// Keeps pane i's cursor on screen.
    pub fn scroll_to_cursor(&mut self, i: usize) {
        let p = &mut self.panes[i];
        let h = p.text_area.height.max(1) as usize;
        let Some(lay) = &p.wrapped else { return };
        let Some(&(line, _)) = lay.unit_pos.get(p.cursor) else {
            p.scroll = p.scroll.min(lay.lines.len().saturating_sub(1));
            return;
        };
        if line < p.scroll {
            p.scroll = line;
        } else if line >= p.scroll + h {
            p.scroll = line + 1 - h;
        }
    }

    /// When scrolling is synchronized, the other panes follow the focused pane's first line.
    pub fn sync_others(&mut self) {
        if !self.sync_scroll {
            return;
        }
        let top = self.panes[self.focus].scroll;
        for (i, p) in self.panes.iter_mut().enumerate() {
            if i != self.focus {
                let max = p.wrapped.as_ref().map(|l| l.lines.len().saturating_sub(1)).unwrap_or(0);
                p.scroll = top.min(max);
            }
        }
    }
}

impl App {
    /// A message from the scoring worker.
    pub fn handle_worker(&mut self, msg: crate::tui::event::WorkerMsg) {
        use crate::tui::event::WorkerMsg;
        match msg {
            WorkerMsg::Ready { device, .. } => self.model = ModelState::Ready(device),
            WorkerMsg::LoadFailed(e) => {
                self.model = ModelState::Failed(e.clone());
                self.status = Some((e, true));
            }
            WorkerMsg::Progress { pane_id, generation, done, total } => {
                if let Some(pend) = self
                    .panes
                    .iter_mut()
                    .find(|p| p.id == pane_id)
                    .and_then(|p| p.pending.as_mut())
                    .filter(|x| x.generation == generation)
                {
                    pend.done = done;
                    pend.total = total;
                }
            }
            WorkerMsg::Scored { pane_id, generation, result, run } => {
                self.set_score(pane_id, generation, result, Some(run))
            }
            WorkerMsg::Warning(w) => self.status = Some((w, true)),
        }
    }
}
