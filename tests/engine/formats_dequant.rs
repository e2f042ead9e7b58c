//! densi's dequantizers against gguf-py's reference (`gguf.quants.dequantize`, a port of ggml's
//! `dequantize_row_*`) on random data of every storage type densi reads:
//! tests/formats_data/dequant_vectors.gguf, made by tests/formats_data/make_dequant_vectors.py
//! (gguf 0.19.0, numpy 2.4.6). Both sides do the same f32 operations in the same order, so the
//! results must be bit-identical.

use std::path::Path;

use densi::model::TensorSource;
use densi::model::dequant;
use densi::model::gguf::GgufFile;
use densi::model::source::DType;

#[test]
fn dequantizers_match_ggml_reference() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/formats_data/dequant_vectors.gguf");
    let f = GgufFile::open(&path).unwrap();
    for dtype in DType::ALL {
        let ty = dtype.name();
        let t = f.header.tensor(ty).unwrap_or_else(|| panic!("no tensor {ty}"));
        assert_eq!(t.ggml_type.name(), ty);
        let view = |name: &str| {
            let v = f.get(name).unwrap_or_else(|| panic!("no tensor {name}"));
            assert_eq!(v.shape, [2, 512], "{name}");
            v
        };
        let (got, want) = (view(ty), view(&format!("{ty}.expected")));
        assert_eq!(got.dtype, Ok(dtype));
        assert_eq!(want.dtype, Ok(DType::F32));
        let got = dequant::to_f32(&got).unwrap();
        let want = dequant::to_f32(&want).unwrap();
        let bad: Vec<usize> = (0..got.len()).filter(|&i| got[i].to_bits() != want[i].to_bits()).collect();
        assert!(
            bad.is_empty(),
            "{ty}: {} of 1024 differ, first at {}: {} vs {}",
            bad.len(),
            bad[0],
            got[bad[0]],
            want[bad[0]]
        );
        let distinct: std::collections::HashSet<u32> = want.iter().map(|x| x.to_bits()).collect();
        assert!(distinct.len() > 16, "{ty}: degenerate vector ({} distinct values)", distinct.len());
    }
}
