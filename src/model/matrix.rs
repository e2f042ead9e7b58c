//! A weight matrix `[rows, cols]`, row-major, kept in its file's storage type.
//!
//! Either f32 values owned here (f32 expanded weights, transposed tensors), or stored rows of any
//! [`DType`] (a GGML block type, F16/BF16, F32) whose bytes are a range of a shared buffer: the
//! memory-mapped model file, or owned bytes after a fix-up that moves whole rows (GGUF's Q/K
//! un-permutation). Every row of a stored matrix is a whole number of blocks, so any range of rows
//! converts to f32 on its own, through the one [`dequant`] path, bit for bit as the whole tensor
//! would: backends dequantize the rows they are about to use, right before they use them.

use std::borrow::Cow;
use std::ops::Range;
use std::sync::Arc;

use super::dequant;
use super::source::DType;

/// Bytes shared by every matrix that borrows them: a mapped file, or an owned buffer.
pub type SharedBytes = Arc<dyn AsRef<[u8]> + Send + Sync>;

/// A `[rows, cols]` row-major weight matrix, f32 or stored (see the module docs).
#[derive(Clone)]
pub struct Matrix {
    rows: usize,
    cols: usize,
    storage: Storage,
}

#[derive(Clone)]
enum Storage {
    /// f32 values owned by the matrix.
    F32(Vec<f32>),
    /// `rows` rows of `dtype`, each a whole number of blocks, at `range` of `bytes`.
    Stored { dtype: DType, bytes: SharedBytes, range: Range<usize> },
}

impl Matrix {
    /// An f32 matrix owning `values` (`rows · cols` of them).
    pub fn from_f32(rows: usize, cols: usize, values: Vec<f32>) -> Matrix {
        assert_eq!(values.len(), rows * cols, "a [{rows}, {cols}] matrix needs {} values", rows * cols);
        Matrix { rows, cols, storage: Storage::F32(values) }
    }

    /// A stored matrix over `bytes[range]`; `None` unless a row is a whole number of `dtype`'s blocks
    /// and the range holds exactly `rows` rows inside `bytes`.
    pub fn from_stored(
        rows: usize,
        cols: usize,
        dtype: DType,
        bytes: SharedBytes,
        range: Range<usize>,
    ) -> Option<Matrix> {
        let (block, block_bytes) = dequant::block_layout(dtype);
        let fits = cols.is_multiple_of(block)
            && rows.checked_mul(cols / block * block_bytes) == Some(range.len())
            && range.end <= (*bytes).as_ref().len();
        fits.then_some(Matrix { rows, cols, storage: Storage::Stored { dtype, bytes, range } })
    }

    /// A stored matrix owning its bytes.
    pub fn from_owned_bytes(rows: usize, cols: usize, dtype: DType, bytes: Vec<u8>) -> Option<Matrix> {
        let len = bytes.len();
        Self::from_stored(rows, cols, dtype, Arc::new(bytes), 0..len)
    }

    /// Rows (output features of a projection, vocabulary entries of an embedding).
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Values per row (input features).
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// The storage type (`F32` for f32 values).
    pub fn dtype(&self) -> DType {
        match &self.storage {
            Storage::F32(_) => DType::F32,
            Storage::Stored { dtype, .. } => *dtype,
        }
    }

    /// The values, when they are f32 in memory (owned, or a 4-byte aligned F32 range of the file).
    pub fn as_f32(&self) -> Option<&[f32]> {
        match &self.storage {
            Storage::F32(v) => Some(v),
            Storage::Stored { dtype: DType::F32, .. } => {
                let b = self.stored_bytes();
                // SAFETY: every bit pattern is an f32; alignment and length are checked by align_to,
                // which puts everything in `mid` only when the start is 4-byte aligned.
                let (head, mid, tail) = unsafe { b.align_to::<f32>() };
                (head.is_empty() && tail.is_empty()).then_some(mid)
            }
            Storage::Stored { .. } => None,
        }
    }

    /// The values as f32: borrowed when they are f32 in memory, else expanded.
    pub fn values(&self) -> Cow<'_, [f32]> {
        match self.as_f32() {
            Some(v) => Cow::Borrowed(v),
            None => Cow::Owned(self.to_f32()),
        }
    }

    /// An expanded f32 copy, through [`dequant::dequantize`].
    pub fn to_f32(&self) -> Vec<f32> {
        match &self.storage {
            Storage::F32(v) => v.clone(),
            Storage::Stored { dtype, .. } => dequant::dequantize(*dtype, self.stored_bytes(), self.rows * self.cols),
        }
    }

    /// All values as f32 into `out` (`rows · cols` values), in parallel: the same values as
    /// [`Self::to_f32`], into a buffer the caller reuses.
    pub fn dequant_into(&self, out: &mut [f32]) {
        assert_eq!(out.len(), self.rows * self.cols);
        match &self.storage {
            Storage::F32(v) => out.copy_from_slice(v),
            Storage::Stored { dtype, .. } => dequant::dequantize_par_into(*dtype, self.stored_bytes(), out),
        }
    }

    /// Rows `rows` as f32 into `out` (`rows.len() · cols` values), bit-identical to the same rows of
    /// [`Self::to_f32`]. Runs on the calling thread.
    pub fn dequant_rows(&self, rows: Range<usize>, out: &mut [f32]) {
        assert!(rows.start <= rows.end && rows.end <= self.rows, "rows {rows:?} of {}", self.rows);
        assert_eq!(out.len(), rows.len() * self.cols);
        match &self.storage {
            Storage::F32(v) => out.copy_from_slice(&v[rows.start * self.cols..rows.end * self.cols]),
            Storage::Stored { dtype, .. } => {
                let rb = self.row_bytes();
                dequant::dequantize_into(*dtype, &self.stored_bytes()[rows.start * rb..rows.end * rb], out);
            }
        }
    }

    /// Columns `cols` of rows `rows` as f32 into `out` (`rows.len() · cols.len()` values, row after
    /// row), bit-identical to the same elements of [`Self::to_f32`]. `cols` must start and end on
    /// the storage type's block boundaries (or at the row's end). Runs on the calling thread.
    pub fn dequant_block(&self, rows: Range<usize>, cols: Range<usize>, out: &mut [f32]) {
        assert!(rows.start <= rows.end && rows.end <= self.rows, "rows {rows:?} of {}", self.rows);
        assert!(cols.start <= cols.end && cols.end <= self.cols, "columns {cols:?} of {}", self.cols);
        let width = cols.len();
        assert_eq!(out.len(), rows.len() * width);
        match &self.storage {
            Storage::F32(v) => {
                for (o, r) in out.chunks_exact_mut(width.max(1)).zip(rows) {
                    o.copy_from_slice(&v[r * self.cols + cols.start..r * self.cols + cols.end]);
                }
            }
            Storage::Stored { dtype, .. } => {
                let (block, block_bytes) = dequant::block_layout(*dtype);
                assert!(
                    cols.start.is_multiple_of(block) && cols.end.is_multiple_of(block),
                    "columns {cols:?} split a block of {block}"
                );
                let (rb, bytes) = (self.row_bytes(), self.stored_bytes());
                let (b0, b1) = (cols.start / block * block_bytes, cols.end / block * block_bytes);
                for (o, r) in out.chunks_exact_mut(width.max(1)).zip(rows) {
                    dequant::dequantize_into(*dtype, &bytes[r * rb + b0..r * rb + b1], o);
                }
            }
        }
    }

    /// The stored bytes, row after row (f32 values as their little-endian bytes).
    pub fn stored_bytes(&self) -> &[u8] {
        match &self.storage {
            Storage::F32(v) => {
                // SAFETY: f32 has no padding and u8 no alignment; the length is the same memory.
                unsafe { std::slice::from_raw_parts(v.as_ptr().cast::<u8>(), std::mem::size_of_val(v.as_slice())) }
            }
            Storage::Stored { bytes, range, .. } => &(**bytes).as_ref()[range.clone()],
        }
    }

    /// Bytes of one stored row.
    pub fn row_bytes(&self) -> usize {
        let (block, block_bytes) = dequant::block_layout(self.dtype());
        self.cols / block * block_bytes
    }

    /// Bytes this matrix keeps in memory (mapped file pages included once touched).
    pub fn resident_bytes(&self) -> usize {
        self.rows * self.row_bytes()
    }

    /// Rows `rows` as a matrix of their own, sharing the stored bytes (f32 values are copied).
    pub fn slice_rows(&self, rows: Range<usize>) -> Matrix {
        assert!(rows.start <= rows.end && rows.end <= self.rows, "rows {rows:?} of {}", self.rows);
        let storage = match &self.storage {
            Storage::F32(v) => Storage::F32(v[rows.start * self.cols..rows.end * self.cols].to_vec()),
            Storage::Stored { dtype, bytes, range } => {
                let rb = self.row_bytes();
                let start = range.start + rows.start * rb;
                Storage::Stored { dtype: *dtype, bytes: bytes.clone(), range: start..start + rows.len() * rb }
            }
        };
        Matrix { rows: rows.len(), cols: self.cols, storage }
    }

    /// The matrix whose row `r` is this one's row `source(r)`, in the same storage type (a
    /// permutation of whole rows needs no conversion).
    pub fn gather_rows(&self, source: impl Fn(usize) -> usize) -> Matrix {
        match &self.storage {
            Storage::F32(v) => {
                let c = self.cols;
                let values = (0..self.rows).flat_map(|r| &v[source(r) * c..(source(r) + 1) * c]).copied().collect();
                Matrix::from_f32(self.rows, c, values)
            }
            Storage::Stored { dtype, .. } => {
                let (rb, b) = (self.row_bytes(), self.stored_bytes());
                let bytes = (0..self.rows).flat_map(|r| &b[source(r) * rb..(source(r) + 1) * rb]).copied().collect();
                Matrix::from_owned_bytes(self.rows, self.cols, *dtype, bytes).expect("same layout")
            }
        }
    }

    /// The values as mutable f32, expanding stored rows into owned values first (tests that round
    /// weights; never on a scoring path).
    pub fn make_f32_mut(&mut self) -> &mut [f32] {
        if !matches!(self.storage, Storage::F32(_)) {
            self.storage = Storage::F32(self.to_f32());
        }
        match &mut self.storage {
            Storage::F32(v) => v,
            Storage::Stored { .. } => unreachable!("expanded above"),
        }
    }
}

/// Equal when the shapes and the f32 values are (whatever the storage).
impl PartialEq for Matrix {
    fn eq(&self, other: &Matrix) -> bool {
        self.rows == other.rows && self.cols == other.cols && self.values() == other.values()
    }
}

impl std::fmt::Debug for Matrix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Matrix[{}, {}] {}", self.rows, self.cols, self.dtype().name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_rows_dequantize_as_the_whole_tensor() {
        // 3 rows of 64 Q8_0 values (2 blocks per row) with distinct scales and quants.
        let mut bytes = Vec::new();
        for b in 0..6u8 {
            bytes.extend_from_slice(&half::f16::from_f32(0.25 + b as f32).to_le_bytes());
            bytes.extend((0..32u8).map(|j| j.wrapping_mul(7).wrapping_add(b)));
        }
        let m = Matrix::from_owned_bytes(3, 64, DType::Q8_0, bytes.clone()).unwrap();
        let all = dequant::dequantize(DType::Q8_0, &bytes, 3 * 64);
        assert_eq!(m.to_f32(), all);
        let mut part = vec![0.0; 2 * 64];
        m.dequant_rows(1..3, &mut part);
        assert_eq!(part, all[64..]);
        assert_eq!(m.slice_rows(2..3).to_f32(), all[128..]);
        let swapped = m.gather_rows(|r| 2 - r);
        assert_eq!(swapped.to_f32()[..64], all[128..]);
        assert_eq!((m.row_bytes(), m.resident_bytes()), (68, 204));
        // Not a whole number of blocks per row, or the wrong byte count: refused.
        assert!(Matrix::from_owned_bytes(6, 32, DType::Q8_0, bytes.clone()).is_some());
        assert!(Matrix::from_owned_bytes(12, 16, DType::Q8_0, bytes.clone()).is_none());
        assert!(Matrix::from_owned_bytes(2, 64, DType::Q8_0, bytes).is_none());
    }

    #[test]
    fn f32_storage_borrows_when_aligned() {
        let values: Vec<f32> = (0..6).map(|x| x as f32 * 0.5).collect();
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        let m = Matrix::from_owned_bytes(2, 3, DType::F32, bytes).unwrap();
        assert_eq!(m.as_f32(), Some(values.as_slice()));
        assert_eq!(m, Matrix::from_f32(2, 3, values.clone()));
        assert_eq!(Matrix::from_f32(2, 3, values.clone()).stored_bytes(), m.stored_bytes());
    }
}
