//! GGUF v2/v3: header, metadata, tensor infos, alignment; F32/F16/BF16/Q8_0/Q4_0/Q4_1 (and the
//! Q5_0/Q5_1/Q4_K/Q5_K/Q6_K of common `Q4_K_M`-style files) dequantized to f32; arch `llama`,
//! `qwen2` and `gpt2` mapped to [`ModelConfig`] + [`Weights`].
//!
//! File layout (all little-endian), as ggml's `gguf.cpp` writes it:
//!
//! ```text
//! "GGUF" | u32 version (2 or 3) | u64 n_tensors | u64 n_kv
//! n_kv      × { string key | u32 value_type | value }
//! n_tensors × { string name | u32 n_dims | n_dims × u64 ne | u32 ggml_type | u64 offset }
//! zero padding up to a multiple of `general.alignment` (default 32)
//! tensor data: tensor t at data_start + t.offset (a multiple of the alignment)
//! ```
//!
//! A string is `u64 len | len bytes of UTF-8`. An array is `u32 elem_type | u64 n | n values`.
//! `ne[0]` is the fastest-varying dimension: a PyTorch `[out, in]` weight has `ne = [in, out]`, and
//! its bytes are the same row-major `[out][in]` matrix, so no transpose is needed.
//!
//! Every length, count and offset is checked against the bytes that are there before anything is
//! allocated or sliced: a corrupt file is a [`DensiError::InvalidModelFile`], never a panic.

use std::collections::HashMap;
use std::path::Path;

use rayon::prelude::*;

use super::config::{Architecture, ModelConfig};
use super::tokenizer::{GgufVocab, TextTokenizer};
use super::weights::{Block, Linear, Mlp, Norm, NormKind, Weights};
use super::{Model, ModelSource};
use crate::error::{DensiError, Result};

const MAGIC: &[u8; 4] = b"GGUF";
const DEFAULT_ALIGNMENT: u64 = 32;
/// ggml's GGML_MAX_DIMS.
const MAX_DIMS: u32 = 4;
/// Arrays of arrays are legal GGUF but unused in practice; a bound keeps a hostile file from
/// recursing the stack away.
const MAX_ARRAY_NESTING: usize = 4;

const FORMAT: &str = "GGUF";
const SUPPORTED_ARCHS: &str = "GGUF general.architecture llama, qwen2, gpt2";

// ---------------------------------------------------------------------------------------------
// Metadata values
// ---------------------------------------------------------------------------------------------

/// One metadata value (GGUF value types 0..=12).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    U8(u8),
    I8(i8),
    U16(u16),
    I16(i16),
    U32(u32),
    I32(i32),
    F32(f32),
    Bool(bool),
    String(String),
    Array(Vec<Value>),
    U64(u64),
    I64(i64),
    F64(f64),
}

impl Value {
    /// Any non-negative integer type as u64.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Value::U8(v) => Some(v as u64),
            Value::U16(v) => Some(v as u64),
            Value::U32(v) => Some(v as u64),
            Value::U64(v) => Some(v),
            Value::I8(v) => u64::try_from(v).ok(),
            Value::I16(v) => u64::try_from(v).ok(),
            Value::I32(v) => u64::try_from(v).ok(),
            Value::I64(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Value::I8(v) => Some(v as i64),
            Value::I16(v) => Some(v as i64),
            Value::I32(v) => Some(v as i64),
            Value::I64(v) => Some(v),
            _ => self.as_u64().and_then(|v| i64::try_from(v).ok()),
        }
    }

    pub fn as_f32(&self) -> Option<f32> {
        match *self {
            Value::F32(v) => Some(v),
            Value::F64(v) => Some(v as f32),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            Value::Bool(b) => Some(b),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    fn type_name(&self) -> &'static str {
        match self {
            Value::U8(_) => "u8",
            Value::I8(_) => "i8",
            Value::U16(_) => "u16",
            Value::I16(_) => "i16",
            Value::U32(_) => "u32",
            Value::I32(_) => "i32",
            Value::F32(_) => "f32",
            Value::Bool(_) => "bool",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::U64(_) => "u64",
            Value::I64(_) => "i64",
            Value::F64(_) => "f64",
        }
    }
}

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
    fn info(self) -> Option<(&'static str, usize, usize)> {
        Some(match self.0 {
            0 => ("F32", 1, 4),
            1 => ("F16", 1, 2),
            2 => ("Q4_0", 32, 18),
            3 => ("Q4_1", 32, 20),
            6 => ("Q5_0", 32, 22),
            7 => ("Q5_1", 32, 24),
            8 => ("Q8_0", 32, 34),
            9 => ("Q8_1", 32, 36),
            10 => ("Q2_K", 256, 84),
            11 => ("Q3_K", 256, 110),
            12 => ("Q4_K", 256, 144),
            13 => ("Q5_K", 256, 176),
            14 => ("Q6_K", 256, 210),
            15 => ("Q8_K", 256, 292),
            24 => ("I8", 1, 1),
            25 => ("I16", 1, 2),
            26 => ("I32", 1, 4),
            27 => ("I64", 1, 8),
            28 => ("F64", 1, 8),
            30 => ("BF16", 1, 2),
            _ => return None,
        })
    }

    pub fn name(self) -> String {
        match self.info() {
            Some((name, _, _)) => name.to_string(),
            None => format!("ggml type {}", self.0),
        }
    }

    pub fn is_supported(self) -> bool {
        matches!(
            self,
            Self::F32
                | Self::F16
                | Self::BF16
                | Self::Q8_0
                | Self::Q4_0
                | Self::Q4_1
                | Self::Q5_0
                | Self::Q5_1
                | Self::Q4_K
                | Self::Q5_K
                | Self::Q6_K
        )
    }
}

// ---------------------------------------------------------------------------------------------
// Header
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
pub struct TensorInfo {
    pub name: String,
    /// ggml order: `ne[0]` is the fastest-varying (innermost) dimension.
    pub ne: Vec<u64>,
    pub ggml_type: GgmlType,
    /// Absolute byte offset of the tensor's data in the file.
    pub offset: usize,
    /// Byte length of the data; `None` for a type whose block layout is unknown.
    pub n_bytes: Option<usize>,
}

impl TensorInfo {
    /// The shape in PyTorch order (outermost first): `ne` reversed.
    pub fn shape(&self) -> Vec<usize> {
        self.ne.iter().rev().map(|&d| d as usize).collect()
    }

    pub fn n_elements(&self) -> usize {
        // Checked to fit in the header parser.
        self.ne.iter().product::<u64>() as usize
    }
}

#[derive(Debug, Clone)]
pub struct GgufHeader {
    pub version: u32,
    pub metadata: HashMap<String, Value>,
    /// In file order.
    pub tensors: Vec<TensorInfo>,
    pub alignment: u64,
    /// Absolute offset of the tensor data section.
    pub data_offset: usize,
}

impl GgufHeader {
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.metadata.get(key)
    }

    pub fn tensor(&self, name: &str) -> Option<&TensorInfo> {
        self.tensors.iter().find(|t| t.name == name)
    }
}

/// A cursor over the file's bytes; every read is bounds-checked.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], String> {
        if n > self.remaining() {
            return Err(format!(
                "{what} at byte {} needs {n} bytes but the file ends at byte {} (truncated?)",
                self.pos,
                self.bytes.len()
            ));
        }
        let s = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], String> {
        let s = self.take(N, what)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    fn u32(&mut self, what: &str) -> Result<u32, String> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    fn u64(&mut self, what: &str) -> Result<u64, String> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    /// A count that must fit in the rest of the file at `min_size` bytes per item.
    fn count(&mut self, min_size: usize, what: &str) -> Result<usize, String> {
        let at = self.pos;
        let n = self.u64(what)?;
        let fits = (self.remaining() / min_size.max(1)) as u64;
        if n > fits {
            return Err(format!(
                "{what} at byte {at} is {n}, but the {} bytes left in the file hold at most {fits}",
                self.remaining()
            ));
        }
        Ok(n as usize)
    }

    fn string(&mut self, what: &str) -> Result<String, String> {
        let at = self.pos;
        let len = self.u64(what)?;
        if len > self.remaining() as u64 {
            return Err(format!(
                "{what} at byte {at} has length {len}, past the end of the file ({} bytes left)",
                self.remaining()
            ));
        }
        let bytes = self.take(len as usize, what)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| format!("{what} at byte {at} is not valid UTF-8"))
    }

    fn value(&mut self, ty: u32, depth: usize, what: &str) -> Result<Value, String> {
        Ok(match ty {
            0 => Value::U8(u8::from_le_bytes(self.array(what)?)),
            1 => Value::I8(i8::from_le_bytes(self.array(what)?)),
            2 => Value::U16(u16::from_le_bytes(self.array(what)?)),
            3 => Value::I16(i16::from_le_bytes(self.array(what)?)),
            4 => Value::U32(u32::from_le_bytes(self.array(what)?)),
            5 => Value::I32(i32::from_le_bytes(self.array(what)?)),
            6 => Value::F32(f32::from_le_bytes(self.array(what)?)),
            7 => {
                let at = self.pos;
                match self.array::<1>(what)?[0] {
                    0 => Value::Bool(false),
                    1 => Value::Bool(true),
                    b => return Err(format!("{what} at byte {at}: bool byte is {b}, not 0 or 1")),
                }
            }
            8 => Value::String(self.string(what)?),
            9 => {
                if depth >= MAX_ARRAY_NESTING {
                    return Err(format!("{what}: arrays nested deeper than {MAX_ARRAY_NESTING}"));
                }
                let elem_ty = self.u32(what)?;
                let min =
                    min_value_size(elem_ty).ok_or_else(|| format!("{what}: unknown array element type {elem_ty}"))?;
                let n = self.count(min, &format!("{what}: array length"))?;
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(self.value(elem_ty, depth + 1, what)?);
                }
                Value::Array(items)
            }
            10 => Value::U64(u64::from_le_bytes(self.array(what)?)),
            11 => Value::I64(i64::from_le_bytes(self.array(what)?)),
            12 => Value::F64(f64::from_le_bytes(self.array(what)?)),
            t => return Err(format!("{what}: unknown metadata value type {t}")),
        })
    }
}

/// Fewest bytes a value of this GGUF type occupies (to bound counts before allocating).
fn min_value_size(ty: u32) -> Option<usize> {
    Some(match ty {
        0 | 1 | 7 => 1,
        2 | 3 => 2,
        4..=6 => 4,
        8 => 8,
        9 => 12,
        10..=12 => 8,
        _ => return None,
    })
}

/// Parses the header (metadata, tensor infos, alignment) of a GGUF file held in `bytes` and checks
/// that every tensor's data lies inside `bytes`. The error is a reason without the file name.
/// This is the fuzz target's entry point.
pub fn parse_gguf_header(bytes: &[u8]) -> Result<GgufHeader, String> {
    let mut r = Reader { bytes, pos: 0 };
    let magic =
        r.array::<4>("magic").map_err(|_| format!("file is {} bytes, too short for a GGUF header", bytes.len()))?;
    if &magic != MAGIC {
        return Err(format!("bad magic {:?} (expected \"GGUF\")", String::from_utf8_lossy(&magic)));
    }
    let version = r.u32("version")?;
    if version != 2 && version != 3 {
        return Err(format!("unsupported GGUF version {version} (supported: 2, 3)"));
    }
    // Smallest tensor info: empty name (8) + n_dims (4) + one dim (8) + type (4) + offset (8).
    let n_tensors = r.count(32, "tensor count")?;
    // Smallest key/value: empty key (8) + type (4) + a one-byte value.
    let n_kv = r.count(13, "metadata count")?;

    let mut metadata = HashMap::with_capacity(n_kv);
    for i in 0..n_kv {
        let key = r.string(&format!("metadata key #{i}"))?;
        let ty = r.u32(&format!("type of metadata `{key}`"))?;
        let value = r.value(ty, 0, &format!("metadata `{key}`"))?;
        if metadata.insert(key.clone(), value).is_some() {
            return Err(format!("duplicate metadata key `{key}`"));
        }
    }

    let alignment = match metadata.get("general.alignment") {
        None => DEFAULT_ALIGNMENT,
        Some(Value::U32(a)) if a.is_power_of_two() => *a as u64,
        Some(v) => return Err(format!("general.alignment must be a power-of-two u32, found {v:?}")),
    };

    let mut infos = Vec::with_capacity(n_tensors);
    let mut names = std::collections::HashSet::with_capacity(n_tensors);
    for i in 0..n_tensors {
        let name = r.string(&format!("name of tensor #{i}"))?;
        let n_dims = r.u32(&format!("tensor `{name}` n_dims"))?;
        if n_dims == 0 || n_dims > MAX_DIMS {
            return Err(format!("tensor `{name}` has {n_dims} dimensions (1 to {MAX_DIMS} allowed)"));
        }
        let mut ne = Vec::with_capacity(n_dims as usize);
        for _ in 0..n_dims {
            ne.push(r.u64(&format!("tensor `{name}` dimensions"))?);
        }
        let ggml_type = GgmlType(r.u32(&format!("tensor `{name}` type"))?);
        let rel_offset = r.u64(&format!("tensor `{name}` offset"))?;
        if !names.insert(name.clone()) {
            return Err(format!("duplicate tensor `{name}`"));
        }
        infos.push((name, ne, ggml_type, rel_offset));
    }

    // The data section starts at the next multiple of the alignment.
    let data_offset = (r.pos as u64).div_ceil(alignment) * alignment;
    if n_tensors > 0 && data_offset > bytes.len() as u64 {
        return Err(format!(
            "tensor data section starts at byte {data_offset}, past the end of the file ({} bytes)",
            bytes.len()
        ));
    }
    let data_offset = data_offset as usize;

    let mut tensors = Vec::with_capacity(n_tensors);
    for (name, ne, ggml_type, rel_offset) in infos {
        let n_bytes = tensor_byte_len(&name, &ne, ggml_type)?;
        if rel_offset % alignment != 0 {
            return Err(format!(
                "tensor `{name}` data offset {rel_offset} is not a multiple of the alignment {alignment}"
            ));
        }
        let start = (data_offset as u64).checked_add(rel_offset);
        let end = start.and_then(|s| s.checked_add(n_bytes.unwrap_or(0) as u64));
        match (start, end) {
            (Some(s), Some(e)) if e <= bytes.len() as u64 => {
                tensors.push(TensorInfo { name, ne, ggml_type, offset: s as usize, n_bytes });
            }
            _ => {
                return Err(format!(
                    "tensor `{name}` data ({} bytes at data offset {rel_offset}) lies outside the file ({} bytes, data section at byte {data_offset})",
                    n_bytes.map_or("unknown".to_string(), |n| n.to_string()),
                    bytes.len()
                ));
            }
        }
    }

    Ok(GgufHeader { version, metadata, tensors, alignment, data_offset })
}

/// Byte length of a tensor from its dimensions and type; checks that the element count fits and
/// that rows are whole blocks. `None` when the type's layout is unknown.
fn tensor_byte_len(name: &str, ne: &[u64], ty: GgmlType) -> Result<Option<usize>, String> {
    let mut n: u64 = 1;
    for &d in ne {
        n = n
            .checked_mul(d)
            .filter(|&n| n <= isize::MAX as u64 / 8)
            .ok_or_else(|| format!("tensor `{name}` has an absurd element count (dimensions {ne:?})"))?;
    }
    let Some((_, block, size)) = ty.info() else { return Ok(None) };
    if ne[0] % block as u64 != 0 {
        return Err(format!(
            "tensor `{name}`: row length {} is not a multiple of the {} block size {block}",
            ne[0],
            ty.name()
        ));
    }
    Ok(Some((n / block as u64) as usize * size))
}

// ---------------------------------------------------------------------------------------------
// Dequantization (GGML block layouts, as in ggml's reference `dequantize_row_*`)
// ---------------------------------------------------------------------------------------------

/// Blocks per rayon task: large enough to amortise scheduling, small enough to balance 2+ cores.
const BLOCKS_PER_TASK: usize = 4096;

/// Dequantizes `n` elements of type `ty` from `data` (exactly `n / block · block_bytes` bytes).
/// `None` when the type is not supported.
pub fn dequantize(ty: GgmlType, data: &[u8], n: usize) -> Option<Vec<f32>> {
    let (_, block, bytes) = ty.info()?;
    let row: fn(&[u8], &mut [f32]) = match ty {
        GgmlType::F32 => dequant_f32,
        GgmlType::F16 => dequant_f16,
        GgmlType::BF16 => dequant_bf16,
        GgmlType::Q8_0 => dequant_q8_0,
        GgmlType::Q4_0 => dequant_q4_0,
        GgmlType::Q4_1 => dequant_q4_1,
        GgmlType::Q5_0 => dequant_q5_0,
        GgmlType::Q5_1 => dequant_q5_1,
        GgmlType::Q4_K => dequant_q4_k,
        GgmlType::Q5_K => dequant_q5_k,
        GgmlType::Q6_K => dequant_q6_k,
        _ => return None,
    };
    debug_assert_eq!(data.len(), n / block * bytes);
    let mut out = vec![0f32; n];
    out.par_chunks_mut(BLOCKS_PER_TASK * block)
        .zip(data.par_chunks(BLOCKS_PER_TASK * bytes))
        .for_each(|(o, d)| row(d, o));
    Some(out)
}

fn dequant_f32(d: &[u8], out: &mut [f32]) {
    for (o, b) in out.iter_mut().zip(d.chunks_exact(4)) {
        *o = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    }
}

fn dequant_f16(d: &[u8], out: &mut [f32]) {
    for (o, b) in out.iter_mut().zip(d.chunks_exact(2)) {
        *o = half::f16::from_le_bytes([b[0], b[1]]).to_f32();
    }
}

/// bf16 is the top half of an f32 (ggml's GGML_BF16_TO_FP32 is the same shift).
fn dequant_bf16(d: &[u8], out: &mut [f32]) {
    for (o, b) in out.iter_mut().zip(d.chunks_exact(2)) {
        *o = f32::from_bits((u16::from_le_bytes([b[0], b[1]]) as u32) << 16);
    }
}

fn f16_at(b: &[u8], i: usize) -> f32 {
    half::f16::from_le_bytes([b[i], b[i + 1]]).to_f32()
}

/// Q8_0, 32 elements in 34 bytes: `{ f16 d; i8 qs[32]; }`, y[j] = d · qs[j].
fn dequant_q8_0(d: &[u8], out: &mut [f32]) {
    for (y, b) in out.chunks_exact_mut(32).zip(d.chunks_exact(34)) {
        let scale = f16_at(b, 0);
        for (yj, &q) in y.iter_mut().zip(&b[2..34]) {
            *yj = (q as i8) as f32 * scale;
        }
    }
}

/// Q4_0, 32 elements in 18 bytes: `{ f16 d; u8 qs[16]; }`. Byte j holds element j in its low
/// nibble and element j+16 in its high nibble; y = d · (nibble − 8).
fn dequant_q4_0(d: &[u8], out: &mut [f32]) {
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
fn dequant_q4_1(d: &[u8], out: &mut [f32]) {
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
fn dequant_q5_0(d: &[u8], out: &mut [f32]) {
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
fn dequant_q5_1(d: &[u8], out: &mut [f32]) {
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
fn dequant_q4_k(d: &[u8], out: &mut [f32]) {
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
fn dequant_q5_k(d: &[u8], out: &mut [f32]) {
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
fn dequant_q6_k(d: &[u8], out: &mut [f32]) {
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

// ---------------------------------------------------------------------------------------------
// The mapped file
// ---------------------------------------------------------------------------------------------

/// A GGUF file's bytes (memory-mapped, or in memory for the fuzzer) with its parsed header.
pub struct GgufFile {
    pub path: std::path::PathBuf,
    bytes: Bytes,
    pub header: GgufHeader,
}

enum Bytes {
    Mapped(memmap2::Mmap),
    Owned(Vec<u8>),
}

impl std::ops::Deref for Bytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Bytes::Mapped(m) => m,
            Bytes::Owned(v) => v,
        }
    }
}

impl GgufFile {
    pub fn open(path: &Path) -> Result<GgufFile> {
        let file = std::fs::File::open(path).map_err(|e| DensiError::io(path, e))?;
        // SAFETY: the map is read-only and private to this process. As with every mmap-based model
        // loader, a file truncated by another process while mapped would fault; we accept that.
        let mmap = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| DensiError::io(path, e))?;
        Self::from_bytes(path, Bytes::Mapped(mmap))
    }

    /// A GGUF file already in memory; `path` only names it in errors.
    pub fn from_vec(path: &Path, bytes: Vec<u8>) -> Result<GgufFile> {
        Self::from_bytes(path, Bytes::Owned(bytes))
    }

    fn from_bytes(path: &Path, bytes: Bytes) -> Result<GgufFile> {
        let header = parse_gguf_header(&bytes).map_err(|reason| invalid(path, reason))?;
        Ok(GgufFile { path: path.to_path_buf(), bytes, header })
    }

    fn meta(&self, key: &str) -> Option<&Value> {
        self.header.get(key)
    }

    fn meta_u64(&self, key: &str) -> Result<Option<u64>> {
        match self.meta(key) {
            None => Ok(None),
            Some(v) => v.as_u64().map(Some).ok_or_else(|| {
                self.config_err(format!("metadata `{key}` should be a non-negative integer, found {}", v.type_name()))
            }),
        }
    }

    fn meta_usize_req(&self, key: &str) -> Result<usize> {
        self.meta_u64(key)?.map(|v| v as usize).ok_or_else(|| self.config_err(format!("missing metadata `{key}`")))
    }

    fn meta_f32(&self, key: &str) -> Result<Option<f32>> {
        match self.meta(key) {
            None => Ok(None),
            Some(v) => v
                .as_f32()
                .map(Some)
                .ok_or_else(|| self.config_err(format!("metadata `{key}` should be a float, found {}", v.type_name()))),
        }
    }

    fn meta_str(&self, key: &str) -> Result<Option<&str>> {
        match self.meta(key) {
            None => Ok(None),
            Some(v) => v.as_str().map(Some).ok_or_else(|| {
                self.config_err(format!("metadata `{key}` should be a string, found {}", v.type_name()))
            }),
        }
    }

    fn config_err(&self, reason: String) -> DensiError {
        DensiError::Config { path: self.path.clone(), reason }
    }

    /// The tensor `name` dequantized to f32, checked to have `shape` (PyTorch order).
    pub fn tensor_f32(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
        let t = self
            .header
            .tensor(name)
            .ok_or_else(|| DensiError::MissingTensor { path: self.path.clone(), tensor: name.to_string() })?;
        if t.shape() != shape {
            return Err(DensiError::TensorShape {
                path: self.path.clone(),
                tensor: name.to_string(),
                found: t.shape(),
                expected: shape.to_vec(),
            });
        }
        let unsupported = || DensiError::UnsupportedTensorType {
            path: self.path.clone(),
            tensor: name.to_string(),
            found: t.ggml_type.name(),
            supported: GgmlType::SUPPORTED,
        };
        if !t.ggml_type.is_supported() {
            return Err(unsupported());
        }
        let n_bytes = t.n_bytes.ok_or_else(unsupported)?;
        // In bounds: checked by parse_gguf_header.
        let data = &self.bytes[t.offset..t.offset + n_bytes];
        dequantize(t.ggml_type, data, t.n_elements()).ok_or_else(unsupported)
    }

    fn has_tensor(&self, name: &str) -> bool {
        self.header.tensor(name).is_some()
    }
}

fn invalid(path: &Path, reason: String) -> DensiError {
    DensiError::InvalidModelFile { path: path.to_path_buf(), format: FORMAT, reason }
}

// ---------------------------------------------------------------------------------------------
// Config, weights and tokenizer from the metadata
// ---------------------------------------------------------------------------------------------

/// Loads a GGUF model: config from `{arch}.*` metadata, f32 weights, and the tokenizer from
/// `tokenizer.ggml.*`.
pub fn load(path: &Path) -> Result<Model> {
    load_file(GgufFile::open(path)?)
}

/// Loads a model from a GGUF file already in memory (the fuzzer's entry point; `name` only
/// names it in errors).
pub fn load_bytes(name: &Path, bytes: Vec<u8>) -> Result<Model> {
    load_file(GgufFile::from_vec(name, bytes)?)
}

fn load_file(file: GgufFile) -> Result<Model> {
    let path = file.path.clone();
    let path = path.as_path();
    let config = config_from_metadata(&file)?;
    let tokenizer = TextTokenizer::from_gguf(path, &vocab_from_metadata(&file)?)?;
    tokenizer.check_fits(path, config.vocab_size)?;
    let weights = match config.architecture {
        Architecture::Llama | Architecture::Qwen2 => llama_weights(&file, &config)?,
        Architecture::Gpt2 => gpt2_weights(&file, &config)?,
    };
    let source = ModelSource {
        path: path.to_path_buf(),
        format: "gguf",
        weight_dtype: weight_dtype(&file.header),
        weight_files: vec![path.to_path_buf()],
    };
    Ok(Model { config, weights, tokenizer, source })
}

/// Storage types of the matrices (tensors with ≥ 2 dims), most common first: `Q4_1`, or
/// `mixed Q4_1/Q8_0`.
fn weight_dtype(h: &GgufHeader) -> String {
    let mut counts: Vec<(String, usize)> = Vec::new();
    for t in h.tensors.iter().filter(|t| t.ne.iter().filter(|&&d| d > 1).count() >= 2) {
        let name = t.ggml_type.name();
        match counts.iter_mut().find(|(n, _)| *n == name) {
            Some((_, c)) => *c += 1,
            None => counts.push((name, 1)),
        }
    }
    counts.sort_by(|a, b| b.1.cmp(&a.1));
    let names: Vec<&str> = counts.iter().map(|(n, _)| n.as_str()).collect();
    match names.len() {
        0 => "none".to_string(),
        1 => names[0].to_string(),
        _ => format!("mixed {}", names.join("/")),
    }
}

/// `general.architecture` → [`ModelConfig`], from llama.cpp's `{arch}.*` keys.
pub fn config_from_metadata(file: &GgufFile) -> Result<ModelConfig> {
    let arch_name = file
        .meta_str("general.architecture")?
        .ok_or_else(|| file.config_err("missing metadata `general.architecture`".into()))?;
    let architecture = match arch_name {
        "llama" => Architecture::Llama,
        "qwen2" => Architecture::Qwen2,
        "gpt2" => Architecture::Gpt2,
        other => {
            return Err(DensiError::UnsupportedArchitecture {
                path: file.path.clone(),
                found: other.to_string(),
                supported: SUPPORTED_ARCHS,
            });
        }
    };
    let a = arch_name;
    let hidden_size = file.meta_usize_req(&format!("{a}.embedding_length"))?;
    let num_layers = file.meta_usize_req(&format!("{a}.block_count"))?;
    let num_heads = file.meta_usize_req(&format!("{a}.attention.head_count"))?;
    let num_kv_heads = file.meta_u64(&format!("{a}.attention.head_count_kv"))?.map_or(num_heads, |v| v as usize);
    let intermediate_size = file.meta_usize_req(&format!("{a}.feed_forward_length"))?;
    let context_length = file.meta_usize_req(&format!("{a}.context_length"))?;
    if num_heads == 0 {
        return Err(file.config_err(format!("`{a}.attention.head_count` is 0")));
    }
    let head_dim = match file.meta_u64(&format!("{a}.attention.key_length"))? {
        Some(k) => k as usize,
        None => hidden_size / num_heads,
    };
    // The embedding's row count is the vocabulary size; `{arch}.vocab_size` is optional.
    let vocab_size = match file.meta_u64(&format!("{a}.vocab_size"))? {
        Some(v) => v as usize,
        None => match file.header.tensor("token_embd.weight") {
            Some(t) if t.ne.len() == 2 => t.ne[1] as usize,
            _ => return Err(file.config_err(format!("missing `{a}.vocab_size` and no 2-D `token_embd.weight`"))),
        },
    };
    let (rope_theta, norm_eps) = if architecture == Architecture::Gpt2 {
        let eps = file
            .meta_f32(&format!("{a}.attention.layer_norm_epsilon"))?
            .ok_or_else(|| file.config_err(format!("missing metadata `{a}.attention.layer_norm_epsilon`")))?;
        (0.0, eps)
    } else {
        if let Some(rot) = file.meta_u64(&format!("{a}.rope.dimension_count"))? {
            if rot as usize != head_dim {
                return Err(file.config_err(format!(
                    "`{a}.rope.dimension_count` = {rot} but head_dim = {head_dim}: partial rotary embeddings are not supported"
                )));
            }
        }
        if let Some(kind) = file.meta_str(&format!("{a}.rope.scaling.type"))? {
            if kind != "none" {
                return Err(file.config_err(format!("`{a}.rope.scaling.type` = `{kind}` is not supported")));
            }
        }
        let theta = file.meta_f32(&format!("{a}.rope.freq_base"))?.unwrap_or(10000.0);
        let eps = file
            .meta_f32(&format!("{a}.attention.layer_norm_rms_epsilon"))?
            .ok_or_else(|| file.config_err(format!("missing metadata `{a}.attention.layer_norm_rms_epsilon`")))?;
        (theta, eps)
    };
    let config = ModelConfig {
        architecture,
        vocab_size,
        hidden_size,
        num_layers,
        num_heads,
        num_kv_heads,
        head_dim,
        intermediate_size,
        context_length,
        rope_theta,
        norm_eps,
        tie_word_embeddings: !file.has_tensor("output.weight"),
    };
    config.validate().map_err(|reason| file.config_err(reason))?;
    Ok(config)
}

fn rms_norm(file: &GgufFile, name: &str, c: &ModelConfig) -> Result<Norm> {
    Ok(Norm { kind: NormKind::RmsNorm, weight: file.tensor_f32(name, &[c.hidden_size])?, bias: None, eps: c.norm_eps })
}

fn layer_norm(file: &GgufFile, prefix: &str, c: &ModelConfig) -> Result<Norm> {
    let h = c.hidden_size;
    Ok(Norm {
        kind: NormKind::LayerNorm,
        weight: file.tensor_f32(&format!("{prefix}.weight"), &[h])?,
        bias: Some(file.tensor_f32(&format!("{prefix}.bias"), &[h])?),
        eps: c.norm_eps,
    })
}

/// `{prefix}.weight` `[out, in]` and, if present (or `bias`), `{prefix}.bias` `[out]`.
fn linear(file: &GgufFile, prefix: &str, out: usize, inp: usize, bias: Option<bool>) -> Result<Linear> {
    let weight = file.tensor_f32(&format!("{prefix}.weight"), &[out, inp])?;
    let bias_name = format!("{prefix}.bias");
    let load_bias = bias.unwrap_or_else(|| file.has_tensor(&bias_name));
    let bias = if load_bias { Some(file.tensor_f32(&bias_name, &[out])?) } else { None };
    Ok(Linear { weight, bias, in_features: inp, out_features: out })
}

/// Undoes llama.cpp's Q/K row permutation (convert_hf_to_gguf.py `permute`): within each head
/// of `head_dim` rows, HF row `s·(head_dim/2) + i` was stored at row `2·i + s` (s ∈ {0, 1}), which
/// turns rotate-half RoPE into ggml's interleaved-pair RoPE. `rows` is `[n_head·head_dim, cols]`.
fn unpermute_rows(rows: &[f32], n_head: usize, head_dim: usize, cols: usize) -> Vec<f32> {
    let half = head_dim / 2;
    let mut out = vec![0f32; rows.len()];
    for h in 0..n_head {
        for s in 0..2 {
            for i in 0..half {
                let dst = (h * head_dim + s * half + i) * cols;
                let src = (h * head_dim + 2 * i + s) * cols;
                out[dst..dst + cols].copy_from_slice(&rows[src..src + cols]);
            }
        }
    }
    out
}

fn unpermute(l: &mut Linear, n_head: usize, head_dim: usize) {
    l.weight = unpermute_rows(&l.weight, n_head, head_dim, l.in_features);
    if let Some(b) = &l.bias {
        l.bias = Some(unpermute_rows(b, n_head, head_dim, 1));
    }
}

/// Llama/Qwen2 tensors (llama.cpp names → HF): `token_embd` (embed_tokens), `blk.{i}.attn_norm`
/// (input_layernorm), `attn_{q,k,v,output}` (q/k/v/o_proj), `ffn_norm` (post_attention_layernorm),
/// `ffn_{gate,up,down}`, `output_norm` (norm), `output` (lm_head, absent when tied).
fn llama_weights(file: &GgufFile, c: &ModelConfig) -> Result<Weights> {
    let (h, hd, i) = (c.hidden_size, c.head_dim, c.intermediate_size);
    let (q_dim, kv_dim) = (c.num_heads * hd, c.num_kv_heads * hd);
    let token_embedding = file.tensor_f32("token_embd.weight", &[c.vocab_size, h])?;
    // Qwen2's Q/K biases are required; Llama may carry biases too (attention_bias), loaded if present.
    let qkv_bias = (c.architecture == Architecture::Qwen2).then_some(true);
    // Not preallocated: num_layers comes from the file; each block's tensors must exist.
    let mut blocks = Vec::new();
    for l in 0..c.num_layers {
        let p = format!("blk.{l}");
        let mut q = linear(file, &format!("{p}.attn_q"), q_dim, h, qkv_bias)?;
        let mut k = linear(file, &format!("{p}.attn_k"), kv_dim, h, qkv_bias)?;
        // Only the llama converter permutes Q/K (ggml's NORM rope); qwen2 uses NEOX rope, HF order.
        if c.architecture == Architecture::Llama {
            unpermute(&mut q, c.num_heads, hd);
            unpermute(&mut k, c.num_kv_heads, hd);
        }
        blocks.push(Block {
            attn_norm: rms_norm(file, &format!("{p}.attn_norm.weight"), c)?,
            q,
            k,
            v: linear(file, &format!("{p}.attn_v"), kv_dim, h, qkv_bias)?,
            o: linear(file, &format!("{p}.attn_output"), h, q_dim, None)?,
            mlp_norm: rms_norm(file, &format!("{p}.ffn_norm.weight"), c)?,
            mlp: Mlp::SwiGlu {
                gate: linear(file, &format!("{p}.ffn_gate"), i, h, None)?,
                up: linear(file, &format!("{p}.ffn_up"), i, h, None)?,
                down: linear(file, &format!("{p}.ffn_down"), h, i, None)?,
            },
        });
    }
    let lm_head = if c.tie_word_embeddings { None } else { Some(linear(file, "output", c.vocab_size, h, None)?) };
    Ok(Weights {
        token_embedding,
        position_embedding: None,
        blocks,
        final_norm: rms_norm(file, "output_norm.weight", c)?,
        lm_head,
    })
}

/// GPT-2 tensors: llama.cpp's converter already transposed the Conv1D weights to `[out, in]`;
/// `attn_qkv` is c_attn with rows q, k, v.
fn gpt2_weights(file: &GgufFile, c: &ModelConfig) -> Result<Weights> {
    let (h, i) = (c.hidden_size, c.intermediate_size);
    // Not preallocated: num_layers comes from the file; each block's tensors must exist.
    let mut blocks = Vec::new();
    for l in 0..c.num_layers {
        let p = format!("blk.{l}");
        let qkv = linear(file, &format!("{p}.attn_qkv"), 3 * h, h, Some(true))?;
        let [q, k, v] = split_rows3(&qkv);
        blocks.push(Block {
            attn_norm: layer_norm(file, &format!("{p}.attn_norm"), c)?,
            q,
            k,
            v,
            o: linear(file, &format!("{p}.attn_output"), h, h, Some(true))?,
            mlp_norm: layer_norm(file, &format!("{p}.ffn_norm"), c)?,
            mlp: Mlp::Gelu {
                fc: linear(file, &format!("{p}.ffn_up"), i, h, Some(true))?,
                proj: linear(file, &format!("{p}.ffn_down"), h, i, Some(true))?,
            },
        });
    }
    let lm_head = if c.tie_word_embeddings { None } else { Some(linear(file, "output", c.vocab_size, h, None)?) };
    Ok(Weights {
        token_embedding: file.tensor_f32("token_embd.weight", &[c.vocab_size, h])?,
        position_embedding: Some(file.tensor_f32("position_embd.weight", &[c.context_length, h])?),
        blocks,
        final_norm: layer_norm(file, "output_norm", c)?,
        lm_head,
    })
}

/// Splits a `[3·n, in]` Linear into three `[n, in]` ones (rows q, k, v).
pub(crate) fn split_rows3(l: &Linear) -> [Linear; 3] {
    let n = l.out_features / 3;
    std::array::from_fn(|j| Linear {
        weight: l.weight[j * n * l.in_features..(j + 1) * n * l.in_features].to_vec(),
        bias: l.bias.as_ref().map(|b| b[j * n..(j + 1) * n].to_vec()),
        in_features: l.in_features,
        out_features: n,
    })
}

/// The `tokenizer.ggml.*` metadata, checked for types and consistency.
pub fn vocab_from_metadata(file: &GgufFile) -> Result<GgufVocab> {
    let tok_err = |reason: String| DensiError::Tokenizer { path: file.path.clone(), reason };
    let model = file
        .meta_str("tokenizer.ggml.model")?
        .ok_or_else(|| tok_err("missing metadata `tokenizer.ggml.model`".into()))?
        .to_string();
    let strings = |key: &str| -> Result<Option<Vec<String>>> {
        match file.meta(key) {
            None => Ok(None),
            Some(v) => {
                let arr = v.as_array().ok_or_else(|| tok_err(format!("`{key}` should be an array of strings")))?;
                arr.iter()
                    .map(|s| {
                        s.as_str()
                            .map(str::to_string)
                            .ok_or_else(|| tok_err(format!("`{key}` should be an array of strings")))
                    })
                    .collect::<Result<Vec<_>>>()
                    .map(Some)
            }
        }
    };
    let tokens =
        strings("tokenizer.ggml.tokens")?.ok_or_else(|| tok_err("missing metadata `tokenizer.ggml.tokens`".into()))?;
    let merges = strings("tokenizer.ggml.merges")?.unwrap_or_default();
    let token_types = match file.meta("tokenizer.ggml.token_type") {
        None => None,
        Some(v) => {
            let arr = v.as_array().ok_or_else(|| tok_err("`tokenizer.ggml.token_type` should be an array".into()))?;
            if arr.len() != tokens.len() {
                return Err(tok_err(format!(
                    "`tokenizer.ggml.token_type` has {} entries for {} tokens",
                    arr.len(),
                    tokens.len()
                )));
            }
            Some(
                arr.iter()
                    .map(|t| {
                        t.as_i64()
                            .map(|t| t as i32)
                            .ok_or_else(|| tok_err("`tokenizer.ggml.token_type` should hold integers".into()))
                    })
                    .collect::<Result<Vec<_>>>()?,
            )
        }
    };
    let id = |key: &str| -> Result<Option<u32>> {
        match file.meta_u64(key)? {
            None => Ok(None),
            Some(v) if (v as usize) < tokens.len() => Ok(Some(v as u32)),
            Some(v) => Err(tok_err(format!("`{key}` = {v} is not a token id (vocabulary of {})", tokens.len()))),
        }
    };
    let add_bos = match file.meta("tokenizer.ggml.add_bos_token") {
        None => None,
        Some(v) => Some(v.as_bool().ok_or_else(|| tok_err("`tokenizer.ggml.add_bos_token` should be a bool".into()))?),
    };
    Ok(GgufVocab {
        model,
        pre: file.meta_str("tokenizer.ggml.pre")?.map(str::to_string),
        bos_id: id("tokenizer.ggml.bos_token_id")?,
        eos_id: id("tokenizer.ggml.eos_token_id")?,
        unk_id: id("tokenizer.ggml.unknown_token_id")?,
        pad_id: id("tokenizer.ggml.padding_token_id")?,
        add_bos,
        tokens,
        token_types,
        merges,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal v3 file: one metadata string, one F32 tensor of 4 elements.
    fn tiny_gguf() -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(b"GGUF");
        b.extend_from_slice(&3u32.to_le_bytes());
        b.extend_from_slice(&1u64.to_le_bytes()); // tensors
        b.extend_from_slice(&1u64.to_le_bytes()); // kv
        let s = |b: &mut Vec<u8>, s: &str| {
            b.extend_from_slice(&(s.len() as u64).to_le_bytes());
            b.extend_from_slice(s.as_bytes());
        };
        s(&mut b, "general.architecture");
        b.extend_from_slice(&8u32.to_le_bytes());
        s(&mut b, "llama");
        s(&mut b, "x");
        b.extend_from_slice(&1u32.to_le_bytes());
        b.extend_from_slice(&4u64.to_le_bytes());
        b.extend_from_slice(&0u32.to_le_bytes());
        b.extend_from_slice(&0u64.to_le_bytes());
        while b.len() % 32 != 0 {
            b.push(0);
        }
        for v in [1.0f32, 2.0, 3.0, 4.0] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        b
    }

    #[test]
    fn parses_a_minimal_file_and_rejects_every_truncation() {
        let b = tiny_gguf();
        let h = parse_gguf_header(&b).unwrap();
        assert_eq!(h.get("general.architecture").and_then(Value::as_str), Some("llama"));
        assert_eq!(h.tensors[0].shape(), vec![4]);
        assert_eq!(h.tensors[0].n_bytes, Some(16));
        for n in 0..b.len() {
            assert!(parse_gguf_header(&b[..n]).is_err(), "a file cut to {n} bytes parsed");
        }
    }

    #[test]
    fn q4_1_block_layout() {
        // d = 0.5, m = -1, qs[j] = j | (15 - j) << 4 → y[j] = 0.5·j − 1, y[j+16] = 0.5·(15−j) − 1.
        let mut b = Vec::new();
        b.extend_from_slice(&half::f16::from_f32(0.5).to_le_bytes());
        b.extend_from_slice(&half::f16::from_f32(-1.0).to_le_bytes());
        for j in 0..16u8 {
            b.push(j | ((15 - j) << 4));
        }
        let y = dequantize(GgmlType::Q4_1, &b, 32).unwrap();
        for j in 0..16 {
            assert_eq!(y[j], 0.5 * j as f32 - 1.0);
            assert_eq!(y[j + 16], 0.5 * (15 - j) as f32 - 1.0);
        }
    }

    #[test]
    fn unpermute_inverts_the_converters_permutation() {
        // convert_hf_to_gguf: w.reshape(n_head, 2, hd/2, cols).swapaxes(1, 2).reshape(...)
        let (n_head, hd, cols) = (2, 4, 3);
        let hf: Vec<f32> = (0..n_head * hd * cols).map(|x| x as f32).collect();
        let mut gguf = vec![0f32; hf.len()];
        for h in 0..n_head {
            for i in 0..hd / 2 {
                for s in 0..2 {
                    let src = (h * hd + s * hd / 2 + i) * cols;
                    let dst = (h * hd + i * 2 + s) * cols;
                    gguf[dst..dst + cols].copy_from_slice(&hf[src..src + cols]);
                }
            }
        }
        assert_eq!(unpermute_rows(&gguf, n_head, hd, cols), hf);
    }
}
