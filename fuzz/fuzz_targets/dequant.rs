//! Every dequantizer on arbitrary bytes: the first byte picks the storage type, the rest (cut to
//! whole blocks) are its blocks. `densi::model::dequant::dequantize` must not panic, must give one
//! value per element, each bit-identical to the slow element-by-element reference
//! (`dequant_reference.rs`, written from ggml's C), and all finite when
//! `quants::first_non_finite` (the load-time check) finds nothing.
#![no_main]

use densi::model::DType;
use densi::model::dequant;
use densi::model::gguf::quants;
use libfuzzer_sys::fuzz_target;

mod dequant_reference;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else { return };
    let dtype = DType::ALL[pick as usize % DType::ALL.len()];
    let (block, size) = dequant::block_layout(dtype);
    let bytes = &rest[..rest.len() / size * size];
    let n = bytes.len() / size * block;
    let got = dequant::dequantize(dtype, bytes, n);
    assert_eq!(got.len(), n);
    let finite = quants::first_non_finite(dtype, bytes).is_none();
    for (i, &g) in got.iter().enumerate() {
        let b = &bytes[i / block * size..][..size];
        let want = dequant_reference::element(dtype, b, i % block);
        assert!(dequant_reference::same(g, want), "{}: element {i}: {g} vs reference {want}", dtype.name());
        assert!(!finite || g.is_finite(), "{}: element {i} is {g} but the scales are finite", dtype.name());
    }
});
