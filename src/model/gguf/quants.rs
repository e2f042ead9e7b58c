//! ggml tensor types: ids, block layouts, and the GGML block dequantizers (as in ggml's reference
//! `dequantize_row_*`), for F32/F16/BF16/Q8_0/Q4_0/Q4_1 and the Q5_0/Q5_1/Q4_K/Q5_K/Q6_K of common
//! `Q4_K_M`-style files.

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
    pub const Q4_K: GgmlType = GgmlType(12);
    pub const Q5_K: GgmlType = GgmlType(13);
    pub const Q6_K: GgmlType = GgmlType(14);
    pub const BF16: GgmlType = GgmlType(30);

    /// The types this loader dequantizes.
    pub const SUPPORTED: &'static str = "F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K";

    /// Name and block layout `(elements per block, bytes per block)` of the ggml types whose
    /// layout is known, so their byte sizes can be bounds-checked even when we cannot dequantize
    /// them. `None` for ids this table does not know (their size cannot be checked).
    pub(super) fn info(self) -> Option<(&'static str, usize, usize)> {
        if let Some(d) = self.dtype() {
            let (block, bytes) = block_layout(d);
            return Some((d.name(), block, bytes));
        }
        // The types this crate cannot read.
        Some(match self.0 {
            9 => ("Q8_1", 32, 36),
            10 => ("Q2_K", 256, 84),
            11 => ("Q3_K", 256, 110),
            15 => ("Q8_K", 256, 292),
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
    }
}

// ---------------------------------------------------------------------------------------------
// GGML block layouts, as in ggml's reference `dequantize_row_*`
// ---------------------------------------------------------------------------------------------

fn f16_at(b: &[u8], i: usize) -> f32 {
    half::f16::from_le_bytes([b[i], b[i + 1]]).to_f32()
}

/// Q8_0, 32 elements in 34 bytes: `{ f16 d; i8 qs[32]; }`, y[j] = d · qs[j].
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
