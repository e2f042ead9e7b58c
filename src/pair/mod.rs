//! One text under two models: where model B (a re-quantization, a smaller or instruct-tuned model)
//! predicts the text differently from model A, the reference.
//!
//! - **Same vocabulary** ([`same_vocabulary`]: the same token bytes, merges or scores and special
//!   tokens, and the same ids for the text): [`PairScorer`] runs both forwards over the same windows
//!   and reduces the two lm-heads' logit rows of each position together, in one online pass
//!   ([`reduce::reduce_pair_row`]), to per-token surprisal, entropy and rank under each model,
//!   `delta_bits`, KL both ways and the cross-entropy of A against B. The [tokens × vocab] logits
//!   never exist: the lm-heads run over blocks of [`crate::cpu::fast::lm_head_block_rows`] rows.
//! - **Different vocabularies**: [`words::align_words`] pairs the two models' word scores (the one
//!   word definition, [`crate::text`]; beginning-of-word corrected) by byte spans. No KL: the two
//!   distributions are over different sets of tokens.
//!
//! Units: bits (log base 2) everywhere in the results.
//!
//! On the CPU the pair runs the fast forward (the single-model scorer's) to each model's final hidden
//! states, then the lm-heads and the fused reduction; on the GPU, [`crate::gpu::pair`].

pub mod export;
pub mod reduce;
pub mod report;
pub mod words;

use std::sync::Arc;

use rayon::prelude::*;
use serde::Serialize;

use crate::cpu::fast;
use crate::error::{DensiError, Result};
use crate::metrics::{Alternative, BosPolicy, LN_2, ScoreSettings, char_offsets, display_bytes};
use crate::model::Model;
use crate::score::{ScoreOptions, resolve_bos, resolve_window};
use reduce::{PairRowStats, reduce_pair_row};

/// Why two models cannot be compared token by token (None: they can).
pub fn vocabulary_difference(a: &Model, b: &Model) -> Option<String> {
    let (va, vb) = (a.config.vocab_size, b.config.vocab_size);
    if va != vb {
        return Some(format!("their vocabularies have {va} and {vb} entries"));
    }
    if a.tokenizer.fingerprint() != b.tokenizer.fingerprint() {
        return Some(format!(
            "their tokenizers differ (tokens, merges or scores, or special tokens: {} vs {})",
            a.tokenizer.description, b.tokenizer.description
        ));
    }
    None
}

/// Checks that A and B share one vocabulary: token-level comparison (KL, cross-entropy) needs it.
pub fn same_vocabulary(a: &Model, b: &Model) -> Result<()> {
    match vocabulary_difference(a, b) {
        None => Ok(()),
        Some(why) => Err(mismatch(a, b, &why)),
    }
}

fn mismatch(a: &Model, b: &Model, why: &str) -> DensiError {
    DensiError::InvalidOption {
        option: "--model",
        reason: format!(
            "{} and {} cannot be compared token by token: {why}; compare them word by word with `--level word` (score, compare, export)",
            a.source.path.display(),
            b.source.path.display()
        ),
    }
}

/// One token of a text under both models. Bits; NaN (and rank 0) where not scored.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PairToken {
    /// Position of the token in the text (0-based; a prepended BOS is not counted).
    pub index: usize,
    /// Token id (the same in both models).
    pub id: u32,
    /// The token's text (`\xNN` escapes when its bytes are not valid UTF-8 on their own).
    pub token: String,
    /// First byte of the token in the text.
    pub byte_start: usize,
    /// One past its last byte.
    pub byte_end: usize,
    /// Unicode code point offsets (a partly covered character counts whole).
    pub char_start: usize,
    /// One past its last character.
    pub char_end: usize,
    /// False for a first token without context (`--bos none`).
    pub scored: bool,
    /// −log₂ p_A(token | context).
    pub surprisal_bits_a: f64,
    /// −log₂ p_B(token | context).
    pub surprisal_bits_b: f64,
    /// surprisal_bits_b − surprisal_bits_a.
    pub delta_bits: f64,
    /// H(P_A) = −Σ_v p_A(v) log₂ p_A(v) before this token.
    pub entropy_bits_a: f64,
    /// H(P_B).
    pub entropy_bits_b: f64,
    /// 1 + #{v : p_A(v) > p_A(token)}.
    pub rank_a: u32,
    /// The same under B.
    pub rank_b: u32,
    /// KL(P_A ‖ P_B) = Σ_v p_A(v) log₂(p_A(v) / p_B(v)).
    pub kl_ab_bits: f64,
    /// KL(P_B ‖ P_A).
    pub kl_ba_bits: f64,
    /// −Σ_v p_A(v) log₂ p_B(v) = H(P_A) + KL(P_A ‖ P_B) (Binoculars' cross-perplexity term).
    pub cross_entropy_ab_bits: f64,
    /// Whether the two models' most probable tokens differ here.
    pub top1_differs: bool,
    /// A's top-k alternatives, most probable first.
    pub top_a: Vec<Alternative>,
    /// B's.
    pub top_b: Vec<Alternative>,
}

/// Per-text totals of a pair, over the scored tokens.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PairSummary {
    /// Tokens in the text.
    pub tokens: usize,
    /// Tokens scored.
    pub scored_tokens: usize,
    /// 2^(mean surprisal under A, bits per token).
    pub perplexity_a: f64,
    /// 2^(mean surprisal under B).
    pub perplexity_b: f64,
    /// Mean surprisal under A, bits per token.
    pub mean_bits_a: f64,
    /// Mean surprisal under B, bits per token.
    pub mean_bits_b: f64,
    /// Mean KL(P_A ‖ P_B) over the positions, bits.
    pub mean_kl_ab_bits: f64,
    /// Mean KL(P_B ‖ P_A), bits.
    pub mean_kl_ba_bits: f64,
    /// Mean cross-entropy −Σ p_A log₂ p_B, bits: log₂ of the cross-perplexity of A against B.
    pub mean_cross_entropy_ab_bits: f64,
    /// Share of the positions where A's and B's most probable tokens differ (0..1).
    pub top1_disagreement: f64,
    /// Binoculars (Hans et al. 2024) with A as the observer and B as the performer: the
    /// log-perplexity of B over the cross-perplexity of A against B,
    /// (mean surprisal under B) / (mean −Σ p_A log₂ p_B); unit-free. Low: machine-like text.
    pub binoculars: f64,
}

impl PairSummary {
    /// Sums a text's scored tokens.
    pub fn of(tokens: &[PairToken]) -> PairSummary {
        let scored: Vec<&PairToken> = tokens.iter().filter(|t| t.scored).collect();
        let n = scored.len();
        let mean = |f: fn(&PairToken) -> f64| {
            if n == 0 { f64::NAN } else { scored.iter().map(|t| f(t)).sum::<f64>() / n as f64 }
        };
        let (mean_a, mean_b) = (mean(|t| t.surprisal_bits_a), mean(|t| t.surprisal_bits_b));
        let cross = mean(|t| t.cross_entropy_ab_bits);
        PairSummary {
            tokens: tokens.len(),
            scored_tokens: n,
            perplexity_a: mean_a.exp2(),
            perplexity_b: mean_b.exp2(),
            mean_bits_a: mean_a,
            mean_bits_b: mean_b,
            mean_kl_ab_bits: mean(|t| t.kl_ab_bits),
            mean_kl_ba_bits: mean(|t| t.kl_ba_bits),
            mean_cross_entropy_ab_bits: cross,
            top1_disagreement: mean(|t| t.top1_differs as u8 as f64),
            binoculars: mean_b / cross,
        }
    }
}

/// A text scored under two models of one vocabulary.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PairScore {
    /// The text's id.
    pub id: String,
    /// The text.
    pub text: String,
    /// Every token, in order.
    pub tokens: Vec<PairToken>,
    /// Totals.
    pub summary: PairSummary,
    /// How it was scored (the same windows for both models).
    pub settings: ScoreSettings,
}

/// Scores texts under two models of one vocabulary with the fused pair reduction (CPU, or one GPU
/// after [`PairScorer::on_gpu`]).
pub struct PairScorer {
    a: Arc<Model>,
    b: Arc<Model>,
    options: ScoreOptions,
    bos_token: Option<u32>,
    window: usize,
    stride: usize,
    pool: Option<rayon::ThreadPool>,
    /// Both models on one GPU ([`PairScorer::on_gpu`]); None: the CPU.
    #[cfg(feature = "gpu")]
    gpu: Option<std::sync::Mutex<crate::gpu::pair::GpuPair>>,
}

impl PairScorer {
    /// Checks that A and B share a vocabulary and the first-token policy gives both the same token,
    /// and validates the windows against the shorter context. `threads`: None = rayon's pool.
    pub fn new(a: Arc<Model>, b: Arc<Model>, options: ScoreOptions, threads: Option<usize>) -> Result<PairScorer> {
        same_vocabulary(&a, &b)?;
        let (bos_a, bos_b) = (resolve_bos(&a, &options.bos)?, resolve_bos(&b, &options.bos)?);
        if bos_a != bos_b {
            return Err(DensiError::InvalidOption {
                option: "--bos",
                reason: format!(
                    "the policy gives model A {bos_a:?} and model B {bos_b:?} as the first token's context; \
                     name one token with --bos ID so both models see the same sequence"
                ),
            });
        }
        let ctx = a.config.context_length.min(b.config.context_length);
        let (window, stride) = resolve_window(&options, ctx, "the shorter context")?;
        let pool = match threads {
            Some(n) => Some(
                rayon::ThreadPoolBuilder::new()
                    .num_threads(n.max(1))
                    .build()
                    .map_err(|e| DensiError::Other(format!("cannot start {n} CPU threads: {e}")))?,
            ),
            None => None,
        };
        Ok(PairScorer {
            a,
            b,
            options,
            bos_token: bos_a,
            window,
            stride,
            pool,
            #[cfg(feature = "gpu")]
            gpu: None,
        })
    }

    /// Runs both models on one GPU (adapter `device` or the best one; weights as `dtype`):
    /// the fused pair reduction of [`crate::gpu::pair`]. `allow_software`: accept lavapipe.
    #[cfg(feature = "gpu")]
    pub fn on_gpu(
        mut self,
        device: Option<usize>,
        dtype: crate::dtype::Dtype,
        allow_software: bool,
    ) -> Result<PairScorer> {
        if self.options.top_k > crate::gpu::kernels::LM_KMAX {
            return Err(DensiError::InvalidOption {
                option: "--top-k",
                reason: format!(
                    "{}: the GPU pair reduction keeps at most {} alternatives",
                    self.options.top_k,
                    crate::gpu::kernels::LM_KMAX
                ),
            });
        }
        let gpu = crate::gpu::pair::GpuPair::new(&self.a, &self.b, device, dtype, allow_software)?;
        self.gpu = Some(std::sync::Mutex::new(gpu));
        Ok(self)
    }

    /// On the GPU: at most `rows` positions per logit block (tests run many blocks per window).
    #[cfg(feature = "gpu")]
    #[doc(hidden)]
    pub fn set_gpu_block_rows(&self, rows: usize) {
        if let Some(g) = &self.gpu {
            g.lock().unwrap_or_else(|p| p.into_inner()).set_block_rows(rows);
        }
    }

    /// `cpu` or `gpu`.
    pub fn backend(&self) -> &'static str {
        #[cfg(feature = "gpu")]
        if self.gpu.is_some() {
            return "gpu";
        }
        "cpu"
    }

    /// Model A (the reference).
    pub fn model_a(&self) -> &Arc<Model> {
        &self.a
    }

    /// Model B.
    pub fn model_b(&self) -> &Arc<Model> {
        &self.b
    }

    /// The device, for provenance.
    pub fn device(&self) -> String {
        #[cfg(feature = "gpu")]
        if let Some(g) = &self.gpu {
            return g.lock().unwrap_or_else(|p| p.into_inner()).device();
        }
        let n = self.pool.as_ref().map_or_else(rayon::current_num_threads, |p| p.current_num_threads());
        format!("cpu, {n} thread{}", if n == 1 { "" } else { "s" })
    }

    /// Scores one text under both models; `progress(done, total)` after every window.
    pub fn score(&self, id: &str, text: &str, progress: &mut (dyn FnMut(usize, usize) + Send)) -> Result<PairScore> {
        match &self.pool {
            Some(pool) => pool.install(|| self.score_in_pool(id, text, progress)),
            None => self.score_in_pool(id, text, progress),
        }
    }

    fn score_in_pool(
        &self,
        id: &str,
        text: &str,
        progress: &mut (dyn FnMut(usize, usize) + Send),
    ) -> Result<PairScore> {
        if text.is_empty() {
            return Err(DensiError::Input { what: id.to_string(), reason: "empty text".into() });
        }
        let enc = self.a.tokenizer.encode(text)?;
        let enc_b = self.b.tokenizer.encode(text)?;
        if enc.ids != enc_b.ids {
            let at = enc.ids.iter().zip(&enc_b.ids).position(|(x, y)| x != y).unwrap_or(enc.ids.len());
            return Err(mismatch(
                &self.a,
                &self.b,
                &format!("{id}: they tokenize the text differently from token {at} on"),
            ));
        }
        let n = enc.ids.len();
        let mut seq = Vec::with_capacity(n + 1);
        seq.extend(self.bos_token);
        seq.extend_from_slice(&enc.ids);
        let offset = seq.len() - n;
        let mut rows: Vec<Option<PairRowStats>> = vec![None; seq.len()];

        // The same sliding windows as [`crate::score::Scorer`] (Hugging Face's method): each window
        // scores only the tokens no earlier window scored.
        let total = seq.len().saturating_sub(1);
        let (mut begin, mut prev_end, mut windows) = (0usize, 0usize, 0usize);
        while seq.len() > 1 {
            let end = (begin + self.window).min(seq.len());
            let first = prev_end.max(begin + 1);
            if first < end {
                let stats = self.window_rows(&seq[begin..end], first - begin)?;
                for (j, st) in stats.into_iter().enumerate() {
                    rows[first + j] = Some(st);
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

        let char_offs = char_offsets(text, &enc.byte_offsets);
        let tok = &self.a.tokenizer;
        let alternatives = |top: &[(u32, f64)]| -> Vec<Alternative> {
            top.iter().map(|&(id, probability)| Alternative { id, token: tok.token_display(id), probability }).collect()
        };
        let tokens: Vec<PairToken> = (0..n)
            .map(|i| {
                let id = enc.ids[i];
                let ((byte_start, byte_end), (char_start, char_end)) = (enc.byte_offsets[i], char_offs[i]);
                let mut t = PairToken {
                    index: i,
                    id,
                    token: display_bytes(tok.token_bytes(id)),
                    byte_start,
                    byte_end,
                    char_start,
                    char_end,
                    scored: false,
                    surprisal_bits_a: f64::NAN,
                    surprisal_bits_b: f64::NAN,
                    delta_bits: f64::NAN,
                    entropy_bits_a: f64::NAN,
                    entropy_bits_b: f64::NAN,
                    rank_a: 0,
                    rank_b: 0,
                    kl_ab_bits: f64::NAN,
                    kl_ba_bits: f64::NAN,
                    cross_entropy_ab_bits: f64::NAN,
                    top1_differs: false,
                    top_a: Vec::new(),
                    top_b: Vec::new(),
                };
                if let Some(r) = &rows[offset + i] {
                    t.scored = true;
                    t.surprisal_bits_a = -r.a.target_logprob / LN_2;
                    t.surprisal_bits_b = -r.b.target_logprob / LN_2;
                    t.delta_bits = t.surprisal_bits_b - t.surprisal_bits_a;
                    t.entropy_bits_a = r.a.entropy / LN_2;
                    t.entropy_bits_b = r.b.entropy / LN_2;
                    (t.rank_a, t.rank_b) = (r.a.rank, r.b.rank);
                    t.kl_ab_bits = r.kl_ab / LN_2;
                    t.kl_ba_bits = r.kl_ba / LN_2;
                    t.cross_entropy_ab_bits = r.cross_entropy_ab / LN_2;
                    t.top1_differs = r.a.argmax != r.b.argmax;
                    t.top_a = alternatives(&r.a.top);
                    t.top_b = alternatives(&r.b.top);
                }
                t
            })
            .collect();
        let summary = PairSummary::of(&tokens);
        Ok(PairScore {
            id: id.to_string(),
            text: text.to_string(),
            tokens,
            summary,
            settings: ScoreSettings {
                bos_policy: self.options.bos.clone(),
                bos_token: self.bos_token,
                window: self.window,
                stride: self.stride,
                windows,
                top_k: self.options.top_k,
                backend: self.backend().into(),
                device: self.device(),
            },
        })
    }

    /// Both forwards over `window`, then both lm-heads over blocks of rows, each pair of rows reduced
    /// together: statistics for the targets `window[score_from..]`.
    fn window_rows(&self, window: &[u32], score_from: usize) -> Result<Vec<PairRowStats>> {
        #[cfg(feature = "gpu")]
        if let Some(g) = &self.gpu {
            return g.lock().unwrap_or_else(|p| p.into_inner()).window_rows(window, score_from, self.options.top_k);
        }
        // hidden [len, h] after the final norm, per model (h may differ between A and B): the fast
        // forward, as the single-model CPU scorer runs it.
        let ha = fast::final_hidden(&self.a.config, &self.a.weights, window, 0, &mut [Vec::<f32>::new()], None);
        let hb = fast::final_hidden(&self.b.config, &self.b.weights, window, 0, &mut [Vec::<f32>::new()], None);
        let vocab = self.a.config.vocab_size;
        let n = window.len() - score_from;
        let mut out = Vec::with_capacity(n);
        let block_rows = fast::lm_head_block_rows(vocab);
        let rows_max = block_rows.min(n);
        let (mut la, mut lb) = (vec![0.0f32; rows_max * vocab], vec![0.0f32; rows_max * vocab]);
        let mut start = 0;
        while start < n {
            let rows = (n - start).min(block_rows);
            // hidden row p predicts window[p + 1].
            let first = score_from - 1 + start;
            lm_head(&self.a, &ha, first, rows, &mut la[..rows * vocab]);
            lm_head(&self.b, &hb, first, rows, &mut lb[..rows * vocab]);
            let block: Vec<PairRowStats> = la[..rows * vocab]
                .par_chunks(vocab)
                .zip(lb[..rows * vocab].par_chunks(vocab))
                .enumerate()
                .map(|(r, (za, zb))| reduce_pair_row(za, zb, Some(window[first + r + 1]), self.options.top_k))
                .collect();
            out.extend(block);
            start += rows;
        }
        Ok(out)
    }
}

/// logits [rows, vocab] = hidden rows first..first+rows of `hidden` [len, h] · lm_headᵀ (+ bias,
/// soft-capped where the model caps): the single-model fast path's lm-head GEMM, so each model's
/// logits here are those its own scorer reduces.
fn lm_head(model: &Model, hidden: &[f32], first: usize, rows: usize, logits: &mut [f32]) {
    let (h, vocab) = (model.config.hidden_size, model.config.vocab_size);
    let x = &hidden[first * h..(first + rows) * h];
    fast::gemm_w_own(x, h, rows, h, model.weights.lm_head_weight(), logits, vocab, false);
    let (bias, cap) = (model.weights.lm_head_bias(), model.config.attention.logit_softcap);
    if bias.is_some() || cap.is_some() {
        logits.par_chunks_mut(vocab).for_each(|row| {
            if let Some(b) = bias {
                row.iter_mut().zip(b).for_each(|(z, b)| *z += b);
            }
            if let Some(c) = cap {
                crate::cpu::ops::softcap_in_place(row, c);
            }
        });
    }
}

/// Where a model came from and how its first token was conditioned: one side of a pair's provenance.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ModelProvenance {
    /// The model file or directory.
    pub path: String,
    /// `gguf` or `safetensors`.
    pub format: String,
    /// sha256 of its weight files.
    pub sha256: String,
    /// Architecture name.
    pub architecture: String,
    /// Parameter count.
    pub parameters: usize,
    /// Storage type of the weights on disk.
    pub weight_dtype: String,
    /// How its tokenizer was built.
    pub tokenizer: String,
    /// The first-token policy asked for.
    pub bos_policy: BosPolicy,
    /// The token this model's first token was conditioned on, if any.
    pub bos_token: Option<u32>,
    /// Its text.
    pub bos_token_text: Option<String>,
}

impl ModelProvenance {
    /// `sha256`: [`Model::sha256`].
    pub fn new(model: &Model, sha256: String, bos_policy: &BosPolicy, bos_token: Option<u32>) -> ModelProvenance {
        ModelProvenance {
            path: model.source.path.display().to_string(),
            format: model.source.format.to_string(),
            sha256,
            architecture: model.config.architecture.name().to_string(),
            parameters: model.config.parameter_count(),
            weight_dtype: model.source.weight_dtype.clone(),
            tokenizer: model.tokenizer.description.clone(),
            bos_policy: bos_policy.clone(),
            bos_token,
            bos_token_text: bos_token.map(|id| model.tokenizer.token_display(id)),
        }
    }
}
