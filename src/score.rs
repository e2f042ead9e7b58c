//! The scoring pipeline: text → tokens (with offsets) → first-token policy → sliding windows →
//! a backend's forward pass → per-token metrics. Both backends meet here, through [`Forward`].

use std::sync::Arc;

use crate::error::{DensiError, Result};
pub use crate::metrics::BoundarySet;
use crate::metrics::{
    Alternative, BosPolicy, BoundaryMask, LN_2, RowStats, ScoreSettings, Summary, TextScore, TokenScore, char_offsets,
    display_bytes,
};
use crate::model::{Model, TextTokenizer};
pub use crate::prefix::ReuseCounts;

/// A forward pass that reduces logits to per-position statistics on the spot.
pub trait Forward: Send {
    /// `cpu` or `gpu`.
    fn backend(&self) -> &'static str;
    /// The device, for provenance: e.g. `cpu, 2 threads`, `NVIDIA H200 (Vulkan)`.
    fn device(&self) -> String;
    /// One causal forward pass over `window` (positions 0..len, no cache). Returns, for each
    /// i in `score_from..window.len()`, the statistics of the distribution at position i − 1 with
    /// respect to the target `window[i]`. `1 <= score_from <= window.len()`.
    fn score_window(&mut self, window: &[u32], score_from: usize, top_k: usize) -> Result<Vec<RowStats>> {
        self.score_rows(window, score_from, top_k, false)
    }

    /// As [`Forward::score_window`], and with `end_row` one more row last: the distribution after the
    /// window's last token (no target: NaN `target_logprob`, rank 0), from the same lm-head pass.
    fn score_rows(&mut self, window: &[u32], score_from: usize, top_k: usize, end_row: bool) -> Result<Vec<RowStats>>;

    /// The word-boundary set whose mass every row's `boundary_logprob` reports from now on (the
    /// empty set, −∞, until set).
    fn set_boundary(&mut self, boundary: Arc<BoundaryMask>) -> Result<()>;

    /// Warnings since the last call (e.g. a fallback from the GPU to the CPU); drained.
    fn take_warnings(&mut self) -> Vec<String> {
        Vec::new()
    }

    /// The largest `top_k` this backend keeps, when it has a limit (the GPU lm-head does).
    fn max_top_k(&self) -> Option<usize> {
        None
    }

    /// Time each kernel from the next window on, where the backend can (GPU timestamp queries).
    fn set_timing(&mut self, _on: bool) {}

    /// (kernel, seconds) of the last window, summed per kernel kind, when timing is on and available.
    fn kernel_timings(&self) -> Option<Vec<(String, f64)>> {
        None
    }

    /// Sets the prefix cache's budget in bytes (0: no reuse, every window is a full pass), where the
    /// backend has one ([`crate::prefix`]).
    fn set_prefix_cache(&mut self, _budget_bytes: usize) {}

    /// Positions asked vs computed so far, and the cache's size, where the backend has a prefix cache.
    fn reuse_counts(&self) -> Option<ReuseCounts> {
        None
    }

    /// Bytes of the GPU buffers the backend created (weights and activations), where it has a GPU.
    fn gpu_buffer_bytes(&self) -> Option<u64> {
        None
    }
}

/// How texts are scored: first-token policy, windows, top-k.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScoreOptions {
    /// What the first token is conditioned on.
    pub bos: BosPolicy,
    /// Window length W in tokens (including a prepended BOS); `None` = the model's context length.
    pub window: Option<usize>,
    /// Stride S; `None` = W/2.
    pub stride: Option<usize>,
    /// Alternatives kept per token.
    pub top_k: usize,
    /// The word-boundary set whose mass B(ctx) each token reports (`boundary_bits`).
    pub boundary: BoundarySet,
}

impl Default for ScoreOptions {
    fn default() -> Self {
        ScoreOptions { bos: BosPolicy::Auto, window: None, stride: None, top_k: 5, boundary: BoundarySet::Full }
    }
}

/// Progress of one text: tokens scored so far out of all.
pub type ProgressFn = dyn FnMut(usize, usize) + Send;

/// Scores texts with one model on one backend: tokenization, first-token policy, sliding windows, metrics.
pub struct Scorer {
    model: Arc<Model>,
    backend: Box<dyn Forward>,
    options: ScoreOptions,
    bos_token: Option<u32>,
    window: usize,
    stride: usize,
}

/// The window and stride `options` ask for, checked against a context of `ctx` tokens (`context`
/// names it in the error: "the model's context", "the shorter context"): the window defaults to the
/// context, the stride to half the window.
pub(crate) fn resolve_window(options: &ScoreOptions, ctx: usize, context: &str) -> Result<(usize, usize)> {
    let ctx = ctx.max(2);
    let window = match options.window {
        Some(w) if w < 2 => {
            return Err(DensiError::InvalidOption {
                option: "--window",
                reason: format!("{w} is too small (at least 2 tokens)"),
            });
        }
        Some(w) if w > ctx => {
            return Err(DensiError::InvalidOption {
                option: "--window",
                reason: format!("{w} is longer than {context} of {ctx} tokens"),
            });
        }
        Some(w) => w,
        None => ctx,
    };
    let stride = options.stride.unwrap_or((window / 2).max(1));
    if stride == 0 || stride >= window {
        return Err(DensiError::InvalidOption {
            option: "--stride",
            reason: format!("{stride} must be at least 1 and less than the window ({window})"),
        });
    }
    Ok((window, stride))
}

impl Scorer {
    /// Validates the options against the model. `backend` usually comes from [`crate::backend::open`].
    pub fn new(model: Arc<Model>, mut backend: Box<dyn Forward>, options: ScoreOptions) -> Result<Scorer> {
        let boundary = model.tokenizer.boundary_ids(options.boundary);
        backend.set_boundary(Arc::new(BoundaryMask::from_ids(model.config.vocab_size, boundary)))?;
        let bos_token = resolve_bos(&model, &options.bos)?;
        let (window, stride) = resolve_window(&options, model.config.context_length, "the model's context")?;
        Ok(Scorer { model, backend, options, bos_token, window, stride })
    }

    /// The model.
    pub fn model(&self) -> &Arc<Model> {
        &self.model
    }

    /// The options, as validated.
    pub fn options(&self) -> &ScoreOptions {
        &self.options
    }

    /// `cpu` or `gpu`: the backend in use now (after any fallback).
    pub fn backend_name(&self) -> &'static str {
        self.backend.backend()
    }

    /// The device in use, for provenance (e.g. `cpu, 2 threads`).
    pub fn device(&self) -> String {
        self.backend.device()
    }

    /// The backend's warnings so far (e.g. a GPU failure that made it finish on the CPU); drained.
    pub fn take_warnings(&mut self) -> Vec<String> {
        self.backend.take_warnings()
    }

    /// Positions asked of the backend vs computed (the rest came from its prefix cache), when it has one.
    pub fn reuse_counts(&self) -> Option<ReuseCounts> {
        self.backend.reuse_counts()
    }

    /// The order in which to score `texts` so that each shares a long token prefix with the one
    /// scored just before it (what the backend's prefix cache reuses): sorted by token sequence, so
    /// texts sharing a prefix come together, each next to those it shares most with. Indices into `texts`; a text that
    /// fails to tokenize sorts first (it fails again when scored).
    pub fn reuse_order(&self, texts: &[&str]) -> Vec<usize> {
        let keys: Vec<Vec<u32>> =
            texts.iter().map(|t| self.model.tokenizer.encode(t).map(|e| e.ids).unwrap_or_default()).collect();
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by(|&a, &b| keys[a].cmp(&keys[b]));
        order
    }

    /// Scores one text (`id` names it in results and errors).
    pub fn score(&mut self, id: &str, text: &str) -> Result<TextScore> {
        self.score_with_progress(id, text, &mut |_, _| {})
    }

    /// Scores one text; `progress(done, total)` is called after every window.
    pub fn score_with_progress(&mut self, id: &str, text: &str, progress: &mut ProgressFn) -> Result<TextScore> {
        if text.is_empty() {
            return Err(DensiError::Input { what: id.to_string(), reason: "empty text".into() });
        }
        let enc = self.model.tokenizer.encode(text)?;
        let n = enc.ids.len();
        // The sequence the model sees: optional BOS, then the text's tokens. offset = index of text token 0.
        let mut seq = Vec::with_capacity(n + 1);
        seq.extend(self.bos_token);
        seq.extend_from_slice(&enc.ids);
        let offset = seq.len() - n;
        let mut rows: Vec<Option<(RowStats, usize, usize)>> = vec![None; seq.len()];
        // The distribution after the last token: one more lm-head row of the last window.
        let mut end_row: Option<RowStats> = None;

        // Hugging Face's sliding-window method: windows are slices [begin, begin+W) of the sequence,
        // positions restart at 0, and each window scores only the tokens no earlier window scored.
        let total = seq.len().saturating_sub(1);
        let (mut begin, mut prev_end, mut windows) = (0usize, 0usize, 0usize);
        while seq.len() > 1 {
            let end = (begin + self.window).min(seq.len());
            let first = prev_end.max(begin + 1);
            if first < end {
                let last = end == seq.len();
                let mut stats = self.run_window(&seq[begin..end], first - begin, last)?;
                if last {
                    end_row = stats.pop();
                }
                for (j, st) in stats.into_iter().enumerate() {
                    rows[first + j] = Some((st, windows, first + j - begin));
                }
                progress(end - 1, total);
            }
            windows += 1;
            prev_end = end;
            if end == seq.len() {
                break;
            }
            begin += self.stride;
        }
        if seq.len() == 1 {
            // One token and no BOS: nothing is scored, but the distribution after it still exists.
            end_row = self.run_window(&seq, 1, true)?.pop();
        }

        let char_offs = char_offsets(text, &enc.byte_offsets);
        let tok = &self.model.tokenizer;
        let tokens: Vec<TokenScore> = (0..n)
            .map(|i| {
                let id = enc.ids[i];
                let (byte_start, byte_end) = enc.byte_offsets[i];
                let (char_start, char_end) = char_offs[i];
                let bytes = tok.token_bytes(id).to_vec();
                let mut t = TokenScore {
                    index: i,
                    id,
                    token: display_bytes(&bytes),
                    bytes,
                    byte_start,
                    byte_end,
                    char_start,
                    char_end,
                    scored: false,
                    surprisal_bits: f64::NAN,
                    probability: f64::NAN,
                    entropy_bits: f64::NAN,
                    varentropy_bits2: f64::NAN,
                    rank: 0,
                    top: Vec::new(),
                    window: 0,
                    context_len: 0,
                    boundary_bits: f64::NAN,
                    excess_bits: f64::NAN,
                    z: f64::NAN,
                };
                if let Some((st, window, context_len)) = &rows[offset + i] {
                    t.set_row(st);
                    t.top = st
                        .top
                        .iter()
                        .map(|&(id, probability)| Alternative { id, token: tok.token_display(id), probability })
                        .collect();
                    t.window = *window;
                    t.context_len = *context_len;
                }
                t
            })
            .collect();
        let summary = Summary::of(&tokens, text);
        Ok(TextScore {
            id: id.to_string(),
            text: text.to_string(),
            tokens,
            summary,
            end_boundary_bits: end_row.map(|r| -r.boundary_logprob / LN_2),
            settings: ScoreSettings {
                bos_policy: self.options.bos.clone(),
                bos_token: self.bos_token,
                window: self.window,
                stride: self.stride,
                windows,
                top_k: self.options.top_k,
                backend: self.backend.backend().to_string(),
                device: self.backend.device(),
            },
        })
    }

    fn run_window(&mut self, window: &[u32], score_from: usize, end_row: bool) -> Result<Vec<RowStats>> {
        self.backend.score_rows(window, score_from, self.options.top_k, end_row)
    }
}

/// Where `--bos auto`'s token comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AutoBos {
    /// The model's BOS token, which its tokenizer adds.
    ModelBos,
    /// The document separator (e.g. GPT-2's `<|endoftext|>`), for models that add no BOS.
    DocumentSeparator,
}

/// The one `--bos auto` rule: the model's BOS when its tokenizer adds one, else the document
/// separator, else nothing (the first token is then not scored).
pub fn auto_bos(tok: &TextTokenizer) -> Option<(u32, AutoBos)> {
    match (tok.add_bos, tok.bos_id, tok.doc_separator) {
        (true, Some(bos), _) => Some((bos, AutoBos::ModelBos)),
        (_, _, Some(sep)) => Some((sep, AutoBos::DocumentSeparator)),
        _ => None,
    }
}

/// The token prepended as the first token's context, per policy (None: nothing), checked against
/// the model's vocabulary.
pub fn resolve_bos(model: &Model, policy: &BosPolicy) -> Result<Option<u32>> {
    let tok = &model.tokenizer;
    let vocab = model.config.vocab_size;
    let check = |id: u32| {
        if (id as usize) < vocab {
            Ok(Some(id))
        } else {
            Err(DensiError::InvalidOption {
                option: "--bos",
                reason: format!("token id {id} is outside the vocabulary (size {vocab})"),
            })
        }
    };
    match policy {
        BosPolicy::None => Ok(None),
        BosPolicy::Auto => Ok(auto_bos(tok).map(|(id, _)| id)),
        BosPolicy::Id(id) => check(*id),
        BosPolicy::Token(s) => match tok.token_to_id(s) {
            Some(id) => check(id),
            None => Err(DensiError::InvalidOption {
                option: "--bos",
                reason: format!("`{s}` is not a token of this model"),
            }),
        },
    }
}
