//! The one conversion from stored bytes to f32: F32/F16/BF16 element by element, the GGML block
//! types through their block layouts (`gguf::quants`). Blocks are independent, so the work is
//! split over rayon in whole blocks; the result does not depend on the split.

use rayon::prelude::*;

use super::gguf::quants;
use super::source::{DType, TensorView};

/// Work per rayon task: at least 4096 blocks and 65536 elements, enough to amortise scheduling
/// and small enough to balance 2+ cores.
fn blocks_per_task(block: usize) -> usize {
    4096.max(65536 / block)
}

/// `(elements, bytes)` of one block (1 element for the float types).
pub fn block_layout(dtype: DType) -> (usize, usize) {
    quants::block_layout(dtype)
}

/// Converts `n` elements of `dtype` stored in `data` (exactly `n / block · block_bytes` bytes,
/// `n` a whole number of blocks) to f32.
pub fn dequantize(dtype: DType, data: &[u8], n: usize) -> Vec<f32> {
    let mut out = vec![0f32; n];
    dequantize_par_into(dtype, data, &mut out);
    out
}

/// [`dequantize`] into `out` (`out.len()` elements, a whole number of blocks), in parallel.
pub fn dequantize_par_into(dtype: DType, data: &[u8], out: &mut [f32]) {
    let (block, bytes) = block_layout(dtype);
    assert!(out.len().is_multiple_of(block) && data.len() == out.len() / block * bytes);
    let per_task = blocks_per_task(block);
    out.par_chunks_mut(per_task * block).zip(data.par_chunks(per_task * bytes)).for_each(|(o, d)| kernel(dtype, d, o));
}

/// Converts the whole blocks in `data` to f32 into `out` (`out.len()` elements, a whole number of
/// blocks) on the calling thread: the same values as [`dequantize`] of those blocks.
pub fn dequantize_into(dtype: DType, data: &[u8], out: &mut [f32]) {
    let (block, bytes) = block_layout(dtype);
    assert!(out.len().is_multiple_of(block) && data.len() == out.len() / block * bytes);
    kernel(dtype, data, out)
}

/// `$out = dequantized $data` for `$dtype`, one arm per storage type (shared by [`kernel`] and
/// [`kernel_avx2`], so both run the same code).
macro_rules! dequant_match {
    ($dtype:expr, $data:expr, $out:expr) => {
        match $dtype {
            DType::F32 => f32_row($data, $out),
            DType::F16 => f16_row($data, $out),
            DType::BF16 => bf16_row($data, $out),
            DType::Q8_0 => quants::dequant_q8_0($data, $out),
            DType::Q4_0 => quants::dequant_q4_0($data, $out),
            DType::Q4_1 => quants::dequant_q4_1($data, $out),
            DType::Q5_0 => quants::dequant_q5_0($data, $out),
            DType::Q5_1 => quants::dequant_q5_1($data, $out),
            DType::Q4_K => quants::dequant_q4_k($data, $out),
            DType::Q5_K => quants::dequant_q5_k($data, $out),
            DType::Q6_K => quants::dequant_q6_k($data, $out),
            DType::Q2_K => quants::dequant_q2_k($data, $out),
            DType::Q3_K => quants::dequant_q3_k($data, $out),
            DType::IQ4_NL => quants::dequant_iq4_nl($data, $out),
            DType::IQ4_XS => quants::dequant_iq4_xs($data, $out),
        }
    };
}

/// Dequantizes whole blocks of `dtype`: with AVX2 where the CPU has it ([`kernel_avx2`]), else the
/// baseline build of the same code.
fn kernel(dtype: DType, data: &[u8], out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: AVX2 is present.
        return unsafe { kernel_avx2(dtype, data, out) };
    }
    dequant_match!(dtype, data, out)
}

/// The same dequantizers (all `#[inline(always)]`) compiled for AVX2: the compiler vectorizes
/// their element loops 8 floats wide instead of 4. The operations are the same IEEE multiplies and
/// subtractions (Rust never contracts them into FMAs), so the values are identical bit for bit
/// (tests/engine/formats_dequant.rs checks them against gguf-py on this path). Weight traffic
/// on short texts is dequantization-bound: this is what makes resident weights fast there.
///
/// # Safety
/// The CPU must have AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn kernel_avx2(dtype: DType, data: &[u8], out: &mut [f32]) {
    dequant_match!(dtype, data, out)
}

/// A tensor as f32; `None` when its storage type is not one this crate reads.
pub fn to_f32(t: &TensorView) -> Option<Vec<f32>> {
    let dtype = *t.dtype.as_ref().ok()?;
    Some(dequantize(dtype, t.bytes, t.n_elements()))
}

#[inline(always)]
fn f32_row(d: &[u8], out: &mut [f32]) {
    for (o, b) in out.iter_mut().zip(d.chunks_exact(4)) {
        *o = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    }
}

#[inline(always)]
fn f16_row(d: &[u8], out: &mut [f32]) {
    for (o, b) in out.iter_mut().zip(d.chunks_exact(2)) {
        *o = half::f16::from_le_bytes([b[0], b[1]]).to_f32();
    }
}

/// bf16 is the top half of an f32 (ggml's GGML_BF16_TO_FP32 is the same shift).
#[inline(always)]
fn bf16_row(d: &[u8], out: &mut [f32]) {
    for (o, b) in out.iter_mut().zip(d.chunks_exact(2)) {
        *o = f32::from_bits((u16::from_le_bytes([b[0], b[1]]) as u32) << 16);
    }
}
