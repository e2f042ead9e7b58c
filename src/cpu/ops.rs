//! CPU reference kernels. Each is a plain function over row-major f32 slices with its shapes in a
//! comment; the GPU kernels are tested against these.

use rayon::prelude::*;

use crate::model::config::{RopeFrequencies, RopeScaling};
use crate::model::{Linear, Norm, NormKind, Weights};

/// out[t, out_f] = x[t, in_f] · Wᵀ + b, with W = `w.weight` [out_f, in_f].
pub fn linear(x: &[f32], t: usize, w: &Linear, out: &mut [f32]) {
    let (k, n) = (w.in_features, w.out_features);
    assert_eq!(x.len(), t * k);
    assert_eq!(out.len(), t * n);
    matmul_transposed(x, t, k, &w.weight.values(), n, out);
    if let Some(b) = &w.bias {
        out.par_chunks_mut(n).for_each(|row| row.iter_mut().zip(b).for_each(|(o, b)| *o += b));
    }
}

/// out[m, n] = a[m, k] · bᵀ with b [n, k] row-major (the nn.Linear layout), using the `gemm` crate's
/// AVX2/FMA kernels on rayon's pool.
pub fn matmul_transposed(a: &[f32], m: usize, k: usize, b: &[f32], n: usize, out: &mut [f32]) {
    assert!(a.len() >= m * k && b.len() >= n * k && out.len() >= m * n);
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        out[..m * n].fill(0.0);
        return;
    }
    gemm_crate_nt(a, k, m, k, b, n, out, n, false);
}

/// The shape check both `nt` GEMMs rely on before their `unsafe` kernels: false when there is nothing
/// to compute (m or n is 0); panics when an operand is shorter than its shape and strides say.
#[allow(clippy::too_many_arguments)]
pub(crate) fn gemm_operands_fit(
    a: &[f32],
    lda: usize,
    m: usize,
    k: usize,
    b: &[f32],
    n: usize,
    out: &[f32],
    ldo: usize,
) -> bool {
    if m == 0 || n == 0 {
        return false;
    }
    assert!(lda >= k && ldo >= n && k > 0);
    assert!(a.len() >= (m - 1) * lda + k && b.len() >= n * k && out.len() >= (m - 1) * ldo + n);
    true
}

/// out[m, n] (row stride ldo) = a[m, k] (row stride lda) · b[n, k]ᵀ, plus out's old value when
/// `accumulate`, through the `gemm` crate (its packing and micro-kernels, on the current rayon pool).
/// [`matmul_transposed`] and the fast forward's GEMMs both come here; [`gemm_crate_raw`] is the crate's one call site.
#[allow(clippy::too_many_arguments)]
pub fn gemm_crate_nt(
    a: &[f32],
    lda: usize,
    m: usize,
    k: usize,
    b: &[f32],
    n: usize,
    out: &mut [f32],
    ldo: usize,
    accumulate: bool,
) {
    if !gemm_operands_fit(a, lda, m, k, b, n, out, ldo) {
        return;
    }
    // SAFETY: the asserts keep every index inside the slices: dst[i, j] at i·ldo + j,
    // lhs[i, l] at i·lda + l, rhs[l, j] = b[j, l] at j·k + l.
    unsafe { gemm_crate_raw(a.as_ptr(), lda, m, k, b.as_ptr(), n, out.as_mut_ptr(), ldo, accumulate, true) }
}

/// [`gemm_crate_nt`] on raw pointers, on rayon's pool when `parallel` (else on the calling thread,
/// for callers that are rayon tasks already).
///
/// # Safety
/// `a` holds rows 0..m (stride lda) of k floats, `b` n rows of k floats, `out` rows 0..m (stride
/// ldo) of n floats; m, n, k > 0.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn gemm_crate_raw(
    a: *const f32,
    lda: usize,
    m: usize,
    k: usize,
    b: *const f32,
    n: usize,
    out: *mut f32,
    ldo: usize,
    accumulate: bool,
    parallel: bool,
) {
    let threads = if parallel { rayon::current_num_threads() } else { 1 };
    let par = if threads > 1 { gemm::Parallelism::Rayon(threads) } else { gemm::Parallelism::None };
    // SAFETY: the caller's bounds: dst[i, j] at i·ldo + j, lhs[i, l] at i·lda + l, rhs[l, j] = b[j, l]
    // at j·k + l.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            out,
            1,
            ldo as isize,
            accumulate,
            a,
            1,
            lda as isize,
            b,
            k as isize,
            1,
            1.0,
            1.0,
            false,
            false,
            false,
            par,
        );
    }
}

/// out[t, h] = norm(x[t, h]); LayerNorm or RMSNorm per `norm.kind`, per row in f32 with a two-pass
/// mean/variance (as PyTorch does).
pub fn norm(x: &[f32], h: usize, norm: &Norm, out: &mut [f32]) {
    out.par_chunks_mut(h).zip(x.par_chunks(h)).for_each(|(o, x)| match norm.kind {
        NormKind::RmsNorm => {
            let ms = x.iter().map(|v| v * v).sum::<f32>() / h as f32;
            let inv = 1.0 / (ms + norm.eps).sqrt();
            for ((o, x), w) in o.iter_mut().zip(x).zip(&norm.weight) {
                *o = x * inv * w;
            }
        }
        NormKind::LayerNorm => {
            let mean = x.iter().sum::<f32>() / h as f32;
            let var = x.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / h as f32;
            let inv = 1.0 / (var + norm.eps).sqrt();
            let bias = norm.bias.as_deref();
            for (i, (o, x)) in o.iter_mut().zip(x).enumerate() {
                *o = (x - mean) * inv * norm.weight[i] + bias.map_or(0.0, |b| b[i]);
            }
        }
    });
}

/// Rotary tables for positions 0..t without scaling: cos/sin [t, head_dim/2], angle = pos ·
/// theta^(−2i/head_dim) ([`rope_tables_of_frequencies`] of [`RopeScaling::None`]).
pub fn rope_tables(t: usize, head_dim: usize, theta: f32) -> (Vec<f32>, Vec<f32>) {
    rope_tables_of_frequencies(t, &RopeScaling::None.frequencies(theta, head_dim, t))
}

/// Rotary tables for positions 0..t: cos/sin [t, inv_freq.len()], angle = pos · inv_freq[i],
/// times the attention factor (YaRN, LongRoPE), computed in f64 so long positions keep their
/// precision.
pub fn rope_tables_of_frequencies(t: usize, freqs: &RopeFrequencies) -> (Vec<f32>, Vec<f32>) {
    let half = freqs.inv_freq.len();
    let mut cos = vec![0.0; t * half];
    let mut sin = vec![0.0; t * half];
    for p in 0..t {
        for (i, inv_freq) in freqs.inv_freq.iter().enumerate() {
            let a = p as f64 * inv_freq;
            cos[p * half + i] = (a.cos() * freqs.attention_factor) as f32;
            sin[p * half + i] = (a.sin() * freqs.attention_factor) as f32;
        }
    }
    (cos, sin)
}

/// In-place rotate-half RoPE (Hugging Face layout) on x[t, heads·head_dim]:
/// (x_i, x_{i+d/2}) ← (x_i cos − x_{i+d/2} sin, x_{i+d/2} cos + x_i sin).
pub fn rope(x: &mut [f32], heads: usize, head_dim: usize, cos: &[f32], sin: &[f32]) {
    rope_dims(x, heads, head_dim, head_dim, cos, sin);
}

/// [`rope`] on the first `rot` dims of each head only (d = rot above; the rest pass through), with
/// tables from [`rope_tables`]`(t, rot, theta)`: GPT-NeoX's partial rotary embeddings.
pub fn rope_dims(x: &mut [f32], heads: usize, head_dim: usize, rot: usize, cos: &[f32], sin: &[f32]) {
    let half = rot / 2;
    x.par_chunks_mut(heads * head_dim).enumerate().for_each(|(p, row)| {
        let (c, s) = (&cos[p * half..(p + 1) * half], &sin[p * half..(p + 1) * half]);
        for head in row.chunks_mut(head_dim) {
            let (a, b) = head[..rot].split_at_mut(half);
            for i in 0..half {
                let (x0, x1) = (a[i], b[i]);
                a[i] = x0 * c[i] - x1 * s[i];
                b[i] = x1 * c[i] + x0 * s[i];
            }
        }
    });
}

/// Causal multi-head attention with grouped KV heads.
/// q [t, nh·hd], k/v [t, nkv·hd] → out [t, nh·hd]; query head h reads KV head h / (nh/nkv).
/// softmax(q·kᵀ/√hd) over keys 0..=i, one query row at a time (never a T×T matrix).
#[allow(clippy::too_many_arguments)]
pub fn attention(q: &[f32], k: &[f32], v: &[f32], t: usize, nh: usize, nkv: usize, hd: usize, out: &mut [f32]) {
    attention_with(q, k, v, t, nh, nkv, hd, 1.0 / (hd as f32).sqrt(), None, None, out);
}

/// [`attention`] with scores s = q·k · `scale` (then c · tanh(s / c) with `softcap = Some(c)`), and
/// with `window = Some(w)` over keys i − w < j ≤ i only (a local, sliding-window layer).
#[allow(clippy::too_many_arguments)]
pub fn attention_with(
    q: &[f32],
    k: &[f32],
    v: &[f32],
    t: usize,
    nh: usize,
    nkv: usize,
    hd: usize,
    scale: f32,
    window: Option<usize>,
    softcap: Option<f32>,
    out: &mut [f32],
) {
    let group = nh / nkv;
    let (qs, kvs) = (nh * hd, nkv * hd);
    assert!(q.len() == t * qs && out.len() == t * qs && k.len() == t * kvs && v.len() == t * kvs);
    out.par_chunks_mut(qs).enumerate().for_each(|(i, out_row)| {
        // Keys first..=i.
        let first = window.map_or(0, |w| (i + 1).saturating_sub(w));
        let mut scores = vec![0.0f32; i + 1 - first];
        for h in 0..nh {
            let kh = h / group;
            let qh = &q[i * qs + h * hd..i * qs + (h + 1) * hd];
            let mut max = f32::NEG_INFINITY;
            for (j, s) in (first..).zip(scores.iter_mut()) {
                let kj = &k[j * kvs + kh * hd..j * kvs + (kh + 1) * hd];
                *s = qh.iter().zip(kj).map(|(a, b)| a * b).sum::<f32>() * scale;
                if let Some(c) = softcap {
                    *s = softcap_value(*s, c);
                }
                max = max.max(*s);
            }
            let mut sum = 0.0;
            for s in scores.iter_mut() {
                *s = (*s - max).exp();
                sum += *s;
            }
            let o = &mut out_row[h * hd..(h + 1) * hd];
            o.fill(0.0);
            for (j, s) in (first..).zip(&scores) {
                let w = s / sum;
                let vj = &v[j * kvs + kh * hd..j * kvs + (kh + 1) * hd];
                for (o, v) in o.iter_mut().zip(vj) {
                    *o += w * v;
                }
            }
        }
    });
}

/// x[t, h] = token_embedding[ids] (+ position_embedding[0..t] for GPT-2). Only the rows the ids
/// name are read (and dequantized, for a stored embedding).
pub fn embed(ids: &[u32], w: &Weights, h: usize) -> Vec<f32> {
    let mut x = vec![0.0f32; ids.len() * h];
    let pos = w.position_embedding.as_ref().map(|p| {
        let mut rows = vec![0.0f32; ids.len() * h];
        p.dequant_rows(0..ids.len(), &mut rows);
        rows
    });
    x.par_chunks_mut(h).enumerate().for_each(|(p, row)| {
        let id = ids[p] as usize;
        w.token_embedding.dequant_rows(id..id + 1, row);
        if let Some(pos) = &pos {
            row.iter_mut().zip(&pos[p * h..(p + 1) * h]).for_each(|(a, b)| *a += b);
        }
    });
    x
}

/// GPT-2's tanh approximation of GELU ("gelu_new"), in place.
pub fn gelu_new(x: &mut [f32]) {
    x.par_iter_mut().for_each(|v| *v = gelu_tanh(*v));
}

/// The exact GELU (PyTorch's `gelu`, GPT-NeoX's `hidden_act: gelu`), in place:
/// 0.5·x·(1 + erf(x/√2)), erf from `libm` in f32 as PyTorch computes it.
pub fn gelu_erf(x: &mut [f32]) {
    x.par_iter_mut().for_each(|v| *v = 0.5 * *v * (1.0 + libm::erff(*v * std::f32::consts::FRAC_1_SQRT_2)));
}

/// The tanh approximation of GELU (GPT-2's `gelu_new`, PyTorch's `gelu(approximate="tanh")`, Gemma's
/// `gelu_pytorch_tanh`): 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))).
#[inline]
pub fn gelu_tanh(x: f32) -> f32 {
    const C: f32 = 0.797_884_6; // sqrt(2/π)
    0.5 * x * (1.0 + (C * (x + 0.044715 * x * x * x)).tanh())
}

/// gate ← gelu_tanh(gate) · up, elementwise (GeGLU, Gemma's MLP).
pub fn gelu_mul(gate: &mut [f32], up: &[f32]) {
    gate.par_iter_mut().zip(up).for_each(|(g, u)| *g = gelu_tanh(*g) * u);
}

/// In place, an RMSNorm over each of `heads` heads of `hd` values starting at column `col` of every
/// row of x (row stride `ld`), with `norm`'s `[hd]` weight: the q/k norms of Qwen3 and Gemma 3.
pub fn rms_norm_heads(x: &mut [f32], ld: usize, col: usize, heads: usize, hd: usize, norm: &Norm) {
    assert!(norm.kind == NormKind::RmsNorm && norm.weight.len() == hd && col + heads * hd <= ld);
    x.par_chunks_mut(ld).for_each(|row| {
        for head in row[col..col + heads * hd].chunks_exact_mut(hd) {
            let ms = head.iter().map(|v| v * v).sum::<f32>() / hd as f32;
            let inv = 1.0 / (ms + norm.eps).sqrt();
            for (x, w) in head.iter_mut().zip(&norm.weight) {
                *x = *x * inv * w;
            }
        }
    });
}

/// Tanh soft-capping (Gemma 2), as transformers computes it: c · tanh(x / c).
#[inline]
pub fn softcap_value(x: f32, c: f32) -> f32 {
    (x / c).tanh() * c
}

/// x ← c · tanh(x / c), elementwise (Gemma 2's final logits).
pub fn softcap_in_place(x: &mut [f32], c: f32) {
    x.iter_mut().for_each(|v| *v = softcap_value(*v, c));
}

/// x ← x · s, elementwise (Gemma's embedding scale).
pub fn scale_in_place(x: &mut [f32], s: f32) {
    x.par_iter_mut().for_each(|v| *v *= s);
}

/// gate ← silu(gate) · up, elementwise (SwiGLU).
pub fn silu_mul(gate: &mut [f32], up: &[f32]) {
    gate.par_iter_mut().zip(up).for_each(|(g, u)| *g = *g / (1.0 + (-*g).exp()) * u);
}

/// x ← x + y, elementwise (residual).
pub fn add_in_place(x: &mut [f32], y: &[f32]) {
    x.par_iter_mut().zip(y).for_each(|(a, b)| *a += b);
}
