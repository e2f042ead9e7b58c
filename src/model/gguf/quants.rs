//! ggml tensor types: ids, block layouts, the GGML block dequantizers (as in ggml's reference
//! `dequantize_row_*`) and the finite-scale check (ggml's `ggml_validate_row_data`), for
//! F32/F16/BF16, Q8_0/Q4_0/Q4_1/Q5_0/Q5_1, the K-quants Q2_K..Q6_K of `Q*_K_M`-style files, and the
//! non-linear IQ4_NL/IQ4_XS.

use crate::model::dequant;
use crate::model::source::DType;

// ---------------------------------------------------------------------------------------------
// ggml tensor types
// ---------------------------------------------------------------------------------------------

/// A ggml tensor type id (`enum ggml_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GgmlType(pub u32);

impl GgmlType {
    pub const F32: GgmlType = GgmlType(0);
    pub const F16: GgmlType = GgmlType(1);
    pub const Q4_0: GgmlType = GgmlType(2);
    pub const Q4_1: GgmlType = GgmlType(3);
    pub const Q5_0: GgmlType = GgmlType(6);
    pub const Q5_1: GgmlType = GgmlType(7);
    pub const Q8_0: GgmlType = GgmlType(8);
    pub const Q2_K: GgmlType = GgmlType(10);
    pub const Q3_K: GgmlType = GgmlType(11);
    pub const Q4_K: GgmlType = GgmlType(12);
    pub const Q5_K: GgmlType = GgmlType(13);
    pub const Q6_K: GgmlType = GgmlType(14);
    pub const IQ4_NL: GgmlType = GgmlType(20);
    pub const IQ4_XS: GgmlType = GgmlType(23);
    pub const BF16: GgmlType = GgmlType(30);

    /// The types this loader dequantizes.
    pub const SUPPORTED: &'static str =
        "F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL, IQ4_XS";

    /// Name and block layout `(elements per block, bytes per block)` of the ggml types whose
    /// layout is known, so their byte sizes can be bounds-checked even when we cannot dequantize
    /// them. `None` for ids this table does not know (their size cannot be checked).
    pub(super) fn info(self) -> Option<(&'static str, usize, usize)> {
        if let Some(d) = self.dtype() {
            let (block, bytes) = block_layout(d);
            return Some((d.name(), block, bytes));
        }
        // The types this crate cannot read (layouts from ggml's `ggml_type_traits`).
        Some(match self.0 {
            9 => ("Q8_1", 32, 36),
            15 => ("Q8_K", 256, 292),
            16 => ("IQ2_XXS", 256, 66),
            17 => ("IQ2_XS", 256, 74),
            18 => ("IQ3_XXS", 256, 98),
            19 => ("IQ1_S", 256, 50),
            21 => ("IQ3_S", 256, 110),
            22 => ("IQ2_S", 256, 82),
            29 => ("IQ1_M", 256, 56),
            34 => ("TQ1_0", 256, 54),
            35 => ("TQ2_0", 256, 66),
            39 => ("MXFP4", 32, 17),
            24 => ("I8", 1, 1),
            25 => ("I16", 1, 2),
            26 => ("I32", 1, 4),
            27 => ("I64", 1, 8),
            28 => ("F64", 1, 8),
            _ => return None,
        })
    }

    pub fn name(self) -> String {
        match self.info() {
            Some((name, _, _)) => name.to_string(),
            None => format!("ggml type {}", self.0),
        }
    }

    /// The storage type, when this crate reads it.
    pub fn dtype(self) -> Option<DType> {
        Some(match self {
            Self::F32 => DType::F32,
            Self::F16 => DType::F16,
            Self::BF16 => DType::BF16,
            Self::Q8_0 => DType::Q8_0,
            Self::Q4_0 => DType::Q4_0,
            Self::Q4_1 => DType::Q4_1,
            Self::Q5_0 => DType::Q5_0,
            Self::Q5_1 => DType::Q5_1,
            Self::Q4_K => DType::Q4_K,
            Self::Q5_K => DType::Q5_K,
            Self::Q6_K => DType::Q6_K,
            Self::Q2_K => DType::Q2_K,
            Self::Q3_K => DType::Q3_K,
            Self::IQ4_NL => DType::IQ4_NL,
            Self::IQ4_XS => DType::IQ4_XS,
            _ => return None,
        })
    }

    pub fn is_supported(self) -> bool {
        self.dtype().is_some()
    }
}

/// Dequantizes `n` elements of type `ty` from `data` (exactly `n / block · block_bytes` bytes).
/// `None` when the type is not supported.
pub fn dequantize(ty: GgmlType, data: &[u8], n: usize) -> Option<Vec<f32>> {
    Some(dequant::dequantize(ty.dtype()?, data, n))
}

/// `(elements, bytes)` of one block of `dtype` (1 element for the float types), as ggml's
/// `ggml_type_traits` define them.
pub(crate) fn block_layout(dtype: DType) -> (usize, usize) {
    match dtype {
        DType::F32 => (1, 4),
        DType::F16 | DType::BF16 => (1, 2),
        DType::Q4_0 => (32, 18),
        DType::Q4_1 => (32, 20),
        DType::Q5_0 => (32, 22),
        DType::Q5_1 => (32, 24),
        DType::Q8_0 => (32, 34),
        DType::Q4_K => (256, 144),
        DType::Q5_K => (256, 176),
        DType::Q6_K => (256, 210),
        DType::Q2_K => (256, 84),
        DType::Q3_K => (256, 110),
        DType::IQ4_NL => (32, 18),
        DType::IQ4_XS => (256, 136),
    }
}

/// Byte offsets, inside one block, of the f16 scales (`d`, and `dmin`/`m` where there is one):
/// the fields that make a whole block NaN or infinite when they are. Empty for the float types.
pub fn scale_offsets(dtype: DType) -> &'static [usize] {
    match dtype {
        DType::F32 | DType::F16 | DType::BF16 => &[],
        DType::Q8_0 | DType::Q4_0 | DType::Q5_0 | DType::IQ4_NL | DType::IQ4_XS => &[0],
        DType::Q4_1 | DType::Q5_1 | DType::Q4_K | DType::Q5_K => &[0, 2],
        DType::Q2_K => &[80, 82],
        DType::Q3_K => &[108],
        DType::Q6_K => &[208],
    }
}

/// The first non-finite value stored in `data` (whole blocks of `dtype`), as ggml's
/// `ggml_validate_row_data` looks for it: every element of the float types, every f16 scale of the
/// block types. Finite scales make every dequantized value finite (the largest is below 2³⁰), so
/// this is the whole check. Returns `(block index, field offset in the block, value)`.
pub fn first_non_finite(dtype: DType, data: &[u8]) -> Option<(usize, usize, f32)> {
    use rayon::prelude::*;
    let (_, size) = block_layout(dtype);
    let offsets = match scale_offsets(dtype) {
        [] => &[0][..],
        o => o,
    };
    let u16_at = |b: &[u8], at: usize| u16::from_le_bytes([b[at], b[at + 1]]);
    // Infinity and NaN are the values whose exponent bits are all ones.
    let non_finite = |b: &[u8], at: usize| match dtype {
        DType::F32 => {
            let bits = u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
            bits & 0x7F80_0000 == 0x7F80_0000
        }
        DType::BF16 => u16_at(b, at) & 0x7F80 == 0x7F80,
        _ => u16_at(b, at) & 0x7C00 == 0x7C00,
    };
    let value = |b: &[u8], at: usize| match dtype {
        DType::F32 => f32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]),
        DType::BF16 => f32::from_bits((u16_at(b, at) as u32) << 16),
        _ => f16_at(b, at),
    };
    const BLOCKS_PER_TASK: usize = 1 << 16;
    data.par_chunks(size * BLOCKS_PER_TASK).enumerate().find_map_first(|(task, chunk)| {
        chunk.chunks_exact(size).enumerate().find_map(|(i, b)| {
            let at = *offsets.iter().find(|&&at| non_finite(b, at))?;
            Some((task * BLOCKS_PER_TASK + i, at, value(b, at)))
        })
    })
}

// ---------------------------------------------------------------------------------------------
// GGML block layouts, as in ggml's reference `dequantize_row_*`
// ---------------------------------------------------------------------------------------------

#[inline(always)]
fn f16_at(b: &[u8], i: usize) -> f32 {
    half::f16::from_le_bytes([b[i], b[i + 1]]).to_f32()
}

/// Q8_0, 32 elements in 34 bytes: `{ f16 d; i8 qs[32]; }`, y[j] = d · qs[j].
#[inline(always)]
pub(crate) fn dequant_q8_0(d: &[u8], out: &mut [f32]) {
    for (y, b) in out.chunks_exact_mut(32).zip(d.chunks_exact(34)) {
        let scale = f16_at(b, 0);
        for (yj, &q) in y.iter_mut().zip(&b[2..34]) {
            *yj = (q as i8) as f32 * scale;
        }
    }
}

/// Q4_0, 32 elements in 18 bytes: `{ f16 d; u8 qs[16]; }`. Byte j holds element j in its low
/// nibble and element j+16 in its high nibble; y = d · (nibble − 8).
#[inline(always)]
pub(crate) fn dequant_q4_0(d: &[u8], out: &mut [f32]) {
    for (y, b) in out.chunks_exact_mut(32).zip(d.chunks_exact(18)) {
        let scale = f16_at(b, 0);
        let (lo, hi) = y.split_at_mut(16);
        for j in 0..16 {
            let q = b[2 + j];
            lo[j] = ((q & 0x0F) as i32 - 8) as f32 * scale;
            hi[j] = ((q >> 4) as i32 - 8) as f32 * scale;
        }
    }
}

/// Q4_1, 32 elements in 20 bytes: `{ f16 d; f16 m; u8 qs[16]; }`, nibbles as in Q4_0;
/// y = d · nibble + m.
#[inline(always)]
pub(crate) fn dequant_q4_1(d: &[u8], out: &mut [f32]) {
    for (y, b) in out.chunks_exact_mut(32).zip(d.chunks_exact(20)) {
        let scale = f16_at(b, 0);
        let min = f16_at(b, 2);
        let (lo, hi) = y.split_at_mut(16);
        for j in 0..16 {
            let q = b[4 + j];
            lo[j] = (q & 0x0F) as f32 * scale + min;
            hi[j] = (q >> 4) as f32 * scale + min;
        }
    }
}

/// Q5_0, 32 elements in 22 bytes: `{ f16 d; u8 qh[4]; u8 qs[16]; }`. Nibbles as in Q4_0; bit j of
/// the little-endian u32 `qh` is the 5th bit of element j (j < 32); y = d · (q − 16).
#[inline(always)]
pub(crate) fn dequant_q5_0(d: &[u8], out: &mut [f32]) {
    for (y, b) in out.chunks_exact_mut(32).zip(d.chunks_exact(22)) {
        let scale = f16_at(b, 0);
        let qh = u32::from_le_bytes([b[2], b[3], b[4], b[5]]);
        let (lo, hi) = y.split_at_mut(16);
        for j in 0..16 {
            let q = b[6 + j];
            let h0 = ((qh >> j) << 4) & 0x10;
            let h1 = (qh >> (j + 12)) & 0x10;
            lo[j] = (((q & 0x0F) as u32 | h0) as i32 - 16) as f32 * scale;
            hi[j] = (((q >> 4) as u32 | h1) as i32 - 16) as f32 * scale;
        }
    }
}

/// Q5_1, 32 elements in 24 bytes: `{ f16 d; f16 m; u8 qh[4]; u8 qs[16]; }`; y = d · q + m.
#[inline(always)]
pub(crate) fn dequant_q5_1(d: &[u8], out: &mut [f32]) {
    for (y, b) in out.chunks_exact_mut(32).zip(d.chunks_exact(24)) {
        let (scale, min) = (f16_at(b, 0), f16_at(b, 2));
        let qh = u32::from_le_bytes([b[4], b[5], b[6], b[7]]);
        let (lo, hi) = y.split_at_mut(16);
        for j in 0..16 {
            let q = b[8 + j];
            let h0 = ((qh >> j) << 4) & 0x10;
            let h1 = (qh >> (j + 12)) & 0x10;
            lo[j] = ((q & 0x0F) as u32 | h0) as f32 * scale + min;
            hi[j] = ((q >> 4) as u32 | h1) as f32 * scale + min;
        }
    }
}

/// The 6-bit scale and min of sub-block `j` (0..8) packed in the K-quants' 12 `scales` bytes
/// (ggml's `get_scale_min_k4`): bytes 0..4 hold scales 0..4 (low 6 bits), bytes 4..8 mins 0..4,
/// bytes 8..12 the low nibbles of scales/mins 4..8 whose top 2 bits sit in bytes 0..8's top bits.
#[inline(always)]
fn scale_min_k4(j: usize, q: &[u8]) -> (f32, f32) {
    if j < 4 {
        ((q[j] & 63) as f32, (q[j + 4] & 63) as f32)
    } else {
        let sc = (q[j + 4] & 0x0F) | ((q[j - 4] >> 6) << 4);
        let m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
        (sc as f32, m as f32)
    }
}

/// Q4_K, 256 elements in 144 bytes: `{ f16 d; f16 dmin; u8 scales[12]; u8 qs[128]; }`. Eight
/// sub-blocks of 32 with 6-bit scale/min; each 32 bytes of `qs` hold two sub-blocks (low nibbles
/// first); y = d·sc · q − dmin·m.
#[inline(always)]
pub(crate) fn dequant_q4_k(d: &[u8], out: &mut [f32]) {
    for (y, b) in out.chunks_exact_mut(256).zip(d.chunks_exact(144)) {
        let (dd, dmin) = (f16_at(b, 0), f16_at(b, 2));
        let (scales, qs) = (&b[4..16], &b[16..144]);
        for (k, (y, q)) in y.chunks_exact_mut(64).zip(qs.chunks_exact(32)).enumerate() {
            let (sc1, m1) = scale_min_k4(2 * k, scales);
            let (sc2, m2) = scale_min_k4(2 * k + 1, scales);
            let (d1, m1, d2, m2) = (dd * sc1, dmin * m1, dd * sc2, dmin * m2);
            for l in 0..32 {
                y[l] = d1 * (q[l] & 0x0F) as f32 - m1;
                y[l + 32] = d2 * (q[l] >> 4) as f32 - m2;
            }
        }
    }
}

/// Q5_K, 256 elements in 176 bytes: `{ f16 d; f16 dmin; u8 scales[12]; u8 qh[32]; u8 qs[128]; }`:
/// Q4_K plus a 5th bit per element, bit 2k (low nibbles) / 2k+1 (high) of `qh[l]` for pair k.
#[inline(always)]
pub(crate) fn dequant_q5_k(d: &[u8], out: &mut [f32]) {
    for (y, b) in out.chunks_exact_mut(256).zip(d.chunks_exact(176)) {
        let (dd, dmin) = (f16_at(b, 0), f16_at(b, 2));
        let (scales, qh, qs) = (&b[4..16], &b[16..48], &b[48..176]);
        for (k, (y, q)) in y.chunks_exact_mut(64).zip(qs.chunks_exact(32)).enumerate() {
            let (sc1, m1) = scale_min_k4(2 * k, scales);
            let (sc2, m2) = scale_min_k4(2 * k + 1, scales);
            let (d1, m1, d2, m2) = (dd * sc1, dmin * m1, dd * sc2, dmin * m2);
            let (u1, u2) = (1u8 << (2 * k), 2u8 << (2 * k));
            for l in 0..32 {
                let h1 = if qh[l] & u1 != 0 { 16 } else { 0 };
                let h2 = if qh[l] & u2 != 0 { 16 } else { 0 };
                y[l] = d1 * ((q[l] & 0x0F) + h1) as f32 - m1;
                y[l + 32] = d2 * ((q[l] >> 4) + h2) as f32 - m2;
            }
        }
    }
}

/// Q6_K, 256 elements in 210 bytes: `{ u8 ql[128]; u8 qh[64]; i8 scales[16]; f16 d; }`. Two halves
/// of 128; in each, element l + 32·i (i < 4) takes 4 low bits from `ql` (bytes l, l+32; low then
/// high nibbles) and 2 high bits from `qh[l]` bits 2i..2i+2; 16 sub-blocks of 16 with an i8
/// scale; y = d · scale · (q − 32).
#[inline(always)]
pub(crate) fn dequant_q6_k(d: &[u8], out: &mut [f32]) {
    for (y, b) in out.chunks_exact_mut(256).zip(d.chunks_exact(210)) {
        let dd = f16_at(b, 208);
        for half in 0..2 {
            let ql = &b[64 * half..64 * half + 64];
            let qh = &b[128 + 32 * half..128 + 32 * half + 32];
            let sc = &b[192 + 8 * half..192 + 8 * half + 8];
            let y = &mut y[128 * half..128 * half + 128];
            for l in 0..32 {
                let is = l / 16;
                let q1 = ((ql[l] & 0x0F) | ((qh[l] & 3) << 4)) as i32 - 32;
                let q2 = ((ql[l + 32] & 0x0F) | (((qh[l] >> 2) & 3) << 4)) as i32 - 32;
                let q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) as i32 - 32;
                let q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) as i32 - 32;
                y[l] = dd * (sc[is] as i8) as f32 * q1 as f32;
                y[l + 32] = dd * (sc[is + 2] as i8) as f32 * q2 as f32;
                y[l + 64] = dd * (sc[is + 4] as i8) as f32 * q3 as f32;
                y[l + 96] = dd * (sc[is + 6] as i8) as f32 * q4 as f32;
            }
        }
    }
}

/// Q2_K, 256 elements in 84 bytes: `{ u8 scales[16]; u8 qs[64]; f16 d; f16 dmin; }`. Sixteen
/// sub-blocks of 16, each with a 4-bit scale (low nibble of `scales[i]`) and 4-bit min (high
/// nibble). Two halves of 128; in each, element l + 32·s (s < 4) is bits 2s..2s+2 of `qs[l]`;
/// y = d·sc · q − dmin·m.
#[inline(always)]
pub(crate) fn dequant_q2_k(d: &[u8], out: &mut [f32]) {
    for (y, b) in out.chunks_exact_mut(256).zip(d.chunks_exact(84)) {
        let (scales, qs) = (&b[0..16], &b[16..80]);
        let (dd, dmin) = (f16_at(b, 80), f16_at(b, 82));
        for (half, (y, q)) in y.chunks_exact_mut(128).zip(qs.chunks_exact(32)).enumerate() {
            for (s, y) in y.chunks_exact_mut(32).enumerate() {
                for (k, y) in y.chunks_exact_mut(16).enumerate() {
                    let sc = scales[8 * half + 2 * s + k];
                    let (dl, ml) = (dd * (sc & 0x0F) as f32, dmin * (sc >> 4) as f32);
                    for (l, yl) in y.iter_mut().enumerate() {
                        *yl = dl * ((q[16 * k + l] >> (2 * s)) & 3) as f32 - ml;
                    }
                }
            }
        }
    }
}

/// The 6-bit signed scale of Q3_K sub-block `i` (0..16) packed in its 12 `scales` bytes: the low 4
/// bits are nibble `i / 8` of byte `i % 8`, the high 2 bits are bits 2·(i / 4).. of byte 8 + i % 4;
/// stored with an offset of 32.
#[inline(always)]
fn scale_q3_k(i: usize, q: &[u8]) -> f32 {
    let lo = (q[i % 8] >> (4 * (i / 8))) & 0x0F;
    let hi = (q[8 + i % 4] >> (2 * (i / 4))) & 3;
    ((lo | (hi << 4)) as i32 - 32) as f32
}

/// Q3_K, 256 elements in 110 bytes: `{ u8 hmask[32]; u8 qs[64]; u8 scales[12]; f16 d; }`. Sixteen
/// sub-blocks of 16 with a 6-bit signed scale. Element l + 32·s + 128·half (l < 32, s < 4) takes
/// its low 2 bits from bits 2s..2s+2 of `qs[32·half + l]`, and subtracts 4 unless bit 4·half + s of
/// `hmask[l]` is set; y = d·scale · q.
#[inline(always)]
pub(crate) fn dequant_q3_k(d: &[u8], out: &mut [f32]) {
    for (y, b) in out.chunks_exact_mut(256).zip(d.chunks_exact(110)) {
        let (hmask, qs, scales) = (&b[0..32], &b[32..96], &b[96..108]);
        let dd = f16_at(b, 108);
        for (half, (y, q)) in y.chunks_exact_mut(128).zip(qs.chunks_exact(32)).enumerate() {
            for (s, y) in y.chunks_exact_mut(32).enumerate() {
                let bit = 4 * half + s;
                for (k, y) in y.chunks_exact_mut(16).enumerate() {
                    let dl = dd * scale_q3_k(8 * half + 2 * s + k, scales);
                    for (l, yl) in y.iter_mut().enumerate() {
                        let l = 16 * k + l;
                        let low = ((q[l] >> (2 * s)) & 3) as i32;
                        let high = if (hmask[l] >> bit) & 1 != 0 { 0 } else { 4 };
                        *yl = dl * (low - high) as f32;
                    }
                }
            }
        }
    }
}

/// IQ4_NL's 16 non-linear levels (ggml's `kvalues_iq4nl`), shared with IQ4_XS.
const KVALUES_IQ4NL: [i8; 16] = [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113];

/// IQ4_NL, 32 elements in 18 bytes: `{ f16 d; u8 qs[16]; }`, nibbles as in Q4_0 but each one an
/// index into [`KVALUES_IQ4NL`]; y = d · kvalues[nibble].
#[inline(always)]
pub(crate) fn dequant_iq4_nl(d: &[u8], out: &mut [f32]) {
    for (y, b) in out.chunks_exact_mut(32).zip(d.chunks_exact(18)) {
        let scale = f16_at(b, 0);
        let (lo, hi) = y.split_at_mut(16);
        for ((lo, hi), &q) in lo.iter_mut().zip(hi).zip(&b[2..18]) {
            *lo = scale * KVALUES_IQ4NL[(q & 0x0F) as usize] as f32;
            *hi = scale * KVALUES_IQ4NL[(q >> 4) as usize] as f32;
        }
    }
}

/// IQ4_XS, 256 elements in 136 bytes: `{ f16 d; u16 scales_h; u8 scales_l[4]; u8 qs[128]; }`.
/// Eight sub-blocks of 32, each an IQ4_NL block with a 6-bit signed scale: low 4 bits nibble
/// `ib % 2` of `scales_l[ib / 2]`, high 2 bits bits 2·ib.. of `scales_h`, offset 32;
/// y = d·scale · kvalues[nibble].
#[inline(always)]
pub(crate) fn dequant_iq4_xs(d: &[u8], out: &mut [f32]) {
    for (y, b) in out.chunks_exact_mut(256).zip(d.chunks_exact(136)) {
        let dd = f16_at(b, 0);
        let scales_h = u16::from_le_bytes([b[2], b[3]]);
        let (scales_l, qs) = (&b[4..8], &b[8..136]);
        for (ib, (y, q)) in y.chunks_exact_mut(32).zip(qs.chunks_exact(16)).enumerate() {
            let lo = (scales_l[ib / 2] >> (4 * (ib % 2))) & 0x0F;
            let hi = ((scales_h >> (2 * ib)) & 3) as u8;
            let dl = dd * ((lo | (hi << 4)) as i32 - 32) as f32;
            let (lo, hi) = y.split_at_mut(16);
            for ((lo, hi), &q) in lo.iter_mut().zip(hi).zip(q) {
                *lo = dl * KVALUES_IQ4NL[(q & 0x0F) as usize] as f32;
                *hi = dl * KVALUES_IQ4NL[(q >> 4) as usize] as f32;
            }
        }
    }
}
