//! GGUF header: metadata values, tensor infos, alignment, and the mapped file that serves tensors
//! as a [`TensorSource`].
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
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::quants::{self, GgmlType};
use crate::error::{DensiError, Result};
use crate::model::matrix::SharedBytes;
use crate::model::source::{TensorSource, TensorView};

const MAGIC: &[u8; 4] = b"GGUF";
const DEFAULT_ALIGNMENT: u64 = 32;
/// ggml's GGML_MAX_DIMS.
const MAX_DIMS: u32 = 4;
/// Arrays of arrays are legal GGUF but unused in practice; a bound keeps a hostile file from
/// recursing the stack away.
const MAX_ARRAY_NESTING: usize = 4;

pub(super) const FORMAT: &str = "GGUF";

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

    pub(crate) fn type_name(&self) -> &'static str {
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

    // No two tensors share bytes: ggml's loader requires each tensor right after the previous one,
    // and shared bytes would be read as two different tensors.
    let mut by_offset: Vec<&TensorInfo> = tensors.iter().filter(|t| t.n_bytes.is_some_and(|n| n > 0)).collect();
    by_offset.sort_by_key(|t| t.offset);
    for w in by_offset.windows(2) {
        let end = w[0].offset + w[0].n_bytes.unwrap_or(0);
        if end > w[1].offset {
            return Err(format!(
                "tensors `{}` (bytes {}..{end}) and `{}` (from byte {}) overlap",
                w[0].name, w[0].offset, w[1].name, w[1].offset
            ));
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
    if !ne[0].is_multiple_of(block as u64) {
        return Err(format!(
            "tensor `{name}`: row length {} is not a multiple of the {} block size {block}",
            ne[0],
            ty.name()
        ));
    }
    Ok(Some((n / block as u64) as usize * size))
}

// ---------------------------------------------------------------------------------------------
// The mapped file
// ---------------------------------------------------------------------------------------------

/// A GGUF file's bytes (memory-mapped, or in memory for the fuzzer) with its parsed header. The
/// bytes are shared, so resident weight matrices keep borrowing them after the file is dropped.
pub struct GgufFile {
    pub path: PathBuf,
    bytes: SharedBytes,
    pub header: GgufHeader,
}

impl GgufFile {
    pub fn open(path: &Path) -> Result<GgufFile> {
        let file = std::fs::File::open(path).map_err(|e| DensiError::io(path, e))?;
        // SAFETY: the map is read-only and private to this process. As with every mmap-based model
        // loader, a file truncated by another process while mapped would fault; we accept that.
        let mmap = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| DensiError::io(path, e))?;
        Self::from_bytes(path, Arc::new(mmap))
    }

    /// A GGUF file already in memory; `path` only names it in errors.
    pub fn from_vec(path: &Path, bytes: Vec<u8>) -> Result<GgufFile> {
        Self::from_bytes(path, Arc::new(bytes))
    }

    fn from_bytes(path: &Path, bytes: SharedBytes) -> Result<GgufFile> {
        let header = parse_gguf_header((*bytes).as_ref()).map_err(|reason| invalid(path, reason))?;
        check_finite(&header, (*bytes).as_ref()).map_err(|reason| invalid(path, reason))?;
        Ok(GgufFile { path: path.to_path_buf(), bytes, header })
    }

    pub(crate) fn meta(&self, key: &str) -> Option<&Value> {
        self.header.get(key)
    }

    pub(crate) fn meta_u64(&self, key: &str) -> Result<Option<u64>> {
        match self.meta(key) {
            None => Ok(None),
            Some(v) => v.as_u64().map(Some).ok_or_else(|| {
                self.config_err(format!("metadata `{key}` should be a non-negative integer, found {}", v.type_name()))
            }),
        }
    }

    pub(crate) fn meta_usize_req(&self, key: &str) -> Result<usize> {
        self.meta_u64(key)?.map(|v| v as usize).ok_or_else(|| self.config_err(format!("missing metadata `{key}`")))
    }

    pub(crate) fn meta_f32(&self, key: &str) -> Result<Option<f32>> {
        match self.meta(key) {
            None => Ok(None),
            Some(v) => v
                .as_f32()
                .map(Some)
                .ok_or_else(|| self.config_err(format!("metadata `{key}` should be a float, found {}", v.type_name()))),
        }
    }

    pub(crate) fn meta_str(&self, key: &str) -> Result<Option<&str>> {
        match self.meta(key) {
            None => Ok(None),
            Some(v) => v.as_str().map(Some).ok_or_else(|| {
                self.config_err(format!("metadata `{key}` should be a string, found {}", v.type_name()))
            }),
        }
    }

    pub(crate) fn config_err(&self, reason: String) -> DensiError {
        DensiError::Config { path: self.path.clone(), reason }
    }
}

impl TensorSource for GgufFile {
    fn names(&self) -> Vec<&str> {
        self.header.tensors.iter().map(|t| t.name.as_str()).collect()
    }

    fn get(&self, name: &str) -> Option<TensorView<'_>> {
        let t = self.header.tensor(name)?;
        let range = t.offset..t.offset + t.n_bytes.unwrap_or(0);
        Some(TensorView {
            name: &t.name,
            file: &self.path,
            shape: t.shape(),
            dtype: t.ggml_type.dtype().ok_or_else(|| t.ggml_type.name()),
            // In bounds: checked by parse_gguf_header.
            bytes: &(*self.bytes).as_ref()[range.clone()],
            shared: Some((&self.bytes, range)),
        })
    }

    fn path(&self) -> &Path {
        &self.path
    }

    fn format(&self) -> &'static str {
        FORMAT
    }

    fn supported_dtypes(&self) -> &'static str {
        GgmlType::SUPPORTED
    }
}

/// Every readable tensor's stored values are finite (`quants::first_non_finite`: each element of
/// the float types, each f16 scale of the block types). A NaN or infinite weight would make every
/// score NaN; it is refused here, naming the tensor, as llama.cpp's `--check-tensors` does. This
/// reads one scale per block (every element for F32/F16/BF16): one pass over the file, in parallel.
fn check_finite(header: &GgufHeader, bytes: &[u8]) -> Result<(), String> {
    use rayon::prelude::*;
    header
        .tensors
        .par_iter()
        .find_map_first(|t| {
            let dtype = t.ggml_type.dtype()?;
            let data = &bytes[t.offset..t.offset + t.n_bytes?];
            let (i, at, v) = quants::first_non_finite(dtype, data)?;
            let (block, size) = quants::block_layout(dtype);
            Some(if block == 1 {
                format!("tensor `{}` ({}): element {i} is {v}; weights must be finite", t.name, dtype.name())
            } else {
                format!(
                    "tensor `{}` ({}): block {i} (byte {} of the tensor) has a non-finite f16 scale ({v} at byte {at} of the block); weights must be finite",
                    t.name,
                    dtype.name(),
                    i * size,
                )
            })
        })
        .map_or(Ok(()), Err)
}

fn invalid(path: &Path, reason: String) -> DensiError {
    DensiError::InvalidModelFile { path: path.to_path_buf(), format: FORMAT, reason }
}
