//! The native CPU forward pass, f32 throughout, multi-threaded with rayon. It is the fallback backend
//! and the oracle every GPU kernel is tested against.
//!
//! Two forwards live here:
//! - [`hidden_states`] / [`forward_stats`] (and `*_of` on bare weights): the plain one, one [`ops`]
//!   call per layer step; the reference.
//! - [`CpuForward`]: the fast one the backend runs ([`fast`]). Same math, with q/k/v (and gate/up)
//!   written into one buffer, residual adds fused into the GEMMs, SIMD attention over blocks of query
//!   rows, vectorised exp, and a vectorised lm-head reduction. Tests keep it equal to the plain forward.

pub mod fast;
pub mod kv;
pub mod ops;

use std::sync::Arc;
use std::time::Instant;

use rayon::prelude::*;

use crate::error::Result;
use crate::metrics::{BoundaryMask, RowStats, reduce_row};
use crate::model::{Architecture, Mlp, Model, ModelConfig, Weights};
use crate::prefix::{DEFAULT_CACHE_BYTES, PrefixCache, ReuseCounts};
use crate::score::Forward;
use kv::{KvRows, MappedKv};

/// Rows of logits materialised at once by the lm-head: bounds memory at LM_HEAD_ROWS × vocab floats.
pub const LM_HEAD_ROWS: usize = 64;

/// Where the weights come from: a loaded model (shared with the scorer), or bare weights (benchmarks, tests).
enum Source {
    Model(Arc<Model>),
    Bare(Box<(ModelConfig, Weights)>),
}

pub struct CpuForward {
    source: Source,
    pool: Option<rayon::ThreadPool>,
    threads: usize,
    profile: Option<Profile>,
    boundary: Arc<BoundaryMask>,
    /// Per-layer K/V ([positions, 2·nkv·hd] each) of windows run before, and their rows' statistics
    /// for `cache_top_k`.
    cache: PrefixCache<Vec<MappedKv>>,
    cache_top_k: usize,
    /// Whether the cached windows used LongRoPE's long factors (their keys hold for such windows only).
    cache_long_rope: bool,
}

impl CpuForward {
    /// `threads`: None = rayon's global pool (all cores, or RAYON_NUM_THREADS).
    pub fn new(model: Arc<Model>, threads: Option<usize>) -> Result<CpuForward> {
        Self::build(Source::Model(model), threads)
    }

    /// A forward over bare weights (no tokenizer): for benchmarks and tests with random weights.
    pub fn from_weights(config: ModelConfig, weights: Weights, threads: Option<usize>) -> Result<CpuForward> {
        Self::build(Source::Bare(Box::new((config, weights))), threads)
    }

    fn build(source: Source, threads: Option<usize>) -> Result<CpuForward> {
        let pool = match threads {
            Some(n) => Some(
                rayon::ThreadPoolBuilder::new()
                    .num_threads(n.max(1))
                    .build()
                    .map_err(|e| crate::DensiError::Other(format!("cannot start {n} CPU threads: {e}")))?,
            ),
            None => None,
        };
        let threads = pool.as_ref().map_or_else(rayon::current_num_threads, |p| p.current_num_threads());
        let boundary = Arc::new(BoundaryMask::empty(0));
        let cache = PrefixCache::new(DEFAULT_CACHE_BYTES);
        Ok(CpuForward { source, pool, threads, profile: None, boundary, cache, cache_top_k: 0, cache_long_rope: false })
    }

    pub fn config(&self) -> &ModelConfig {
        match &self.source {
            Source::Model(m) => &m.config,
            Source::Bare(b) => &b.0,
        }
    }

    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Starts (or with `false` stops) timing every step of the forward; see [`CpuForward::take_profile`].
    pub fn set_profiling(&mut self, on: bool) {
        self.profile = on.then(Profile::default);
    }

    /// Time per step, summed over the calls since profiling started (or since the last take).
    pub fn take_profile(&mut self) -> Vec<StepTime> {
        match &mut self.profile {
            Some(p) => std::mem::take(&mut p.0),
            None => Vec::new(),
        }
    }
}

impl Forward for CpuForward {
    fn backend(&self) -> &'static str {
        "cpu"
    }

    fn device(&self) -> String {
        format!("cpu, {} thread{}", self.threads, if self.threads == 1 { "" } else { "s" })
    }

    fn score_rows(&mut self, window: &[u32], score_from: usize, top_k: usize, end_row: bool) -> Result<Vec<RowStats>> {
        assert!(score_from >= 1 && score_from <= window.len());
        let (cfg, w) = match &self.source {
            Source::Model(m) => (&m.config, &m.weights),
            Source::Bare(b) => (&b.0, &b.1),
        };
        // Cached rows hold top_k alternatives: another top_k starts afresh.
        if top_k != self.cache_top_k {
            self.cache.clear();
            self.cache_top_k = top_k;
        }
        // LongRoPE changes every position's frequencies when a window crosses its original
        // context: keys and rows cached on the other side of it do not hold for this window.
        let long = cfg.attention.rope_scaling.uses_long_factors(window.len());
        if long != self.cache_long_rope {
            self.cache.clear();
            self.cache_long_rope = long;
        }
        let plan = self.cache.plan(window, score_from, end_row);
        let len = window.len();
        if plan.past == len {
            self.cache.count(len, 0);
            return Ok(plan.cached);
        }
        let ldkv = 2 * cfg.num_kv_heads * cfg.head_dim;
        // Each layer's K/V in a map of its own (whole pages: what it adds to the resident set).
        let kv_bytes = cfg.num_layers * MappedKv::bytes_for(len * ldkv);
        let mut source = plan.source;
        // Keep this window's K/V when it fits the budget; else one buffer every layer reuses.
        let keep = self.cache.make_room(kv_bytes, &mut source);
        let past = if keep { plan.past } else { 0 };
        self.cache.count(len, len - past);
        let profile = self.profile.as_mut();
        let rows = Rows { score_from, top_k, boundary: &self.boundary, end_row };
        let mut kv: Vec<MappedKv> = Vec::new();
        let computed = if keep {
            kv = match source {
                Some(i) => {
                    let entry = &self.cache.entry(i).payload;
                    entry
                        .iter()
                        .map(|l| MappedKv::with_prefix(&l.as_slice()[..past * ldkv], len * ldkv))
                        .collect::<Result<_>>()
                }
                None => (0..cfg.num_layers).map(|_| MappedKv::with_capacity(len * ldkv)).collect::<Result<_>>(),
            }?;
            let run = || fast::forward_rows(cfg, w, window, past, &mut kv, &rows, profile);
            match &self.pool {
                Some(pool) => pool.install(run)?,
                None => run()?,
            }
        } else {
            let run = || fast::forward_rows(cfg, w, window, 0, &mut [Vec::<f32>::new()], &rows, profile);
            match &self.pool {
                Some(pool) => pool.install(run)?,
                None => run()?,
            }
        };
        // Rows score_from − 1 .. past from the cache, the rest computed.
        let cached = if keep { plan.cached } else { Vec::new() };
        if keep {
            let mut all_rows: Vec<Option<RowStats>> = vec![None; len];
            let first = score_from - 1;
            for (j, r) in cached.iter().chain(&computed).enumerate() {
                all_rows[first + j] = Some(r.clone());
            }
            // The entry read stays useful unless this window extends it.
            let supersedes = source.filter(|&i| self.cache.entry(i).tokens.len() == plan.shared);
            self.cache.insert(window.to_vec(), all_rows, kv, kv_bytes, supersedes);
        }
        let mut out = cached;
        out.extend(computed);
        Ok(out)
    }

    fn set_boundary(&mut self, boundary: Arc<BoundaryMask>) -> Result<()> {
        // Cached rows carry the old set's boundary mass.
        self.cache.clear();
        self.boundary = boundary;
        Ok(())
    }

    fn set_prefix_cache(&mut self, budget_bytes: usize) {
        self.cache.set_budget(budget_bytes);
    }

    fn reuse_counts(&self) -> Option<ReuseCounts> {
        Some(self.cache.counts())
    }
}

/// Which lm-head rows a forward reduces, and over which boundary set.
#[derive(Debug, Clone, Copy)]
pub struct Rows<'a> {
    /// Targets `ids[score_from..]` (each scored by the row before it); `1 <= score_from <= ids.len()`.
    pub score_from: usize,
    pub top_k: usize,
    /// The set whose mass each row's `boundary_logprob` reports.
    pub boundary: &'a BoundaryMask,
    /// One more row last: the distribution after the last token (no target).
    pub end_row: bool,
}

impl Rows<'_> {
    /// Hidden rows score_from−1 .. (with the end row, through len−1); row p's target is ids[p + 1].
    fn count(&self, len: usize) -> usize {
        len - self.score_from + self.end_row as usize
    }
}

/// Time per named step of the forward, summed over calls.
#[derive(Debug, Clone, PartialEq)]
pub struct StepTime {
    pub name: &'static str,
    /// Wall seconds.
    pub wall: f64,
    /// CPU seconds of the whole process (all threads) during the step; Linux only (0 elsewhere).
    /// On a machine shared with other work, this is the honest cost of a step; wall time includes waiting.
    pub cpu: f64,
}

/// Wall and CPU time per named step.
#[derive(Debug, Default)]
pub struct Profile(pub Vec<StepTime>);

impl Profile {
    /// Runs `f`, adding its wall and CPU time to `name` when profiling (`p` is Some).
    #[inline]
    pub fn time<R>(p: &mut Option<&mut Profile>, name: &'static str, f: impl FnOnce() -> R) -> R {
        match p {
            None => f(),
            Some(p) => {
                let (t0, c0) = (Instant::now(), process_cpu_seconds());
                let r = f();
                let (wall, cpu) = (t0.elapsed().as_secs_f64(), process_cpu_seconds() - c0);
                match p.0.iter_mut().find(|s| s.name == name) {
                    Some(s) => {
                        s.wall += wall;
                        s.cpu += cpu;
                    }
                    None => p.0.push(StepTime { name, wall, cpu }),
                }
                r
            }
        }
    }
}

/// CPU time of this process so far, all threads (Linux: /proc/self/task/*/schedstat, ns); 0 elsewhere.
pub fn process_cpu_seconds() -> f64 {
    #[cfg(target_os = "linux")]
    {
        let mut ns = 0u64;
        if let Ok(dir) = std::fs::read_dir("/proc/self/task") {
            for t in dir.flatten() {
                if let Ok(s) = std::fs::read_to_string(t.path().join("schedstat")) {
                    ns += s.split_whitespace().next().and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
                }
            }
        }
        ns as f64 * 1e-9
    }
    #[cfg(not(target_os = "linux"))]
    {
        0.0
    }
}

/// Final hidden states for every position of `ids`: [t, hidden], after the final norm. The plain
/// reference forward (one [`ops`] call per step).
pub fn hidden_states(model: &Model, ids: &[u32]) -> Vec<f32> {
    hidden_states_of(&model.config, &model.weights, ids)
}

/// [`hidden_states`] on bare weights (no tokenizer needed).
pub fn hidden_states_of(cfg: &ModelConfig, w: &Weights, ids: &[u32]) -> Vec<f32> {
    let (t, h) = (ids.len(), cfg.hidden_size);
    let (nh, nkv, hd) = (cfg.num_heads, cfg.num_kv_heads, cfg.head_dim);

    // x [t, h] = token embedding (+ learned position embedding for GPT-2) (× √h for Gemma)
    let mut x = ops::embed(ids, w, h);
    if let Some(s) = cfg.embed_scale() {
        ops::scale_in_place(&mut x, s);
    }
    let ropes = rope_tables_of(cfg, t);

    let mut normed = vec![0.0f32; t * h];
    let mut q = vec![0.0f32; t * nh * hd];
    let mut k = vec![0.0f32; t * nkv * hd];
    let mut v = vec![0.0f32; t * nkv * hd];
    let mut att = vec![0.0f32; t * nh * hd];
    let mut proj = vec![0.0f32; t * h];
    let mut up = vec![0.0f32; t * cfg.intermediate_size];
    let mut gate = vec![0.0f32; t * cfg.intermediate_size];
    let mut post = vec![0.0f32; t * h];

    for (l, block) in w.blocks.iter().enumerate() {
        let la = cfg.layer_attention(l);
        // Attention: x += [post-norm](o(attn(rope(qn(q(n(x)))), rope(kn(k(n(x)))), v(n(x)))))
        ops::norm(&x, h, &block.attn_norm, &mut normed);
        ops::linear(&normed, t, &block.q, &mut q);
        ops::linear(&normed, t, &block.k, &mut k);
        ops::linear(&normed, t, &block.v, &mut v);
        if let Some([qn, kn]) = &block.qk_norm {
            ops::rms_norm_heads(&mut q, nh * hd, 0, nh, hd, qn);
            ops::rms_norm_heads(&mut k, nkv * hd, 0, nkv, hd, kn);
        }
        if let Some((cos, sin)) = rope_for(&ropes, la.rope_theta) {
            ops::rope_dims(&mut q, nh, hd, cfg.rope_dims(), cos, sin);
            ops::rope_dims(&mut k, nkv, hd, cfg.rope_dims(), cos, sin);
        }
        ops::attention_with(&q, &k, &v, t, nh, nkv, hd, la.scale, la.window, la.softcap, &mut att);
        ops::linear(&att, t, &block.o, &mut proj);
        if let Some([attn_post, _]) = &block.post_norms {
            ops::norm(&proj, h, attn_post, &mut post);
            proj.copy_from_slice(&post);
        }
        // Parallel residual (GPT-NeoX): x + attn(n₁(x)) + mlp(n₂(x)), both norms of the block's input.
        let parallel = cfg.attention.parallel_residual;
        if parallel {
            ops::norm(&x, h, &block.mlp_norm, &mut normed);
        }
        ops::add_in_place(&mut x, &proj);

        // MLP: x += mlp(n(x))
        if !parallel {
            ops::norm(&x, h, &block.mlp_norm, &mut normed);
        }
        match &block.mlp {
            Mlp::Gelu { fc, proj: out } => {
                ops::linear(&normed, t, fc, &mut up);
                ops::gelu_new(&mut up);
                ops::linear(&up, t, out, &mut proj);
            }
            Mlp::GeluErf { fc, proj: out } => {
                ops::linear(&normed, t, fc, &mut up);
                ops::gelu_erf(&mut up);
                ops::linear(&up, t, out, &mut proj);
            }
            Mlp::SwiGlu { gate: g, up: u, down } => {
                ops::linear(&normed, t, g, &mut gate);
                ops::linear(&normed, t, u, &mut up);
                ops::silu_mul(&mut gate, &up);
                ops::linear(&gate, t, down, &mut proj);
            }
            Mlp::GeGlu { gate: g, up: u, down } => {
                ops::linear(&normed, t, g, &mut gate);
                ops::linear(&normed, t, u, &mut up);
                ops::gelu_mul(&mut gate, &up);
                ops::linear(&gate, t, down, &mut proj);
            }
        }
        if let Some([_, mlp_post]) = &block.post_norms {
            ops::norm(&proj, h, mlp_post, &mut post);
            proj.copy_from_slice(&post);
        }
        ops::add_in_place(&mut x, &proj);
    }
    ops::norm(&x, h, &w.final_norm, &mut normed);
    normed
}

/// A RoPE base and its cos/sin tables ([`ops::rope_tables_of_frequencies`]).
pub(crate) type RopeTable = (f32, (Vec<f32>, Vec<f32>));

/// RoPE tables for a forward of positions 0..len: [`rope_tables_for`]`(cfg, len, len)`.
pub(crate) fn rope_tables_of(cfg: &ModelConfig, len: usize) -> Vec<RopeTable> {
    rope_tables_for(cfg, len, len)
}

/// RoPE tables for positions 0..positions of a forward of `seq_len` positions, one per base the
/// layers use (global, with the model's scaling, and local where there are local layers; what
/// differs between layers is the base), keyed by that base; none for GPT-2 (learned positions).
/// `seq_len` picks LongRoPE's short or long factors ([`RopeScaling::LongRope`]); a caller that
/// builds tables once for a capacity passes the length of each forward.
///
/// [`RopeScaling::LongRope`]: crate::model::config::RopeScaling::LongRope
pub(crate) fn rope_tables_for(cfg: &ModelConfig, positions: usize, seq_len: usize) -> Vec<RopeTable> {
    if cfg.architecture == Architecture::Gpt2 {
        return Vec::new();
    }
    let mut thetas: Vec<f32> = (0..cfg.num_layers).map(|l| cfg.layer_attention(l).rope_theta).collect();
    thetas.sort_by(f32::total_cmp);
    thetas.dedup();
    thetas
        .into_iter()
        .map(|theta| (theta, ops::rope_tables_of_frequencies(positions, &cfg.rope_frequencies(theta, seq_len))))
        .collect()
}

/// The table of [`rope_tables_of`] for base `theta` (a layer's [`LayerAttention::rope_theta`]), if
/// the model has rotary embeddings.
///
/// [`LayerAttention::rope_theta`]: crate::model::config::LayerAttention::rope_theta
pub(crate) fn rope_for(tables: &[RopeTable], theta: f32) -> Option<(&[f32], &[f32])> {
    tables.iter().find(|(t, _)| *t == theta).map(|(_, (c, s))| (c.as_slice(), s.as_slice()))
}

/// The plain forward plus the lm-head reduction: stats for targets `ids[score_from..]`.
pub fn forward_stats(model: &Model, ids: &[u32], score_from: usize, top_k: usize) -> Result<Vec<RowStats>> {
    forward_stats_of(&model.config, &model.weights, ids, score_from, top_k)
}

/// The plain forward plus the lm-head reduction of `rows` (boundary mass, end row).
pub fn forward_rows(model: &Model, ids: &[u32], rows: &Rows) -> Result<Vec<RowStats>> {
    forward_rows_of(&model.config, &model.weights, ids, rows)
}

/// [`forward_stats`] on bare weights.
pub fn forward_stats_of(
    cfg: &ModelConfig,
    w: &Weights,
    ids: &[u32],
    score_from: usize,
    top_k: usize,
) -> Result<Vec<RowStats>> {
    let boundary = BoundaryMask::empty(0);
    forward_rows_of(cfg, w, ids, &Rows { score_from, top_k, boundary: &boundary, end_row: false })
}

/// The plain forward plus the lm-head reduction of `rows` (the oracle of [`fast::forward_rows`]).
pub fn forward_rows_of(cfg: &ModelConfig, w: &Weights, ids: &[u32], rows: &Rows) -> Result<Vec<RowStats>> {
    assert!(rows.score_from >= 1 && rows.score_from <= ids.len());
    let hidden = hidden_states_of(cfg, w, ids);
    Ok(lm_head_rows_of(cfg, w, &hidden, ids, rows))
}

/// Applies the lm-head to positions score_from−1 .. len−2 in blocks of [`LM_HEAD_ROWS`] rows and reduces
/// each row of logits on the spot: the [tokens × vocab] logits never exist at once.
pub fn lm_head_stats(model: &Model, hidden: &[f32], ids: &[u32], score_from: usize, top_k: usize) -> Vec<RowStats> {
    lm_head_stats_of(&model.config, &model.weights, hidden, ids, score_from, top_k)
}

/// [`lm_head_stats`] on bare weights.
pub fn lm_head_stats_of(
    cfg: &ModelConfig,
    w: &Weights,
    hidden: &[f32],
    ids: &[u32],
    score_from: usize,
    top_k: usize,
) -> Vec<RowStats> {
    let boundary = BoundaryMask::empty(0);
    lm_head_rows_of(cfg, w, hidden, ids, &Rows { score_from, top_k, boundary: &boundary, end_row: false })
}

/// [`lm_head_stats_of`] for any [`Rows`]: with a boundary set and the end row.
pub fn lm_head_rows_of(cfg: &ModelConfig, w: &Weights, hidden: &[f32], ids: &[u32], req: &Rows) -> Vec<RowStats> {
    let h = cfg.hidden_size;
    let vocab = cfg.vocab_size;
    let head = w.lm_head_weight().values();
    let bias = w.lm_head_bias();
    let n = req.count(ids.len());
    let mut out = Vec::with_capacity(n);
    let mut logits = vec![0.0f32; LM_HEAD_ROWS * vocab];
    // Row j reads hidden row score_from − 1 + j.
    let mut start = 0;
    while start < n {
        let rows = (n - start).min(LM_HEAD_ROWS);
        let first = req.score_from - 1 + start;
        // hidden row p predicts ids[p + 1]; the end row (p = len − 1) predicts nothing.
        let x = &hidden[first * h..(first + rows) * h];
        ops::matmul_transposed(x, rows, h, &head, vocab, &mut logits[..rows * vocab]);
        let block: Vec<RowStats> = logits[..rows * vocab]
            .par_chunks_mut(vocab)
            .enumerate()
            .map(|(r, row)| {
                if let Some(b) = bias {
                    row.iter_mut().zip(b).for_each(|(z, b)| *z += b);
                }
                if let Some(c) = cfg.attention.logit_softcap {
                    ops::softcap_in_place(row, c);
                }
                reduce_row(row, ids.get(first + r + 1).copied(), req.top_k, req.boundary)
            })
            .collect();
        out.extend(block);
        start += rows;
    }
    out
}
