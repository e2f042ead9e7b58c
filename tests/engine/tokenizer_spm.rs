//! SentencePiece vocabularies: Gemma-3-270M's GGUF (ids and byte offsets against transformers'
//! tokenizer built from the same GGUF, tests/fixtures/gemma3/token_ids.json), Hugging Face
//! tokenizer.json files with Metaspace + byte fallback (tests/fixtures/metaspace/), and hostile
//! `tokenizer.ggml.*` metadata (one clear error each).

use std::path::{Path, PathBuf};

use densi::model::TextTokenizer;
use densi::model::gguf::{GgufFile, vocab_from_metadata};
use densi::model::tokenizer::GgufVocab;
use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read_json(p: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))).unwrap()
}

fn ids_of(v: &Value) -> Vec<u32> {
    v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect()
}

/// Offsets tile the text: each token starts where the previous ended, the last ends at the end.
fn assert_tiles(name: &str, text: &str, offsets: &[(usize, usize)]) {
    let mut pos = 0;
    for &(s, e) in offsets {
        assert!(s == pos && e >= s, "{name}: offsets {offsets:?} do not tile {text:?}");
        pos = e;
    }
    assert_eq!(pos, text.len(), "{name}: offsets {offsets:?} do not cover {text:?}");
}

fn gemma_path() -> Option<PathBuf> {
    let p = root().join("models/gemma-3-270m-q4_k_m.gguf");
    if p.is_file() {
        Some(p)
    } else {
        eprintln!("SKIPPED: {} is absent (models/fetch.sh gemma3-270m fetches it)", p.display());
        None
    }
}

#[test]
fn gemma3_tokenizer_matches_transformers() {
    let Some(path) = gemma_path() else { return };
    let f = GgufFile::open(&path).unwrap();
    let tok = TextTokenizer::from_gguf(&path, &vocab_from_metadata(&f).unwrap()).unwrap();
    assert!(tok.add_bos && tok.bos_id == Some(2), "Gemma adds <bos> = 2");
    let doc = read_json(&root().join("tests/fixtures/gemma3/token_ids.json"));
    let mut checked = 0;
    for t in doc["texts"].as_array().unwrap() {
        let (name, text) = (t["name"].as_str().unwrap(), t["text"].as_str().unwrap());
        let enc = tok.encode(text).unwrap();
        assert_tiles(name, text, &enc.byte_offsets);
        if name == "specials_as_text" {
            // transformers parses <bos>, <eos>, <start_of_turn> written in the text as control
            // tokens; densi (like llama.cpp with parse_special = false) keeps them as text.
            for id in [0u32, 1, 2, 3, 105, 106] {
                assert!(!enc.ids.contains(&id), "{name}: control token {id} in {:?}", enc.ids);
            }
            continue;
        }
        assert_eq!(enc.ids, ids_of(&t["ids"]), "{name}: {text:?}");
        let want: Vec<(usize, usize)> = t["byte_offsets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| (o[0].as_u64().unwrap() as usize, o[1].as_u64().unwrap() as usize))
            .collect();
        assert_eq!(enc.byte_offsets, want, "{name}: {text:?}");
        checked += 1;
    }
    assert!(checked >= 8, "only {checked} texts");
}

#[test]
fn metaspace_tokenizer_json_offsets_tile() {
    let dir = root().join("tests/fixtures/metaspace");
    let doc = read_json(&dir.join("expected.json"));
    let texts: Vec<&str> = doc["texts"].as_array().unwrap().iter().map(|t| t.as_str().unwrap()).collect();
    for style in ["llama2_style", "metaspace_first"] {
        let d = dir.join(style);
        let config = read_json(&d.join("config.json"));
        let tok = TextTokenizer::from_hf_dir(&d, &config).unwrap();
        for (text, want) in texts.iter().zip(doc["ids"][style].as_array().unwrap()) {
            let enc = tok.encode(text).unwrap_or_else(|e| panic!("{style} {text:?}: {e}"));
            assert_eq!(enc.ids, ids_of(want), "{style} {text:?}");
            assert_tiles(style, text, &enc.byte_offsets);
        }
        // A byte-fallback token covers one byte: 東 (3 bytes) is three tokens of one byte each.
        let enc = tok.encode("東").unwrap();
        assert_eq!(enc.byte_offsets.last(), Some(&(2, 3)), "{style}: {:?}", enc.byte_offsets);
    }
}

/// A valid small SentencePiece vocabulary to break in each hostile case below.
fn small_spm() -> GgufVocab {
    let mut tokens: Vec<String> = ["<unk>", "<s>", "</s>", "▁", "a", "▁a"].iter().map(|s| s.to_string()).collect();
    tokens.extend((0..=255u8).map(|b| format!("<0x{b:02X}>")));
    let n = tokens.len();
    let mut types = vec![1; n];
    types[0] = 2;
    types[1] = 3;
    types[2] = 3;
    for t in &mut types[6..] {
        *t = 6;
    }
    GgufVocab {
        model: "llama".into(),
        model_name: None,
        pre: Some("default".into()),
        tokens,
        token_types: Some(types),
        merges: vec![],
        scores: Some((0..n).map(|i| -(i as f32)).collect()),
        add_space_prefix: None,
        bos_id: Some(1),
        eos_id: Some(2),
        unk_id: Some(0),
        pad_id: None,
        add_bos: None,
    }
}

#[test]
fn small_spm_vocab_tokenizes_with_prefix_and_byte_fallback() {
    let p = Path::new("small.gguf");
    let tok = TextTokenizer::from_gguf(p, &small_spm()).unwrap();
    // "a a": ▁ prefix (zero bytes) + a → "▁a"; the space → ▁ + a → "▁a"; "é" → two byte tokens.
    let enc = tok.encode("a aé").unwrap();
    assert_eq!(enc.ids, vec![5, 5, 6 + 0xC3, 6 + 0xA9]);
    assert_eq!(enc.byte_offsets, vec![(0, 1), (1, 3), (3, 4), (4, 5)]);
    assert!(tok.add_bos, "llama.cpp's SPM default adds BOS");
    let mut v = small_spm();
    v.add_space_prefix = Some(false);
    let tok = TextTokenizer::from_gguf(p, &v).unwrap();
    assert_eq!(tok.encode("a").unwrap().ids, vec![4]);
}

#[test]
fn hostile_tokenizer_metadata_is_one_clear_error() {
    let p = Path::new("hostile.gguf");
    let err = |v: GgufVocab| TextTokenizer::from_gguf(p, &v).err().map(|e| e.to_string()).unwrap_or_default();
    let mut v = small_spm();
    v.scores.as_mut().unwrap().truncate(3);
    assert!(err(v).contains("`tokenizer.ggml.scores` has 3 entries for 262 tokens"));
    let mut v = small_spm();
    v.scores = None;
    assert!(err(v).contains("needs `tokenizer.ggml.scores`"));
    let mut v = small_spm();
    v.token_types.as_mut().unwrap().push(1);
    assert!(err(v).contains("`tokenizer.ggml.token_type` has 263 entries for 262 tokens"));
    let mut v = small_spm();
    v.bos_id = Some(262);
    assert!(err(v).contains("`tokenizer.ggml.bos_token_id` = 262 is not a token id"));
    let mut v = small_spm();
    v.tokens.clear();
    assert!(err(v).contains("the vocabulary is empty"));
    let mut v = small_spm();
    v.scores.as_mut().unwrap()[4] = f32::NAN;
    assert!(err(v).contains("NaN"));
    let mut v = small_spm();
    v.model = "t5".into();
    assert!(err(v).contains("tokenizer.ggml.model `t5` is not supported"));
    // A vocabulary without byte tokens cannot spell an unknown character: an error, not a panic.
    let mut v = small_spm();
    v.tokens.truncate(6);
    v.token_types.as_mut().unwrap().truncate(6);
    v.scores.as_mut().unwrap().truncate(6);
    let tok = TextTokenizer::from_gguf(p, &v).unwrap();
    let e = tok.encode("é").unwrap_err().to_string();
    assert!(e.contains("no byte token <0xC3>"), "{e}");
}

/// Byte-level BPE merges whose parts or result are not tokens: one clear error naming the merge (the
/// `tokenizers` builder would index past its buffer, a panic, when the result is longer than every
/// token; found by the `tokenizer_metadata` fuzz target, fuzz/RUNS.md).
#[test]
fn bpe_merges_outside_the_vocabulary_are_one_clear_error() {
    let bpe = |tokens: &[&str], merges: &[&str]| GgufVocab {
        model: "gpt2".into(),
        model_name: None,
        pre: Some("default".into()),
        tokens: tokens.iter().map(|s| s.to_string()).collect(),
        token_types: None,
        merges: merges.iter().map(|s| s.to_string()).collect(),
        scores: None,
        add_space_prefix: None,
        bos_id: None,
        eos_id: None,
        unk_id: None,
        pad_id: None,
        add_bos: None,
    };
    let p = Path::new("bpe.gguf");
    assert!(TextTokenizer::from_gguf(p, &bpe(&["a", "b", "ab"], &["a b"])).is_ok());
    // The fuzzer's case: "ab" + "cd" is longer than every token.
    for (merges, part) in [(&["ab cd"][..], "\"abcd\""), (&["a x"][..], "\"x\""), (&["x b"][..], "\"x\"")] {
        let e = TextTokenizer::from_gguf(p, &bpe(&["a", "b", "ab", "cd"], merges)).err().expect("refused").to_string();
        assert!(e.contains("bpe.gguf") && e.contains("merge #0") && e.contains(part), "{e}");
    }
}

/// The same merge in a Hugging Face tokenizer.json and in GPT-2's vocab.json + merges.txt: the
/// `tokenizers` crate builds those itself, and its panic becomes one clear error naming the file.
#[test]
fn hf_bpe_merges_longer_than_every_token_are_one_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let json = r#"{"version":"1.0","truncation":null,"padding":null,"added_tokens":[],"normalizer":null,
        "pre_tokenizer":null,"post_processor":null,"decoder":null,
        "model":{"type":"BPE","dropout":null,"unk_token":null,"continuing_subword_prefix":null,
        "end_of_word_suffix":null,"fuse_unk":false,"byte_fallback":false,"ignore_merges":false,
        "vocab":{"a":0,"b":1,"ab":2,"cd":3},"merges":["ab cd"]}}"#;
    std::fs::write(dir.path().join("tokenizer.json"), json).unwrap();
    let e = TextTokenizer::from_hf_dir(dir.path(), &serde_json::json!({})).err().expect("refused").to_string();
    assert!(e.contains("tokenizer.json"), "{e}");

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("vocab.json"), r#"{"a":0,"b":1,"ab":2,"cd":3}"#).unwrap();
    std::fs::write(dir.path().join("merges.txt"), "#version: 0.2\nab cd\n").unwrap();
    let e = TextTokenizer::from_hf_dir(dir.path(), &serde_json::json!({})).err().expect("refused").to_string();
    assert!(e.contains("vocab.json"), "{e}");
}

/// Gemma-3-270M's ids as llama.cpp itself makes them (tests/fixtures/gemma3/llamacpp_ids.json, from
/// crosscheck_llamacpp_ids.py: vocab only, no BOS, special tokens as text): equal to transformers' on
/// every text but the one that writes control tokens, where llama.cpp keeps them as text as densi
/// does; densi's ids equal llama.cpp's there too.
#[test]
fn gemma3_tokenizer_matches_llamacpp() {
    let Some(path) = gemma_path() else { return };
    let f = GgufFile::open(&path).unwrap();
    let tok = TextTokenizer::from_gguf(&path, &vocab_from_metadata(&f).unwrap()).unwrap();
    let texts = read_json(&root().join("tests/fixtures/gemma3/token_ids.json"));
    let llamacpp = read_json(&root().join("tests/fixtures/gemma3/llamacpp_ids.json"));
    let checks = llamacpp["texts"].as_array().unwrap();
    assert_eq!(checks.len(), texts["texts"].as_array().unwrap().len(), "every text");
    for (c, t) in checks.iter().zip(texts["texts"].as_array().unwrap()) {
        assert_eq!(c["name"], t["name"]);
        let want = if c["equal"].as_bool().unwrap() { &t["ids"] } else { &c["llamacpp_ids"] };
        let want: Vec<u32> = want.as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as u32).collect();
        let got = tok.encode(t["text"].as_str().unwrap()).unwrap().ids;
        assert_eq!(got, want, "{}: densi vs llama.cpp", c["name"]);
    }
}
