//! Single kernels on host data, through the same pipelines, steps and executor as the model's
//! forward pass. The kernel tests (`tests/gpu_kernels.rs`) compare these with `crate::cpu::ops`.

use crate::dtype::Dtype;
use crate::error::{DensiError, Result};
use crate::metrics::{BoundaryMask, RowStats};
use crate::model::{DType, Linear, Norm};

use super::context::GpuContext;
use super::contract::{AttentionRows, LM_NO_ID, WeightFormat, bind, lm_out_stride, lm_rec_stride};
use super::forward::{
    GpuLinear, GpuNorm, GpuTensor, LmBuffers, lm_head_steps, parse_merged, upload_f32, upload_matrix_split,
    upload_stored, with_rms_norm, work_buffer,
};
use super::kernels::{Kernels, LM_REC_PER_BLOCK, LM_VBLOCK, Op, Program, RunShape, Step};

pub use super::contract::Act;

pub struct GpuOps {
    pub ctx: GpuContext,
    kernels: Kernels,
    dummy: wgpu::Buffer,
    /// The RMSNorm the matmul ops fold in ([`GpuOps::set_rms_norm`]).
    rms_norm: Option<GpuNorm>,
}

impl GpuOps {
    pub fn new(ctx: GpuContext, wtype: Dtype) -> Result<GpuOps> {
        let kernels = Kernels::new(&ctx, wtype)?;
        let dummy = upload_f32(&ctx, &[0.0; 64], "unused binding")?;
        Ok(GpuOps { ctx, kernels, dummy, rms_norm: None })
    }

    /// Ops on the weights of `format` (the stored-block formats: [`GpuOps::linear_stored`],
    /// [`GpuOps::lm_head_stored`]).
    pub fn for_format(ctx: GpuContext, format: WeightFormat) -> Result<GpuOps> {
        let kernels = Kernels::for_format(&ctx, format)?;
        let dummy = upload_f32(&ctx, &[0.0; 64], "unused binding")?;
        Ok(GpuOps { ctx, kernels, dummy, rms_norm: None })
    }

    /// The dtype f32 host weights are uploaded as (the ops built with [`GpuOps::new`]).
    fn dense(&self) -> Result<Dtype> {
        match self.kernels.format {
            WeightFormat::F32 => Ok(Dtype::F32),
            WeightFormat::F16 => Ok(Dtype::F16),
            WeightFormat::Stored(t) => {
                Err(DensiError::Other(format!("these ops read {} blocks: use the *_stored functions", t.name())))
            }
        }
    }

    fn stored(&self) -> Result<DType> {
        match self.kernels.format {
            WeightFormat::Stored(t) => Ok(t),
            f => Err(DensiError::Other(format!("these ops read {f:?} weights, not stored blocks"))),
        }
    }

    /// out[t, n] = x[t, k] · Wᵀ with W [n, k] given as the bytes of its stored type (the ops'
    /// format), unpacked in the shader; W split into chunks of `max_rows` rows if given.
    pub fn linear_stored(
        &self,
        x: &[f32],
        t: usize,
        w: &[u8],
        n: usize,
        k: usize,
        max_rows: Option<usize>,
    ) -> Result<Vec<f32>> {
        let lin = GpuLinear { w: upload_stored(&self.ctx, self.stored()?, w, n, k, "w", max_rows)?, bias: None, n, k };
        let xb = upload_f32(&self.ctx, x, "x")?;
        let out = work_buffer(&self.ctx, t * n, "out")?;
        self.run(self.normed(lin.steps(&xb, &out, None, Act::None, false, &self.dummy)), self.shape(t))?;
        self.read(&out, t * n)
    }

    /// From now on the matmul ops ([`GpuOps::linear`], [`GpuOps::linear_stored`], [`GpuOps::swiglu`],
    /// [`GpuOps::swiglu_stored`]) and the lm-head ops ([`GpuOps::lm_head`], ...) compute with
    /// `norm(x)` for x, this RMSNorm folded into their x loads, as the forward does for llama-style
    /// blocks and the final norm (None: plain x).
    pub fn set_rms_norm(&mut self, norm: Option<&Norm>) -> Result<()> {
        self.rms_norm = norm.map(|n| GpuNorm::upload(&self.ctx, n, "rms_norm")).transpose()?;
        if let Some(n) = &self.rms_norm
            && !n.folds()
        {
            return Err(DensiError::Other("only an RMSNorm without bias folds into a matmul".into()));
        }
        Ok(())
    }

    fn normed(&self, steps: Vec<Step>) -> Vec<Step> {
        match &self.rms_norm {
            Some(n) => with_rms_norm(steps, n),
            None => steps,
        }
    }

    fn run(&self, steps: Vec<Step>, shape: RunShape) -> Result<()> {
        let mut prog = Program::new(&self.ctx, &self.kernels, steps, false)?;
        prog.run(&self.ctx, &self.kernels, &shape, |_| {})
    }

    fn read(&self, buf: &wgpu::Buffer, n: usize) -> Result<Vec<f32>> {
        let raw = self.ctx.read_back(buf, n as u64 * 4)?;
        Ok(raw.chunks_exact(4).take(n).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect())
    }

    fn shape(&self, t: usize) -> RunShape {
        RunShape {
            t: t as u32,
            past: 0,
            r: 0,
            row0: 0,
            k: 0,
            direct: self.kernels.direct,
            attention_rows: self.kernels.attention_rows,
            tile_rows: self.kernels.tile_rows,
        }
    }

    /// Matmuls without workgroup memory (the software-adapter variant) or tiled.
    pub fn set_direct(&mut self, direct: bool) {
        self.kernels.direct = direct;
    }

    /// Tiled matmuls: force the tile of this many rows (one of the contract's MM_TILES), or None.
    pub fn set_tile_rows(&mut self, rows: Option<u32>) {
        self.kernels.tile_rows = rows;
    }

    /// out[t, n] = act(x[t, k] · Wᵀ + b) (+ residual); W split into chunks of `max_rows` rows if given.
    #[allow(clippy::too_many_arguments)]
    pub fn linear(
        &self,
        x: &[f32],
        t: usize,
        l: &Linear,
        act: Act,
        aux: Option<&[f32]>,
        residual: Option<&[f32]>,
        max_rows: Option<usize>,
    ) -> Result<Vec<f32>> {
        let (n, k) = (l.out_features, l.in_features);
        let lin = GpuLinear {
            w: upload_matrix_split(&self.ctx, &l.weight.values(), n, k, self.dense()?.into(), "w", max_rows)?,
            bias: l.bias.as_deref().map(|b| upload_f32(&self.ctx, b, "b")).transpose()?,
            n,
            k,
        };
        let xb = upload_f32(&self.ctx, x, "x")?;
        let out = match residual {
            Some(r) => upload_f32(&self.ctx, r, "out")?,
            None => work_buffer(&self.ctx, t * n, "out")?,
        };
        let auxb = aux.map(|a| upload_f32(&self.ctx, a, "aux")).transpose()?;
        let steps = lin.steps(&xb, &out, auxb.as_ref(), act, residual.is_some(), &self.dummy);
        self.run(self.normed(steps), self.shape(t))?;
        self.read(&out, t * n)
    }

    /// out[t, n] = silu(x·gateᵀ + b_g) · (x·upᵀ + b_u) in one matmul over gate stacked on up (the
    /// forward's fused SwiGLU), weights uploaded as the model's are.
    pub fn swiglu(&self, x: &[f32], t: usize, gate: &Linear, up: &Linear) -> Result<Vec<f32>> {
        let lin = GpuLinear::upload(&self.ctx, &[gate, up], self.dense()?, "gate_up")?;
        self.run_swiglu(x, t, lin)
    }

    /// [`GpuOps::swiglu`] with gate and up [n, k] given as the bytes of their stored type (the ops'
    /// format), stacked by concatenation as the model upload does.
    pub fn swiglu_stored(&self, x: &[f32], t: usize, gate: &[u8], up: &[u8], n: usize, k: usize) -> Result<Vec<f32>> {
        let w = upload_stored(&self.ctx, self.stored()?, &[gate, up].concat(), 2 * n, k, "gate_up", None)?;
        self.run_swiglu(x, t, GpuLinear { w, bias: None, n: 2 * n, k })
    }

    fn run_swiglu(&self, x: &[f32], t: usize, lin: GpuLinear) -> Result<Vec<f32>> {
        if lin.w.chunks.len() != 1 {
            return Err(DensiError::Other("gate and up do not stack into one chunk".into()));
        }
        let n = lin.n / 2;
        let xb = upload_f32(&self.ctx, x, "x")?;
        let out = work_buffer(&self.ctx, t * n, "out")?;
        self.run(self.normed(vec![lin.swiglu_step(&xb, &out, &self.dummy)]), self.shape(t))?;
        self.read(&out, t * n)
    }

    pub fn norm(&self, x: &[f32], h: usize, norm: &Norm) -> Result<Vec<f32>> {
        let t = x.len() / h;
        let n = GpuNorm::upload(&self.ctx, norm, "norm")?;
        let xb = upload_f32(&self.ctx, x, "x")?;
        let out = work_buffer(&self.ctx, t * h, "out")?;
        self.run(vec![n.step(&xb, &out, &self.dummy)], self.shape(t))?;
        self.read(&out, t * h)
    }

    /// out[t, h] = E[ids[t]] (+ P[t]); E [vocab, h] split into chunks of `max_rows` rows if given.
    pub fn embed(
        &self,
        ids: &[u32],
        emb: &[f32],
        vocab: usize,
        h: usize,
        pos: Option<&[f32]>,
        max_rows: Option<usize>,
    ) -> Result<Vec<f32>> {
        let t = ids.len();
        let e = upload_matrix_split(&self.ctx, emb, vocab, h, self.dense()?.into(), "emb", max_rows)?;
        let idb = work_buffer(&self.ctx, t, "ids")?;
        self.ctx.queue.write_buffer(&idb, 0, bytemuck::cast_slice(ids));
        let pb = pos.map(|p| upload_f32(&self.ctx, p, "pos")).transpose()?;
        let out = work_buffer(&self.ctx, t * h, "out")?;
        let steps = e
            .chunks
            .iter()
            .map(|c| Step {
                op: Op::Embed {
                    h: h as u32,
                    row0: c.row0,
                    rows: c.rows,
                    has_pos: pos.is_some(),
                    scale: 1.0,
                    w: c.format,
                },
                buffers: vec![
                    (bind::embed::IDS, idb.clone()),
                    (bind::embed::W, c.buf.clone()),
                    (bind::embed::POS, pb.clone().unwrap_or_else(|| self.dummy.clone())),
                    (bind::embed::OUT, out.clone()),
                ],
            })
            .collect();
        self.run(steps, self.shape(t))?;
        self.read(&out, t * h)
    }

    /// Packs q [t, nh·hd], k and v [t, nkv·hd] into the fused qkv layout [t, nh·hd + 2·nkv·hd].
    fn pack_qkv(q: &[f32], k: &[f32], v: &[f32], t: usize, qd: usize, kvd: usize) -> Vec<f32> {
        let mut out = Vec::with_capacity(t * (qd + 2 * kvd));
        for p in 0..t {
            out.extend_from_slice(&q[p * qd..(p + 1) * qd]);
            out.extend_from_slice(&k[p * kvd..(p + 1) * kvd]);
            out.extend_from_slice(&v[p * kvd..(p + 1) * kvd]);
        }
        out
    }

    /// Attention's row reductions (subgroup shuffles or workgroup memory), to force either in tests.
    pub fn set_attention_rows(&mut self, rows: AttentionRows) -> Result<()> {
        self.kernels.set_attention_rows(&self.ctx, rows)
    }

    /// Causal GQA attention: q [t, nh·hd], k/v [t, nkv·hd] → [t, nh·hd]; with `rope` = (cos, sin)
    /// tables [t, hd/2], q and k are rotated (rotate-half) as the kernel loads them.
    #[allow(clippy::too_many_arguments)]
    pub fn attention(
        &mut self,
        q: &[f32],
        k: &[f32],
        v: &[f32],
        t: usize,
        nh: usize,
        nkv: usize,
        hd: usize,
        rope: Option<(&[f32], &[f32])>,
    ) -> Result<Vec<f32>> {
        let how = AttentionOptions { rope: rope.map(|(c, s)| (c, s, hd)), ..AttentionOptions::plain(hd) };
        self.attention_with(q, k, v, t, nh, nkv, hd, &how)
    }

    /// [`GpuOps::attention`] with a layer's options (`cpu::ops::attention_with` is its oracle).
    #[allow(clippy::too_many_arguments)]
    pub fn attention_with(
        &mut self,
        q: &[f32],
        k: &[f32],
        v: &[f32],
        t: usize,
        nh: usize,
        nkv: usize,
        hd: usize,
        how: &AttentionOptions,
    ) -> Result<Vec<f32>> {
        self.kernels.prepare_attention(&self.ctx, hd)?;
        let (qd, kvd) = (nh * hd, nkv * hd);
        let qkv = upload_f32(&self.ctx, &Self::pack_qkv(q, k, v, t, qd, kvd), "qkv")?;
        let out = work_buffer(&self.ctx, t * qd, "out")?;
        let (cos, sin, rot) = match how.rope {
            Some((c, s, rot)) => (upload_f32(&self.ctx, c, "cos")?, upload_f32(&self.ctx, s, "sin")?, rot),
            None => (self.dummy.clone(), self.dummy.clone(), 0),
        };
        let step = Step {
            op: Op::Attention {
                nh: nh as u32,
                nkv: nkv as u32,
                hd: hd as u32,
                stride: (qd + 2 * kvd) as u32,
                koff: qd as u32,
                voff: (qd + kvd) as u32,
                rope: how.rope.is_some(),
                rot: rot as u32,
                scale: how.scale,
                window: how.window.unwrap_or(0) as u32,
                softcap: how.softcap.unwrap_or(0.0),
            },
            buffers: vec![
                (bind::attention::QKV, qkv),
                (bind::attention::OUT, out.clone()),
                (bind::attention::COS, cos),
                (bind::attention::SIN, sin),
            ],
        };
        self.run(vec![step], self.shape(t))?;
        self.read(&out, t * qd)
    }

    /// The fused lm-head reduction: for each i in score_from..ids.len(), the statistics of
    /// logits = hidden[i − 1] · headᵀ + bias with respect to ids[i]. hidden [t, h], head [vocab, h].
    #[allow(clippy::too_many_arguments)]
    pub fn lm_head(
        &self,
        hidden: &[f32],
        h: usize,
        head: &[f32],
        vocab: usize,
        bias: Option<&[f32]>,
        ids: &[u32],
        score_from: usize,
        top_k: usize,
        max_rows: Option<usize>,
    ) -> Result<Vec<RowStats>> {
        let empty = BoundaryMask::empty(vocab);
        self.lm_head_rows(hidden, h, head, vocab, bias, ids, score_from, top_k, max_rows, &empty, false)
    }

    /// [`GpuOps::lm_head`] with the mass over `boundary` in every row, and with `end_row` one more
    /// row last: the logits of hidden[ids.len() − 1], without a target (NaN log-probability, rank 0).
    #[allow(clippy::too_many_arguments)]
    pub fn lm_head_rows(
        &self,
        hidden: &[f32],
        h: usize,
        head: &[f32],
        vocab: usize,
        bias: Option<&[f32]>,
        ids: &[u32],
        score_from: usize,
        top_k: usize,
        max_rows: Option<usize>,
        boundary: &BoundaryMask,
        end_row: bool,
    ) -> Result<Vec<RowStats>> {
        let w = upload_matrix_split(&self.ctx, head, vocab, h, self.dense()?.into(), "head", max_rows)?;
        self.lm_head_on(&w, hidden, bias, ids, score_from, top_k, boundary, end_row)
    }

    /// [`GpuOps::lm_head`] with the head [vocab, h] given as the bytes of its stored type (the ops'
    /// format), unpacked in the shader.
    #[allow(clippy::too_many_arguments)]
    pub fn lm_head_stored(
        &self,
        hidden: &[f32],
        h: usize,
        head: &[u8],
        vocab: usize,
        ids: &[u32],
        score_from: usize,
        top_k: usize,
        max_rows: Option<usize>,
    ) -> Result<Vec<RowStats>> {
        let w = upload_stored(&self.ctx, self.stored()?, head, vocab, h, "head", max_rows)?;
        self.lm_head_on(&w, hidden, None, ids, score_from, top_k, &BoundaryMask::empty(vocab), false)
    }

    #[allow(clippy::too_many_arguments)]
    fn lm_head_on(
        &self,
        w: &GpuTensor,
        hidden: &[f32],
        bias: Option<&[f32]>,
        ids: &[u32],
        score_from: usize,
        top_k: usize,
        boundary: &BoundaryMask,
        end_row: bool,
    ) -> Result<Vec<RowStats>> {
        let t = ids.len();
        let r = t - score_from + end_row as usize;
        let nrec: u32 = w.chunks.iter().map(|c| c.rows.div_ceil(LM_VBLOCK) * LM_REC_PER_BLOCK).sum();
        let xb = upload_f32(&self.ctx, hidden, "hidden")?;
        let bb = bias.map(|b| upload_f32(&self.ctx, b, "bias")).transpose()?;
        let targets = work_buffer(&self.ctx, r, "targets")?;
        let mut target_ids = ids[score_from..].to_vec();
        if end_row {
            target_ids.push(LM_NO_ID);
        }
        self.ctx.queue.write_buffer(&targets, 0, bytemuck::cast_slice(&target_ids));
        let bits = work_buffer(&self.ctx, boundary.words().len(), "boundary")?;
        self.ctx.queue.write_buffer(&bits, 0, bytemuck::cast_slice(boundary.words()));
        let zt = work_buffer(&self.ctx, r, "zt")?;
        let part = work_buffer(&self.ctx, r * nrec as usize * lm_rec_stride(top_k), "part")?;
        let merged = work_buffer(&self.ctx, r * lm_out_stride(top_k), "merged")?;
        let lm = LmBuffers { hidden: &xb, targets: &targets, zt: &zt, part: &part, merged: &merged, boundary: &bits };
        let steps = self.normed(lm_head_steps(w, bb.as_ref(), &lm, nrec, None, &self.dummy));
        let shape = RunShape {
            t: t as u32,
            past: 0,
            r: r as u32,
            row0: (score_from - 1) as u32,
            k: top_k as u32,
            direct: self.kernels.direct,
            attention_rows: self.kernels.attention_rows,
            tile_rows: self.kernels.tile_rows,
        };
        let mut prog = Program::new(&self.ctx, &self.kernels, steps, false)?;
        prog.run(&self.ctx, &self.kernels, &shape, |_| {})?;
        let raw = self.ctx.read_back(&merged, (r * lm_out_stride(top_k) * 4) as u64)?;
        let mut rows = parse_merged(&raw, r, top_k);
        if end_row {
            let last = rows.last_mut().expect("r ≥ 1 with the end row");
            (last.target_logprob, last.rank) = (f64::NAN, 0);
        }
        Ok(rows)
    }
}

/// One layer's attention options for [`GpuOps::attention_with`].
#[derive(Debug, Clone, Copy)]
pub struct AttentionOptions<'a> {
    /// (cos, sin, rot): tables [t, rot/2] rotating the first `rot` dims of each head.
    pub rope: Option<(&'a [f32], &'a [f32], usize)>,
    /// Factor on q·k.
    pub scale: f32,
    /// Keys within the last `window` positions only.
    pub window: Option<usize>,
    /// Scores soft-capped c · tanh(s / c).
    pub softcap: Option<f32>,
}

impl AttentionOptions<'_> {
    /// No RoPE, scale 1/√hd, no window, no cap.
    pub fn plain(hd: usize) -> Self {
        AttentionOptions { rope: None, scale: 1.0 / (hd as f32).sqrt(), window: None, softcap: None }
    }
}
