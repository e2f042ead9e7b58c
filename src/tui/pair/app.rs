//! The two-model view's state as plain data: one text, its result under A and B, the selection
//! (one unit, shown in both panes), the colouring and the scale. Changed only by
//! [`crate::tui::pair::action`] and by worker messages; read by [`crate::tui::pair::ui::draw`].

use ratatui::layout::Rect;

use crate::tui::app::{EditState, Mode, ModelState, Pending, ScaleMode};
use crate::tui::layout::{self, TextLayout, Unit};
use crate::tui::pair::worker::{PairMsg, PairResult};
use crate::tui::scale::ColorSupport;
use crate::tui::widgets::visible;
use densi::display::Metric;
use densi::pair::words::NO_KL;
use densi::pair::{PairSummary, PairToken};

/// Work the state asks of the event loop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PairEffect {
    /// Score `text` under both models; the result comes back with the same generation.
    Score { generation: u64, name: String, text: String },
}

/// The colourings `m`/`M` cycle through (the HTML report's, in its order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PairMetric {
    /// Each pane its own model's surprisal, bits.
    Surprisal,
    /// Each pane its own model's entropy before the token, bits.
    Entropy,
    /// surprisal_B − surprisal_A, bits, in both panes (diverging colours: B less surprised below 0).
    Delta,
    /// KL(P_A ‖ P_B), bits, in both panes.
    KlAb,
    /// KL(P_B ‖ P_A), bits, in both panes.
    KlBa,
}

/// Fixed scale of delta, bits (as the HTML report's).
pub const DELTA_RANGE_BITS: (f64, f64) = (-10.0, 10.0);
/// Fixed scale of KL, bits (as the HTML report's).
pub const KL_RANGE_BITS: (f64, f64) = (0.0, 4.0);

impl PairMetric {
    pub const ALL: [PairMetric; 5] =
        [PairMetric::Surprisal, PairMetric::Entropy, PairMetric::Delta, PairMetric::KlAb, PairMetric::KlBa];

    pub fn name(self) -> &'static str {
        match self {
            PairMetric::Surprisal => "surprisal",
            PairMetric::Entropy => "entropy",
            PairMetric::Delta => "delta_bits (B − A)",
            PairMetric::KlAb => "kl_ab_bits KL(A‖B)",
            PairMetric::KlBa => "kl_ba_bits KL(B‖A)",
        }
    }

    /// True: each pane shows its own model's value. False: one value per position, in both panes.
    pub fn per_model(self) -> bool {
        matches!(self, PairMetric::Surprisal | PairMetric::Entropy)
    }

    /// Signed, on a diverging scale centred on 0.
    pub fn diverging(self) -> bool {
        self == PairMetric::Delta
    }

    /// Whether word-aligned results (different vocabularies) have it: surprisal and delta only.
    pub fn for_words(self) -> bool {
        matches!(self, PairMetric::Surprisal | PairMetric::Delta)
    }

    pub fn fixed_range(self) -> (f64, f64) {
        match self {
            PairMetric::Surprisal | PairMetric::Entropy => Metric::Surprisal.fixed_range(),
            PairMetric::Delta => DELTA_RANGE_BITS,
            PairMetric::KlAb | PairMetric::KlBa => KL_RANGE_BITS,
        }
    }

    /// (pane A's value, pane B's value) at a token; NaN where it was not scored.
    pub fn token_values(self, t: &PairToken) -> (f64, f64) {
        if !t.scored {
            return (f64::NAN, f64::NAN);
        }
        match self {
            PairMetric::Surprisal => (t.surprisal_bits_a, t.surprisal_bits_b),
            PairMetric::Entropy => (t.entropy_bits_a, t.entropy_bits_b),
            PairMetric::Delta => (t.delta_bits, t.delta_bits),
            PairMetric::KlAb => (t.kl_ab_bits, t.kl_ab_bits),
            PairMetric::KlBa => (t.kl_ba_bits, t.kl_ba_bits),
        }
    }
}

/// Which pane: model A (the reference) or model B.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    A,
    B,
}

/// The detail panel of the selected unit: lines, then both models' top-k side by side.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Detail {
    pub lines: Vec<String>,
    /// (A's alternative, B's alternative) per row, most probable first; "" where a list is shorter.
    pub top: Vec<(String, String)>,
}

pub struct PairApp {
    /// The text's name (file name or `text`).
    pub name: String,
    /// The text as last entered: what is being or will be scored.
    pub text: String,
    /// File names of A and B, for titles.
    pub model_names: [String; 2],
    /// The latest result (kept while a newer text is being scored).
    pub result: Option<PairResult>,
    pub generation: u64,
    pub pending: Option<Pending>,
    /// Seconds the latest result took.
    pub seconds: Option<f64>,
    pub error: Option<String>,
    /// Why A and B are compared word by word (different vocabularies); None: token by token.
    pub vocabulary: Option<String>,
    pub edit: Option<EditState>,
    /// Tokens (one vocabulary) or paired words, as display units; the same in both panes.
    pub units: Vec<Unit>,
    /// Metric value per unit, for pane A and pane B (NaN = none).
    pub values: [Vec<f64>; 2],
    /// The selection: an index into `units`, shown in both panes.
    pub cursor: usize,
    /// First visible line (both panes have the same width, so they scroll together).
    pub scroll: usize,
    /// The pane keys and the mouse act on.
    pub focus: Side,
    pub metric: PairMetric,
    pub scale: ScaleMode,
    pub colors: ColorSupport,
    pub mode: Mode,
    pub status: Option<(String, bool)>,
    pub model: ModelState,
    pub tick: u64,
    pub quit: bool,
    /// The text wrapped at the panes' width (see [`crate::tui::pair::ui::relayout`]).
    pub wrapped: Option<TextLayout>,
    /// Where the two texts were last drawn: [A, B].
    pub text_areas: [Rect; 2],
    pub screen: Rect,
}

impl PairApp {
    pub fn new(name: String, text: String, model_names: [String; 2], colors: ColorSupport) -> PairApp {
        PairApp {
            name,
            text,
            model_names,
            result: None,
            generation: 0,
            pending: None,
            seconds: None,
            error: None,
            vocabulary: None,
            edit: None,
            units: Vec::new(),
            values: [Vec::new(), Vec::new()],
            cursor: 0,
            scroll: 0,
            focus: Side::A,
            metric: PairMetric::Surprisal,
            scale: ScaleMode::Fitted,
            colors,
            mode: Mode::Normal,
            status: None,
            model: ModelState::Loading("two models".into()),
            tick: 0,
            quit: false,
            wrapped: None,
            text_areas: [Rect::default(); 2],
            screen: Rect::default(),
        }
    }

    /// The text on screen: the result's (offsets refer to it), else the entered text.
    pub fn shown_text(&self) -> &str {
        self.result.as_ref().map_or(&self.text, |r| r.text())
    }

    /// Whether the result is word-aligned (different vocabularies).
    pub fn words(&self) -> bool {
        matches!(self.result, Some(PairResult::Words { .. })) || self.vocabulary.is_some()
    }

    /// The colourings this result has, in cycling order.
    pub fn metrics(&self) -> Vec<PairMetric> {
        let words = self.words();
        PairMetric::ALL.into_iter().filter(|m| !words || m.for_words()).collect()
    }

    /// Marks the text as being rescored (a full rescore under both models) and returns the job.
    pub fn rescore(&mut self) -> PairEffect {
        self.generation += 1;
        self.pending = Some(Pending { generation: self.generation, done: 0, total: 0 });
        self.error = None;
        PairEffect::Score { generation: self.generation, name: self.name.clone(), text: self.text.clone() }
    }

    /// The first job (when there is text).
    pub fn initial_jobs(&mut self) -> Vec<PairEffect> {
        if self.text.is_empty() { Vec::new() } else { vec![self.rescore()] }
    }

    /// Rebuilds the units and values from the result; the selection keeps its place in the text.
    pub fn rebuild(&mut self) {
        let at_byte = self.units.get(self.cursor).map_or(0, |u| u.bytes.start);
        self.units = match &self.result {
            Some(PairResult::Tokens(s)) => {
                layout::span_units(&s.text, s.tokens.iter().map(|t| (t.byte_start, t.byte_end)))
            }
            Some(PairResult::Words { text, words }) => {
                layout::span_units(text, words.iter().map(|w| (w.byte_start, w.byte_end)))
            }
            None => Vec::new(),
        };
        if !self.metrics().contains(&self.metric) {
            self.metric = PairMetric::Surprisal;
        }
        self.revalue();
        self.cursor =
            self.units.iter().position(|u| u.bytes.end > at_byte).unwrap_or(self.units.len().saturating_sub(1));
        self.wrapped = None;
    }

    /// Recomputes the per-unit values of the current metric.
    pub fn revalue(&mut self) {
        let m = self.metric;
        let (a, b): (Vec<f64>, Vec<f64>) = match &self.result {
            Some(PairResult::Tokens(s)) => s.tokens.iter().map(|t| m.token_values(t)).unzip(),
            Some(PairResult::Words { words, .. }) => words
                .iter()
                .map(|w| match m {
                    _ if !w.scored => (f64::NAN, f64::NAN),
                    PairMetric::Surprisal => (w.surprisal_bits_a, w.surprisal_bits_b),
                    PairMetric::Delta => (w.delta_bits, w.delta_bits),
                    _ => (f64::NAN, f64::NAN),
                })
                .unzip(),
            None => (Vec::new(), Vec::new()),
        };
        self.values = [a, b];
    }

    /// The one colour scale of both panes: the metric's fixed range, or fitted to both panes' values
    /// (0 to the largest for the non-negative metrics; symmetric about 0 for delta).
    pub fn scale_range(&self) -> (f64, f64) {
        let m = self.metric;
        if self.scale == ScaleMode::Fixed {
            return m.fixed_range();
        }
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for v in self.values.iter().flatten().copied().filter(|v| v.is_finite()) {
            lo = lo.min(v);
            hi = hi.max(v);
        }
        if !lo.is_finite() {
            return m.fixed_range();
        }
        if m.diverging() {
            let w = lo.abs().max(hi.abs()).max(1e-6);
            (-w, w)
        } else {
            (0.0, hi.max(1e-6))
        }
    }

    /// Installs a result (a stale generation is dropped).
    pub fn set_result(&mut self, generation: u64, result: Result<PairResult, String>, seconds: f64) {
        if generation != self.generation {
            return;
        }
        self.pending = None;
        match result {
            Ok(r) => {
                self.result = Some(r);
                self.seconds = Some(seconds);
                self.error = None;
                self.rebuild();
            }
            Err(e) => {
                if !matches!(&self.model, ModelState::Failed(m) if *m == e) {
                    self.status = Some((format!("{}: {e}", self.name), true));
                }
                self.error = Some(e);
            }
        }
    }

    /// A message from the worker.
    pub fn handle_worker(&mut self, msg: PairMsg) {
        match msg {
            PairMsg::Ready { device, vocabulary } => {
                self.model = ModelState::Ready(device);
                self.vocabulary = vocabulary;
            }
            PairMsg::LoadFailed(e) => {
                self.model = ModelState::Failed(e.clone());
                self.status = Some((e, true));
            }
            PairMsg::Progress { generation, done, total } => {
                if let Some(p) = self.pending.as_mut().filter(|p| p.generation == generation) {
                    p.done = done;
                    p.total = total;
                }
            }
            PairMsg::Scored { generation, result, seconds } => self.set_result(generation, result, seconds),
            PairMsg::Warning(w) => self.status = Some((w, true)),
        }
    }

    /// Wraps the text at the panes' width and keeps the selection on screen.
    pub fn relayout(&mut self, size: Rect, text_areas: [Rect; 2]) {
        self.screen = size;
        self.text_areas = text_areas;
        let w = text_areas[0].width.max(1);
        if self.wrapped.as_ref().is_none_or(|l| l.width != w) {
            self.wrapped = Some(layout::wrap(self.shown_text(), &self.units, w));
        }
        self.scroll_to_cursor();
    }

    /// The wrapped text at `width`: the cached one when it fits, else a fresh one.
    pub fn layout_for(&self, width: u16) -> std::borrow::Cow<'_, TextLayout> {
        match &self.wrapped {
            Some(l) if l.width == width.max(1) => std::borrow::Cow::Borrowed(l),
            _ => std::borrow::Cow::Owned(layout::wrap(self.shown_text(), &self.units, width)),
        }
    }

    /// Keeps the selection within the panes' visible lines.
    pub fn scroll_to_cursor(&mut self) {
        let h = self.text_areas[0].height.min(self.text_areas[1].height).max(1) as usize;
        let Some(lay) = &self.wrapped else { return };
        let Some(&(line, _)) = lay.unit_pos.get(self.cursor) else {
            self.scroll = self.scroll.min(lay.lines.len().saturating_sub(1));
            return;
        };
        if line < self.scroll {
            self.scroll = line;
        } else if line >= self.scroll + h {
            self.scroll = line + 1 - h;
        }
    }

    /// The one-line pair summary: both perplexities, mean KL both ways, top-1 agreement, Binoculars
    /// (token level); both models' bits and the mean delta (word level).
    pub fn summary_line(&self) -> Option<String> {
        Some(match self.result.as_ref()? {
            PairResult::Tokens(s) => pair_summary(&s.summary),
            PairResult::Words { words, .. } => {
                let scored: Vec<_> = words.iter().filter(|w| w.scored).collect();
                let a: f64 = scored.iter().map(|w| w.surprisal_bits_a).sum();
                let b: f64 = scored.iter().map(|w| w.surprisal_bits_b).sum();
                let n = scored.len().max(1) as f64;
                format!(
                    "{} words · A {a:.1} bits · B {b:.1} bits · mean Δ(B−A) {:+.3} bits/word · no KL: different vocabularies",
                    scored.len(),
                    (b - a) / n
                )
            }
        })
    }

    /// What the detail panel shows for the selected unit.
    pub fn detail(&self) -> Detail {
        let mut d = Detail::default();
        let Some(result) = &self.result else { return d };
        match result {
            PairResult::Tokens(s) => {
                let Some(t) = self.units.get(self.cursor).and_then(|u| s.tokens.get(u.first)) else { return d };
                d.lines.push(format!(
                    "'{}'  id {} · #{} · bytes {}..{}",
                    visible(&t.token),
                    t.id,
                    t.index,
                    t.byte_start,
                    t.byte_end
                ));
                if !t.scored {
                    d.lines.push("not scored: no context before the first token (--bos none)".into());
                    return d;
                }
                d.lines.push(format!("{:<11} {:>9} {:>9}", "", "A", "B"));
                d.lines
                    .push(format!("{:<11} {:>9.3} {:>9.3}  bits", "surprisal", t.surprisal_bits_a, t.surprisal_bits_b));
                d.lines.push(format!("{:<11} {:>9.3} {:>9.3}  bits", "entropy", t.entropy_bits_a, t.entropy_bits_b));
                d.lines.push(format!("{:<11} {:>9} {:>9}", "rank", t.rank_a, t.rank_b));
                d.lines.push(format!(
                    "delta (B−A) {:+.3} bits · KL(A‖B) {:.4} · KL(B‖A) {:.4} · cross-entropy A→B {:.3} bits",
                    t.delta_bits, t.kl_ab_bits, t.kl_ba_bits, t.cross_entropy_ab_bits
                ));
                d.lines.push(format!("top-1 {}", if t.top1_differs { "differs" } else { "agrees" }));
                let alt = |a: Option<&densi::metrics::Alternative>| {
                    a.map_or(String::new(), |a| {
                        let mark = if a.id == t.id { "▶" } else { " " };
                        let name = crate::tui::widgets::fit(&format!("'{}'", visible(&a.token)), 16);
                        format!("{mark}{name:<16} {:6.2}%", a.probability * 100.0)
                    })
                };
                for r in 0..t.top_a.len().max(t.top_b.len()) {
                    d.top.push((alt(t.top_a.get(r)), alt(t.top_b.get(r))));
                }
            }
            PairResult::Words { words, .. } => {
                let Some(w) = self.units.get(self.cursor).and_then(|u| words.get(u.first)) else { return d };
                d.lines.push(format!(
                    "word '{}' · #{} · bytes {}..{} · {} tokens of A, {} of B",
                    visible(&w.word),
                    w.index,
                    w.byte_start,
                    w.byte_end,
                    w.tokens_a,
                    w.tokens_b
                ));
                if !w.scored {
                    d.lines.push("not scored: a token of it has no context (--bos none)".into());
                } else {
                    d.lines.push(format!("{:<11} {:>9} {:>9}", "", "A", "B"));
                    d.lines.push(format!(
                        "{:<11} {:>9.3} {:>9.3}  bits (word, beginning-of-word corrected)",
                        "surprisal", w.surprisal_bits_a, w.surprisal_bits_b
                    ));
                    d.lines.push(format!("delta (B−A) {:+.3} bits", w.delta_bits));
                }
                d.lines.push("no KL: different vocabularies".into());
                d.lines.push(NO_KL.into());
            }
        }
        d
    }
}

/// `ppl A 8.12 · B 9.40 · mean KL A‖B 0.1234 B‖A 0.1301 bits · top-1 agrees 88.0% · Binoculars 0.9312`
/// (Binoculars with A the observer, B the performer: see [`PairSummary::binoculars`]).
pub fn pair_summary(s: &PairSummary) -> String {
    if s.scored_tokens == 0 {
        return "no token scored (the first token has no context with --bos none)".into();
    }
    format!(
        "ppl A {:.2} · B {:.2} · mean KL A‖B {:.4} B‖A {:.4} bits · top-1 agrees {:.1}% · Binoculars {:.4}",
        s.perplexity_a,
        s.perplexity_b,
        s.mean_kl_ab_bits,
        s.mean_kl_ba_bits,
        100.0 * (1.0 - s.top1_disagreement),
        s.binoculars
    )
}
