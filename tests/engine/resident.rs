//! Resident weights (kept in the file's type, dequantized inside the GEMMs) against the f32
//! path (expanded at load, the oracle), on the fast CPU forward, for every fixture type of
//! tests/fixtures/gguf and the default model.
//!
//! Identical, bit for bit, where the summation order is the same: windows shorter than
//! `OWN_GEMM_MAX_M` (512) rows run the same AVX2 tiles over the same k chunks on a dequantized
//! panel as on the expanded weights, and the dequantized panel equals the expanded rows bit for
//! bit. Longer windows expand W whole and run the `gemm` crate exactly as the f32 path does (crate
//! calls on panels of W changed the sum order: 1.2e-5 bits of entropy on the default model). The
//! lm-head runs in the f32 path's 64-row blocks. So every length is checked bit for bit.

use std::path::PathBuf;

use densi::bench::synthetic_tokens;
use densi::cpu::fast::forward_stats;
use densi::metrics::RowStats;
use densi::model::{Model, WeightStorage};

use crate::support::default_model;

fn fixture_models() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gguf");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "gguf"))
        .collect();
    v.sort();
    assert!(v.len() >= 7, "fixtures missing in {}", dir.display());
    v
}

fn stats(m: &Model, ids: &[u32]) -> Vec<RowStats> {
    forward_stats(&m.config, &m.weights, ids, 1, 5, None).unwrap()
}

fn assert_same(path: &std::path::Path, lengths: &[usize]) {
    let resident = Model::load_with(path, WeightStorage::Resident).unwrap();
    let f32 = Model::load_with(path, WeightStorage::F32).unwrap();
    // The resident model really keeps the file's types (the F32 fixture excepted).
    let name = path.file_name().unwrap().to_string_lossy().to_string();
    let stored = resident.weights.matrices().iter().filter(|(_, m)| m.as_f32().is_none()).count();
    assert_eq!(stored == 0, name.contains("-F32"), "{name}: {stored} stored matrices");
    assert!(f32.weights.matrices().iter().all(|(_, m)| m.as_f32().is_some()));
    for &t in lengths {
        let t = t.min(resident.config.context_length);
        let ids = synthetic_tokens(t, resident.config.vocab_size, t as u64);
        let (a, b) = (stats(&resident, &ids), stats(&f32, &ids));
        assert_eq!(a.len(), b.len());
        for (p, (x, y)) in a.iter().zip(&b).enumerate() {
            let same = x.target_logprob.to_bits() == y.target_logprob.to_bits()
                && x.entropy.to_bits() == y.entropy.to_bits()
                && x.varentropy.to_bits() == y.varentropy.to_bits()
                && x.rank == y.rank
                && x.top == y.top;
            assert!(same, "{name}, {t} tokens, row {p}: resident {x:?} vs f32 {y:?}");
        }
    }
}

#[test]
fn resident_equals_f32_on_every_fixture_type() {
    for path in fixture_models() {
        assert_same(&path, &[9, 40, 150, 520]);
    }
}

#[test]
fn resident_equals_f32_on_the_default_model() {
    let Some(path) = default_model() else { return };
    assert_same(&path, &[16, 160, 520]);
}
