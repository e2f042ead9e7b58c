//! The safetensors header parser on arbitrary bytes: Ok or Err, never a panic; every tensor it
//! accepts lies inside the input with a byte length that matches its shape.
#![no_main]

use densi::model::dequant;
use densi::model::safetensors::{dtype_of, parse_safetensors_header};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(tensors) = parse_safetensors_header(data) else { return };
    for t in tensors {
        let bytes = &data[t.range.clone()];
        let n: usize = t.shape.iter().product();
        if let Some(dtype) = dtype_of(t.dtype) {
            assert_eq!(dequant::dequantize(dtype, bytes, n).len(), n);
        }
    }
});
