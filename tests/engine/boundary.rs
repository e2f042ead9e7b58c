//! The word-boundary mass B(ctx) = Σ_{v∈W} p(v | ctx) (issue 11), one more masked sum of the fused
//! lm-head reduction: the fast CPU reduction and forward against the plain oracle, the row after the
//! last token against the next token's row (self-consistency), and the default model against
//! transformers' float32 softmax (tests/fixtures/boundary/, made by make_boundary_golden.py).

use std::path::Path;
use std::sync::Arc;

use densi::bench::{SplitMix64 as Rng, random_weights, synthetic_tokens};
use densi::cpu::{CpuForward, Rows, fast};
use densi::metrics::{BoundaryMask, BoundarySet, reduce_row};
use densi::model::{Architecture, Model, ModelConfig};
use densi::score::{Forward, ScoreOptions, Scorer};

/// ln Σ_{v∈W} softmax(z)_v in f64, straight from the definition.
fn direct_boundary(z: &[f32], mask: &BoundaryMask) -> f64 {
    let m = z.iter().fold(f64::NEG_INFINITY, |a, &b| a.max(b as f64));
    let all: f64 = z.iter().map(|&v| (v as f64 - m).exp()).sum();
    let w: f64 =
        z.iter().enumerate().filter(|(i, _)| mask.contains(*i as u32)).map(|(_, &v)| (v as f64 - m).exp()).sum();
    w.ln() - all.ln()
}

#[test]
fn fast_reduction_matches_the_oracle_on_boundary_mass() {
    let mut rng = Rng::new(11);
    for &n in &[1usize, 7, 8, 33, 1000, 49155] {
        let masks = [
            ("empty", BoundaryMask::empty(n)),
            ("all", BoundaryMask::from_ids(n, 0..n as u32)),
            ("every 3rd", BoundaryMask::from_ids(n, (0..n as u32).filter(|i| i % 3 == 0))),
            ("random 40%", BoundaryMask::from_ids(n, (0..n as u32).filter(|_| rng.unit() < 0.4))),
        ];
        for scale in [0.5f32, 20.0] {
            let z = rng.vec(n, scale);
            for (name, mask) in &masks {
                for target in [None, Some(0u32), Some(n as u32 - 1)] {
                    let ctx = format!("n={n} scale={scale} mask={name} target={target:?}");
                    let fast = fast::reduce_row(&z, target, 5, mask);
                    let plain = reduce_row(&z, target, 5, mask);
                    let want = direct_boundary(&z, mask);
                    if want == f64::NEG_INFINITY {
                        assert_eq!(fast.boundary_logprob, f64::NEG_INFINITY, "{ctx}");
                        assert_eq!(plain.boundary_logprob, f64::NEG_INFINITY, "{ctx}");
                        continue;
                    }
                    // 1e-6 nats as the other sums (tests/engine/cpu_ops.rs): polynomial exp, f64 sums.
                    assert!(
                        (fast.boundary_logprob - want).abs() < 1e-6,
                        "{ctx}: fast {} vs {want}",
                        fast.boundary_logprob
                    );
                    assert!(
                        (plain.boundary_logprob - want).abs() < 1e-6,
                        "{ctx}: plain {} vs {want}",
                        plain.boundary_logprob
                    );
                    assert!((fast.entropy - plain.entropy).abs() < 1e-6, "{ctx}");
                    match target {
                        None => {
                            assert!(fast.target_logprob.is_nan() && plain.target_logprob.is_nan(), "{ctx}");
                            assert_eq!((fast.rank, plain.rank), (0, 0), "{ctx}");
                        }
                        Some(_) => {
                            assert!((fast.target_logprob - plain.target_logprob).abs() < 1e-6, "{ctx}");
                            assert_eq!(fast.rank, plain.rank, "{ctx}");
                        }
                    }
                }
            }
        }
    }
}

fn tiny(architecture: Architecture) -> ModelConfig {
    ModelConfig {
        architecture,
        vocab_size: 301,
        hidden_size: 48,
        num_layers: 2,
        num_heads: 4,
        num_kv_heads: 2,
        head_dim: 12,
        intermediate_size: 77,
        context_length: 256,
        rope_theta: 10000.0,
        norm_eps: 1e-5,
        tie_word_embeddings: architecture == Architecture::Gpt2,
        attention: Default::default(),
    }
}

/// The fast forward (`CpuForward::score_rows`) against the plain one (`cpu::forward_rows_of`), with a
/// boundary set and the end row, over lengths that cross the lm-head's 64-row blocks.
#[test]
fn fast_forward_matches_plain_with_boundary_and_end_row() {
    for arch in [Architecture::Llama, Architecture::Gpt2] {
        let cfg = tiny(arch);
        let w = random_weights(&cfg, 3);
        let mask = Arc::new(BoundaryMask::from_ids(cfg.vocab_size, (0..cfg.vocab_size as u32).filter(|i| i % 5 < 2)));
        let mut fwd = CpuForward::from_weights(cfg.clone(), w.clone(), None).unwrap();
        fwd.set_boundary(mask.clone()).unwrap();
        for t in [1usize, 2, 64, 65, 130] {
            let ids = synthetic_tokens(t, cfg.vocab_size, t as u64);
            for score_from in [1, t] {
                let rows = Rows { score_from, top_k: 5, boundary: &mask, end_row: true };
                let plain = densi::cpu::forward_rows_of(&cfg, &w, &ids, &rows).unwrap();
                let fast = fwd.score_rows(&ids, score_from, 5, true).unwrap();
                assert_eq!(plain.len(), t - score_from + 1);
                assert_eq!(fast.len(), plain.len());
                for (i, (a, b)) in plain.iter().zip(&fast).enumerate() {
                    let ctx = format!("{arch:?} t={t} from={score_from} row {i}");
                    // 1e-4 nats: tests/engine/cpu_forward.rs's tolerance for the same comparison.
                    assert!((a.boundary_logprob - b.boundary_logprob).abs() < 1e-4, "{ctx}: {a:?} vs {b:?}");
                    assert!((a.entropy - b.entropy).abs() < 1e-4, "{ctx}");
                    assert!(a.boundary_logprob < 0.0 && a.boundary_logprob > -20.0, "{ctx}: {}", a.boundary_logprob);
                    if i + 1 == plain.len() {
                        assert!(
                            a.target_logprob.is_nan() && b.target_logprob.is_nan(),
                            "{ctx}: the end row has no target"
                        );
                    } else {
                        assert!((a.target_logprob - b.target_logprob).abs() < 1e-4, "{ctx}");
                    }
                }
            }
            // Self-consistency: the row after the last token of ids[..t−1] is the row that scores ids[t−1].
            if t >= 2 {
                let whole = fwd.score_rows(&ids, 1, 5, false).unwrap();
                let prefix = fwd.score_rows(&ids[..t - 1], 1, 5, true).unwrap();
                let (a, b) = (whole.last().unwrap(), prefix.last().unwrap());
                assert!((a.boundary_logprob - b.boundary_logprob).abs() < 1e-4, "{arch:?} t={t}: {a:?} vs {b:?}");
                assert!((a.entropy - b.entropy).abs() < 1e-4 && (a.varentropy - b.varentropy).abs() < 1e-3);
            }
        }
    }
}

fn default_model() -> Option<Arc<Model>> {
    let path = crate::support::default_model()?;
    Some(Arc::new(Model::load(&path).unwrap()))
}

fn scorer(model: &Arc<Model>, boundary: BoundarySet) -> Scorer {
    let backend = Box::new(CpuForward::new(model.clone(), None).unwrap());
    Scorer::new(model.clone(), backend, ScoreOptions { boundary, ..Default::default() }).unwrap()
}

/// The text's end row equals what scoring the text plus one more token reports before that token.
#[test]
fn end_row_equals_the_next_tokens_boundary() {
    let Some(model) = default_model() else { return };
    let mut s = scorer(&model, BoundarySet::Full);
    let short = s.score("short", "I was a mat in France.").unwrap();
    let long = s.score("long", "I was a mat in France. It").unwrap();
    let n = short.tokens.len();
    let ids = |t: &densi::metrics::TextScore| t.tokens.iter().map(|t| t.id).collect::<Vec<_>>();
    assert_eq!(ids(&short), ids(&long)[..n], "the longer text must extend the shorter one's tokens");
    let end = short.end_boundary_bits.expect("end row");
    let next = long.tokens[n].boundary_bits;
    eprintln!("end_boundary_bits {end} vs the next token's boundary_bits {next}");
    // Same forward on a one-token-longer window: f32 GEMM rounding only.
    assert!((end - next).abs() < 1e-4, "{end} vs {next}");
}

fn golden() -> serde_json::Value {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/boundary/smollm2_boundary.json");
    serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap()
}

/// The boundary sets of the default model: the same ids as the golden script's own definition
/// (count, Σ id, Σ id² of each set).
#[test]
fn boundary_sets_match_the_reference_definition() {
    let Some(model) = default_model() else { return };
    let g = golden();
    for (set, key) in [(BoundarySet::Full, "full_set"), (BoundarySet::SpaceOnly, "space_only_set")] {
        let ids = model.tokenizer.boundary_ids(set);
        let sum: u64 = ids.iter().map(|&i| i as u64).sum();
        let sum_sq: u64 = ids.iter().map(|&i| i as u64 * i as u64).sum();
        let want = &g[key];
        assert_eq!(ids.len() as u64, want["count"].as_u64().unwrap(), "{key} count");
        assert_eq!(sum, want["sum"].as_u64().unwrap(), "{key} Σ id");
        assert_eq!(sum_sq, want["sum_sq"].as_u64().unwrap(), "{key} Σ id²");
    }
    let eos = g["eos_id"].as_u64().unwrap() as u32;
    assert!(model.tokenizer.boundary_ids(BoundarySet::Full).contains(&eos));
    assert!(!model.tokenizer.boundary_ids(BoundarySet::SpaceOnly).contains(&eos));
}

/// B(ctx) per token and after the last token against transformers' float32 softmax mass over the
/// same set: within 2e-3 bits (the agreement ../shared/reference/README.md documents for float32
/// implementations of this model's per-token surprisal).
#[test]
fn boundary_bits_match_transformers() {
    let Some(model) = default_model() else { return };
    let g = golden();
    for (set, key, end_key) in [
        (BoundarySet::Full, "boundary_bits", "end_boundary_bits"),
        (BoundarySet::SpaceOnly, "space_only_boundary_bits", "space_only_end_boundary_bits"),
    ] {
        let mut s = scorer(&model, set);
        let mut worst = 0f64;
        for t in g["texts"].as_array().unwrap() {
            let name = t["name"].as_str().unwrap();
            let got = s.score(name, t["text"].as_str().unwrap()).unwrap();
            let want_ids: Vec<u32> =
                t["token_ids"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as u32).collect();
            assert_eq!(got.tokens.iter().map(|t| t.id).collect::<Vec<_>>(), want_ids, "{name}: token ids");
            let want: Vec<f64> = t[key].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
            for (tok, w) in got.tokens.iter().zip(&want) {
                let d = (tok.boundary_bits - w).abs();
                worst = worst.max(d);
                assert!(d < 2e-3, "{name} {key} token {} {:?}: {} vs {w}", tok.index, tok.token, tok.boundary_bits);
            }
            let (e, we) = (got.end_boundary_bits.unwrap(), t[end_key].as_f64().unwrap());
            worst = worst.max((e - we).abs());
            assert!((e - we).abs() < 2e-3, "{name} {end_key}: {e} vs {we}");
        }
        eprintln!("{key}: max |Δ| vs transformers {worst:.2e} bits");
    }
}

/// Edge cases of the scorer's end row: a one-token text without BOS (nothing scored, the end row still
/// computed, the window count unchanged) and a text over several sliding windows (the end row comes
/// from the last window's last position, the same context as the last token's own row plus one).
#[test]
fn end_row_for_one_token_and_for_sliding_windows() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/llama");
    let model = Arc::new(Model::load(&path).unwrap());
    let text = "a";
    assert_eq!(model.tokenizer.encode(text).unwrap().ids.len(), 1, "a one-token text");
    let options = ScoreOptions { bos: densi::metrics::BosPolicy::None, ..Default::default() };
    let backend = Box::new(CpuForward::new(model.clone(), None).unwrap());
    let one = Scorer::new(model.clone(), backend, options).unwrap().score("one", text).unwrap();
    assert!(!one.tokens[0].scored && one.tokens[0].boundary_bits.is_nan() && one.tokens[0].z.is_nan());
    assert_eq!(one.settings.windows, 0, "as before: no window scored a token");
    let e = one.end_boundary_bits.expect("the distribution after the only token");
    assert!(e.is_finite() && e >= 0.0, "{e}");

    let long = "The quick brown fox jumps over the lazy dog, and then it runs far away into the woods.";
    let options = ScoreOptions { window: Some(8), stride: Some(4), ..Default::default() };
    let backend = Box::new(CpuForward::new(model.clone(), None).unwrap());
    let mut s = Scorer::new(model.clone(), backend, options).unwrap();
    let r = s.score("long", long).unwrap();
    assert!(r.settings.windows > 3, "several windows: {}", r.settings.windows);
    assert!(r.tokens.iter().all(|t| t.scored && t.boundary_bits.is_finite() && t.boundary_bits >= 0.0));
    // The last window is seq[begin..len]; its end row is what scoring one more token in a window
    // with the same start would report before that token.
    let mut ids = vec![model.tokenizer.bos_id.or(model.tokenizer.doc_separator).unwrap()];
    ids.extend(model.tokenizer.encode(long).unwrap().ids);
    let begin = (r.settings.windows - 1) * 4;
    let mut fwd = CpuForward::new(model.clone(), None).unwrap();
    let boundary = model.tokenizer.boundary_ids(BoundarySet::Full);
    fwd.set_boundary(Arc::new(BoundaryMask::from_ids(model.config.vocab_size, boundary))).unwrap();
    let rows = fwd.score_rows(&ids[begin..], ids.len() - begin, 5, true).unwrap();
    let want = -rows[0].boundary_logprob / std::f64::consts::LN_2;
    assert!((r.end_boundary_bits.unwrap() - want).abs() < 1e-9, "{:?} vs {want}", r.end_boundary_bits);
}
