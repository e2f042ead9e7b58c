//! Where the fast forward keeps a layer's keys and values: [positions, 2·nkv·hd] (k | v per row,
//! after RoPE), positions 0..past from the prefix cache, then the rows a forward appends.
//!
//! Two stores, one trait: a `Vec<f32>` for a forward whose K/V are dropped at its end (one buffer
//! that every layer reuses), and [`MappedKv`] for K/V the prefix cache keeps. A kept entry lives in
//! an anonymous memory map of its own, so evicting it returns its pages to the system at once: the
//! allocator's heap never holds a freed entry, and the cache's budget bounds what it adds to the
//! process's resident set (docs/performance.md, "Prefix reuse").

use memmap2::MmapMut;

use crate::error::{DensiError, Result};

/// A growable run of f32 rows: what [`super::fast::final_hidden`] appends each layer's K/V to.
pub trait KvRows {
    /// Keeps the first `len` floats.
    fn truncate(&mut self, len: usize);
    /// Appends `rows`; the store must have room (see [`MappedKv::with_capacity`]).
    fn extend_from_slice(&mut self, rows: &[f32]);
    /// The floats held.
    fn as_slice(&self) -> &[f32];
}

impl KvRows for Vec<f32> {
    fn truncate(&mut self, len: usize) {
        Vec::truncate(self, len);
    }
    fn extend_from_slice(&mut self, rows: &[f32]) {
        Vec::extend_from_slice(self, rows);
    }
    fn as_slice(&self) -> &[f32] {
        self
    }
}

/// Floats in an anonymous memory map of a fixed capacity (pages are touched, hence resident, only
/// as rows are written).
pub struct MappedKv {
    map: Option<MmapMut>,
    len: usize,
}

impl MappedKv {
    /// Room for `capacity` floats.
    pub fn with_capacity(capacity: usize) -> Result<MappedKv> {
        let map = match capacity {
            0 => None,
            n => Some(MmapMut::map_anon(n * 4).map_err(|e| {
                DensiError::Other(format!(
                    "the prefix cache could not map {} KiB for keys and values: {e}",
                    (n * 4) >> 10
                ))
            })?),
        };
        Ok(MappedKv { map, len: 0 })
    }

    /// Room for `capacity` floats, holding a copy of `prefix` (≤ capacity).
    pub fn with_prefix(prefix: &[f32], capacity: usize) -> Result<MappedKv> {
        let mut kv = MappedKv::with_capacity(capacity)?;
        kv.extend_from_slice(prefix);
        Ok(kv)
    }

    /// Floats it has room for.
    pub fn capacity(&self) -> usize {
        self.map.as_ref().map_or(0, |m| m.len() / 4)
    }

    /// Bytes of memory it maps (whole pages).
    pub fn mapped_bytes(&self) -> usize {
        self.map.as_ref().map_or(0, |m| Self::bytes_for(m.len() / 4))
    }

    /// Bytes a store of `capacity` floats maps: what the prefix cache counts for it.
    pub fn bytes_for(capacity: usize) -> usize {
        (capacity * 4).div_ceil(PAGE) * PAGE
    }
}

/// The map's bytes as floats: a map starts on a page boundary and holds whole floats, and every
/// bit pattern is an f32.
fn as_floats(map: &[u8]) -> &[f32] {
    // SAFETY: see above; `align_to` puts misaligned ends in `head`/`tail`, checked empty.
    let (head, floats, tail) = unsafe { map.align_to::<f32>() };
    assert!(head.is_empty() && tail.is_empty(), "K/V map not f32-aligned");
    floats
}

/// [`as_floats`], mutable.
fn as_floats_mut(map: &mut [u8]) -> &mut [f32] {
    // SAFETY: as in `as_floats`.
    let (head, floats, tail) = unsafe { map.align_to_mut::<f32>() };
    assert!(head.is_empty() && tail.is_empty(), "K/V map not f32-aligned");
    floats
}

/// The page size the map rounds to (4 KiB on x86-64 Linux; larger pages only make the bound looser).
const PAGE: usize = 4096;

impl KvRows for MappedKv {
    fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }
    fn extend_from_slice(&mut self, rows: &[f32]) {
        let end = self.len + rows.len();
        assert!(end <= self.capacity(), "K/V store of {} floats given {end}", self.capacity());
        if let Some(map) = &mut self.map {
            as_floats_mut(map)[self.len..end].copy_from_slice(rows);
        }
        self.len = end;
    }
    fn as_slice(&self) -> &[f32] {
        match &self.map {
            Some(map) => &as_floats(map)[..self.len],
            None => &[],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapped_rows_append_truncate_and_copy() {
        let mut kv = MappedKv::with_capacity(10).unwrap();
        assert_eq!((kv.capacity(), kv.mapped_bytes()), (10, 4096));
        kv.extend_from_slice(&[1.0, 2.0, 3.0]);
        kv.extend_from_slice(&[4.0]);
        assert_eq!(kv.as_slice(), &[1.0, 2.0, 3.0, 4.0]);
        kv.truncate(2);
        kv.extend_from_slice(&[9.0]);
        assert_eq!(kv.as_slice(), &[1.0, 2.0, 9.0]);
        let copy = MappedKv::with_prefix(&kv.as_slice()[..2], 4).unwrap();
        assert_eq!(copy.as_slice(), &[1.0, 2.0]);
        let empty = MappedKv::with_capacity(0).unwrap();
        assert_eq!((empty.as_slice().len(), empty.mapped_bytes()), (0, 0));
    }

    #[test]
    #[should_panic(expected = "K/V store of 2 floats given 3")]
    fn mapped_rows_refuse_to_grow_past_capacity() {
        MappedKv::with_capacity(2).unwrap().extend_from_slice(&[1.0, 2.0, 3.0]);
    }
}
