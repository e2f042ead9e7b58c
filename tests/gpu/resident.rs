//! Resident weights on the GPU (`--weights resident`: the file's blocks uploaded as they are and
//! unpacked in the matmul, lm-head and embedding shaders) against the f32 upload of the same file
//! (`--weights f32`: expanded on the CPU at load): surprisal, entropy and varentropy within 1e-5 bits
//! (bits² for varentropy) on every GGUF fixture and on the default model; and the resident path against
//! the CPU oracle within the fixtures' existing 1e-3 bits (fixtures.rs). Also the GPU buffer bytes of the
//! default model held resident, against a bound computed from its shapes.

use crate::common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::*;
use densi::backend::Dtype;
use densi::gpu::GpuForward;
use densi::gpu::contract::WeightFormat;
use densi::metrics::RowStats;
use densi::model::{Model, WeightStorage};
use densi::score::Forward;

const TEXT: &str = "The quick brown fox jumps over the lazy dog. Prices rose 3.5% in 2024, said Dr. Smith.";
/// Resident vs f32 upload, per statistic (bits; bits² for varentropy).
const SAME_BITS: f64 = 1e-5;

fn fixture_files() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut files: Vec<PathBuf> = ["gguf", "gguf_quants"]
        .iter()
        .flat_map(|d| std::fs::read_dir(root.join(d)).unwrap_or_else(|e| panic!("tests/fixtures/{d}: {e}")))
        .map(|e| e.expect("fixture dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "gguf"))
        .collect();
    files.sort();
    files
}

fn ids_of(model: &Model, max_tokens: usize) -> Vec<u32> {
    let tok = &model.tokenizer;
    let mut ids: Vec<u32> = tok.bos_id.or(tok.doc_separator).into_iter().collect();
    ids.extend(tok.encode(TEXT).expect("tokenize").ids);
    ids.truncate(max_tokens.min(model.config.context_length));
    ids
}

/// Largest |Δ| of (surprisal, entropy) in bits and of varentropy in bits².
fn worst(a: &[RowStats], b: &[RowStats]) -> [f64; 3] {
    let ln2 = std::f64::consts::LN_2;
    assert_eq!(a.len(), b.len());
    let mut w = [0.0f64; 3];
    for (x, y) in a.iter().zip(b) {
        w[0] = w[0].max((x.target_logprob - y.target_logprob).abs() / ln2);
        w[1] = w[1].max((x.entropy - y.entropy).abs() / ln2);
        w[2] = w[2].max((x.varentropy - y.varentropy).abs() / (ln2 * ln2));
    }
    w
}

/// Scores `path` on the GPU with resident and with f32-expanded weights; asserts they agree within
/// [`SAME_BITS`]. Returns the resident model.
fn resident_equals_f32(path: &Path, device: Option<usize>, max_tokens: usize) -> Arc<Model> {
    let name = path.file_name().unwrap().to_string_lossy().to_string();
    let resident = Arc::new(Model::load_with(path, WeightStorage::Resident).unwrap_or_else(|e| panic!("{name}: {e}")));
    let expanded = Arc::new(Model::load_with(path, WeightStorage::F32).unwrap_or_else(|e| panic!("{name}: {e}")));
    let ids = ids_of(&resident, max_tokens);
    let score = |m: &Arc<Model>| {
        let mut g = GpuForward::new(m.clone(), device, Dtype::F32, true).expect("GPU backend");
        let rows = g.score_window(&ids, 1, 5).expect("GPU forward");
        (rows, g.gpu_buffer_bytes().expect("a GPU backend has buffers"))
    };
    let (r, r_bytes) = score(&resident);
    let (f, f_bytes) = score(&expanded);
    let [ds, dh, dv] = worst(&r, &f);
    let types: Vec<String> = {
        let mut t: Vec<_> = resident.weights.matrices().iter().map(|(_, m)| m.dtype()).collect();
        t.dedup();
        t.iter().map(|&d| format!("{} → {:?}", d.name(), WeightFormat::for_stored(d, Dtype::F32, false))).collect()
    };
    eprintln!(
        "{name} ({}): resident vs f32 upload, {} rows: max |Δ| surprisal {ds:.2e}, entropy {dh:.2e} bits, \
         varentropy {dv:.2e} bits²; GPU buffers {} vs {} bytes",
        types.join(", "),
        r.len(),
        r_bytes,
        f_bytes
    );
    assert!(ds <= SAME_BITS && dh <= SAME_BITS && dv <= SAME_BITS, "{name}: resident GPU path differs from f32 upload");
    resident
}

#[test]
fn every_gguf_fixture_resident_equals_f32_upload_and_cpu() {
    let Some(probe) = gpu_ctx() else { return };
    let device = Some(probe.info.index);
    drop(probe);
    let files = fixture_files();
    assert!(files.len() >= 15, "GGUF fixtures missing: {files:?}");
    for path in &files {
        let model = resident_equals_f32(path, device, 64);
        // And against the CPU oracle, within the fixtures' tolerance.
        crate::fixtures::compare(&format!("{} resident", path.display()), model, TEXT, 64);
    }
}

#[test]
fn default_model_resident_equals_f32_upload() {
    let Some(path) = crate::support::default_model() else { return };
    let Some(probe) = gpu_ctx() else { return };
    let device = Some(probe.info.index);
    drop(probe);
    resident_equals_f32(&path, device, 16);
}

/// The default model held resident on the GPU: its buffers stay below the file size plus the
/// activations, computed from the shapes. Weights: each matrix's stored bytes and the f32 norms, all
/// as in the file, so at most the file size. Activations (GpuModel::build, f32, for `tcap` tokens and
/// top-k ≤ 16): ids, targets, target logits (tcap each); x and x_norm (tcap·h each); qkv
/// (tcap·(nh + 2·nkv)·hd); attention out (tcap·nh·hd); MLP up and gate (tcap·inter each); RoPE cos and
/// sin (tcap·hd/2 each); lm-head partial records (tcap·nrec·lm_rec_stride) and merged rows plus their
/// read-back staging (2·tcap·lm_out_stride). Small: parameter slots (one 256-byte slot per dispatch),
/// per-buffer padding and the word-boundary bitset, bounded by 64 KiB per layer + 256 KiB + vocab/8.
#[test]
fn default_model_resident_gpu_bytes_are_below_file_plus_activations() {
    use densi::gpu::contract::{lm_out_stride, lm_rec_stride};
    use densi::gpu::kernels::{LM_REC_PER_BLOCK, LM_VBLOCK};
    let Some(path) = crate::support::default_model() else { return };
    let Some(probe) = gpu_ctx() else { return };
    let device = Some(probe.info.index);
    drop(probe);
    let model = Arc::new(Model::load_with(&path, WeightStorage::Resident).expect("default model"));
    let ids = ids_of(&model, 16);
    let mut g = GpuForward::new(model.clone(), device, Dtype::F32, true).expect("GPU backend");
    // Without the prefix cache first (one qkv buffer for every layer), then with it.
    g.set_prefix_cache(0);
    g.score_window(&ids, 1, 5).expect("GPU forward");
    let bytes = g.gpu_buffer_bytes().unwrap();
    g.set_prefix_cache(densi::prefix::DEFAULT_CACHE_BYTES);
    g.score_window(&ids, 1, 5).expect("GPU forward");
    let cached_bytes = g.gpu_buffer_bytes().unwrap();
    let cache = g.reuse_counts().unwrap();

    let c = &model.config;
    let file = std::fs::metadata(&path).unwrap().len();
    // The window's capacity: build() sizes the activations for at least the window (grown in steps).
    let tcap = ids.len().next_power_of_two().max(64) as u64;
    let (h, nh, nkv, hd, inter, vocab) = (
        c.hidden_size as u64,
        c.num_heads as u64,
        c.num_kv_heads as u64,
        c.head_dim as u64,
        c.intermediate_size as u64,
        c.vocab_size as u64,
    );
    let kcap = 16u64; // the lm-head kernels keep at most 16 candidates
    let nrec = vocab.div_ceil(LM_VBLOCK as u64) * LM_REC_PER_BLOCK as u64;
    let acts_floats = tcap * (2 * h + (nh + 2 * nkv) * hd + nh * hd + 2 * inter + 3 + hd)
        + tcap * nrec * lm_rec_stride(kcap as usize) as u64
        + 2 * tcap * lm_out_stride(kcap as usize) as u64;
    // Chunks, parameter slots and the word-boundary bitset: a few KiB per layer at most.
    let small = 64 * 1024 * (c.num_layers as u64 + 4) + vocab / 8;
    let bound = file + 4 * acts_floats + small;
    eprintln!(
        "default model resident on the GPU: {bytes} bytes of buffers; file {file}, activations {} (tcap {tcap}), \
         bound {bound}",
        4 * acts_floats
    );
    assert!(bytes <= bound, "GPU buffers {bytes} bytes > file {file} + activations {} + {small}", 4 * acts_floats);
    // The cache adds its per-layer K/V (counted in its bytes, within its budget) and nothing else.
    assert!(cache.bytes <= cache.budget, "cache {} bytes over its budget {}", cache.bytes, cache.budget);
    assert!(
        cached_bytes <= bound + cache.bytes as u64,
        "GPU buffers with the cache {cached_bytes} bytes > {bound} + the cache's {}",
        cache.bytes
    );
}

/// `densi` on a fixture, its stdout (the binary built for these tests).
fn densi(args: &[&str]) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_densi")).args(args).output().expect("run densi");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "densi {args:?} failed: {stderr}");
    String::from_utf8(out.stdout).expect("utf-8 stdout")
}

/// `densi bench --backend gpu` adds the `GPU bufs` column after the existing ones.
#[test]
fn bench_on_the_gpu_reports_buffer_bytes() {
    if gpu_ctx().is_none() {
        return;
    }
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gguf/tiny-llama-Q4_1.gguf");
    let model = model.to_str().unwrap();
    let out = densi(&[
        "bench",
        "--backend",
        "gpu",
        "--weights",
        "resident",
        "--tokens",
        "8",
        "--repeats",
        "1",
        "--model",
        model,
    ]);
    let header = out.lines().find(|l| l.trim_start().starts_with("tokens")).unwrap_or_else(|| panic!("{out}"));
    assert!(header.trim_end().ends_with("peak RSS    GPU bufs"), "{header}");
    let row: Vec<&str> = out
        .lines()
        .map(str::split_whitespace)
        .map(Iterator::collect::<Vec<_>>)
        .find(|r| r.first() == Some(&"8"))
        .unwrap_or_else(|| panic!("{out}"));
    // tokens, seconds, min, tokens/s, GFLOP/s, peak RSS "<n> MiB", GPU bufs "<n> MiB"
    assert_eq!(row.len(), 9, "{row:?}");
    assert!(row[6] == "MiB" && row[8] == "MiB" && row[7].parse::<u64>().is_ok(), "{row:?}");
}

/// `densi info` says how each matrix type is held on a GPU: IQ4_NL converted (exactly) to Q8_0.
#[test]
fn info_says_how_the_gpu_holds_each_type() {
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gguf_quants/tiny-llama-IQ4_NL.gguf");
    let out = densi(&["info", "--weights", "resident", "--model", model.to_str().unwrap()]);
    assert!(out.contains("on a GPU"), "{out}");
    assert!(out.contains("IQ4_NL      converted once at upload to Q8_0 (exact), unpacked in the shader"), "{out}");
    let q3 = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gguf_quants/tiny-llama256-Q3_K.gguf");
    let out = densi(&["info", "--weights", "resident", "--model", q3.to_str().unwrap()]);
    assert!(out.contains("Q3_K        converted once at upload to Q6_K (exact)"), "{out}");
}

/// The tiled kernels (what real GPUs run; lavapipe picks the direct ones) forced, each tile shape, on
/// resident weights of a 32-value block type and a K-quant: equal to the f32 upload with the same
/// variant within [`SAME_BITS`].
#[test]
fn resident_tiled_variants_equal_f32_upload() {
    use densi::gpu::GpuModel;
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    for name in ["gguf/tiny-llama-Q4_1.gguf", "gguf_quants/tiny-llama256-Q4_K.gguf"] {
        let path = root.join(name);
        let resident = Model::load_with(&path, WeightStorage::Resident).unwrap_or_else(|e| panic!("{name}: {e}"));
        let expanded = Model::load_with(&path, WeightStorage::F32).unwrap_or_else(|e| panic!("{name}: {e}"));
        let ids = ids_of(&resident, 64);
        for rows in densi::gpu::contract::MM_TILES.iter().map(|s| Some(s.rows())) {
            let score = |m: &Model| {
                let ctx = gpu_ctx()?;
                let mut g = GpuModel::new(ctx, &m.config, &m.weights, Dtype::F32).expect("upload");
                g.set_direct(false);
                g.set_tile_rows(rows);
                Some(g.score_window(&ids, 1, 5).expect("GPU forward"))
            };
            let (Some(r), Some(f)) = (score(&resident), score(&expanded)) else { return };
            let [ds, dh, dv] = worst(&r, &f);
            eprintln!("{name} tiled, {rows:?}-row tiles: max |Δ| {ds:.2e}, {dh:.2e} bits, {dv:.2e} bits²");
            assert!(ds <= SAME_BITS && dh <= SAME_BITS && dv <= SAME_BITS, "{name} tiled {rows:?}: resident differs");
        }
    }
}

/// The once-at-upload conversions (IQ4_NL → Q8_0, Q3_K → Q6_K) on random blocks (random scales
/// included: zero sub-scales, negative and subnormal d): the same values as the original type,
/// bit for bit, through the one dequantizer. No GPU needed.
#[test]
fn upload_conversions_are_exact() {
    use densi::gpu::forward::convert_blocks;
    use densi::model::DType;
    use densi::model::dequant::{block_layout, dequantize};
    let mut rng = Rng::new(21);
    for dtype in DType::ALL {
        let WeightFormat::Stored(to) = WeightFormat::for_stored(dtype, Dtype::F32, false) else { continue };
        if to == dtype {
            continue;
        }
        let (block, bytes) = block_layout(dtype);
        let blocks = 64;
        let mut raw: Vec<u8> = (0..blocks * bytes).map(|_| rng.next_u64() as u8).collect();
        // f16 scales must not be NaN or infinite (either would make every value NaN on both sides).
        let d_at = if dtype == DType::Q3_K { 108 } else { 0 };
        for b in raw.chunks_exact_mut(bytes) {
            let d = half::f16::from_f32((rng.uniform() - 0.5) * 0.1);
            b[d_at..d_at + 2].copy_from_slice(&d.to_le_bytes());
        }
        let n = blocks * block;
        let converted = convert_blocks(dtype, to, &raw, "test").expect("conversion");
        let (a, b) = (dequantize(dtype, &raw, n), dequantize(to, &converted, n));
        for (i, (x, y)) in a.iter().zip(&b).enumerate() {
            assert_eq!(x.to_bits(), y.to_bits(), "{} → {} element {i}: {x} vs {y}", dtype.name(), to.name());
        }
        eprintln!("{} → {}: {n} values bit-identical", dtype.name(), to.name());
    }
}

/// `--dtype f16` keeps its meaning for f32 matrices (stored as f16 on the GPU; F16/BF16 tensors too,
/// see model.rs `dtype_choice_per_tensor`) and leaves quantized resident blocks as they are: an F32 file resident under f16 equals its f32 expansion under f16, and a
/// Q4_1 file resident under f16 equals it resident under f32, bit for bit.
#[test]
fn dtype_f16_applies_to_f32_matrices_only() {
    use densi::gpu::GpuModel;
    let Some(ctx) = gpu_ctx() else { return };
    if !f16_runs(&ctx, "dtype_f16_applies_to_f32_matrices_only") {
        return;
    }
    drop(ctx);
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gguf");
    let score = |path: &Path, storage: WeightStorage, dtype: Dtype| {
        let m = Model::load_with(path, storage).expect("fixture");
        let ids = ids_of(&m, 32);
        let mut g = GpuModel::new(gpu_ctx().expect("adapter"), &m.config, &m.weights, dtype).expect("upload");
        g.score_window(&ids, 1, 5).expect("GPU forward")
    };
    let f32_file = root.join("tiny-llama-F32.gguf");
    assert_eq!(
        score(&f32_file, WeightStorage::Resident, Dtype::F16),
        score(&f32_file, WeightStorage::F32, Dtype::F16),
        "F32 file under --dtype f16"
    );
    let q4_1 = root.join("tiny-llama-Q4_1.gguf");
    assert_eq!(
        score(&q4_1, WeightStorage::Resident, Dtype::F16),
        score(&q4_1, WeightStorage::Resident, Dtype::F32),
        "resident Q4_1 under --dtype f16"
    );
}
