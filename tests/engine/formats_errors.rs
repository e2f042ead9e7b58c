//! Bad input never panics: each broken model file or directory (made by mutating the real
//! fixtures in a temporary directory) gets a typed `DensiError` that names the file and says
//! what is wrong.

use std::path::{Path, PathBuf};

use densi::DensiError;
use densi::model::Model;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn gguf_f32() -> Vec<u8> {
    std::fs::read(fixtures().join("gguf/tiny-llama-F32.gguf")).unwrap()
}

/// Writes `bytes` to `name` in a fresh temp dir and loads it.
fn load_bytes(name: &str, bytes: &[u8]) -> (tempfile::TempDir, PathBuf, DensiError) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    let err = Model::load(&path).err().unwrap_or_else(|| panic!("{name} loaded"));
    (dir, path, err)
}

/// The error names `path` and contains every `words`.
fn assert_names(err: &DensiError, path: &Path, words: &[&str]) {
    let msg = err.to_string();
    eprintln!("{msg}");
    assert!(msg.contains(&path.display().to_string()), "error does not name {}: {msg}", path.display());
    for w in words {
        assert!(msg.contains(w), "error lacks {w:?}: {msg}");
    }
}

fn find(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len())
        .position(|w| w == needle)
        .unwrap_or_else(|| panic!("{:?} not found", String::from_utf8_lossy(needle)))
}

/// Byte position just after the GGUF string `s` (u64 length + bytes).
fn after_gguf_string(b: &[u8], s: &str) -> usize {
    let mut needle = (s.len() as u64).to_le_bytes().to_vec();
    needle.extend_from_slice(s.as_bytes());
    find(b, &needle) + needle.len()
}

/// Positions of a tensor info's fields: (first dim, type, offset).
fn tensor_info(b: &[u8], name: &str) -> (usize, usize, usize) {
    let p = after_gguf_string(b, name);
    let n_dims = u32::from_le_bytes(b[p..p + 4].try_into().unwrap()) as usize;
    let dims = p + 4;
    let ty = dims + 8 * n_dims;
    (dims, ty, ty + 4)
}

fn put_u32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

fn put_u64(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

fn replace_same_len(b: &mut [u8], from: &[u8], to: &[u8]) {
    assert_eq!(from.len(), to.len());
    let p = find(b, from);
    b[p..p + to.len()].copy_from_slice(to);
}

// --- missing files ------------------------------------------------------------------------------

#[test]
fn missing_model_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nope.gguf");
    let err = Model::load(&path).err().unwrap();
    assert!(matches!(err, DensiError::Io { .. }), "{err:?}");
    assert_names(&err, &path, &[]);
}

#[test]
fn directory_without_config_json() {
    let dir = tempfile::tempdir().unwrap();
    let err = Model::load(dir.path()).err().unwrap();
    assert!(matches!(err, DensiError::Io { .. }), "{err:?}");
    assert_names(&err, &dir.path().join("config.json"), &[]);
}

/// Copies a fixture directory's files into a temp dir (to mutate them).
fn copy_fixture_dir(name: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for e in std::fs::read_dir(fixtures().join(name)).unwrap() {
        let p = e.unwrap().path();
        if p.is_file() {
            std::fs::copy(&p, dir.path().join(p.file_name().unwrap())).unwrap();
        }
    }
    dir
}

#[test]
fn directory_without_weights() {
    let dir = copy_fixture_dir("llama");
    std::fs::remove_file(dir.path().join("model.safetensors")).unwrap();
    let err = Model::load(dir.path()).err().unwrap();
    assert!(matches!(err, DensiError::Io { .. }), "{err:?}");
    assert_names(&err, &dir.path().join("model.safetensors"), &[]);
}

#[test]
fn directory_without_tokenizer() {
    let dir = copy_fixture_dir("llama");
    std::fs::remove_file(dir.path().join("tokenizer.json")).unwrap();
    let err = Model::load(dir.path()).err().unwrap();
    assert!(matches!(err, DensiError::Tokenizer { .. }), "{err:?}");
    assert_names(&err, dir.path(), &["tokenizer.json"]);
}

// --- GGUF ---------------------------------------------------------------------------------------

#[test]
fn gguf_bad_magic() {
    let mut b = gguf_f32();
    b[..4].copy_from_slice(b"GGML");
    let (_d, path, err) = load_bytes("m.gguf", &b);
    assert!(matches!(err, DensiError::InvalidModelFile { format: "GGUF", .. }), "{err:?}");
    assert_names(&err, &path, &["bad magic"]);
}

#[test]
fn gguf_unsupported_versions() {
    for v in [1u32, 4, u32::MAX] {
        let mut b = gguf_f32();
        put_u32(&mut b, 4, v);
        let (_d, path, err) = load_bytes("m.gguf", &b);
        assert!(matches!(err, DensiError::InvalidModelFile { .. }), "{err:?}");
        assert_names(&err, &path, &["version", &v.to_string()]);
    }
}

#[test]
fn gguf_string_length_past_the_end() {
    let mut b = gguf_f32();
    // The first metadata key's length.
    put_u64(&mut b, 24, 1 << 40);
    let (_d, path, err) = load_bytes("m.gguf", &b);
    assert!(matches!(err, DensiError::InvalidModelFile { .. }), "{err:?}");
    assert_names(&err, &path, &["length", "past the end"]);
}

#[test]
fn gguf_absurd_counts() {
    for (at, what) in [(8, "tensor count"), (16, "metadata count")] {
        let mut b = gguf_f32();
        put_u64(&mut b, at, u64::MAX / 2);
        let (_d, path, err) = load_bytes("m.gguf", &b);
        assert!(matches!(err, DensiError::InvalidModelFile { .. }), "{err:?}");
        assert_names(&err, &path, &[what]);
    }
}

#[test]
fn gguf_array_length_past_the_end() {
    let mut b = gguf_f32();
    // tokenizer.ggml.tokens: u32 type (array) | u32 elem type | u64 n
    let p = after_gguf_string(&b, "tokenizer.ggml.tokens");
    put_u64(&mut b, p + 8, u64::MAX);
    let (_d, path, err) = load_bytes("m.gguf", &b);
    assert!(matches!(err, DensiError::InvalidModelFile { .. }), "{err:?}");
    assert_names(&err, &path, &["tokenizer.ggml.tokens", "array length"]);
}

#[test]
fn gguf_tensor_data_out_of_bounds() {
    let mut b = gguf_f32();
    let (_, _, off) = tensor_info(&b, "blk.1.ffn_down.weight");
    put_u64(&mut b, off, 1 << 30);
    let (_d, path, err) = load_bytes("m.gguf", &b);
    assert!(matches!(err, DensiError::InvalidModelFile { .. }), "{err:?}");
    assert_names(&err, &path, &["blk.1.ffn_down.weight", "outside the file"]);
}

#[test]
fn gguf_shape_larger_than_its_data() {
    // The last tensor in the file, made 1000× longer: its bytes run past the end.
    let mut b = gguf_f32();
    let h = densi::model::gguf::parse_gguf_header(&b).unwrap();
    let last = h.tensors.iter().max_by_key(|t| t.offset).unwrap().name.clone();
    let (dims, _, _) = tensor_info(&b, &last);
    let d0 = u64::from_le_bytes(b[dims..dims + 8].try_into().unwrap());
    put_u64(&mut b, dims, d0 * 1000);
    let (_d, path, err) = load_bytes("m.gguf", &b);
    assert!(matches!(err, DensiError::InvalidModelFile { .. }), "{err:?}");
    assert_names(&err, &path, &[&last, "outside the file"]);
}

#[test]
fn gguf_row_not_a_whole_number_of_blocks() {
    let mut b = std::fs::read(fixtures().join("gguf/tiny-llama-Q4_1.gguf")).unwrap();
    let (dims, _, _) = tensor_info(&b, "blk.0.attn_q.weight");
    put_u64(&mut b, dims, 63);
    let (_d, path, err) = load_bytes("m.gguf", &b);
    assert!(matches!(err, DensiError::InvalidModelFile { .. }), "{err:?}");
    assert_names(&err, &path, &["blk.0.attn_q.weight", "block size"]);
}

#[test]
fn gguf_element_count_overflow() {
    let mut b = gguf_f32();
    let (dims, _, _) = tensor_info(&b, "blk.0.attn_q.weight");
    put_u64(&mut b, dims, u64::MAX / 3);
    put_u64(&mut b, dims + 8, 7);
    let (_d, path, err) = load_bytes("m.gguf", &b);
    assert!(matches!(err, DensiError::InvalidModelFile { .. }), "{err:?}");
    assert_names(&err, &path, &["blk.0.attn_q.weight", "absurd"]);
}

#[test]
fn gguf_shape_that_disagrees_with_the_config() {
    // [64, 64] → [32, 128]: same bytes, wrong shape for a [q_dim, hidden] projection.
    let mut b = gguf_f32();
    let (dims, _, _) = tensor_info(&b, "blk.0.attn_q.weight");
    put_u64(&mut b, dims, 32);
    put_u64(&mut b, dims + 8, 128);
    let (_d, path, err) = load_bytes("m.gguf", &b);
    assert!(matches!(err, DensiError::TensorShape { .. }), "{err:?}");
    assert_names(&err, &path, &["blk.0.attn_q.weight"]);
}

#[test]
fn gguf_unsupported_tensor_types() {
    // I32 has F32's layout (4 bytes per element), so only the type is wrong; 99 is unknown.
    for (ty, name) in [(26u32, "I32"), (99, "ggml type 99")] {
        let mut b = gguf_f32();
        let (_, t, _) = tensor_info(&b, "blk.0.ffn_up.weight");
        put_u32(&mut b, t, ty);
        let (_d, path, err) = load_bytes("m.gguf", &b);
        assert!(matches!(err, DensiError::UnsupportedTensorType { .. }), "{err:?}");
        assert_names(&err, &path, &["blk.0.ffn_up.weight", name, "Q4_1", "Q8_0", "BF16"]);
    }
}

#[test]
fn gguf_unknown_architecture() {
    let mut b = gguf_f32();
    let p = after_gguf_string(&b, "general.architecture");
    replace_same_len(&mut b[p..], b"llama", b"mamba");
    let (_d, path, err) = load_bytes("m.gguf", &b);
    assert!(matches!(err, DensiError::UnsupportedArchitecture { .. }), "{err:?}");
    assert_names(&err, &path, &["mamba", "llama", "qwen2"]);
}

#[test]
fn gguf_unknown_pre_tokenizer() {
    let mut b = gguf_f32();
    let p = after_gguf_string(&b, "tokenizer.ggml.pre");
    replace_same_len(&mut b[p..], b"smollm", b"tekken");
    let (_d, path, err) = load_bytes("m.gguf", &b);
    assert!(matches!(err, DensiError::Tokenizer { .. }), "{err:?}");
    assert_names(&err, &path, &["tekken", "smollm", "llama-bpe", "qwen2"]);
}

#[test]
fn gguf_missing_metadata() {
    let mut b = gguf_f32();
    // Rename the key so that it is missing.
    replace_same_len(&mut b, b"llama.embedding_length", b"llama.embedding_lengtX");
    let (_d, path, err) = load_bytes("m.gguf", &b);
    assert!(matches!(err, DensiError::Config { .. }), "{err:?}");
    assert_names(&err, &path, &["llama.embedding_length"]);
}

#[test]
fn gguf_tokenizer_larger_than_the_model() {
    // llama.vocab_size 1000 → 500: the tokenizer's 1000 tokens do not fit a 500-row embedding.
    let mut b = gguf_f32();
    let p = after_gguf_string(&b, "llama.vocab_size");
    assert_eq!(u32::from_le_bytes(b[p..p + 4].try_into().unwrap()), 4, "u32 value type");
    put_u32(&mut b, p + 4, 500);
    let (_d, path, err) = load_bytes("m.gguf", &b);
    assert!(matches!(err, DensiError::Tokenizer { .. }), "{err:?}");
    assert_names(&err, &path, &["1000 tokens", "500"]);
}

#[test]
fn gguf_missing_tensor() {
    let mut b = gguf_f32();
    replace_same_len(&mut b, b"blk.1.ffn_gate.weight", b"blk.1.ffn_gate.weighX");
    let (_d, path, err) = load_bytes("m.gguf", &b);
    assert!(matches!(err, DensiError::MissingTensor { .. }), "{err:?}");
    assert_names(&err, &path, &["blk.1.ffn_gate.weight"]);
}

/// Every prefix of a real GGUF file (the header at every byte, then the data at a stride) is
/// an `InvalidModelFile` error, never a panic or a half-loaded model.
#[test]
fn gguf_every_truncation_is_an_error() {
    let b = std::fs::read(fixtures().join("gguf/tiny-llama-Q4_1.gguf")).unwrap();
    let h = densi::model::gguf::parse_gguf_header(&b).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cut.gguf");
    let cuts: Vec<usize> =
        (0..h.data_offset).chain((h.data_offset..b.len()).step_by(997)).chain([b.len() - 1]).collect();
    for n in cuts {
        if let Err(e) = densi::model::gguf::parse_gguf_header(&b[..n]) {
            assert!(!e.is_empty());
        } else {
            panic!("a {n}-byte prefix parsed");
        }
        if n % 64 == 0 || n > h.data_offset {
            std::fs::write(&path, &b[..n]).unwrap();
            let err = Model::load(&path).err().unwrap_or_else(|| panic!("a {n}-byte prefix loaded"));
            assert!(matches!(err, DensiError::InvalidModelFile { .. }), "{n} bytes: {err:?}");
            assert_names(&err, &path, &[]);
        }
    }
}

// --- safetensors --------------------------------------------------------------------------------

fn with_weights(fixture: &str, mutate: impl FnOnce(&mut Vec<u8>)) -> (tempfile::TempDir, PathBuf, DensiError) {
    let dir = copy_fixture_dir(fixture);
    let path = dir.path().join("model.safetensors");
    let mut b = std::fs::read(&path).unwrap();
    mutate(&mut b);
    std::fs::write(&path, &b).unwrap();
    let err = Model::load(dir.path()).err().expect("a broken checkpoint loaded");
    (dir, path, err)
}

#[test]
fn safetensors_header_length_past_the_end() {
    let (_d, path, err) = with_weights("llama", |b| {
        let n = b.len() as u64;
        put_u64(b, 0, n)
    });
    assert!(matches!(err, DensiError::InvalidModelFile { format: "safetensors", .. }), "{err:?}");
    assert_names(&err, &path, &["header length", "past the end"]);
}

#[test]
fn safetensors_too_short() {
    let (_d, path, err) = with_weights("llama", |b| b.truncate(5));
    assert!(matches!(err, DensiError::InvalidModelFile { .. }), "{err:?}");
    assert_names(&err, &path, &["too short"]);
}

#[test]
fn safetensors_truncated_data() {
    let (_d, path, err) = with_weights("llama", |b| {
        b.truncate(b.len() - 1);
    });
    assert!(matches!(err, DensiError::InvalidModelFile { .. }), "{err:?}");
    assert_names(&err, &path, &["truncated"]);
}

#[test]
fn safetensors_corrupt_header_json() {
    let (_d, path, err) = with_weights("llama", |b| b[8] = b'!');
    assert!(matches!(err, DensiError::InvalidModelFile { .. }), "{err:?}");
    assert_names(&err, &path, &["bad header"]);
}

#[test]
fn safetensors_shape_and_byte_length_disagree() {
    // model.norm.weight is [64] F32 (256 bytes); declare [65] with the same 256 bytes.
    let (_d, path, err) = with_weights("llama", |b| {
        let n = u64::from_le_bytes(b[..8].try_into().unwrap()) as usize;
        let header = String::from_utf8(b[8..8 + n].to_vec()).unwrap();
        let key = "\"model.norm.weight\":{\"dtype\":\"F32\",\"shape\":[64]";
        assert!(header.contains(key), "header layout changed: {header}");
        let p = 8 + header.find(key).unwrap() + key.len() - 3;
        b[p..p + 2].copy_from_slice(b"65");
    });
    assert!(matches!(err, DensiError::InvalidModelFile { .. }), "{err:?}");
    assert_names(&err, &path, &["model.norm.weight", "shape"]);
}

#[test]
fn safetensors_unsupported_dtype() {
    // F32 → I32: the same 4-byte layout, an unsupported type.
    let (_d, path, err) = with_weights("llama", |b| {
        let n = u64::from_le_bytes(b[..8].try_into().unwrap()) as usize;
        let p = 8 + find(&b[8..8 + n], b"\"model.norm.weight\":{\"dtype\":\"F32\"");
        let q = p + find(&b[p..], b"F32");
        b[q..q + 3].copy_from_slice(b"I32");
    });
    assert!(matches!(err, DensiError::UnsupportedTensorType { .. }), "{err:?}");
    assert_names(&err, &path, &["model.norm.weight", "I32", "F32, F16, BF16"]);
}

/// Every prefix of a real safetensors file is an error, never a panic.
#[test]
fn safetensors_every_truncation_is_an_error() {
    let b = std::fs::read(fixtures().join("qwen2/model.safetensors")).unwrap();
    for n in (0..b.len()).step_by(7) {
        let r = densi::model::safetensors::parse_safetensors_header(&b[..n]);
        assert!(r.is_err(), "a {n}-byte prefix parsed");
    }
}

// --- config.json ----------------------------------------------------------------------------------

fn with_config(
    fixture: &str,
    edit: impl FnOnce(&mut serde_json::Map<String, serde_json::Value>),
) -> (tempfile::TempDir, PathBuf, DensiError) {
    let dir = copy_fixture_dir(fixture);
    let path = dir.path().join("config.json");
    let mut json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    edit(json.as_object_mut().unwrap());
    std::fs::write(&path, serde_json::to_string_pretty(&json).unwrap()).unwrap();
    let err = Model::load(dir.path()).err().expect("a broken config loaded");
    (dir, path, err)
}

#[test]
fn config_missing_fields() {
    for (fixture, field) in [
        ("llama", "hidden_size"),
        ("llama", "num_hidden_layers"),
        ("llama", "vocab_size"),
        ("qwen2", "intermediate_size"),
        ("qwen2", "num_attention_heads"),
        ("gpt2", "n_embd"),
        ("gpt2", "n_layer"),
        ("gpt2", "n_head"),
    ] {
        let (_d, path, err) = with_config(fixture, |c| {
            c.remove(field).unwrap();
        });
        assert!(matches!(err, DensiError::Config { .. }), "{fixture} {field}: {err:?}");
        assert_names(&err, &path, &["missing field", field]);
    }
}

#[test]
fn config_wrong_field_type() {
    let (_d, path, err) = with_config("llama", |c| {
        c.insert("hidden_size".into(), "sixty-four".into());
    });
    assert!(matches!(err, DensiError::Config { .. }), "{err:?}");
    assert_names(&err, &path, &["hidden_size"]);
}

#[test]
fn config_impossible_heads() {
    let (_d, path, err) = with_config("llama", |c| {
        c.insert("num_key_value_heads".into(), 3.into());
    });
    assert!(matches!(err, DensiError::Config { .. }), "{err:?}");
    assert_names(&err, &path, &["num_kv_heads 3"]);
}

#[test]
fn config_not_json() {
    let dir = copy_fixture_dir("llama");
    let path = dir.path().join("config.json");
    std::fs::write(&path, "{ not json").unwrap();
    let err = Model::load(dir.path()).err().unwrap();
    assert!(matches!(err, DensiError::Config { .. }), "{err:?}");
    assert_names(&err, &path, &["JSON"]);
}

#[test]
fn config_unknown_architecture() {
    let (_d, path, err) = with_config("llama", |c| {
        c.insert("architectures".into(), serde_json::json!(["FalconForCausalLM"]));
        c.insert("model_type".into(), "falcon".into());
    });
    assert!(matches!(err, DensiError::UnsupportedArchitecture { .. }), "{err:?}");
    assert_names(&err, &path, &["FalconForCausalLM", "LlamaForCausalLM", "Qwen2ForCausalLM", "GPT2LMHeadModel"]);
}

#[test]
fn config_unsupported_rope_scaling() {
    for (scaling, words) in [
        (
            serde_json::json!({"rope_type": "dynamic", "factor": 4.0}),
            "rope scaling `dynamic` (`rope_scaling.rope_type`)",
        ),
        (serde_json::json!({"type": "ntk-by-parts", "factor": 4.0}), "rope scaling `ntk-by-parts`"),
    ] {
        let (_d, path, err) = with_config("llama", |c| {
            c.insert("rope_scaling".into(), scaling.clone());
        });
        assert!(matches!(err, DensiError::Config { .. }), "{err:?}");
        assert_names(&err, &path, &[words]);
    }
}

#[test]
fn tokenizer_larger_than_the_model() {
    let (d, _path, err) = with_config("llama", |c| {
        c.insert("vocab_size".into(), 500.into());
    });
    assert!(matches!(err, DensiError::Tokenizer { .. }), "{err:?}");
    assert_names(&err, d.path(), &["1000 tokens", "500"]);
}

#[test]
fn config_shape_mismatch() {
    // intermediate_size 160 → 128: the MLP weights in the checkpoint no longer fit.
    let (d, _path, err) = with_config("llama", |c| {
        c.insert("intermediate_size".into(), 128.into());
    });
    match &err {
        DensiError::TensorShape { tensor, found, expected, .. } => {
            assert!(tensor.contains("mlp."), "{tensor}");
            assert_eq!((found[0], expected[0]), (160, 128));
        }
        other => panic!("{other:?}"),
    }
    assert_names(&err, d.path(), &["model.safetensors"]);
}

#[test]
fn broken_tokenizer_json() {
    let dir = copy_fixture_dir("qwen2");
    let path = dir.path().join("tokenizer.json");
    std::fs::write(&path, "{\"model\": 3}").unwrap();
    let err = Model::load(dir.path()).err().unwrap();
    assert!(matches!(err, DensiError::Tokenizer { .. }), "{err:?}");
    assert_names(&err, &path, &[]);
}

#[test]
fn gguf_unsupported_tokenizer_model() {
    let mut b = gguf_f32();
    let p = after_gguf_string(&b, "tokenizer.ggml.model");
    replace_same_len(&mut b[p..], b"gpt2", b"rwkv");
    let (_d, path, err) = load_bytes("m.gguf", &b);
    assert!(matches!(err, DensiError::Tokenizer { .. }), "{err:?}");
    assert_names(&err, &path, &["rwkv", "gpt2"]);
}

#[test]
fn gguf_duplicate_token() {
    // Token 2 made equal to token 1 ("a" → the same string): llama.cpp rejects such a vocabulary too.
    let b = gguf_f32();
    let h = densi::model::gguf::parse_gguf_header(&b).unwrap();
    let toks = h.get("tokenizer.ggml.tokens").unwrap().as_array().unwrap();
    let (t1, t2) = (toks[1].as_str().unwrap(), toks[2].as_str().unwrap());
    if t1.len() != t2.len() {
        eprintln!("SKIPPED gguf_duplicate_token: tokens 1 and 2 differ in length");
        return;
    }
    let mut b2 = b.clone();
    let mut n1 = (t1.len() as u64).to_le_bytes().to_vec();
    n1.extend_from_slice(t1.as_bytes());
    let mut n2 = (t2.len() as u64).to_le_bytes().to_vec();
    n2.extend_from_slice(t2.as_bytes());
    let at = find(&b, &n1) + n1.len();
    let p = at + find(&b[at..], &n2);
    b2[p..p + n2.len()].copy_from_slice(&n1);
    let (_d, path, err) = load_bytes("m.gguf", &b2);
    assert!(matches!(err, DensiError::Tokenizer { .. }), "{err:?}");
    assert_names(&err, &path, &["appears twice"]);
}

// --- hostile architecture metadata (Qwen3, Gemma 3, and the checks every RoPE model shares) -------

/// Sets the u32 metadata value of `key` in a GGUF image (the value type must be u32).
fn set_meta_u32(b: &mut [u8], key: &str, v: u32) {
    let p = after_gguf_string(b, key);
    assert_eq!(u32::from_le_bytes(b[p..p + 4].try_into().unwrap()), 4, "{key}: u32 value type");
    put_u32(b, p + 4, v);
}

fn gguf_fixture(name: &str) -> Vec<u8> {
    std::fs::read(fixtures().join(name)).unwrap()
}

#[test]
fn gguf_sliding_window_of_zero() {
    let mut b = gguf_fixture("gguf_arch/tiny-gemma3-F32.gguf");
    set_meta_u32(&mut b, "gemma3.attention.sliding_window", 0);
    let (_d, path, err) = load_bytes("m.gguf", &b);
    assert!(matches!(err, DensiError::Config { .. }), "{err:?}");
    assert_names(&err, &path, &["`gemma3.attention.sliding_window` is 0"]);
}

#[test]
fn gguf_head_count_that_does_not_divide_the_width() {
    // tiny-qwen2 has no key_length, so the head size is embedding_length / head_count = 64 / 3.
    let mut b = gguf_fixture("gguf/tiny-qwen2-F32.gguf");
    set_meta_u32(&mut b, "qwen2.attention.head_count", 3);
    let (_d, path, err) = load_bytes("m.gguf", &b);
    assert!(matches!(err, DensiError::Config { .. }), "{err:?}");
    assert_names(&err, &path, &["`qwen2.attention.head_count` = 3 does not divide", "qwen2.embedding_length"]);
}

#[test]
fn gguf_rope_dimensions_larger_than_the_head() {
    let mut b = gguf_f32();
    set_meta_u32(&mut b, "llama.rope.dimension_count", 32);
    let (_d, path, err) = load_bytes("m.gguf", &b);
    assert!(matches!(err, DensiError::Config { .. }), "{err:?}");
    assert_names(&err, &path, &["`llama.rope.dimension_count` = 32 is larger than the head (16"]);
}

#[test]
fn config_sliding_window_of_zero() {
    let (_d, path, err) = with_config("gemma3_tiny", |c| {
        c.insert("sliding_window".into(), 0.into());
    });
    assert!(matches!(err, DensiError::Config { .. }), "{err:?}");
    assert_names(&err, &path, &["`sliding_window` is 0"]);
}

#[test]
fn config_heads_that_do_not_divide_the_width() {
    let (_d, path, err) = with_config("qwen2", |c| {
        c.insert("num_attention_heads".into(), 3.into());
    });
    assert!(matches!(err, DensiError::Config { .. }), "{err:?}");
    assert_names(&err, &path, &["`num_attention_heads` = 3 does not divide `hidden_size` = 64"]);
}

/// What densi does not compute is refused, never scored silently wrong.
#[test]
fn config_gemma3_features_it_does_not_compute() {
    for (key, value, words) in [
        ("final_logit_softcapping", serde_json::json!(30.0), "`final_logit_softcapping` is set"),
        ("attn_logit_softcapping", serde_json::json!(50.0), "`attn_logit_softcapping` is set"),
        ("use_bidirectional_attention", serde_json::json!(true), "use_bidirectional_attention"),
        ("hidden_activation", serde_json::json!("silu"), "hidden_activation `silu`"),
        ("layer_types", serde_json::json!(["sliding_attention", "chunked_attention"]), "chunked_attention"),
        ("layer_types", serde_json::json!(["sliding_attention"]), "layer_types: 1 entries for 6 layers"),
        (
            "rope_parameters",
            serde_json::json!({"full_attention": {"rope_type": "dynamic", "factor": 8.0, "rope_theta": 1e6}}),
            "rope scaling `dynamic` (`rope_parameters.full_attention.rope_type`)",
        ),
        (
            "rope_parameters",
            serde_json::json!({"full_attention": {"rope_type": "default", "rope_theta": 1e6},
                "sliding_attention": {"rope_type": "linear", "factor": 8.0, "rope_theta": 1e4}}),
            "`rope_parameters.sliding_attention` scales RoPE",
        ),
    ] {
        let (_d, path, err) = with_config("gemma3_tiny", |c| {
            c.insert(key.into(), value.clone());
        });
        assert!(matches!(err, DensiError::Config { .. }), "{key}: {err:?}");
        assert_names(&err, &path, &[words]);
    }
}

/// Phi-3 and GPT-NeoX settings densi does not compute, and a longrope scaling without its factors,
/// are refused with one line naming them.
#[test]
fn config_phi3_and_gptneox_features_it_does_not_compute() {
    for (fixture, key, value, words) in [
        ("phi3_tiny", "rope_scaling", serde_json::json!({"type": "su"}), "missing `rope_scaling.short_factor`"),
        ("phi3_tiny", "hidden_act", serde_json::json!("gelu"), "hidden_act `gelu`"),
        ("phi3_tiny", "sliding_window", serde_json::json!(0), "`sliding_window` is 0"),
        ("gptneox_tiny", "hidden_act", serde_json::json!("gelu_new"), "hidden_act `gelu_new`"),
        ("gptneox_tiny", "attention_bias", serde_json::json!(false), "`attention_bias: false`"),
        (
            "gptneox_tiny",
            "rope_parameters",
            serde_json::json!({"rope_type": "default", "rope_theta": 10000.0, "partial_rotary_factor": 1.5}),
            "rotary fraction 1.5",
        ),
    ] {
        let (_d, path, err) = with_config(fixture, |c| {
            c.insert(key.into(), value.clone());
        });
        assert!(matches!(err, DensiError::Config { .. }), "{fixture} {key}: {err:?}");
        assert_names(&err, &path, &[words]);
    }
}

/// A Phi-3 GGUF whose `rope_factors_long.weight` is a matrix (or comes without its short twin) is
/// refused before any weight is read, naming the tensor.
#[test]
fn gguf_phi3_longrope_factors() {
    let mut b = std::fs::read(fixtures().join("gguf_arch/tiny-phi3-F32.gguf")).unwrap();
    replace_same_len(&mut b, b"blk.0.attn_output.weight", b"rope_factors_long.weight");
    let (_d, path, err) = load_bytes("m.gguf", &b);
    assert!(matches!(err, DensiError::Config { .. }), "{err:?}");
    assert_names(&err, &path, &["tensor `rope_factors_long.weight` should be 1-D floats"]);
    let mut b = std::fs::read(fixtures().join("gguf_arch/tiny-phi3-longrope-F32.gguf")).unwrap();
    replace_same_len(&mut b, b"rope_factors_short.weight", b"rope_factors_shorx.weight");
    let (_d, path, err) = load_bytes("m.gguf", &b);
    assert!(matches!(err, DensiError::Config { .. }), "{err:?}");
    assert_names(&err, &path, &["needs both tensors `rope_factors_long.weight` and `rope_factors_short.weight`"]);
}

// --- hostile rope scaling ---------------------------------------------------------------------------

/// Each bad scaling value is one error naming its key.
#[test]
fn config_hostile_rope_scaling() {
    let llama3 = |edit: &dyn Fn(&mut serde_json::Value)| {
        let mut p = serde_json::json!({"rope_type": "llama3", "rope_theta": 10000.0, "factor": 8.0,
            "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 32});
        edit(&mut p);
        p
    };
    let longrope = |short: usize, long: usize| {
        serde_json::json!({"rope_type": "longrope", "rope_theta": 10000.0, "short_factor": vec![1.0; short],
            "long_factor": vec![2.0; long]})
    };
    for (fixture, params, words) in [
        ("llama3_tiny", llama3(&|p| p["factor"] = 0.0.into()), "rope scaling `factor` = 0 is not a positive number"),
        ("llama3_tiny", llama3(&|p| p["factor"] = (-2.0).into()), "rope scaling `factor` = -2"),
        (
            "llama3_tiny",
            llama3(&|p| p["low_freq_factor"] = 4.0.into()),
            "`low_freq_factor` = 4 is not below `high_freq_factor` = 4",
        ),
        (
            "llama3_tiny",
            llama3(&|p| {
                p.as_object_mut().unwrap().remove("high_freq_factor");
            }),
            "missing `rope_parameters.high_freq_factor`",
        ),
        ("llama3_tiny", llama3(&|p| p["factor"] = "big".into()), "`rope_parameters.factor` should be a number"),
        (
            "linear_tiny",
            serde_json::json!({"rope_type": "linear", "rope_theta": 10000.0, "factor": 0.0}),
            "rope scaling `factor` = 0",
        ),
        (
            "yarn_tiny",
            serde_json::json!({"rope_type": "yarn", "rope_theta": 10000.0, "factor": -4.0,
                "original_max_position_embeddings": 64}),
            "rope scaling `factor` = -4",
        ),
        ("phi3_longrope_tiny", longrope(8, 3), "rope scaling `long_factor` has 3 values; the 16 rotary dims need 8"),
        ("phi3_longrope_tiny", longrope(9, 8), "rope scaling `short_factor` has 9 values"),
        (
            "llama3_tiny",
            serde_json::json!({"rope_type": "dynamic", "rope_theta": 10000.0, "factor": 2.0}),
            "rope scaling `dynamic` (`rope_parameters.rope_type`) is not supported",
        ),
    ] {
        let (_d, path, err) = with_config(fixture, |c| {
            c.insert("rope_parameters".into(), params.clone());
        });
        assert!(matches!(err, DensiError::Config { .. }), "{fixture} {params}: {err:?}");
        assert_names(&err, &path, &[words]);
    }
}

#[test]
fn config_mistral_sliding_window_of_zero() {
    let (_d, path, err) = with_config("mistral_tiny", |c| {
        c.insert("sliding_window".into(), 0.into());
    });
    assert!(matches!(err, DensiError::Config { .. }), "{err:?}");
    assert_names(&err, &path, &["`sliding_window` is 0"]);
}

/// Sets the f32 metadata value of `key` in a GGUF image (the value type must be f32).
fn set_meta_f32(b: &mut [u8], key: &str, v: f32) {
    let p = after_gguf_string(b, key);
    assert_eq!(u32::from_le_bytes(b[p..p + 4].try_into().unwrap()), 6, "{key}: f32 value type");
    b[p + 4..p + 8].copy_from_slice(&v.to_le_bytes());
}

#[test]
fn gguf_hostile_rope_scaling() {
    let mut b = gguf_fixture("gguf_arch/tiny-linear-F32.gguf");
    set_meta_f32(&mut b, "llama.rope.scaling.factor", 0.0);
    let (_d, path, err) = load_bytes("m.gguf", &b);
    assert!(matches!(err, DensiError::Config { .. }), "{err:?}");
    assert_names(&err, &path, &["rope scaling `factor` = 0 is not a positive number", "llama.rope.scaling"]);

    // rope_freqs.weight with 4 values for 8 rotary pairs.
    let mut b = gguf_fixture("gguf_arch/tiny-llama3-F32.gguf");
    let (dims, _, _) = tensor_info(&b, "rope_freqs.weight");
    b[dims..dims + 8].copy_from_slice(&4u64.to_le_bytes());
    let (_d, path, err) = load_bytes("m.gguf", &b);
    assert!(matches!(err, DensiError::Config { .. }), "{err:?}");
    assert_names(&err, &path, &["tensor `rope_freqs.weight` has 4 rope factors; the 16 rotary dims need 8"]);

    // A scaling type densi does not implement (the same length as `yarn`, so the image stays valid).
    let mut b = gguf_fixture("gguf_arch/tiny-yarn-F32.gguf");
    replace_same_len(&mut b, b"\x04\x00\x00\x00\x00\x00\x00\x00yarn", b"\x04\x00\x00\x00\x00\x00\x00\x00ntkx");
    let (_d, path, err) = load_bytes("m.gguf", &b);
    assert!(matches!(err, DensiError::Config { .. }), "{err:?}");
    assert_names(&err, &path, &["`qwen3.rope.scaling.type` = `ntkx` is not supported"]);
}
