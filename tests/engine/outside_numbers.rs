//! Numbers pinned from outside densi's own formulas: SmolLM2-135M's parameter count (134,515,008, the
//! checkpoint's total on the Hugging Face hub) and `forward_flops` against a hand count of its matmuls.

use densi::bench::smollm2_135m_config;

/// Per layer: q and o 576×576, k and v 576×192 (3 KV heads of 64), gate/up/down 576×1536;
/// two RMSNorm weights of 576. Plus the tied 49152×576 embedding (also the lm-head) and the final norm.
const LAYER_MATMUL_WEIGHTS: u64 = 2 * 576 * 576 + 2 * 576 * 192 + 3 * 576 * 1536; // 3,538,944
const HEAD_WEIGHTS: u64 = 49_152 * 576; // 28,311,552

#[test]
fn smollm2_parameter_count_is_the_published_one() {
    let cfg = smollm2_135m_config();
    assert_eq!(LAYER_MATMUL_WEIGHTS, 3_538_944);
    assert_eq!(30 * (LAYER_MATMUL_WEIGHTS + 2 * 576) + HEAD_WEIGHTS + 576, 134_515_008);
    assert_eq!(cfg.parameter_count(), 134_515_008);
    if let Some(path) = crate::support::default_model() {
        let m = densi::model::Model::load(&path).unwrap();
        assert_eq!(m.config.parameter_count(), 134_515_008, "the shipped model");
    }
}

/// 2 FLOPs per weight per token through every matmul (the lm-head included), plus causal attention:
/// QKᵀ and PV are 2 FLOPs each per (query, key) pair per head dimension, 9 heads of 64, over
/// T(T+1)/2 pairs, in 30 layers.
#[test]
fn forward_flops_is_the_hand_count() {
    let cfg = smollm2_135m_config();
    let matmul = 30 * LAYER_MATMUL_WEIGHTS + HEAD_WEIGHTS; // 134,479,872
    for (t, want) in [(1u64, 269_028_864u64), (128, 34_997_501_952)] {
        let hand = 2 * matmul * t + 30 * (2 + 2) * (9 * 64) * t * (t + 1) / 2;
        assert_eq!(hand, want, "hand count at {t} tokens");
        assert_eq!(cfg.forward_flops(t as usize), want as f64, "forward_flops({t})");
    }
}
