//! Two models of one vocabulary on one device: each forward to its last hidden states (weights
//! resident, [`GpuModel::residual_stream`]), then per block of rows both lm-heads as plain GEMMs
//! ([`GpuModel::logit_steps`]: logits [rows, vocab] per model, in device memory only) and the fused
//! pair reduction `shaders/pair_lmhead.wgsl`, which reads the two logit rows of a position together
//! and reduces them online, with max-rescaling, to everything [`crate::pair::reduce`] (its CPU
//! reference) reduces: both models' m, S₀, S₁, the cross term D, the target's rank and logit, and
//! both top-k lists. Only those parts come back; the final formulas are reduce.rs's, in f64.
//!
//! Numerics: WGSL has no f64, so the sums are f32 and blocked (each thread sums 64 ids, the merge
//! sums the threads' records); tests/gpu/pair.rs measures the error against reduce.rs on the goldens.

use wgpu::util::DeviceExt;

use crate::dtype::Dtype;
use crate::error::{DensiError, GpuErrorKind, Result};
use crate::model::Model;
use crate::pair::reduce::{PairRowStats, PairSums, SideSums, pair_row_stats};

use super::context::GpuContext;
use super::forward::{GpuModel, max_binding, work_buffer};
use super::kernels::{LM_KMAX, Program, RunShape};

/// Ids each thread of the pair `tile` kernel folds (the shader's `S`).
const IDS_PER_THREAD: u32 = 64;
/// Threads per workgroup of the pair kernels.
const THREADS: u32 = 64;
/// Words of a thread record before its two k × (logit, id) lists (the shader's `REC_HEAD`).
const REC_HEAD: usize = 10;
/// Words of a merged row before its two lists (the shader's `OUT_HEAD`).
const OUT_HEAD: usize = 12;
/// Most rows whose logits one block holds (per model).
const BLOCK_ROWS: usize = 128;

/// The shader's `PairParams`.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct PairParams {
    r: u32,
    vocab: u32,
    k: u32,
    nrec: u32,
    /// Final-logit soft-caps of A and B (0: none).
    cap_a: f32,
    cap_b: f32,
    _p0: u32,
    _p1: u32,
}

/// The pair kernels (`tile`, `merge`) of shaders/pair_lmhead.wgsl.
pub struct PairReduction {
    tile: wgpu::ComputePipeline,
    merge: wgpu::ComputePipeline,
    /// Final-logit soft-caps of A and B (Gemma 2), applied as the kernels read the logits.
    caps: [Option<f32>; 2],
}

/// The buffers of one block of at most `rows` rows: both models' logits and the targets (filled by
/// the caller), the records, the merged rows and their read-back staging.
struct PairBlock {
    za: wgpu::Buffer,
    zb: wgpu::Buffer,
    targets: wgpu::Buffer,
    part: wgpu::Buffer,
    merged: wgpu::Buffer,
    staging: wgpu::Buffer,
}

/// The shape of the reduction over a vocabulary: tile workgroups per row, records per row, words
/// per record and per merged row, for a top-k of `k` (≥ 1).
fn layout(vocab: usize, k: usize) -> (u32, usize, usize, usize) {
    let groups = (vocab as u32).div_ceil(THREADS * IDS_PER_THREAD);
    (groups, (groups * THREADS) as usize, REC_HEAD + 4 * k, OUT_HEAD + 4 * k)
}

impl PairReduction {
    /// Compiles the two kernels.
    pub fn new(ctx: &GpuContext) -> Result<PairReduction> {
        ctx.scoped("compiling the pair kernels", || {
            let module = ctx.device.create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some("pair_lmhead"),
                source: wgpu::ShaderSource::Wgsl(include_str!("../../shaders/pair_lmhead.wgsl").into()),
            });
            let pipe = |entry: &str| {
                ctx.device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                    label: Some(&format!("pair {entry}")),
                    layout: None,
                    module: &module,
                    entry_point: Some(entry),
                    compilation_options: Default::default(),
                    cache: None,
                })
            };
            PairReduction { tile: pipe("tile"), merge: pipe("merge"), caps: [None, None] }
        })
    }

    /// Rows per block for this vocabulary and top-k: at most `want`, and what one binding holds.
    fn block_rows(ctx: &GpuContext, vocab: usize, k: usize, want: usize) -> usize {
        let (_, nrec, rec_stride, _) = layout(vocab, k);
        let fit = |per_row: usize| (max_binding(ctx) as usize / (4 * per_row)).max(1);
        want.min(fit(vocab)).min(fit(nrec * rec_stride)).max(1)
    }

    fn block(ctx: &GpuContext, rows: usize, vocab: usize, k: usize) -> Result<PairBlock> {
        let (_, nrec, rec_stride, out_stride) = layout(vocab, k);
        Ok(PairBlock {
            za: work_buffer(ctx, rows * vocab, "pair logits A")?,
            zb: work_buffer(ctx, rows * vocab, "pair logits B")?,
            targets: work_buffer(ctx, rows, "pair targets")?,
            part: work_buffer(ctx, rows * nrec * rec_stride, "pair records")?,
            merged: work_buffer(ctx, rows * out_stride, "pair merged")?,
            staging: ctx.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("pair results"),
                size: (rows * out_stride * 4) as u64,
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            }),
        })
    }

    /// Reduces the first `rows` rows of the block's logits (targets already written) and reads the
    /// statistics back.
    fn run(
        &self,
        ctx: &GpuContext,
        blk: &PairBlock,
        rows: usize,
        vocab: usize,
        k: usize,
        top_k: usize,
    ) -> Result<Vec<PairRowStats>> {
        let (groups, nrec, _, out_stride) = layout(vocab, k);
        let [cap_a, cap_b] = self.caps.map(|c| c.unwrap_or(0.0));
        let params = PairParams {
            r: rows as u32,
            vocab: vocab as u32,
            k: k as u32,
            nrec: nrec as u32,
            cap_a,
            cap_b,
            _p0: 0,
            _p1: 0,
        };
        let bytes = (rows * out_stride * 4) as u64;
        ctx.scoped("running the pair reduction", || {
            let params = ctx.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some("pair params"),
                contents: bytemuck::bytes_of(&params),
                usage: wgpu::BufferUsages::UNIFORM,
            });
            let bind = |pipe: &wgpu::ComputePipeline, with_merged: bool| {
                let mut entries = vec![
                    wgpu::BindGroupEntry { binding: 0, resource: params.as_entire_binding() },
                    wgpu::BindGroupEntry { binding: 1, resource: blk.za.as_entire_binding() },
                    wgpu::BindGroupEntry { binding: 2, resource: blk.zb.as_entire_binding() },
                    wgpu::BindGroupEntry { binding: 3, resource: blk.targets.as_entire_binding() },
                    wgpu::BindGroupEntry { binding: 4, resource: blk.part.as_entire_binding() },
                ];
                if with_merged {
                    entries.push(wgpu::BindGroupEntry { binding: 5, resource: blk.merged.as_entire_binding() });
                }
                ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
                    label: Some("pair reduction"),
                    layout: &pipe.get_bind_group_layout(0),
                    entries: &entries,
                })
            };
            let (bg_tile, bg_merge) = (bind(&self.tile, false), bind(&self.merge, true));
            let mut enc = ctx.device.create_command_encoder(&Default::default());
            {
                let mut pass = enc.begin_compute_pass(&Default::default());
                pass.set_pipeline(&self.tile);
                pass.set_bind_group(0, &bg_tile, &[]);
                pass.dispatch_workgroups(groups, rows as u32, 1);
                pass.set_pipeline(&self.merge);
                pass.set_bind_group(0, &bg_merge, &[]);
                pass.dispatch_workgroups((rows as u32).div_ceil(THREADS), 1, 1);
            }
            enc.copy_buffer_to_buffer(&blk.merged, 0, &blk.staging, 0, bytes);
            ctx.queue.submit([enc.finish()]);
        })?;
        let raw = ctx.map_read(&blk.staging, bytes)?;
        Ok(parse_pair_rows(&raw, rows, k, top_k))
    }

    /// The kernels on host data (the kernel test against [`crate::pair::reduce::reduce_pair_row`]):
    /// logit rows `za`, `zb` [rows, vocab] and one target per row.
    pub fn reduce_host(
        &self,
        ctx: &GpuContext,
        za: &[f32],
        zb: &[f32],
        targets: &[u32],
        top_k: usize,
    ) -> Result<Vec<PairRowStats>> {
        let rows = targets.len();
        assert!(rows > 0 && za.len() == zb.len() && za.len().is_multiple_of(rows), "two [rows, vocab] blocks");
        assert!(top_k <= LM_KMAX);
        let (vocab, k) = (za.len() / rows, top_k.max(1));
        let blk = Self::block(ctx, rows, vocab, k)?;
        ctx.queue.write_buffer(&blk.za, 0, bytemuck::cast_slice(za));
        ctx.queue.write_buffer(&blk.zb, 0, bytemuck::cast_slice(zb));
        ctx.queue.write_buffer(&blk.targets, 0, bytemuck::cast_slice(targets));
        self.run(ctx, &blk, rows, vocab, k, top_k)
    }
}

/// Models A and B resident on one device, and the pair kernels.
pub struct GpuPair {
    a: GpuModel,
    b: GpuModel,
    reduction: PairReduction,
    device: String,
    /// Most positions per logit block ([`BLOCK_ROWS`]; tests lower it to run many blocks).
    block_rows: usize,
}

impl GpuPair {
    /// Opens adapter `device` (or the best one) and uploads both models to it as `dtype`.
    /// `allow_software`: accept a software adapter (lavapipe).
    pub fn new(a: &Model, b: &Model, device: Option<usize>, dtype: Dtype, allow_software: bool) -> Result<GpuPair> {
        if a.config.vocab_size != b.config.vocab_size {
            return Err(DensiError::Other("a GPU pair needs one vocabulary".into()));
        }
        let ctx = GpuContext::new(device, allow_software)?;
        let device = ctx.describe();
        let ga = GpuModel::new(ctx.clone(), &a.config, &a.weights, dtype)?;
        let gb = GpuModel::new(ctx.clone(), &b.config, &b.weights, dtype)?;
        let mut reduction = PairReduction::new(&ctx)?;
        reduction.caps = [a.config.attention.logit_softcap, b.config.attention.logit_softcap];
        Ok(GpuPair { a: ga, b: gb, reduction, device, block_rows: BLOCK_ROWS })
    }

    /// The adapter, for provenance.
    pub fn device(&self) -> String {
        self.device.clone()
    }

    /// Most positions per logit block (at least 1; tests use a few to run many blocks per window).
    pub fn set_block_rows(&mut self, rows: usize) {
        self.block_rows = rows.max(1);
    }

    /// Both forwards over `window`, then the fused reduction of both lm-heads: statistics for the
    /// targets `window[score_from..]` (natural units, as [`crate::pair::reduce::reduce_pair_row`]).
    pub fn window_rows(&mut self, window: &[u32], score_from: usize, top_k: usize) -> Result<Vec<PairRowStats>> {
        let t = window.len();
        if score_from < 1 || score_from > t {
            return Err(DensiError::Other(format!("score_from {score_from} outside 1..={t}")));
        }
        if top_k > LM_KMAX {
            return Err(DensiError::gpu(
                GpuErrorKind::Unsupported,
                format!("--top-k {top_k}: the GPU pair reduction keeps at most {LM_KMAX} alternatives"),
            ));
        }
        let n = t - score_from;
        if n == 0 {
            return Ok(Vec::new());
        }
        let ctx = self.a.ctx.clone();
        let vocab = self.a.config().vocab_size;
        let (ha, hb) = (self.a.config().hidden_size, self.b.config().hidden_size);
        let k = top_k.max(1); // the argmax at least
        let rows_max = PairReduction::block_rows(&ctx, vocab, k, n.min(self.block_rows));

        // Residual streams [t, h] (before the final norm) of both models.
        let xa = self.a.residual_stream(window)?;
        let xb = self.b.residual_stream(window)?;
        let blk = PairReduction::block(&ctx, rows_max, vocab, k)?;
        // Per model: a block of hidden rows → final norm → logits [rows, vocab] into the block.
        let buf = |len: usize, label: &str| work_buffer(&ctx, len, label);
        let (hid_a, hid_b) = (buf(rows_max * ha, "pair hidden A")?, buf(rows_max * hb, "pair hidden B")?);
        let (nrm_a, nrm_b) = (buf(rows_max * ha, "pair normed A")?, buf(rows_max * hb, "pair normed B")?);
        let mut prog_a = Program::new(&ctx, self.a.kernels(), self.a.logit_steps(&hid_a, &nrm_a, &blk.za), false)?;
        let mut prog_b = Program::new(&ctx, self.b.kernels(), self.b.logit_steps(&hid_b, &nrm_b, &blk.zb), false)?;

        let mut out = Vec::with_capacity(n);
        let mut start = 0;
        while start < n {
            let rows = (n - start).min(rows_max);
            // Hidden row p predicts window[p + 1].
            let first = score_from - 1 + start;
            let shape = |m: &GpuModel| RunShape {
                t: rows as u32,
                past: 0,
                r: rows as u32,
                row0: 0,
                k: 0,
                direct: m.kernels().direct,
                attention_rows: m.kernels().attention_rows,
                tile_rows: m.kernels().tile_rows,
            };
            ctx.scoped("copying the pair's hidden rows", || {
                let mut enc = ctx.device.create_command_encoder(&Default::default());
                enc.copy_buffer_to_buffer(&xa, (first * ha * 4) as u64, &hid_a, 0, (rows * ha * 4) as u64);
                enc.copy_buffer_to_buffer(&xb, (first * hb * 4) as u64, &hid_b, 0, (rows * hb * 4) as u64);
                ctx.queue.write_buffer(&blk.targets, 0, bytemuck::cast_slice(&window[first + 1..first + 1 + rows]));
                ctx.queue.submit([enc.finish()]);
            })?;
            prog_a.run(&ctx, self.a.kernels(), &shape(&self.a), |_| {})?;
            prog_b.run(&ctx, self.b.kernels(), &shape(&self.b), |_| {})?;
            out.extend(self.reduction.run(&ctx, &blk, rows, vocab, k, top_k)?);
            start += rows;
        }
        Ok(out)
    }
}

/// Merged rows [A: m, S₀, S₁, D, count, z_t | B: the same] then A's and B's k × (logit, id) →
/// [`PairRowStats`], through reduce.rs's final formulas in f64.
fn parse_pair_rows(raw: &[u8], rows: usize, k: usize, top_k: usize) -> Vec<PairRowStats> {
    let words: Vec<u32> = raw.chunks_exact(4).map(|c| u32::from_le_bytes(c.try_into().unwrap())).collect();
    let f = |i: usize| f32::from_bits(words[i]);
    let stride = OUT_HEAD + 4 * k;
    (0..rows)
        .map(|row| {
            let o = row * stride;
            let side = |at: usize| SideSums {
                max: f(at) as f64,
                s0: f(at + 1) as f64,
                s1: f(at + 2) as f64,
                d: f(at + 3) as f64,
            };
            let sums = PairSums { a: side(o), b: side(o + 6) };
            let list = |at: usize| -> Vec<(f32, u32)> {
                (0..k).map(|i| (f(at + 2 * i), words[at + 2 * i + 1])).filter(|&(_, id)| id != u32::MAX).collect()
            };
            let (top_a, top_b) = (list(o + OUT_HEAD), list(o + OUT_HEAD + 2 * k));
            pair_row_stats(
                &sums,
                [Some(f(o + 5)), Some(f(o + 11))],
                [words[o + 4], words[o + 10]],
                [&top_a, &top_b],
                top_k,
            )
        })
        .collect()
}
