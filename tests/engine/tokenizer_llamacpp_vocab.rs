//! llama.cpp's own tokenizer test vectors: every `ggml-vocab-*.gguf` with `.gguf.inp` / `.gguf.out`
//! from `vendor/llama.cpp/models/` of the llama-cpp-python 0.3.36 sdist (fetched and unpacked by
//! `scripts/llamacpp-vocab-check.sh` into the directory named by `DENSI_LLAMACPP_VOCAB_DIR`).
//!
//! Each input is tokenized as llama.cpp's test-tokenizer-0 does (`add_special = false`,
//! `parse_special = false`) and must give exactly the ids of the `.out` line; the byte offsets
//! must tile the text. A vocabulary densi refuses must be refused with an error naming its
//! `tokenizer.ggml.model` or `tokenizer.ggml.pre` and be listed in `REFUSED` below (so a vocab
//! that starts or stops loading shows up here).

use std::path::{Path, PathBuf};

use densi::model::TextTokenizer;
use densi::model::gguf::{GgufFile, vocab_from_metadata};

/// Vocabularies densi refuses, with the reason (their tokenizer type, not a pre-tokenizer).
const REFUSED: &[(&str, &str)] = &[
    ("ggml-vocab-bert-bge.gguf", "`bert`"), // WordPiece (BERT embeddings), not a causal LM vocab
    ("ggml-vocab-gemma-4.gguf", "`gemma4`"), // Gemma 4's own BPE variant (tokenizer.ggml.model = gemma4)
];

/// llama.cpp's `read_tests`: inputs separated by `\n__ggml_vocab_test__\n`, one output line each.
fn read_tests(inp: &Path, out: &Path) -> Vec<(String, Vec<u32>)> {
    let raw = std::fs::read_to_string(inp).unwrap();
    let sep = "\n__ggml_vocab_test__\n";
    let mut texts = Vec::new();
    let mut pos = 0;
    while pos < raw.len() {
        match raw[pos..].find(sep) {
            Some(n) => {
                texts.push(raw[pos..pos + n].to_string());
                pos += n + sep.len();
            }
            None => {
                texts.push(raw[pos..].to_string());
                break;
            }
        }
    }
    let outs: Vec<Vec<u32>> = std::fs::read_to_string(out)
        .unwrap()
        .lines()
        .map(|l| l.split_whitespace().map(|x| x.parse().unwrap()).collect())
        .collect();
    assert_eq!(texts.len(), outs.len(), "{}: inputs and outputs differ in number", inp.display());
    texts.into_iter().zip(outs).collect()
}

#[test]
fn llamacpp_vocab_test_vectors() {
    let Some(dir) = std::env::var_os("DENSI_LLAMACPP_VOCAB_DIR").map(PathBuf::from) else {
        eprintln!(
            "SKIPPED llamacpp_vocab_test_vectors: DENSI_LLAMACPP_VOCAB_DIR is not set \
             (scripts/llamacpp-vocab-check.sh fetches llama.cpp's vocab files and sets it)"
        );
        return;
    };
    let mut vocabs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("DENSI_LLAMACPP_VOCAB_DIR={}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "gguf") && p.with_extension("gguf.out").is_file())
        .collect();
    vocabs.sort();
    assert!(vocabs.len() >= 10, "only {} vocab files with test vectors in {}", vocabs.len(), dir.display());

    let mut failures = Vec::new();
    for path in &vocabs {
        let name = path.file_name().unwrap().to_str().unwrap();
        let tok =
            GgufFile::open(path).and_then(|f| vocab_from_metadata(&f)).and_then(|v| TextTokenizer::from_gguf(path, &v));
        let tok = match (tok, REFUSED.iter().find(|r| r.0 == name)) {
            (Ok(t), None) => t,
            (Err(e), Some((_, why))) => {
                let e = e.to_string();
                assert!(e.contains(why), "{name}: refused, but the error does not name {why}: {e}");
                eprintln!("{name}: refused as expected: {e}");
                continue;
            }
            (Ok(_), Some(_)) => panic!("{name} loads now: take it off REFUSED"),
            (Err(e), None) => panic!("{name}: {e}"),
        };
        let tests = read_tests(&path.with_extension("gguf.inp"), &path.with_extension("gguf.out"));
        let mut bad = 0;
        for (text, want) in &tests {
            let enc = match tok.encode(text) {
                Ok(enc) => enc,
                Err(e) => {
                    failures.push(format!("{name} {text:?}: {e}"));
                    bad += 1;
                    continue;
                }
            };
            if &enc.ids != want {
                failures.push(format!("{name} {text:?}:\n   got {:?}\n  want {want:?}", enc.ids));
                bad += 1;
            }
            let mut pos = 0;
            for &(s, e) in &enc.byte_offsets {
                assert!(s == pos && e >= s, "{name} {text:?}: offsets {:?} do not tile", enc.byte_offsets);
                pos = e;
            }
            assert_eq!(pos, text.len(), "{name} {text:?}: offsets {:?} do not cover the text", enc.byte_offsets);
        }
        eprintln!("{name}: {} texts, {bad} mismatches ({})", tests.len(), tok.description);
    }
    assert!(failures.is_empty(), "{} mismatches:\n{}", failures.len(), failures.join("\n"));
}
