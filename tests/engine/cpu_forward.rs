//! The fast CPU forward (`CpuForward`, what the backend runs) against the plain reference forward
//! (`densi::cpu::forward_stats`, one `ops` call per step, as first written in f65fb33) on random weights
//! of several architectures and shapes. Whole-model agreement with transformers is tests/golden.rs.

use densi::bench::{random_weights, smollm2_135m_config, synthetic_tokens};
use densi::cpu::CpuForward;
use densi::model::{Architecture, ModelConfig};
use densi::score::Forward;

fn tiny(architecture: Architecture, nh: usize, nkv: usize, hd: usize) -> ModelConfig {
    ModelConfig {
        architecture,
        vocab_size: 301,
        hidden_size: 48,
        num_layers: 3,
        num_heads: nh,
        num_kv_heads: nkv,
        head_dim: hd,
        intermediate_size: 77,
        context_length: 256,
        rope_theta: 10000.0,
        norm_eps: 1e-5,
        tie_word_embeddings: architecture == Architecture::Gpt2,
        attention: Default::default(),
    }
}

fn check(cfg: ModelConfig, lengths: &[usize], threads: Option<usize>) {
    let w = random_weights(&cfg, 7);
    let mut fwd = CpuForward::from_weights(cfg.clone(), w.clone(), threads).unwrap();
    for &t in lengths {
        let ids = synthetic_tokens(t, cfg.vocab_size, t as u64);
        // Logits in f64 from the plain forward's hidden states: to know how many vocabulary entries lie
        // so close to a target that f32 rounding order may put them on either side of it.
        let hidden = densi::cpu::hidden_states_of(&cfg, &w, &ids);
        let h = cfg.hidden_size;
        let head = w.lm_head_weight().to_f32();
        let near_ties = |p: usize, target: u32| -> u32 {
            let x = &hidden[p * h..(p + 1) * h];
            let z: Vec<f64> = (0..cfg.vocab_size)
                .map(|v| x.iter().zip(&head[v * h..(v + 1) * h]).map(|(a, b)| *a as f64 * *b as f64).sum())
                .collect();
            let zt = z[target as usize];
            z.iter().filter(|&&zv| (zv - zt).abs() <= 1e-4 && zv != zt).count() as u32
        };
        for score_from in [1, t.div_ceil(2)] {
            let plain = densi::cpu::forward_stats_of(&cfg, &w, &ids, score_from, 5).unwrap();
            let fast = fwd.score_window(&ids, score_from, 5).unwrap();
            assert_eq!(plain.len(), fast.len());
            for (i, (a, b)) in plain.iter().zip(&fast).enumerate() {
                let ctx = format!("{:?} t={t} from={score_from} row {i}", cfg.architecture);
                // Same math in another f32 rounding order (fused GEMMs, SIMD dot products, polynomial exp).
                assert!(
                    (a.target_logprob - b.target_logprob).abs() < 1e-4,
                    "{ctx}: {} vs {}",
                    a.target_logprob,
                    b.target_logprob
                );
                assert!((a.entropy - b.entropy).abs() < 1e-4, "{ctx}: {} vs {}", a.entropy, b.entropy);
                assert!((a.varentropy - b.varentropy).abs() < 1e-3 * a.varentropy.max(1.0), "{ctx}");
                // Ranks agree up to the logits within 1e-4 of the target (with 49152 random logits a few
                // lie that close; the rounding of ~1e-6 in a logit can move them across).
                if a.rank != b.rank {
                    let p = score_from + i - 1;
                    let slack = near_ties(p, ids[p + 1]);
                    assert!(
                        a.rank.abs_diff(b.rank) <= slack,
                        "{ctx}: rank {} vs {} with {slack} near ties",
                        a.rank,
                        b.rank
                    );
                }
                // Top-k: same ids in the same order, unless two neighbours have probabilities within 1e-4.
                assert_eq!(a.top.len(), b.top.len(), "{ctx}");
                for (x, y) in a.top.iter().zip(&b.top) {
                    assert!(x.0 == y.0 || (x.1 - y.1).abs() <= 1e-4 * x.1, "{ctx}: top {:?} vs {:?}", a.top, b.top);
                    assert!((x.1 - y.1).abs() <= 1e-4 * x.1.max(1e-3), "{ctx}: top p {:?} vs {:?}", a.top, b.top);
                }
            }
        }
    }
}

#[test]
fn fast_forward_equals_plain_forward_llama_gqa() {
    check(tiny(Architecture::Llama, 6, 2, 8), &[1, 2, 7, 33, 65], None);
}

#[test]
fn fast_forward_equals_plain_forward_qwen2_biases() {
    check(tiny(Architecture::Qwen2, 4, 2, 16), &[2, 17, 40], Some(2));
}

#[test]
fn fast_forward_equals_plain_forward_gpt2() {
    let mut cfg = tiny(Architecture::Gpt2, 4, 4, 12);
    cfg.intermediate_size = 4 * cfg.hidden_size;
    check(cfg, &[2, 9, 33], Some(1));
}

#[test]
fn fast_forward_equals_plain_forward_smollm2_shapes() {
    check(smollm2_135m_config(), &[33, 130], None);
}
