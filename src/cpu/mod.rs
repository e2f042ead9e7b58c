//! The native CPU forward pass: one plain function per layer (in [`ops`]), multi-threaded with
//! rayon, f32 throughout. It is the fallback backend and the oracle every GPU kernel is tested against.

pub mod ops;

use std::sync::Arc;

use rayon::prelude::*;

use crate::error::Result;
use crate::metrics::{reduce_logits_row, RowStats};
use crate::model::{Architecture, Mlp, Model};
use crate::score::Forward;

/// Rows of logits materialised at once by the lm-head: bounds memory at LM_HEAD_ROWS × vocab floats.
pub const LM_HEAD_ROWS: usize = 64;

pub struct CpuForward {
    model: Arc<Model>,
    pool: Option<rayon::ThreadPool>,
    threads: usize,
}

impl CpuForward {
    /// `threads`: None = rayon's global pool (all cores, or RAYON_NUM_THREADS).
    pub fn new(model: Arc<Model>, threads: Option<usize>) -> Result<CpuForward> {
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
        Ok(CpuForward { model, pool, threads })
    }
}

impl Forward for CpuForward {
    fn backend(&self) -> &'static str {
        "cpu"
    }

    fn device(&self) -> String {
        format!("cpu, {} threads", self.threads)
    }

    fn score_window(&mut self, window: &[u32], score_from: usize, top_k: usize) -> Result<Vec<RowStats>> {
        let run = || forward_stats(&self.model, window, score_from, top_k);
        match &self.pool {
            Some(pool) => pool.install(run),
            None => run(),
        }
    }
}

/// Final hidden states for every position of `ids`: [t, hidden], after the final norm.
pub fn hidden_states(model: &Model, ids: &[u32]) -> Vec<f32> {
    let cfg = &model.config;
    let w = &model.weights;
    let (t, h) = (ids.len(), cfg.hidden_size);
    let (nh, nkv, hd) = (cfg.num_heads, cfg.num_kv_heads, cfg.head_dim);

    // x [t, h] = token embedding (+ learned position embedding for GPT-2)
    let mut x = vec![0.0f32; t * h];
    x.par_chunks_mut(h).enumerate().for_each(|(p, row)| {
        let id = ids[p] as usize;
        row.copy_from_slice(&w.token_embedding[id * h..(id + 1) * h]);
        if let Some(pos) = &w.position_embedding {
            row.iter_mut().zip(&pos[p * h..(p + 1) * h]).for_each(|(a, b)| *a += b);
        }
    });
    let rope = (cfg.architecture != Architecture::Gpt2).then(|| ops::rope_tables(t, hd, cfg.rope_theta));

    let mut normed = vec![0.0f32; t * h];
    let mut q = vec![0.0f32; t * nh * hd];
    let mut k = vec![0.0f32; t * nkv * hd];
    let mut v = vec![0.0f32; t * nkv * hd];
    let mut att = vec![0.0f32; t * nh * hd];
    let mut proj = vec![0.0f32; t * h];
    let mut up = vec![0.0f32; t * cfg.intermediate_size];
    let mut gate = vec![0.0f32; t * cfg.intermediate_size];

    for block in &w.blocks {
        // Attention: x += o(attn(rope(q(n(x))), rope(k(n(x))), v(n(x))))
        ops::norm(&x, h, &block.attn_norm, &mut normed);
        ops::linear(&normed, t, &block.q, &mut q);
        ops::linear(&normed, t, &block.k, &mut k);
        ops::linear(&normed, t, &block.v, &mut v);
        if let Some((cos, sin)) = &rope {
            ops::rope(&mut q, nh, hd, cos, sin);
            ops::rope(&mut k, nkv, hd, cos, sin);
        }
        ops::attention(&q, &k, &v, t, nh, nkv, hd, &mut att);
        ops::linear(&att, t, &block.o, &mut proj);
        ops::add_in_place(&mut x, &proj);

        // MLP: x += mlp(n(x))
        ops::norm(&x, h, &block.mlp_norm, &mut normed);
        match &block.mlp {
            Mlp::Gelu { fc, proj: out } => {
                ops::linear(&normed, t, fc, &mut up);
                ops::gelu_new(&mut up);
                ops::linear(&up, t, out, &mut proj);
            }
            Mlp::SwiGlu { gate: g, up: u, down } => {
                ops::linear(&normed, t, g, &mut gate);
                ops::linear(&normed, t, u, &mut up);
                ops::silu_mul(&mut gate, &up);
                ops::linear(&gate, t, down, &mut proj);
            }
        }
        ops::add_in_place(&mut x, &proj);
    }
    ops::norm(&x, h, &w.final_norm, &mut normed);
    normed
}

/// The whole forward plus the lm-head reduction: stats for targets `ids[score_from..]`.
pub fn forward_stats(model: &Model, ids: &[u32], score_from: usize, top_k: usize) -> Result<Vec<RowStats>> {
    assert!(score_from >= 1 && score_from <= ids.len());
    let hidden = hidden_states(model, ids);
    Ok(lm_head_stats(model, &hidden, ids, score_from, top_k))
}

/// Applies the lm-head to positions score_from−1 .. len−2 in blocks of [`LM_HEAD_ROWS`] rows and reduces
/// each row of logits on the spot: the [tokens × vocab] logits never exist at once.
pub fn lm_head_stats(model: &Model, hidden: &[f32], ids: &[u32], score_from: usize, top_k: usize) -> Vec<RowStats> {
    let h = model.config.hidden_size;
    let vocab = model.config.vocab_size;
    let head = model.weights.lm_head_weight();
    let bias = model.weights.lm_head_bias();
    let mut out = Vec::with_capacity(ids.len() - score_from);
    let mut logits = vec![0.0f32; LM_HEAD_ROWS * vocab];
    let mut start = score_from;
    while start < ids.len() {
        let rows = (ids.len() - start).min(LM_HEAD_ROWS);
        // hidden row p predicts ids[p + 1]
        let x = &hidden[(start - 1) * h..(start - 1 + rows) * h];
        ops::matmul_transposed(x, rows, h, head, vocab, &mut logits[..rows * vocab]);
        let block: Vec<RowStats> = logits[..rows * vocab]
            .par_chunks_mut(vocab)
            .enumerate()
            .map(|(r, row)| {
                if let Some(b) = bias {
                    row.iter_mut().zip(b).for_each(|(z, b)| *z += b);
                }
                reduce_logits_row(row, ids[start + r], top_k)
            })
            .collect();
        out.extend(block);
        start += rows;
    }
    out
}
