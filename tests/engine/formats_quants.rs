//! Hostile quantized GGUF files: every quantized fixture (tests/fixtures/gguf/tiny-llama-Q*.gguf and
//! tests/fixtures/gguf_quants/, every block type densi reads) broken the ways a damaged or crafted
//! file can be: cut short, a row that is not whole blocks, a NaN or infinite f16 scale, data past
//! the end of the file, overlapping tensors, a type densi does not read. Each is one
//! `InvalidModelFile` or `UnsupportedTensorType` error naming the file and the tensor, never a
//! panic, an out-of-bounds read or a model that scores NaN.

use std::path::{Path, PathBuf};

use densi::DensiError;
use densi::model::Model;
use densi::model::dequant::block_layout;
use densi::model::gguf::{GgufHeader, TensorInfo, parse_gguf_header, quants};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// Every fixture whose matrices are a block type, with its bytes.
fn quantized_fixtures() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for dir in ["gguf", "gguf_quants"] {
        let mut names: Vec<PathBuf> = std::fs::read_dir(fixtures().join(dir))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "gguf"))
            .collect();
        names.sort();
        for p in names {
            let b = std::fs::read(&p).unwrap();
            let h = parse_gguf_header(&b).unwrap();
            if block_of(&h, FFN_DOWN).0 > 1 {
                out.push((p.file_name().unwrap().to_string_lossy().into_owned(), b));
            }
        }
    }
    assert!(out.len() >= 12, "{} quantized fixtures", out.len());
    out
}

const FFN_DOWN: &str = "blk.0.ffn_down.weight";

fn info<'a>(h: &'a GgufHeader, name: &str) -> &'a TensorInfo {
    h.tensor(name).unwrap_or_else(|| panic!("no {name}"))
}

/// `(elements, bytes)` of one block of the tensor's type.
fn block_of(h: &GgufHeader, name: &str) -> (usize, usize) {
    block_layout(info(h, name).ggml_type.dtype().unwrap())
}

/// Loads `bytes` as `name` from a temp dir: the error, which must name the file and every `words`.
fn load_err(name: &str, bytes: &[u8], words: &[&str]) -> DensiError {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    let err = Model::load(&path).err().unwrap_or_else(|| panic!("{name} loaded"));
    let msg = err.to_string();
    assert!(msg.contains(&path.display().to_string()), "{name}: error does not name the file: {msg}");
    for w in words {
        assert!(msg.contains(w), "{name}: error lacks {w:?}: {msg}");
    }
    err
}

/// Byte position of the tensor info of `name`: (first dimension, type, offset) fields.
fn tensor_info_fields(b: &[u8], name: &str) -> (usize, usize, usize) {
    let mut needle = (name.len() as u64).to_le_bytes().to_vec();
    needle.extend_from_slice(name.as_bytes());
    let p = b.windows(needle.len()).position(|w| w == needle).unwrap() + needle.len();
    let n_dims = u32::from_le_bytes(b[p..p + 4].try_into().unwrap()) as usize;
    let dims = p + 4;
    (dims, dims + 8 * n_dims, dims + 8 * n_dims + 4)
}

#[test]
fn quantized_fixtures_cover_every_block_type() {
    let mut seen: Vec<String> = quantized_fixtures()
        .iter()
        .map(|(_, b)| info(&parse_gguf_header(b).unwrap(), FFN_DOWN).ggml_type.name())
        .collect();
    seen.sort();
    seen.dedup();
    for d in densi::model::DType::ALL {
        if block_layout(d).0 > 1 {
            assert!(seen.contains(&d.name().to_string()), "no quantized fixture of {}", d.name());
        }
    }
}

#[test]
fn truncated_quantized_tensor() {
    for (name, b) in quantized_fixtures() {
        let h = parse_gguf_header(&b).unwrap();
        let last = h.tensors.iter().max_by_key(|t| t.offset).unwrap();
        // Cut inside the last tensor's last block, and at its first byte.
        for cut in [b.len() - 1, last.offset + 1] {
            let err = load_err(&name, &b[..cut], &[&last.name, "outside the file"]);
            assert!(matches!(err, DensiError::InvalidModelFile { .. }), "{name}: {err:?}");
        }
    }
}

#[test]
fn row_not_a_whole_number_of_blocks() {
    for (name, b) in quantized_fixtures() {
        let h = parse_gguf_header(&b).unwrap();
        let (block, _) = block_of(&h, FFN_DOWN);
        let mut b = b;
        let (dims, _, _) = tensor_info_fields(&b, FFN_DOWN);
        let ne0 = u64::from_le_bytes(b[dims..dims + 8].try_into().unwrap());
        // One element short of whole blocks, and (256-blocks) a multiple of 32 that is not of 256.
        for bad in [ne0 - 1, ne0 - (block as u64) / 8] {
            b[dims..dims + 8].copy_from_slice(&bad.to_le_bytes());
            let err = load_err(&name, &b, &[FFN_DOWN, "block size", &block.to_string()]);
            assert!(matches!(err, DensiError::InvalidModelFile { .. }), "{name}: {err:?}");
        }
    }
}

/// A NaN or infinite f16 scale (`d` or `dmin`) would make a whole block NaN and every score after it;
/// the file is refused at load, naming the tensor and the block.
#[test]
fn non_finite_scale_is_refused_at_load() {
    for (name, b) in quantized_fixtures() {
        let h = parse_gguf_header(&b).unwrap();
        let t = info(&h, FFN_DOWN);
        let dtype = t.ggml_type.dtype().unwrap();
        let (_, size) = block_layout(dtype);
        for &field in quants::scale_offsets(dtype) {
            for (bits, shown) in [(0x7E00u16, "NaN"), (0x7C00, "inf"), (0xFC00, "-inf")] {
                let mut b = b.clone();
                let at = t.offset + 3 * size + field;
                b[at..at + 2].copy_from_slice(&bits.to_le_bytes());
                let err = load_err(&name, &b, &[FFN_DOWN, "block 3 ", shown, "non-finite"]);
                assert!(matches!(err, DensiError::InvalidModelFile { .. }), "{name}: {err:?}");
            }
        }
    }
}

#[test]
fn non_finite_float_weight_is_refused_at_load() {
    for (file, bits, width) in [("tiny-llama-F32.gguf", 0x7FC0_0000u32, 4), ("tiny-llama-F16.gguf", 0x7C00, 2)] {
        let mut b = std::fs::read(fixtures().join("gguf").join(file)).unwrap();
        let t = info(&parse_gguf_header(&b).unwrap(), FFN_DOWN).clone();
        let at = t.offset + 5 * width;
        b[at..at + width].copy_from_slice(&bits.to_le_bytes()[..width]);
        let err = load_err(file, &b, &[FFN_DOWN, "element 5 ", "finite"]);
        assert!(matches!(err, DensiError::InvalidModelFile { .. }), "{file}: {err:?}");
    }
}

#[test]
fn data_offset_past_the_end() {
    for (name, mut b) in quantized_fixtures() {
        let (_, _, off) = tensor_info_fields(&b, FFN_DOWN);
        for rel in [b.len() as u64 / 32 * 32, 1 << 40, u64::MAX / 32 * 32] {
            b[off..off + 8].copy_from_slice(&rel.to_le_bytes());
            let err = load_err(&name, &b, &[FFN_DOWN, "outside the file"]);
            assert!(matches!(err, DensiError::InvalidModelFile { .. }), "{name}: {err:?}");
        }
    }
}

/// Two tensors whose data overlap (a crafted offset): refused, as ggml's loader refuses any tensor
/// not at its expected offset.
#[test]
fn overlapping_tensors() {
    for (name, b) in quantized_fixtures() {
        let h = parse_gguf_header(&b).unwrap();
        let mut b = b;
        let first = h.tensors.iter().min_by_key(|t| t.offset).unwrap();
        let (_, _, off) = tensor_info_fields(&b, FFN_DOWN);
        let rel = (first.offset - h.data_offset) as u64;
        b[off..off + 8].copy_from_slice(&rel.to_le_bytes());
        let err = load_err(&name, &b, &[FFN_DOWN, &first.name, "overlap"]);
        assert!(matches!(err, DensiError::InvalidModelFile { .. }), "{name}: {err:?}");
    }
}

/// A ggml type densi does not read: one whose layout is known (IQ2_XXS or MXFP4, the fixture's block
/// size and smaller blocks, so the bytes still lie in the file) and an id no ggml has: one error
/// naming the tensor, its type and the supported ones.
#[test]
fn unsupported_block_types() {
    for (name, b) in quantized_fixtures() {
        let h = parse_gguf_header(&b).unwrap();
        let known = if block_of(&h, FFN_DOWN).0 == 256 { (16u32, "IQ2_XXS") } else { (39, "MXFP4") };
        for (ty, shown) in [known, (1000, "ggml type 1000")] {
            let mut b = b.clone();
            let (_, t, _) = tensor_info_fields(&b, FFN_DOWN);
            b[t..t + 4].copy_from_slice(&ty.to_le_bytes());
            let err = load_err(&name, &b, &[FFN_DOWN, shown, "Q4_K", "IQ4_XS"]);
            assert!(matches!(err, DensiError::UnsupportedTensorType { .. }), "{name} as {shown}: {err:?}");
        }
    }
}

#[path = "../../fuzz/fuzz_targets/dequant_reference.rs"]
mod dequant_reference;

/// The `dequant` fuzz target's property on a fixed stream of arbitrary bytes (NaN, infinite and
/// subnormal scales included): every dequantizer equals the slow element-by-element reference written
/// from ggml's C, bit for bit, and the load-time check finds every non-finite value.
#[test]
fn dequantizers_match_the_slow_reference_on_arbitrary_bytes() {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state as u8
    };
    for dtype in densi::model::DType::ALL {
        let (block, size) = block_layout(dtype);
        let n_blocks = 4096 / block.max(16);
        let bytes: Vec<u8> = (0..n_blocks * size).map(|_| next()).collect();
        let got = densi::model::dequant::dequantize(dtype, &bytes, n_blocks * block);
        let mut non_finite = 0;
        for (i, &g) in got.iter().enumerate() {
            let want = dequant_reference::element(dtype, &bytes[i / block * size..][..size], i % block);
            assert!(dequant_reference::same(g, want), "{}: element {i}: {g} vs reference {want}", dtype.name());
            non_finite += !g.is_finite() as usize;
        }
        let flagged = quants::first_non_finite(dtype, &bytes);
        assert_eq!(
            flagged.is_some(),
            non_finite > 0,
            "{}: {non_finite} non-finite values, check {flagged:?}",
            dtype.name()
        );
    }
}

/// What the load-time finite check costs on the default model (docs: fuzz/README.md, "finite check"):
/// `cargo test --test engine finite_check_cost -- --ignored --nocapture`. Not timed in CI.
#[test]
#[ignore]
fn finite_check_cost_on_the_default_model() {
    use densi::model::TensorSource;
    let Some(path) = crate::support::default_model() else { return };
    let t = std::time::Instant::now();
    let f = densi::model::gguf::GgufFile::open(&path).unwrap();
    let open = t.elapsed();
    let t = std::time::Instant::now();
    let mut bytes = 0;
    for name in f.names() {
        let v = f.get(name).unwrap();
        if let Ok(d) = v.dtype {
            assert!(quants::first_non_finite(d, v.bytes).is_none());
            bytes += v.bytes.len();
        }
    }
    let check = t.elapsed();
    let t = std::time::Instant::now();
    let model = Model::load(&path).unwrap();
    eprintln!(
        "open (header + check) {:.1} ms; the check alone again {:.1} ms over {} MB; whole Model::load {:.1} ms ({} layers)",
        open.as_secs_f64() * 1e3,
        check.as_secs_f64() * 1e3,
        bytes / 1_000_000,
        t.elapsed().as_secs_f64() * 1e3,
        model.config.num_layers
    );
}
