//! The GGUF header parser on arbitrary bytes: it must return Ok or Err, never panic, and every
//! tensor it accepts must lie inside the input (slicing and dequantizing it must not panic).
#![no_main]

use densi::model::gguf::{dequantize, parse_gguf_header};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(h) = parse_gguf_header(data) else { return };
    assert!(h.data_offset <= data.len() || h.tensors.is_empty());
    for t in &h.tensors {
        let Some(n) = t.n_bytes else { continue };
        let bytes = &data[t.offset..t.offset + n];
        if t.ggml_type.is_supported() {
            let y = dequantize(t.ggml_type, bytes, t.n_elements()).unwrap();
            assert_eq!(y.len(), t.n_elements());
        }
    }
});
