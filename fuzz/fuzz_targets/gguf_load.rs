//! A whole GGUF model load (header, config, tokenizer from the metadata, weights) on arbitrary
//! bytes: Ok or a typed error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = densi::model::gguf::load_bytes(std::path::Path::new("fuzz.gguf"), data.to_vec());
});
