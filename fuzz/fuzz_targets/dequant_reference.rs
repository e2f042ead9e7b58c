//! A slow second dequantizer: one element at a time, each formula written from ggml's C reference
//! (`ggml-quants.c` `dequantize_row_*`, `get_scale_min_k4`, the Q3_K `kmask` scale unpacking) with
//! its own element → byte indexing and its own f16 decoding, so that it shares no code with
//! `densi::model::gguf::quants`. Used by the `dequant` fuzz target and by tests/engine/formats_quants.rs.
//! Same f32 operations in the same order as ggml, so the results must be bit-identical (NaN: any NaN).

use densi::model::DType;

/// IEEE half → f32, by hand (subnormals, infinities and NaN included).
pub fn f16_to_f32(h: u16) -> f32 {
    let sign = ((h >> 15) as u32) << 31;
    let exp = ((h >> 10) & 0x1F) as u32;
    let mant = (h & 0x3FF) as u32;
    let mag = match exp {
        0 => {
            // Subnormal (or zero): mant · 2⁻²⁴, exact in f32.
            let v = mant as f32 * 2f32.powi(-24);
            return if sign != 0 { -v } else { v };
        }
        31 => 0x7F80_0000 | (mant << 13),
        e => ((e + 127 - 15) << 23) | (mant << 13),
    };
    f32::from_bits(sign | mag)
}

fn f16(b: &[u8], at: usize) -> f32 {
    f16_to_f32(u16::from_le_bytes([b[at], b[at + 1]]))
}

const KVALUES_IQ4NL: [i8; 16] = [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113];

/// ggml's `get_scale_min_k4(j, q, &d, &m)`.
fn get_scale_min_k4(j: usize, q: &[u8]) -> (u8, u8) {
    if j < 4 {
        (q[j] & 63, q[j + 4] & 63)
    } else {
        ((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4), (q[j + 4] >> 4) | ((q[j] >> 6) << 4))
    }
}

/// Q3_K's 16 scales as ggml unpacks them: the 12 bytes as three u32 words and two masks.
fn q3_k_scales(s: &[u8]) -> [i8; 16] {
    let w = |i: usize| u32::from_le_bytes([s[4 * i], s[4 * i + 1], s[4 * i + 2], s[4 * i + 3]]);
    let (kmask1, kmask2) = (0x0303_0303u32, 0x0f0f_0f0fu32);
    let (a0, a1, tmp) = (w(0), w(1), w(2));
    let aux = [
        (a0 & kmask2) | ((tmp & kmask1) << 4),
        (a1 & kmask2) | (((tmp >> 2) & kmask1) << 4),
        ((a0 >> 4) & kmask2) | (((tmp >> 4) & kmask1) << 4),
        ((a1 >> 4) & kmask2) | (((tmp >> 6) & kmask1) << 4),
    ];
    let mut out = [0i8; 16];
    for (i, o) in out.iter_mut().enumerate() {
        *o = (aux[i / 4] >> (8 * (i % 4))) as u8 as i8;
    }
    out
}

/// Element `e` of one block `b` of `dtype` (`b` is exactly one block's bytes).
pub fn element(dtype: DType, b: &[u8], e: usize) -> f32 {
    match dtype {
        DType::F32 => f32::from_le_bytes([b[0], b[1], b[2], b[3]]),
        DType::F16 => f16(b, 0),
        DType::BF16 => f32::from_bits((u16::from_le_bytes([b[0], b[1]]) as u32) << 16),
        DType::Q8_0 => f16(b, 0) * (b[2 + e] as i8) as f32,
        DType::Q4_0 => {
            let q = (b[2 + e % 16] >> (4 * (e / 16))) & 0xF;
            (q as i32 - 8) as f32 * f16(b, 0)
        }
        DType::Q4_1 => {
            let q = (b[4 + e % 16] >> (4 * (e / 16))) & 0xF;
            q as f32 * f16(b, 0) + f16(b, 2)
        }
        DType::Q5_0 => {
            let qh = u32::from_le_bytes([b[2], b[3], b[4], b[5]]);
            let q = ((b[6 + e % 16] >> (4 * (e / 16))) & 0xF) as u32 | (((qh >> e) & 1) << 4);
            (q as i32 - 16) as f32 * f16(b, 0)
        }
        DType::Q5_1 => {
            let qh = u32::from_le_bytes([b[4], b[5], b[6], b[7]]);
            let q = ((b[8 + e % 16] >> (4 * (e / 16))) & 0xF) as u32 | (((qh >> e) & 1) << 4);
            q as f32 * f16(b, 0) + f16(b, 2)
        }
        DType::Q2_K => {
            let (n, j, k, l) = (e / 128, (e % 128) / 32, (e % 32) / 16, e % 16);
            let sc = b[8 * n + 2 * j + k];
            let (dl, ml) = (f16(b, 80) * (sc & 0xF) as f32, f16(b, 82) * (sc >> 4) as f32);
            let q = (b[16 + 32 * n + 16 * k + l] >> (2 * j)) & 3;
            dl * (q as i8) as f32 - ml
        }
        DType::Q3_K => {
            let (n, j, l) = (e / 128, (e % 128) / 32, e % 32);
            let scale = q3_k_scales(&b[96..108])[8 * n + 2 * j + l / 16];
            let dl = f16(b, 108) * (scale as i32 - 32) as f32;
            let q = ((b[32 + 32 * n + l] >> (2 * j)) & 3) as i8;
            let m = 1u8 << (4 * n + j);
            dl * (q - if b[l] & m != 0 { 0 } else { 4 }) as f32
        }
        DType::Q4_K | DType::Q5_K => {
            let (j, hi, l) = (e / 64, (e % 64) / 32, e % 32);
            let (sc, m) = get_scale_min_k4(2 * j + hi, &b[4..16]);
            let (d1, m1) = (f16(b, 0) * sc as f32, f16(b, 2) * m as f32);
            let qs = if dtype == DType::Q4_K { &b[16..144] } else { &b[48..176] };
            let mut q = (qs[32 * j + l] >> (4 * hi)) & 0xF;
            if dtype == DType::Q5_K && b[16 + l] & (1 << (2 * j + hi)) != 0 {
                q += 16;
            }
            d1 * q as f32 - m1
        }
        DType::Q6_K => {
            let (n, g, l) = (e / 128, (e % 128) / 32, e % 32);
            let ql = b[64 * n + l + 32 * (g % 2)];
            let qh = b[128 + 32 * n + l];
            let q = (((ql >> (4 * (g / 2))) & 0xF) | (((qh >> (2 * g)) & 3) << 4)) as i8 - 32;
            let sc = b[192 + 8 * n + l / 16 + 2 * g] as i8;
            f16(b, 208) * sc as f32 * q as f32
        }
        DType::IQ4_NL => {
            let q = (b[2 + e % 16] >> (4 * (e / 16))) & 0xF;
            f16(b, 0) * KVALUES_IQ4NL[q as usize] as f32
        }
        DType::IQ4_XS => {
            let (ib, j) = (e / 32, e % 32);
            let scales_h = u16::from_le_bytes([b[2], b[3]]);
            let ls = ((b[4 + ib / 2] >> (4 * (ib % 2))) & 0xF) as i32 | ((((scales_h >> (2 * ib)) & 3) as i32) << 4);
            let dl = f16(b, 0) * (ls - 32) as f32;
            let q = (b[8 + 16 * ib + j % 16] >> (4 * (j / 16))) & 0xF;
            dl * KVALUES_IQ4NL[q as usize] as f32
        }
    }
}

/// Equal bits, or both NaN.
pub fn same(a: f32, b: f32) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}
