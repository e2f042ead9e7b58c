//! Tokenizer construction from arbitrary `tokenizer.ggml.*` metadata, then encoding an arbitrary
//! text: Ok or a typed error, never a panic (short or long scores / token types, ids out of range,
//! empty or duplicate tokens, missing byte tokens, NaN scores).
//!
//! Input layout (no `arbitrary` dependency): byte 0 picks the model (`llama` / `gpt2`) and flags,
//! byte 1 the length change of scores and token types; the rest, split at 0xFF, is the token list
//! (lossy UTF-8), and its last piece is the text to encode.
#![no_main]

use densi::model::tokenizer::GgufVocab;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let (flags, skew) = (data[0], data[1] as i8 as isize);
    let mut pieces: Vec<String> = data[2..].split(|&b| b == 0xFF).map(|p| String::from_utf8_lossy(p).into()).collect();
    let text = pieces.pop().unwrap_or_default();
    let n = pieces.len();
    let len = |base: usize| (base as isize + skew).max(0) as usize;
    let vocab = GgufVocab {
        model: if flags & 1 == 0 { "llama" } else { "gpt2" }.into(),
        model_name: (flags & 2 != 0).then(|| "Phi3".into()),
        pre: Some(if flags & 4 == 0 { "default" } else { "llama-bpe" }.into()),
        token_types: Some((0..len(n)).map(|i| i32::from(data.get(2 + i).copied().unwrap_or(1) % 8)).collect()),
        scores: Some((0..len(n)).map(|i| if flags & 8 != 0 && i == 0 { f32::NAN } else { -(i as f32) }).collect()),
        merges: pieces.windows(2).map(|w| format!("{} {}", w[0], w[1])).collect(),
        tokens: pieces,
        add_space_prefix: Some(flags & 16 != 0),
        bos_id: Some(u32::from(flags) * 7),
        eos_id: None,
        unk_id: None,
        pad_id: None,
        add_bos: None,
    };
    if let Ok(tok) = densi::model::TextTokenizer::from_gguf(std::path::Path::new("fuzz.gguf"), &vocab) {
        if let Ok(enc) = tok.encode(&text) {
            assert_eq!(enc.ids.len(), enc.byte_offsets.len());
            let mut pos = 0;
            for &(s, e) in &enc.byte_offsets {
                assert!(s == pos && e >= s);
                pos = e;
            }
            assert_eq!(pos, text.len());
        }
    }
});
