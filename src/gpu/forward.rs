//! The whole forward pass on the GPU: weights uploaded once, activation buffers and the dispatch
//! program built once per capacity (grown when a longer window or a larger top-k comes), one command
//! encoder / compute pass per window, and only the merged per-token statistics read back.

use wgpu::util::DeviceExt;

use crate::dtype::Dtype;
use crate::error::{DensiError, GpuErrorKind, Result};
use crate::metrics::{BoundaryMask, LogitSums, RowStats, row_stats_from_parts};
use crate::model::config::LayerAttention;
use crate::model::{DType, Linear, Matrix, Mlp, ModelConfig, Norm, NormKind, Weights};
use crate::prefix::{Entry, PrefixCache, ReuseCounts};

use super::context::GpuContext;
use super::contract::{Act, AttentionRows, LM_NO_ID, LM_OUT_HEAD, WeightFormat, bind, lm_out_stride, lm_rec_stride};
use super::kernels::{Kernels, LM_KMAX, LM_REC_PER_BLOCK, LM_VBLOCK, Op, Program, RunShape, Step};

/// A [rows, cols] weight matrix split into row chunks that each fit one storage binding.
pub struct GpuTensor {
    pub chunks: Vec<WeightChunk>,
    pub rows: usize,
    pub cols: usize,
}

/// Rows `row0 .. row0 + rows` of a weight matrix in one buffer, held as `format`.
pub struct WeightChunk {
    pub buf: wgpu::Buffer,
    pub row0: u32,
    pub rows: u32,
    pub format: WeightFormat,
}

/// Largest bytes one storage binding (and one buffer) may hold on this device.
pub fn max_binding(ctx: &GpuContext) -> u64 {
    ctx.limits.max_storage_buffer_binding_size.min(ctx.limits.max_buffer_size)
}

/// Uploads a row-major [rows, cols] f32 matrix as `format` values (F32 or F16), split by rows when
/// it exceeds one binding (or `max_rows` rows, to exercise the split on small tensors). f16 chunks
/// are padded with zeros to whole vec4<f16> (8 bytes): the reader loads 4 halves at a time.
pub fn upload_matrix_split(
    ctx: &GpuContext,
    data: &[f32],
    rows: usize,
    cols: usize,
    format: WeightFormat,
    label: &str,
    max_rows: Option<usize>,
) -> Result<GpuTensor> {
    assert_eq!(data.len(), rows * cols, "{label}: shape");
    if rows == 0 || cols == 0 {
        return Err(DensiError::gpu(GpuErrorKind::Unsupported, format!("{label}: empty tensor [{rows}, {cols}]")));
    }
    let value_bytes = match format {
        WeightFormat::F32 => 4,
        WeightFormat::F16 => 2,
        WeightFormat::Stored(t) => {
            return Err(DensiError::gpu(
                GpuErrorKind::Unsupported,
                format!("{label}: f32 values cannot be uploaded as stored {} blocks", t.name()),
            ));
        }
    };
    let row_bytes = cols as u64 * value_bytes;
    // Keep 8 bytes of room for the padding to whole vec4<f16>.
    let fit = ((max_binding(ctx).saturating_sub(8)) / row_bytes) as usize;
    if fit == 0 {
        return Err(DensiError::gpu(
            GpuErrorKind::Unsupported,
            format!(
                "{label}: one row of {cols} values does not fit the adapter's largest storage binding ({} bytes)",
                max_binding(ctx)
            ),
        ));
    }
    let per_chunk = fit.min(max_rows.unwrap_or(usize::MAX)).max(1);
    let mut chunks = Vec::new();
    let mut row0 = 0usize;
    while row0 < rows {
        let n = per_chunk.min(rows - row0);
        let slice = &data[row0 * cols..(row0 + n) * cols];
        let contents: Vec<u8> = match format {
            WeightFormat::F16 => {
                let mut b: Vec<u8> = slice.iter().flat_map(|&v| half::f16::from_f32(v).to_le_bytes()).collect();
                b.resize(b.len().next_multiple_of(8), 0);
                b
            }
            _ => bytemuck::cast_slice(slice).to_vec(),
        };
        let buf = ctx.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some(label),
            contents: &contents,
            usage: wgpu::BufferUsages::STORAGE,
        });
        chunks.push(WeightChunk { buf, row0: row0 as u32, rows: n as u32, format });
        row0 += n;
    }
    Ok(GpuTensor { chunks, rows, cols })
}

impl GpuTensor {
    /// Bytes of GPU memory its buffers hold.
    pub fn buffer_bytes(&self) -> u64 {
        self.chunks.iter().map(|c| c.buf.size()).sum()
    }
}

/// Uploads a row-major [rows, cols] matrix stored as `dtype` exactly as the file holds it (`bytes`:
/// whole blocks per row), to be unpacked in the shader ([`super::contract::WeightFormat::Stored`]): u32 words, each
/// chunk padded with 4 to 7 zero bytes (the readers' unaligned word reads may touch the word after a
/// chunk's last byte); split by rows when it exceeds one binding (or `max_rows` rows).
pub fn upload_stored(
    ctx: &GpuContext,
    dtype: DType,
    bytes: &[u8],
    rows: usize,
    cols: usize,
    label: &str,
    max_rows: Option<usize>,
) -> Result<GpuTensor> {
    let unsupported = |why: String| Err(DensiError::gpu(GpuErrorKind::Unsupported, format!("{label}: {why}")));
    let (block, block_bytes) = crate::model::dequant::block_layout(dtype);
    if rows == 0 || cols == 0 {
        return unsupported(format!("empty tensor [{rows}, {cols}]"));
    }
    if !cols.is_multiple_of(block) {
        return unsupported(format!("rows of {cols} values are not whole {} blocks of {block}", dtype.name()));
    }
    let row_bytes = cols / block * block_bytes;
    if bytes.len() != rows * row_bytes {
        return unsupported(format!(
            "{} bytes for [{rows}, {cols}] {} (expected {})",
            bytes.len(),
            dtype.name(),
            rows * row_bytes
        ));
    }
    // Element indices are u32 in the shaders.
    let fit_index = (u32::MAX as usize) / cols;
    let fit = (max_binding(ctx).saturating_sub(8) / row_bytes as u64) as usize;
    if fit == 0 {
        return unsupported(format!(
            "one row of {row_bytes} bytes does not fit the adapter's largest storage binding ({} bytes)",
            max_binding(ctx)
        ));
    }
    let per_chunk = fit.min(fit_index).min(max_rows.unwrap_or(usize::MAX)).max(1);
    let mut chunks = Vec::new();
    let mut row0 = 0usize;
    while row0 < rows {
        let n = per_chunk.min(rows - row0);
        let mut contents = bytes[row0 * row_bytes..(row0 + n) * row_bytes].to_vec();
        contents.resize((contents.len() / 4 + 2) * 4, 0);
        let buf = ctx.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some(label),
            contents: &contents,
            usage: wgpu::BufferUsages::STORAGE,
        });
        chunks.push(WeightChunk { buf, row0: row0 as u32, rows: n as u32, format: WeightFormat::Stored(dtype) });
        row0 += n;
    }
    Ok(GpuTensor { chunks, rows, cols })
}

/// How the GPU holds `m` under `--dtype dtype` on an adapter with or without SHADER_F16:
/// [`WeightFormat::for_stored`], plus the one check it leaves to the values: a BF16 tensor with a
/// value beyond f16's range keeps its stored words (exact) instead of f16 ([`bf16_beyond_f16`]).
pub fn weight_format(m: &Matrix, dtype: Dtype, shader_f16: bool) -> WeightFormat {
    match WeightFormat::for_stored(m.dtype(), dtype, shader_f16) {
        WeightFormat::F16 if bf16_beyond_f16(m).is_some() => WeightFormat::Stored(DType::BF16),
        f => f,
    }
}

/// For a BF16 matrix with a finite value beyond f16's range (|v| > 65504), its largest |v|.
pub fn bf16_beyond_f16(m: &Matrix) -> Option<f32> {
    if m.dtype() != DType::BF16 {
        return None;
    }
    let max = m.values().iter().fold(0f32, |a, v| if v.is_finite() { a.max(v.abs()) } else { a });
    (max > f32::from(half::f16::MAX)).then_some(max)
}

/// Uploads the matrices `parts` (same columns) stacked along their rows, each held as
/// [`weight_format`] says: f32 or f16 values, the stored types the shaders unpack as their file
/// bytes, IQ4_NL repacked as Q8_0, the others expanded once. Consecutive parts held alike share one
/// buffer (q, k and v: one matmul); chunks of at most `max_rows` rows if given.
pub fn upload_weights(
    ctx: &GpuContext,
    parts: &[&Matrix],
    dtype: Dtype,
    label: &str,
    max_rows: Option<usize>,
) -> Result<GpuTensor> {
    let cols = parts[0].cols();
    let shader_f16 = ctx.has(wgpu::Features::SHADER_F16);
    let formats: Vec<WeightFormat> = parts.iter().map(|m| weight_format(m, dtype, shader_f16)).collect();
    let mut chunks = Vec::new();
    let mut row0 = 0usize;
    let mut i = 0;
    while i < parts.len() {
        let f = formats[i];
        let n_run = formats[i..].iter().take_while(|&&g| g == f).count();
        let run = &parts[i..i + n_run];
        i += n_run;
        let rows: usize = run.iter().map(|m| m.rows()).sum();
        let part = match f {
            WeightFormat::Stored(t) => {
                let mut bytes = Vec::new();
                for m in run {
                    match m.dtype() {
                        same if same == t => bytes.extend_from_slice(m.stored_bytes()),
                        from => bytes.extend(convert_blocks(from, t, m.stored_bytes(), label)?),
                    }
                }
                upload_stored(ctx, t, &bytes, rows, cols, label, max_rows)?
            }
            _ => {
                // F16 from an F16 file: its values round-trip exactly; from BF16: rounded to nearest.
                let values: std::borrow::Cow<[f32]> = match run {
                    [m] => m.values(),
                    _ => run.iter().flat_map(|m| m.values().into_owned()).collect(),
                };
                upload_matrix_split(ctx, &values, rows, cols, f, label, max_rows)?
            }
        };
        chunks.extend(part.chunks.into_iter().map(|c| WeightChunk { row0: c.row0 + row0 as u32, ..c }));
        row0 += rows;
    }
    Ok(GpuTensor { chunks, rows: row0, cols })
}

/// Bytes the GPU holds for `m` uploaded by [`upload_weights`] under `--dtype dtype`, without the
/// few bytes of padding per buffer: what `densi info` reports before any device is opened (the same
/// with or without SHADER_F16: 16-bit tensors take 2 bytes a value either way).
pub fn upload_bytes(m: &Matrix, dtype: Dtype) -> u64 {
    let values = (m.rows() * m.cols()) as u64;
    match WeightFormat::for_stored(m.dtype(), dtype, true) {
        WeightFormat::Stored(t) => {
            let (block, block_bytes) = crate::model::dequant::block_layout(t);
            values / block as u64 * block_bytes as u64
        }
        WeightFormat::F16 => 2 * values,
        WeightFormat::F32 => 4 * values,
    }
}

/// `blocks` of `from` as blocks of `to`, for the exact once-at-upload conversions that
/// [`WeightFormat::for_stored`] picks: the dequantized values are the same, bit for bit
/// (tests/gpu/resident.rs checks them against the dequantizer).
pub fn convert_blocks(from: DType, to: DType, blocks: &[u8], label: &str) -> Result<Vec<u8>> {
    match (from, to) {
        (DType::IQ4_NL, DType::Q8_0) => Ok(iq4_nl_as_q8_0(blocks)),
        (DType::Q3_K, DType::Q6_K) => Ok(q3_k_as_q6_k(blocks)),
        _ => Err(DensiError::gpu(
            GpuErrorKind::Unsupported,
            format!("{label}: no exact conversion of {} blocks to {}", from.name(), to.name()),
        )),
    }
}

/// IQ4_NL blocks `{ f16 d; u8 qs[16]; }` (y = d · kvalues[nibble]) as Q8_0 blocks `{ f16 d; i8 qs[32]; }`
/// with the same scale and qs = kvalues[nibble], every kvalue an i8: the same products, bit for bit.
/// The table is read back from the dequantizer (d = 1), its one definition.
fn iq4_nl_as_q8_0(blocks: &[u8]) -> Vec<u8> {
    let mut probe = vec![0x00u8, 0x3c]; // f16 1.0
    probe.extend((0u8..16).map(|j| j | (j << 4)));
    let table = crate::model::dequant::dequantize(DType::IQ4_NL, &probe, 32);
    let kv = |nibble: u8| table[nibble as usize] as i8 as u8;
    let mut out = Vec::with_capacity(blocks.len() / 18 * 34);
    for b in blocks.chunks_exact(18) {
        out.extend_from_slice(&b[..2]);
        out.extend(b[2..].iter().map(|&q| kv(q & 0x0f)));
        out.extend(b[2..].iter().map(|&q| kv(q >> 4)));
    }
    out
}

/// Q3_K blocks `{ u8 hmask[32]; u8 qs[64]; u8 scales[12]; f16 d; }` (y = (d · s) · q, s = scale − 32 of
/// element o's sub-block o / 16, q in −4..3) as Q6_K blocks `{ u8 ql[128]; u8 qh[64]; i8 scales[16];
/// f16 d; }` (y = (d · s) · (q6 − 32), sub-block o / 16 too) with the same d, s and q6 = q + 32: the same
/// two f32 products, bit for bit. s and q are read back through the dequantizer (the one definition
/// of Q3_K's packing) with d = 1, where every value is a small exact integer: all quants at 1 give s,
/// the block's own quants s · q (a zero scale keeps q's sign, for the sign of the zero).
fn q3_k_as_q6_k(blocks: &[u8]) -> Vec<u8> {
    use crate::model::dequant::dequantize;
    let one = half::f16::from_f32(1.0).to_le_bytes();
    let mut out = Vec::with_capacity(blocks.len() / 110 * 210);
    for b in blocks.chunks_exact(110) {
        let mut probe = b.to_vec();
        probe[108..110].copy_from_slice(&one);
        let sq = dequantize(DType::Q3_K, &probe, 256);
        probe[..32].fill(0xff); // hmask set: no −4
        probe[32..96].fill(0x55); // every 2-bit low part 1
        let s = dequantize(DType::Q3_K, &probe, 256);
        let mut q6 = [0u8; 256];
        for (o, q) in q6.iter_mut().enumerate() {
            let (si, v) = (s[o - o % 16], sq[o]);
            let q3 = if si != 0.0 {
                v / si
            } else if v.is_sign_negative() {
                -1.0
            } else {
                0.0
            };
            *q = (q3 as i32 + 32) as u8;
        }
        // Q6_K: element o = 128·h + 32·g + l keeps its low 4 bits in nibble g / 2 of ql[64h + l + 32·(g % 2)]
        // and its high 2 bits in bits 2g of qh[32h + l].
        let (mut ql, mut qh) = ([0u8; 128], [0u8; 64]);
        for (o, &q) in q6.iter().enumerate() {
            let (h, g, l) = (o / 128, (o % 128) / 32, o % 32);
            ql[64 * h + l + 32 * (g % 2)] |= (q & 0x0f) << (4 * (g / 2));
            qh[32 * h + l] |= (q >> 4) << (2 * g);
        }
        out.extend_from_slice(&ql);
        out.extend_from_slice(&qh);
        out.extend((0..16).map(|i| s[16 * i] as i8 as u8));
        out.extend_from_slice(&b[108..110]);
    }
    out
}

/// An f32 vector (norm weights, biases, tables) in one storage buffer.
pub fn upload_f32(ctx: &GpuContext, data: &[f32], label: &str) -> Result<wgpu::Buffer> {
    if data.len() as u64 * 4 > max_binding(ctx) {
        return Err(DensiError::gpu(
            GpuErrorKind::Unsupported,
            format!("{label}: {} values exceed the adapter's largest storage binding", data.len()),
        ));
    }
    Ok(ctx.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
        label: Some(label),
        contents: if data.is_empty() { &[0u8; 4] } else { bytemuck::cast_slice(data) },
        usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::COPY_SRC,
    }))
}

/// A zeroed f32/u32 work buffer of `n` elements.
pub fn work_buffer(ctx: &GpuContext, n: usize, label: &str) -> Result<wgpu::Buffer> {
    let bytes = (n as u64 * 4).max(16);
    if bytes > max_binding(ctx) {
        return Err(DensiError::gpu(
            GpuErrorKind::Unsupported,
            format!(
                "{label}: {bytes} bytes exceed the adapter's largest storage binding ({}); use a shorter --window",
                max_binding(ctx)
            ),
        ));
    }
    Ok(ctx.device.create_buffer(&wgpu::BufferDescriptor {
        label: Some(label),
        size: bytes,
        usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::COPY_SRC,
        mapped_at_creation: false,
    }))
}

pub struct GpuLinear {
    pub w: GpuTensor,
    pub bias: Option<wgpu::Buffer>,
    /// out_features, in_features.
    pub n: usize,
    pub k: usize,
}

impl GpuLinear {
    /// `parts` stacked along their output features (missing biases become zeros), weights held as
    /// [`upload_weights`] says.
    pub fn upload(ctx: &GpuContext, parts: &[&Linear], dense: Dtype, label: &str) -> Result<GpuLinear> {
        let k = parts[0].in_features;
        if let Some(p) = parts.iter().find(|p| p.in_features != k) {
            return Err(DensiError::gpu(
                GpuErrorKind::Unsupported,
                format!("{label}: stacked linears of {k} and {} inputs", p.in_features),
            ));
        }
        let weights: Vec<&Matrix> = parts.iter().map(|p| &p.weight).collect();
        let any_bias = parts.iter().any(|p| p.bias.is_some());
        let bias: Vec<f32> =
            parts.iter().flat_map(|p| p.bias.clone().unwrap_or_else(|| vec![0.0; p.out_features])).collect();
        Ok(GpuLinear {
            w: upload_weights(ctx, &weights, dense, label, None)?,
            bias: any_bias.then(|| upload_f32(ctx, &bias, label)).transpose()?,
            n: parts.iter().map(|p| p.out_features).sum(),
            k,
        })
    }

    /// One matmul step per weight chunk: out (=|+=) act(x · Wᵀ + b).
    pub fn steps(
        &self,
        x: &wgpu::Buffer,
        out: &wgpu::Buffer,
        aux: Option<&wgpu::Buffer>,
        act: Act,
        acc: bool,
        dummy: &wgpu::Buffer,
    ) -> Vec<Step> {
        self.w
            .chunks
            .iter()
            .map(|c| Step {
                op: Op::Matmul {
                    n: self.n as u32,
                    k: self.k as u32,
                    n0: c.row0,
                    nc: c.rows,
                    act,
                    has_bias: self.bias.is_some(),
                    acc,
                    rms_eps: None,
                    w: c.format,
                },
                buffers: vec![
                    (bind::matmul::X, x.clone()),
                    (bind::matmul::W, c.buf.clone()),
                    (bind::matmul::BIAS, self.bias.clone().unwrap_or_else(|| dummy.clone())),
                    (bind::matmul::AUX, aux.cloned().unwrap_or_else(|| dummy.clone())),
                    (bind::matmul::OUT, out.clone()),
                    (bind::matmul::NORM, dummy.clone()),
                ],
            })
            .collect()
    }
}

impl GpuLinear {
    /// The fused SwiGLU of a gate-over-up stack held in one chunk: out[:, :n/2] = silu(gate)·up.
    pub fn swiglu_step(&self, x: &wgpu::Buffer, out: &wgpu::Buffer, dummy: &wgpu::Buffer) -> Step {
        self.gated_step(x, out, Act::SwiGlu, dummy)
    }

    /// The fused gated MLP of a gate-over-up stack held in one chunk: out[:, :n/2] = act(gate)·up with
    /// `act` [`Act::SwiGlu`] (silu) or [`Act::GeGlu`] (gelu_tanh).
    pub fn gated_step(&self, x: &wgpu::Buffer, out: &wgpu::Buffer, act: Act, dummy: &wgpu::Buffer) -> Step {
        debug_assert!(self.w.chunks.len() == 1 && self.n.is_multiple_of(2));
        debug_assert!(matches!(act, Act::SwiGlu | Act::GeGlu));
        let c = &self.w.chunks[0];
        Step {
            op: Op::Matmul {
                n: (self.n / 2) as u32,
                k: self.k as u32,
                n0: 0,
                nc: self.n as u32,
                act,
                has_bias: self.bias.is_some(),
                acc: false,
                rms_eps: None,
                w: c.format,
            },
            buffers: vec![
                (bind::matmul::X, x.clone()),
                (bind::matmul::W, c.buf.clone()),
                (bind::matmul::BIAS, self.bias.clone().unwrap_or_else(|| dummy.clone())),
                (bind::matmul::AUX, dummy.clone()),
                (bind::matmul::OUT, out.clone()),
                (bind::matmul::NORM, dummy.clone()),
            ],
        }
    }
}

/// `steps` with `norm` folded in: each matmul (and the lm-head's target and tile kernels)
/// RMS-normalizes its x rows as it loads them, so the separate norm dispatch and its output buffer
/// are not needed (RMSNorm without bias only).
pub fn with_rms_norm(mut steps: Vec<Step>, norm: &GpuNorm) -> Vec<Step> {
    debug_assert!(norm.folds());
    for s in &mut steps {
        let slot = match &mut s.op {
            Op::Matmul { rms_eps, .. } | Op::LmTarget { rms_eps, .. } | Op::LmTile { rms_eps, .. } => {
                *rms_eps = Some(norm.eps);
                if matches!(s.op, Op::Matmul { .. }) { bind::matmul::NORM } else { bind::lm::NORM }
            }
            _ => continue,
        };
        for (b, buf) in &mut s.buffers {
            if *b == slot {
                *buf = norm.weight.clone();
            }
        }
    }
    steps
}

pub struct GpuNorm {
    pub weight: wgpu::Buffer,
    pub bias: Option<wgpu::Buffer>,
    pub layer_norm: bool,
    pub eps: f32,
    pub h: usize,
}

impl GpuNorm {
    pub fn upload(ctx: &GpuContext, n: &Norm, label: &str) -> Result<GpuNorm> {
        Ok(GpuNorm {
            weight: upload_f32(ctx, &n.weight, label)?,
            bias: n.bias.as_deref().map(|b| upload_f32(ctx, b, label)).transpose()?,
            layer_norm: n.kind == NormKind::LayerNorm,
            eps: n.eps,
            h: n.weight.len(),
        })
    }

    /// Whether the following matmul can apply this norm itself ([`with_rms_norm`]): an RMSNorm
    /// without bias (LayerNorm's mean stays a dispatch of its own).
    pub fn folds(&self) -> bool {
        !self.layer_norm && self.bias.is_none()
    }

    /// out[t, h] = norm(x[t, h]).
    pub fn step(&self, x: &wgpu::Buffer, out: &wgpu::Buffer, dummy: &wgpu::Buffer) -> Step {
        self.step_with(x, out, (1, self.h, 0), false, false, dummy)
    }

    /// out[t, h] += norm(x[t, h]): a post-norm (Gemma 2/3) and its residual add in one dispatch.
    pub fn step_acc(&self, x: &wgpu::Buffer, out: &wgpu::Buffer, dummy: &wgpu::Buffer) -> Step {
        self.step_with(x, out, (1, self.h, 0), false, true, dummy)
    }

    /// In place, this [head_dim] norm over each of `heads` heads starting at column `col` of every
    /// `stride`-wide row of `qkv` (the q/k norm of Qwen3 and Gemma 3, before RoPE).
    pub fn heads_step(
        &self,
        qkv: &wgpu::Buffer,
        heads: usize,
        stride: usize,
        col: usize,
        dummy: &wgpu::Buffer,
    ) -> Step {
        self.step_with(dummy, qkv, (heads, stride, col), true, false, dummy)
    }

    /// (heads, stride, col): where the norm rows lie in each token row; see NormParams.
    fn step_with(
        &self,
        x: &wgpu::Buffer,
        out: &wgpu::Buffer,
        (heads, stride, col): (usize, usize, usize),
        in_place: bool,
        acc: bool,
        dummy: &wgpu::Buffer,
    ) -> Step {
        Step {
            op: Op::Norm {
                h: self.h as u32,
                layer_norm: self.layer_norm,
                has_bias: self.bias.is_some(),
                eps: self.eps,
                heads: heads as u32,
                stride: stride as u32,
                col: col as u32,
                in_place,
                acc,
            },
            buffers: vec![
                (bind::norm::X, x.clone()),
                (bind::norm::WEIGHT, self.weight.clone()),
                (bind::norm::BIAS, self.bias.clone().unwrap_or_else(|| dummy.clone())),
                (bind::norm::OUT, out.clone()),
            ],
        }
    }
}

enum GpuMlp {
    /// proj(act(fc(x))): `act` [`Act::GeluNew`] (GPT-2) or [`Act::GeluErf`] (GPT-NeoX).
    Gelu { fc: GpuLinear, proj: GpuLinear, act: Act },
    /// gate stacked over up in one chunk: one matmul computes act(gate)·up, `act` [`Act::SwiGlu`] or
    /// [`Act::GeGlu`].
    GatedFused { gate_up: GpuLinear, down: GpuLinear, act: Act },
    /// gate and up apart (held in different formats, or larger than one binding together): up into
    /// `mlp_up`, then gate with the act(v)·up epilogue, `act` [`Act::SiluMul`] or [`Act::GeluMul`].
    Gated { gate: GpuLinear, up: GpuLinear, down: GpuLinear, act: Act },
}

impl GpuMlp {
    /// A gated MLP (SwiGLU, or GeGLU with `geglu`), gate and up fused when they stack into one chunk
    /// of one format.
    fn gated(
        ctx: &GpuContext,
        (gate, up, down): (&Linear, &Linear, &Linear),
        geglu: bool,
        dense: Dtype,
        label: &str,
    ) -> Result<GpuMlp> {
        let down = GpuLinear::upload(ctx, &[down], dense, &format!("{label}.down"))?;
        let gate_up = GpuLinear::upload(ctx, &[gate, up], dense, &format!("{label}.gate_up"))?;
        if gate_up.w.chunks.len() == 1 {
            let act = if geglu { Act::GeGlu } else { Act::SwiGlu };
            return Ok(GpuMlp::GatedFused { gate_up, down, act });
        }
        drop(gate_up);
        Ok(GpuMlp::Gated {
            gate: GpuLinear::upload(ctx, &[gate], dense, &format!("{label}.gate"))?,
            up: GpuLinear::upload(ctx, &[up], dense, &format!("{label}.up"))?,
            down,
            act: if geglu { Act::GeluMul } else { Act::SiluMul },
        })
    }
}

struct GpuLayer {
    attn_norm: GpuNorm,
    /// q, k and v stacked into one [nh·hd + 2·nkv·hd, hidden] linear: one matmul instead of three.
    qkv: GpuLinear,
    /// [head_dim] RMSNorms of each q and k head, before RoPE (Qwen3, Gemma 3).
    qk_norm: Option<[GpuNorm; 2]>,
    o: GpuLinear,
    /// Norms of the attention and MLP outputs before their residual adds (Gemma 2/3).
    post_norms: Option<[GpuNorm; 2]>,
    mlp_norm: GpuNorm,
    mlp: GpuMlp,
    /// Window, RoPE base, score scale and soft-cap ([`ModelConfig::layer_attention`]).
    attention: LayerAttention,
}

impl GpuLayer {
    /// Its matrices, in forward order.
    fn linears(&self) -> Vec<&GpuLinear> {
        let mut out = vec![&self.qkv, &self.o];
        match &self.mlp {
            GpuMlp::Gelu { fc, proj, .. } => out.extend([fc, proj]),
            GpuMlp::GatedFused { gate_up, down, .. } => out.extend([gate_up, down]),
            GpuMlp::Gated { gate, up, down, .. } => out.extend([gate, up, down]),
        }
        out
    }

    /// Its norms (weights and biases are small buffers of their own).
    fn norms(&self) -> Vec<&GpuNorm> {
        let mut out = vec![&self.attn_norm, &self.mlp_norm];
        out.extend(self.qk_norm.iter().chain(&self.post_norms).flatten());
        out
    }
}

/// Buffers sized for up to `tcap` tokens and top-k ≤ `kcap`, and the program that uses them.
struct Acts {
    tcap: usize,
    kcap: usize,
    /// The RoPE tables hold LongRoPE's long factors (a forward longer than the original context).
    long_rope: bool,
    /// One qkv buffer per layer: after a run they hold the window's keys and values (the prefix
    /// cache's resident entry); else one buffer that every layer overwrites.
    kv_layers: bool,
    ids: wgpu::Buffer,
    targets: wgpu::Buffer,
    /// The residual stream [tcap, h]: after a run, the last layer's output (before the final norm).
    x: wgpu::Buffer,
    merged: wgpu::Buffer,
    staging: wgpu::Buffer,
    program: Program,
    /// Bytes of every buffer created for these activations (the program's included).
    bytes: u64,
}

/// The model on one device.
pub struct GpuModel {
    pub ctx: GpuContext,
    kernels: Kernels,
    cfg: ModelConfig,
    emb: GpuTensor,
    pos: Option<wgpu::Buffer>,
    /// None when tied to `emb`.
    head: Option<GpuTensor>,
    head_bias: Option<wgpu::Buffer>,
    layers: Vec<GpuLayer>,
    final_norm: GpuNorm,
    dummy: wgpu::Buffer,
    /// The word-boundary set, a bitset of ⌈vocab/32⌉ words (empty until [`GpuModel::set_boundary`]).
    boundary: wgpu::Buffer,
    acts: Option<Acts>,
    /// The prefix cache's host side: tokens and row statistics of windows run before, each with the
    /// number of the run that computed it (budget: what `cache_budget` leaves beside the K/V).
    cache: PrefixCache<u64>,
    /// The budget of the whole cache, the per-layer K/V on the device included (0: off, the default
    /// of a bare model).
    cache_budget: usize,
    /// The run whose keys and values the per-layer qkv buffers hold (0: none).
    resident: u64,
    /// Runs so far.
    runs: u64,
    /// The top-k of the cached rows.
    cache_top_k: usize,
    timing: bool,
    last_flops: f64,
    /// How the weights are held, e.g. `Q4_1 + f16` ([`GpuModel::weight_storage`]).
    storage: String,
    /// What the storage choice had to say (a BF16 tensor beyond f16's range kept as stored).
    notes: Vec<String>,
}

impl GpuModel {
    /// Compiles the kernels and uploads the weights (once).
    pub fn new(ctx: GpuContext, cfg: &ModelConfig, w: &Weights, wtype: Dtype) -> Result<GpuModel> {
        GpuModel::with_split(ctx, cfg, w, wtype, None)
    }

    /// As [`GpuModel::new`], splitting the embedding / lm-head into chunks of at most `max_rows` rows
    /// (tests use this to run the multi-chunk path on tiny models).
    pub fn with_split(
        ctx: GpuContext,
        cfg: &ModelConfig,
        w: &Weights,
        wtype: Dtype,
        max_rows: Option<usize>,
    ) -> Result<GpuModel> {
        if cfg.num_kv_heads == 0 || !cfg.num_heads.is_multiple_of(cfg.num_kv_heads) {
            return Err(DensiError::gpu(
                GpuErrorKind::Unsupported,
                format!("{} heads do not group over {} KV heads", cfg.num_heads, cfg.num_kv_heads),
            ));
        }
        let mut kernels = Kernels::new(&ctx, wtype)?;
        kernels.prepare_attention(&ctx, cfg.head_dim)?;
        let (emb, pos, head, head_bias, layers, final_norm, dummy) =
            ctx.scoped("uploading the weights", || -> Result<_> {
                let emb = upload_weights(&ctx, &[&w.token_embedding], wtype, "token_embedding", max_rows)?;
                let pos = w
                    .position_embedding
                    .as_ref()
                    .map(|p| upload_f32(&ctx, &p.values(), "position_embedding"))
                    .transpose()?;
                let head = w
                    .lm_head
                    .as_ref()
                    .map(|l| upload_weights(&ctx, &[&l.weight], wtype, "lm_head", max_rows))
                    .transpose()?;
                let head_bias = w.lm_head_bias().map(|b| upload_f32(&ctx, b, "lm_head.bias")).transpose()?;
                let layers = w
                    .blocks
                    .iter()
                    .enumerate()
                    .map(|(i, b)| -> Result<GpuLayer> {
                        let l = |s: &str| format!("blocks.{i}.{s}");
                        let pair = |norms: &Option<[Norm; 2]>, names: [&str; 2]| -> Result<Option<[GpuNorm; 2]>> {
                            norms
                                .as_ref()
                                .map(|[a, b]| {
                                    Ok([
                                        GpuNorm::upload(&ctx, a, &l(names[0]))?,
                                        GpuNorm::upload(&ctx, b, &l(names[1]))?,
                                    ])
                                })
                                .transpose()
                        };
                        let plain = |fc: &Linear, proj: &Linear, act: Act| -> Result<GpuMlp> {
                            Ok(GpuMlp::Gelu {
                                fc: GpuLinear::upload(&ctx, &[fc], wtype, &l("fc"))?,
                                proj: GpuLinear::upload(&ctx, &[proj], wtype, &l("proj"))?,
                                act,
                            })
                        };
                        Ok(GpuLayer {
                            attn_norm: GpuNorm::upload(&ctx, &b.attn_norm, &l("attn_norm"))?,
                            qkv: GpuLinear::upload(&ctx, &[&b.q, &b.k, &b.v], wtype, &l("qkv"))?,
                            qk_norm: pair(&b.qk_norm, ["q_norm", "k_norm"])?,
                            o: GpuLinear::upload(&ctx, &[&b.o], wtype, &l("o"))?,
                            post_norms: pair(&b.post_norms, ["attn_post_norm", "mlp_post_norm"])?,
                            mlp_norm: GpuNorm::upload(&ctx, &b.mlp_norm, &l("mlp_norm"))?,
                            mlp: match &b.mlp {
                                Mlp::Gelu { fc, proj } => plain(fc, proj, Act::GeluNew)?,
                                Mlp::GeluErf { fc, proj } => plain(fc, proj, Act::GeluErf)?,
                                Mlp::SwiGlu { gate, up, down } => {
                                    GpuMlp::gated(&ctx, (gate, up, down), false, wtype, &l("mlp"))?
                                }
                                Mlp::GeGlu { gate, up, down } => {
                                    GpuMlp::gated(&ctx, (gate, up, down), true, wtype, &l("mlp"))?
                                }
                            },
                            attention: cfg.layer_attention(i),
                        })
                    })
                    .collect::<Result<Vec<_>>>()?;
                let final_norm = GpuNorm::upload(&ctx, &w.final_norm, "final_norm")?;
                let dummy = upload_f32(&ctx, &[0.0; 64], "unused binding")?;
                Ok((emb, pos, head, head_bias, layers, final_norm, dummy))
            })??;
        // The weight-reading kernels of every format the upload chose.
        let tensors = layers.iter().flat_map(|l| l.linears()).map(|l| &l.w).chain([&emb]).chain(head.as_ref());
        let mut formats: Vec<WeightFormat> = Vec::new();
        for format in tensors.flat_map(|t| t.chunks.iter().map(|c| c.format)).collect::<Vec<_>>() {
            kernels.prepare_format(&ctx, format)?;
            if !formats.contains(&format) {
                formats.push(format);
            }
        }
        let storage = formats.iter().map(|f| f.name()).collect::<Vec<_>>().join(" + ");
        let shader_f16 = ctx.has(wgpu::Features::SHADER_F16);
        let notes = w
            .matrices()
            .into_iter()
            .filter(|(_, m)| WeightFormat::for_stored(m.dtype(), wtype, shader_f16) == WeightFormat::F16)
            .filter_map(|(name, m)| {
                bf16_beyond_f16(m).map(|max| {
                    format!("{name}: BF16 weights up to {max:e} do not fit f16 (max 65504); kept as BF16, read exactly in f32")
                })
            })
            .collect();
        let boundary = work_buffer(&ctx, cfg.vocab_size.div_ceil(32), "word-boundary set")?;
        Ok(GpuModel {
            ctx,
            kernels,
            cfg: cfg.clone(),
            emb,
            pos,
            head,
            head_bias,
            layers,
            final_norm,
            dummy,
            boundary,
            acts: None,
            cache: PrefixCache::new(0),
            cache_budget: 0,
            resident: 0,
            runs: 0,
            cache_top_k: 0,
            timing: false,
            last_flops: 0.0,
            storage,
            notes,
        })
    }

    /// How the weight matrices are held on the GPU, the formats in upload order joined by ` + `
    /// (`f32`, `f16`, or a stored type's name: `Q4_1 + Q8_0`): what `--dtype` resolved to.
    pub fn weight_storage(&self) -> &str {
        &self.storage
    }

    /// Warnings from the upload (a BF16 tensor beyond f16's range kept as stored), once.
    pub fn take_notes(&mut self) -> Vec<String> {
        std::mem::take(&mut self.notes)
    }

    /// Matmul / lm-head variant: without workgroup memory (`true`, the default on software adapters) or tiled.
    pub fn set_direct(&mut self, direct: bool) {
        self.kernels.direct = direct;
    }

    /// Attention's row reductions (subgroup shuffles or workgroup memory); compiles the kernel if needed.
    pub fn set_attention_rows(&mut self, rows: AttentionRows) -> Result<()> {
        self.kernels.set_attention_rows(&self.ctx, rows)?;
        self.kernels.prepare_attention(&self.ctx, self.cfg.head_dim)?;
        self.acts = None; // the program's bind groups follow the pipeline
        Ok(())
    }

    /// Compute dispatches the last forward recorded (embedding to lm-head merge).
    pub fn last_dispatches(&self) -> usize {
        self.acts.as_ref().map_or(0, |a| a.program.last_dispatches)
    }

    /// Tiled matmuls: force the tile of this many rows (one of the contract's MM_TILES), or None.
    pub fn set_tile_rows(&mut self, rows: Option<u32>) {
        self.kernels.tile_rows = rows;
    }

    /// Time every kernel with timestamp queries (one compute pass per dispatch) when the adapter can.
    pub fn set_timing(&mut self, on: bool) {
        if self.timing != on {
            self.timing = on;
            self.acts = None;
        }
    }

    /// (kernel, seconds) summed over the last forward, when timing is on and available.
    pub fn kernel_timings(&self) -> Option<Vec<(String, f64)>> {
        self.acts.as_ref().and_then(|a| a.program.last_timings.clone())
    }

    /// Bytes of GPU memory the weight matrices hold (embedding, lm-head, every linear).
    pub fn weight_bytes(&self) -> u64 {
        let layers: u64 = self.layers.iter().flat_map(|l| l.linears()).map(|l| l.w.buffer_bytes()).sum();
        self.emb.buffer_bytes() + self.head.as_ref().map_or(0, |h| h.buffer_bytes()) + layers
    }

    /// Bytes of every GPU buffer this model created: the weights ([`GpuModel::weight_bytes`]), norms,
    /// biases and small tables, and the activations, program parameters and read-back staging of the
    /// current capacity (none before the first forward). Transient read-back buffers are not counted.
    pub fn buffer_bytes(&self) -> u64 {
        let norm = |n: &GpuNorm| n.weight.size() + n.bias.as_ref().map_or(0, |b| b.size());
        let layers: u64 = self
            .layers
            .iter()
            .map(|l| {
                l.norms().into_iter().map(norm).sum::<u64>()
                    + l.linears().iter().map(|x| x.bias.as_ref().map_or(0, |b| b.size())).sum::<u64>()
            })
            .sum();
        let small = [self.pos.as_ref(), self.head_bias.as_ref(), Some(&self.dummy), Some(&self.boundary)]
            .into_iter()
            .flatten()
            .map(|b| b.size())
            .sum::<u64>();
        self.weight_bytes() + layers + norm(&self.final_norm) + small + self.acts.as_ref().map_or(0, |a| a.bytes)
    }

    /// FLOPs of the last forward (matmuls, attention and lm-head), for `densi bench`.
    pub fn last_flops(&self) -> f64 {
        self.last_flops
    }

    /// `seq_len`: the length of the forward the RoPE tables are for (LongRoPE's factors depend on it;
    /// the acts are rebuilt when a forward needs the other factors, see
    /// [`RopeScaling::uses_long_factors`](crate::model::config::RopeScaling::uses_long_factors)).
    /// `kv_layers`: one qkv buffer per layer, kept after the run (the prefix cache's keys and values);
    /// else one buffer every layer reuses.
    fn build(&self, tcap: usize, kcap: usize, seq_len: usize, kv_layers: bool) -> Result<Acts> {
        let long_rope = self.cfg.attention.rope_scaling.uses_long_factors(seq_len);
        let ctx = &self.ctx;
        let cfg = &self.cfg;
        let (h, nh, nkv, hd, inter) =
            (cfg.hidden_size, cfg.num_heads, cfg.num_kv_heads, cfg.head_dim, cfg.intermediate_size);
        let (qd, kvd) = (nh * hd, nkv * hd);
        let stride = qd + 2 * kvd;
        let dummy = &self.dummy;
        let head = self.head.as_ref().unwrap_or(&self.emb);
        let nrec: u32 = head.chunks.iter().map(|c| c.rows.div_ceil(LM_VBLOCK) * LM_REC_PER_BLOCK).sum();
        let rec_stride = lm_rec_stride(kcap);
        let out_stride = lm_out_stride(kcap);

        let ids = work_buffer(ctx, tcap, "ids")?;
        let targets = work_buffer(ctx, tcap, "targets")?;
        let x = work_buffer(ctx, tcap * h, "x")?;
        let xn = work_buffer(ctx, tcap * h, "x_norm")?;
        let qkv_layers = if kv_layers { self.layers.len() } else { 1 };
        let qkvs = (0..qkv_layers).map(|_| work_buffer(ctx, tcap * stride, "qkv")).collect::<Result<Vec<_>>>()?;
        let att = work_buffer(ctx, tcap * qd, "attention")?;
        let up = work_buffer(ctx, tcap * inter, "mlp_up")?;
        // Only the unfused gated MLP needs a second MLP activation (the fused one writes into mlp_up).
        let unfused = self.layers.iter().any(|l| matches!(l.mlp, GpuMlp::Gated { .. }));
        let gate = work_buffer(ctx, if unfused { tcap * inter } else { 1 }, "mlp_gate")?;
        // The parallel residual's MLP input, normed from the block's input before attention adds to it.
        let parallel = cfg.attention.parallel_residual;
        let xn_mlp = work_buffer(ctx, if parallel { tcap * h } else { 1 }, "x_norm_mlp")?;
        // A sublayer's output before its post-norm (Gemma 2/3).
        let post = self.layers.iter().any(|l| l.post_norms.is_some());
        let proj = work_buffer(ctx, if post { tcap * h } else { 1 }, "sublayer_out")?;
        let zt = work_buffer(ctx, tcap, "target_logits")?;
        let part = work_buffer(ctx, tcap * nrec as usize * rec_stride, "lm_head_partials")?;
        let merged = work_buffer(ctx, tcap * out_stride, "lm_head_merged")?;
        let staging = ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("results"),
            size: (tcap * out_stride * 4) as u64,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });

        let mut steps = Vec::new();
        let embed_scale = cfg.embed_scale().unwrap_or(1.0);
        for c in &self.emb.chunks {
            steps.push(Step {
                op: Op::Embed {
                    h: h as u32,
                    row0: c.row0,
                    rows: c.rows,
                    has_pos: self.pos.is_some(),
                    scale: embed_scale,
                    w: c.format,
                },
                buffers: vec![
                    (bind::embed::IDS, ids.clone()),
                    (bind::embed::W, c.buf.clone()),
                    (bind::embed::POS, self.pos.clone().unwrap_or_else(|| dummy.clone())),
                    (bind::embed::OUT, x.clone()),
                ],
            });
        }
        // RoPE tables [tcap, rope_dims/2], one per base the layers use (the CPU's own tables), read by
        // attention as it loads q and k (GPT-2: none).
        let ropes: Vec<(f32, wgpu::Buffer, wgpu::Buffer)> = crate::cpu::rope_tables_for(cfg, tcap, seq_len)
            .into_iter()
            .map(|(theta, (c, s))| Ok((theta, upload_f32(ctx, &c, "rope_cos")?, upload_f32(ctx, &s, "rope_sin")?)))
            .collect::<Result<_>>()?;
        let rot = cfg.rope_dims();
        for (l, layer) in self.layers.iter().enumerate() {
            let la = &layer.attention;
            let qkv = qkvs[l.min(qkvs.len() - 1)].clone();
            // x → the matmul that follows a norm: through x_norm, or with an RMSNorm folded in.
            let normed = |norm: &GpuNorm, steps: &mut Vec<Step>, mm: &dyn Fn(&wgpu::Buffer) -> Vec<Step>| {
                if norm.folds() {
                    steps.extend(with_rms_norm(mm(&x), norm));
                } else {
                    steps.push(norm.step(&x, &xn, dummy));
                    steps.extend(mm(&xn));
                }
            };
            // A sublayer's last matmul into the residual: x += out, or x += post_norm(out).
            let residual =
                |post: Option<&GpuNorm>, steps: &mut Vec<Step>, mm: &dyn Fn(&wgpu::Buffer, bool) -> Vec<Step>| {
                    match post {
                        None => steps.extend(mm(&x, true)),
                        Some(n) => {
                            steps.extend(mm(&proj, false));
                            steps.push(n.step_acc(&proj, &x, dummy));
                        }
                    }
                };
            let (attn_post, mlp_post) = match &layer.post_norms {
                Some([a, m]) => (Some(a), Some(m)),
                None => (None, None),
            };
            normed(&layer.attn_norm, &mut steps, &|a| layer.qkv.steps(a, &qkv, None, Act::None, false, dummy));
            if parallel {
                steps.push(layer.mlp_norm.step(&x, &xn_mlp, dummy));
            }
            if let Some([qn, kn]) = &layer.qk_norm {
                steps.push(qn.heads_step(&qkv, nh, stride, 0, dummy));
                steps.push(kn.heads_step(&qkv, nkv, stride, qd, dummy));
            }
            let rope = ropes.iter().find(|(theta, _, _)| *theta == la.rope_theta);
            let (cos, sin) = rope.map_or_else(|| (dummy.clone(), dummy.clone()), |(_, c, s)| (c.clone(), s.clone()));
            steps.push(Step {
                op: Op::Attention {
                    nh: nh as u32,
                    nkv: nkv as u32,
                    hd: hd as u32,
                    stride: stride as u32,
                    koff: qd as u32,
                    voff: (qd + kvd) as u32,
                    rope: rope.is_some() && rot > 0,
                    rot: rot as u32,
                    scale: la.scale,
                    window: la.window.unwrap_or(0) as u32,
                    softcap: la.softcap.unwrap_or(0.0),
                },
                buffers: vec![
                    (bind::attention::QKV, qkv.clone()),
                    (bind::attention::OUT, att.clone()),
                    (bind::attention::COS, cos),
                    (bind::attention::SIN, sin),
                ],
            });
            residual(attn_post, &mut steps, &|out, acc| layer.o.steps(&att, out, None, Act::None, acc, dummy));
            // The MLP's input matmuls from its normed input (parallel: normed above, before attention).
            let mlp_in = |steps: &mut Vec<Step>, mm: &dyn Fn(&wgpu::Buffer) -> Vec<Step>| {
                if parallel {
                    steps.extend(mm(&xn_mlp));
                } else {
                    normed(&layer.mlp_norm, steps, mm);
                }
            };
            match &layer.mlp {
                GpuMlp::Gelu { fc, proj: p, act } => {
                    mlp_in(&mut steps, &|a| fc.steps(a, &up, None, *act, false, dummy));
                    residual(mlp_post, &mut steps, &|out, acc| p.steps(&up, out, None, Act::None, acc, dummy));
                }
                GpuMlp::GatedFused { gate_up, down, act } => {
                    mlp_in(&mut steps, &|a| vec![gate_up.gated_step(a, &up, *act, dummy)]);
                    residual(mlp_post, &mut steps, &|out, acc| down.steps(&up, out, None, Act::None, acc, dummy));
                }
                GpuMlp::Gated { gate: g, up: u, down, act } => {
                    mlp_in(&mut steps, &|a| {
                        let mut s = u.steps(a, &up, None, Act::None, false, dummy);
                        s.extend(g.steps(a, &gate, Some(&up), *act, false, dummy));
                        s
                    });
                    residual(mlp_post, &mut steps, &|out, acc| down.steps(&gate, out, None, Act::None, acc, dummy));
                }
            }
        }
        // The final norm: folded into the lm-head's x loads (RMSNorm), or a pass of its own (LayerNorm).
        let fold = self.final_norm.folds();
        if !fold {
            steps.push(self.final_norm.step(&x, &xn, dummy));
        }
        let lm = LmBuffers {
            hidden: if fold { &x } else { &xn },
            targets: &targets,
            zt: &zt,
            part: &part,
            merged: &merged,
            boundary: &self.boundary,
        };
        let lm_steps = lm_head_steps(head, self.head_bias.as_ref(), &lm, nrec, cfg.attention.logit_softcap, dummy);
        steps.extend(if fold { with_rms_norm(lm_steps, &self.final_norm) } else { lm_steps });
        let program = Program::new(ctx, &self.kernels, steps, self.timing)?;
        let rope_bytes: u64 = ropes.iter().map(|(_, c, s)| c.size() + s.size()).sum();
        let buffers = [&ids, &targets, &x, &xn, &att, &up, &gate, &xn_mlp, &proj, &zt, &part, &merged, &staging];
        let qkv_bytes: u64 = qkvs.iter().map(|b| b.size()).sum();
        let bytes = buffers.iter().map(|b| b.size()).sum::<u64>() + qkv_bytes + rope_bytes + program.buffer_bytes();
        Ok(Acts { tcap, kcap, long_rope, kv_layers, ids, targets, x, merged, staging, program, bytes })
    }

    /// The word-boundary set every row's `boundary_logprob` reports from now on.
    pub fn set_boundary(&mut self, boundary: &BoundaryMask) -> Result<()> {
        // Cached rows carry the old set's boundary mass.
        self.cache.clear();
        if boundary.vocab() != self.cfg.vocab_size {
            return Err(DensiError::Other(format!(
                "boundary set over {} ids for a vocabulary of {}",
                boundary.vocab(),
                self.cfg.vocab_size
            )));
        }
        self.ctx.queue.write_buffer(&self.boundary, 0, bytemuck::cast_slice(boundary.words()));
        Ok(())
    }

    /// One causal forward over `window` and the statistics of targets `window[score_from..]`.
    pub fn score_window(&mut self, window: &[u32], score_from: usize, top_k: usize) -> Result<Vec<RowStats>> {
        self.score_rows(window, score_from, top_k, false)
    }

    /// [`GpuModel::score_window`], and with `end_row` one more row: the distribution after the last
    /// token (its target is LM_NO_ID: only the sums count). With a prefix cache
    /// ([`GpuModel::set_prefix_cache`]), only the positions after the prefix this window shares with
    /// the last one run are computed, and rows whose target lies in that prefix come from the cache.
    pub fn score_rows(
        &mut self,
        window: &[u32],
        score_from: usize,
        top_k: usize,
        end_row: bool,
    ) -> Result<Vec<RowStats>> {
        if !self.prepare(window, score_from, top_k, end_row)? {
            return Ok(Vec::new());
        }
        let len = window.len();
        if !self.acts.as_ref().is_some_and(|a| a.kv_layers) {
            self.cache.clear();
            self.cache.count(len, len);
            return self.run(window, 0, score_from, top_k, end_row);
        }
        // Cached rows hold top_k alternatives: another top_k starts afresh.
        if top_k != self.cache_top_k {
            self.cache.clear();
            self.cache_top_k = top_k;
        }
        // Any entry can give rows; keys and values only the one whose run the qkv buffers hold.
        let resident = self.resident;
        let on_device = |e: &Entry<u64>| resident != 0 && e.payload == resident;
        let mut plan = self.cache.plan(window, score_from, end_row);
        if plan.past < len && plan.source.is_some_and(|i| !on_device(self.cache.entry(i))) {
            plan = self.cache.plan_among(window, score_from, end_row, on_device);
        }
        if plan.past == len {
            self.cache.count(len, 0);
            self.last_flops = 0.0;
            return Ok(plan.cached);
        }
        // The entry read: its rows whose targets lie in the shared prefix hold for this window too
        // (its K/V past the prefix are overwritten now), and it is dropped if this window extends it.
        let mut rows: Vec<Option<RowStats>> = vec![None; len];
        let mut supersedes = None;
        if let Some(i) = plan.source {
            let entry = self.cache.entry(i);
            for (p, row) in entry.rows.iter().enumerate().take(plan.shared.saturating_sub(1)) {
                rows[p] = row.clone();
            }
            supersedes = (entry.tokens.len() == plan.shared).then_some(i);
        }
        let past = plan.past;
        self.cache.count(len, len - past);
        let computed = self.run(window, past, score_from, top_k, end_row)?;
        let first = score_from - 1;
        for (j, r) in plan.cached.iter().chain(&computed).enumerate() {
            rows[first + j] = Some(r.clone());
        }
        self.runs += 1;
        self.resident = self.runs;
        // The K/V bytes are reserved apart (the host budget is what is left of the budget).
        self.cache.insert(window.to_vec(), rows, self.runs, 0, supersedes);
        let mut out = plan.cached;
        out.extend(computed);
        Ok(out)
    }

    /// Sets the prefix cache's budget in bytes (0: off). The per-layer K/V of the window run last
    /// stay on the device when they fit it ([`GpuModel::kv_bytes`] at the current capacity).
    pub fn set_prefix_cache(&mut self, budget_bytes: usize) {
        self.cache_budget = budget_bytes;
        match &self.acts {
            Some(a) if a.kv_layers == self.keeps_kv(a.tcap) => {
                let host = self.host_budget(a.tcap, a.kv_layers);
                self.cache.set_budget(host);
            }
            // Rebuilt with or without per-layer buffers on the next window (which sets the host budget).
            _ => {
                self.acts = None;
                self.cache.clear();
                self.resident = 0;
            }
        }
    }

    /// Positions asked and computed since the model was made, and the cache's bytes (the per-layer
    /// K/V on the device, and the entries' tokens and rows on the host) and budget.
    pub fn reuse_counts(&self) -> ReuseCounts {
        let kv = self.acts.as_ref().filter(|a| a.kv_layers).map_or(0, |a| self.kv_bytes(a.tcap));
        let c = self.cache.counts();
        ReuseCounts { bytes: c.bytes + kv, budget: self.cache_budget, ..c }
    }

    /// The budget left to the entries' tokens and rows once the per-layer K/V are counted.
    fn host_budget(&self, tcap: usize, kv_layers: bool) -> usize {
        if kv_layers { self.cache_budget - self.kv_bytes(tcap) } else { 0 }
    }

    /// Device bytes of the per-layer qkv buffers at capacity `tcap` (what the prefix cache keeps:
    /// q included, as the qkv matmul writes q, k and v into one row).
    pub fn kv_bytes(&self, tcap: usize) -> usize {
        let cfg = &self.cfg;
        let stride = (cfg.num_heads + 2 * cfg.num_kv_heads) * cfg.head_dim;
        self.layers.len() * tcap * stride * 4
    }

    /// Whether the acts of capacity `tcap` keep per-layer K/V: a cache whose budget holds them.
    fn keeps_kv(&self, tcap: usize) -> bool {
        self.cache_budget > 0 && self.kv_bytes(tcap) <= self.cache_budget
    }

    /// Checks the request and makes the buffers for it (dropping the cache when they are rebuilt);
    /// false when there is no row to score.
    fn prepare(&mut self, window: &[u32], score_from: usize, top_k: usize, end_row: bool) -> Result<bool> {
        let t = window.len();
        if score_from < 1 || score_from > t {
            return Err(DensiError::Other(format!("score_from {score_from} outside 1..={t}")));
        }
        if score_from == t && !end_row {
            return Ok(false);
        }
        if top_k > LM_KMAX {
            return Err(DensiError::gpu(
                GpuErrorKind::Unsupported,
                format!("--top-k {top_k}: the GPU lm-head keeps at most {LM_KMAX} alternatives"),
            ));
        }
        if let Some(&bad) = window.iter().find(|&&id| id as usize >= self.cfg.vocab_size) {
            return Err(DensiError::Other(format!(
                "token id {bad} is outside the vocabulary ({})",
                self.cfg.vocab_size
            )));
        }
        if self.pos.is_some() && t > self.cfg.context_length {
            return Err(DensiError::Other(format!(
                "{t} tokens exceed the {} learned positions",
                self.cfg.context_length
            )));
        }
        self.ctx.check_faults()?;
        // LongRoPE's factors change with the length: new tables, and keys cached under the others
        // do not hold (the rebuild drops them).
        let long_rope = self.cfg.attention.rope_scaling.uses_long_factors(t);
        let need_build = self.acts.as_ref().is_none_or(|a| a.tcap < t || a.kcap < top_k || a.long_rope != long_rope);
        if need_build {
            let tcap = t.next_power_of_two().max(64).min(self.cfg.context_length.max(t));
            let kcap = top_k.max(self.acts.as_ref().map_or(5, |a| a.kcap));
            self.acts = None; // free the old buffers first
            self.cache.clear();
            self.resident = 0;
            let kv_layers = self.keeps_kv(tcap);
            self.cache.set_budget(self.host_budget(tcap, kv_layers));
            self.acts = Some(self.build(tcap, kcap, t, kv_layers)?);
        }
        Ok(true)
    }

    /// The forward over positions `past .. len` of `window` (the K/V of 0 .. past are in the
    /// per-layer qkv buffers already) and the statistics of rows max(score_from − 1, past) ..
    /// (through len − 1 with the end row).
    fn run(
        &mut self,
        window: &[u32],
        past: usize,
        score_from: usize,
        top_k: usize,
        end_row: bool,
    ) -> Result<Vec<RowStats>> {
        let t = window.len();
        // Whatever the qkv buffers held is overwritten from `past` on.
        self.resident = 0;
        let acts = self.acts.as_mut().expect("built by prepare");
        debug_assert!(past == 0 || acts.kv_layers);
        let first = (score_from - 1).max(past);
        let r = t - first - 1 + end_row as usize;
        debug_assert!(r >= 1 && past < t);
        let shape = RunShape {
            t: t as u32,
            past: past as u32,
            r: r as u32,
            row0: first as u32,
            k: top_k as u32,
            direct: self.kernels.direct,
            attention_rows: self.kernels.attention_rows,
            tile_rows: self.kernels.tile_rows,
        };
        self.ctx.queue.write_buffer(&acts.ids, 0, bytemuck::cast_slice(window));
        let mut targets = window[first + 1..].to_vec();
        if end_row {
            targets.push(LM_NO_ID);
        }
        self.ctx.queue.write_buffer(&acts.targets, 0, bytemuck::cast_slice(&targets));
        let out_stride = lm_out_stride(top_k);
        let bytes = (r * out_stride * 4) as u64;
        let (merged, staging) = (acts.merged.clone(), acts.staging.clone());
        acts.program.run(&self.ctx, &self.kernels, &shape, |enc| {
            enc.copy_buffer_to_buffer(&merged, 0, &staging, 0, bytes);
        })?;
        self.last_flops = acts.program.flops(&shape);
        let raw = self.ctx.map_read(&staging, bytes)?;
        let mut rows = parse_merged(&raw, r, top_k);
        if end_row {
            let last = rows.last_mut().expect("r ≥ 1 with the end row");
            (last.target_logprob, last.rank) = (f64::NAN, 0);
        }
        Ok(rows)
    }
}

/// The buffers the lm-head steps bind besides the weights.
pub struct LmBuffers<'a> {
    /// Final hidden states [t, h].
    pub hidden: &'a wgpu::Buffer,
    /// One target id per scored row (LM_NO_ID: a row without a target).
    pub targets: &'a wgpu::Buffer,
    pub zt: &'a wgpu::Buffer,
    pub part: &'a wgpu::Buffer,
    pub merged: &'a wgpu::Buffer,
    /// The word-boundary bitset.
    pub boundary: &'a wgpu::Buffer,
}

/// The lm-head's three kinds of steps for a head split into chunks: target logits, tiles, merge;
/// every logit soft-capped as it is made with `softcap` (Gemma 2's final-logit cap).
pub fn lm_head_steps(
    head: &GpuTensor,
    bias: Option<&wgpu::Buffer>,
    b: &LmBuffers,
    nrec: u32,
    softcap: Option<f32>,
    dummy: &wgpu::Buffer,
) -> Vec<Step> {
    let softcap = softcap.unwrap_or(0.0);
    let LmBuffers { hidden, targets, zt, part, merged, boundary } = *b;
    let h = head.cols as u32;
    let bias_buf = bias.cloned().unwrap_or_else(|| dummy.clone());
    let mut steps = Vec::new();
    for c in &head.chunks {
        steps.push(Step {
            op: Op::LmTarget {
                h,
                v0: c.row0,
                vc: c.rows,
                has_bias: bias.is_some(),
                rms_eps: None,
                softcap,
                w: c.format,
            },
            buffers: vec![
                (bind::lm::X, hidden.clone()),
                (bind::lm::W, c.buf.clone()),
                (bind::lm::BIAS, bias_buf.clone()),
                (bind::lm::TARGETS, targets.clone()),
                (bind::lm::ZT, zt.clone()),
                (bind::lm::NORM, dummy.clone()),
            ],
        });
    }
    let mut block0 = 0;
    for c in &head.chunks {
        steps.push(Step {
            op: Op::LmTile {
                h,
                v0: c.row0,
                vc: c.rows,
                block0,
                nrec,
                has_bias: bias.is_some(),
                rms_eps: None,
                softcap,
                w: c.format,
            },
            buffers: vec![
                (bind::lm::X, hidden.clone()),
                (bind::lm::W, c.buf.clone()),
                (bind::lm::BIAS, bias_buf.clone()),
                (bind::lm::TARGETS, targets.clone()),
                (bind::lm::ZT, zt.clone()),
                (bind::lm::PART, part.clone()),
                (bind::lm::BOUNDARY, boundary.clone()),
                (bind::lm::NORM, dummy.clone()),
            ],
        });
        block0 += c.rows.div_ceil(LM_VBLOCK);
    }
    steps.push(Step {
        op: Op::LmMerge { nrec },
        buffers: vec![(bind::lm::ZT, zt.clone()), (bind::lm::PART, part.clone()), (bind::lm::MERGED, merged.clone())],
    });
    steps
}

/// Rows of [m, S0, S1, S2, count, SB, z_t, k × (logit, id)] (the contract's LM_OUT_HEAD words, then
/// the list) → RowStats, the final formulas in f64.
pub fn parse_merged(raw: &[u8], r: usize, k: usize) -> Vec<RowStats> {
    let words: Vec<u32> = raw.chunks_exact(4).map(|c| u32::from_le_bytes(c.try_into().unwrap())).collect();
    let f = |i: usize| f32::from_bits(words[i]);
    let stride = lm_out_stride(k);
    let head = LM_OUT_HEAD as usize;
    (0..r)
        .map(|row| {
            let o = row * stride;
            let sums = LogitSums {
                max: f(o) as f64,
                s0: f(o + 1) as f64,
                s1: f(o + 2) as f64,
                s2: f(o + 3) as f64,
                sb: f(o + 5) as f64,
            };
            let above = words[o + 4];
            let zt = f(o + 6) as f64;
            let top: Vec<(f32, u32)> = (0..k)
                .map(|i| (f(o + head + 2 * i), words[o + head + 1 + 2 * i]))
                .filter(|&(_, id)| id != LM_NO_ID)
                .collect();
            row_stats_from_parts(&sums, Some(zt), above, &top)
        })
        .collect()
}

/// The pair path ([`super::pair`]): two models' logits reduced together need each model's hidden
/// states and its lm-head as a plain GEMM, on one device.
impl GpuModel {
    /// Runs the layers over `window` and returns the residual stream [t, h] before the final norm
    /// (valid until the next forward of this model). The program is the scoring one with a single
    /// lm-head row (the distribution after the last token, a negligible share of the work).
    pub fn residual_stream(&mut self, window: &[u32]) -> Result<wgpu::Buffer> {
        // A full pass, whatever the prefix cache holds (it needs every position's hidden state).
        self.prepare(window, window.len(), 0, true)?;
        self.run(window, 0, window.len(), 0, true)?;
        Ok(self.acts.as_ref().expect("built by score_rows").x.clone())
    }

    /// logits [t, vocab] = final_norm(x) · lm_headᵀ (+ bias) for `x` [t, h] (t: the run's shape),
    /// the norm written to `normed` [t, h] first: the steps, for a [`Program`] on [`GpuModel::kernels`].
    pub fn logit_steps(&self, x: &wgpu::Buffer, normed: &wgpu::Buffer, logits: &wgpu::Buffer) -> Vec<Step> {
        let head = self.head.as_ref().unwrap_or(&self.emb);
        let dummy = &self.dummy;
        let mut steps = vec![self.final_norm.step(x, normed, dummy)];
        steps.extend(head.chunks.iter().map(|c| Step {
            op: Op::Matmul {
                n: head.rows as u32,
                k: head.cols as u32,
                n0: c.row0,
                nc: c.rows,
                act: Act::None,
                has_bias: self.head_bias.is_some(),
                acc: false,
                rms_eps: None,
                w: c.format,
            },
            buffers: vec![
                (bind::matmul::X, normed.clone()),
                (bind::matmul::W, c.buf.clone()),
                (bind::matmul::BIAS, self.head_bias.clone().unwrap_or_else(|| dummy.clone())),
                (bind::matmul::AUX, dummy.clone()),
                (bind::matmul::OUT, logits.clone()),
                (bind::matmul::NORM, dummy.clone()),
            ],
        }));
        steps
    }

    /// The compiled kernels (every weight format this model's upload chose).
    pub fn kernels(&self) -> &Kernels {
        &self.kernels
    }

    /// The model's configuration.
    pub fn config(&self) -> &ModelConfig {
        &self.cfg
    }
}
