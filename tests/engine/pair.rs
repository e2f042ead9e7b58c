//! One text under two models (`densi::pair`): the fused pair reduction against transformers
//! float32 logits with float64 statistics (tests/fixtures/pair/make_pair_golden.py), the vocabulary
//! check, and the word-aligned path for two different vocabularies.
//!
//! Tolerances (issue 16): surprisal and entropy within 2e-3 bits; KL and cross-entropy within
//! 2e-3 bits or 1e-3 relative, whichever is larger; ranks exact; top-1 ids exact unless the
//! golden's float32 runner-up is within 1e-5 logits (a tie at float32 precision).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use densi::metrics::BosPolicy;
use densi::model::Model;
use densi::pair::words::align_words;
use densi::pair::{PairScorer, same_vocabulary};
use densi::score::ScoreOptions;
use serde_json::Value;

const BITS: f64 = 2e-3;
const RELATIVE: f64 = 1e-3;
const TIE_LOGIT: f64 = 1e-5;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn goldens(pair: &str) -> Vec<Value> {
    let dir = root().join("tests/fixtures/pair/golden").join(pair);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files.iter().map(|p| serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()).collect()
}

fn load(rel: &str) -> Arc<Model> {
    let p = root().join(rel);
    Arc::new(Model::load(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
}

/// Scores every golden text of `pair` and returns the disagreements (one line each).
#[allow(clippy::neg_cmp_op_on_partial_ord)] // `!(d <= tol)`: a NaN difference fails too
fn check_pair(pair: &str, b_path: Option<&Path>) -> Vec<String> {
    let docs = goldens(pair);
    assert!(!docs.is_empty(), "{pair}: no golden files");
    let a = load(docs[0]["model_a"].as_str().unwrap());
    let b = match b_path {
        Some(p) => Arc::new(Model::load(p).unwrap()),
        None => load(docs[0]["model_b"].as_str().unwrap()),
    };
    let mut failures = Vec::new();
    let mut worst = [0f64; 4];
    for g in &docs {
        let text = std::fs::read_to_string(root().join(g["text_file"].as_str().unwrap())).unwrap();
        let options =
            ScoreOptions { bos: BosPolicy::Id(g["bos_id"].as_u64().unwrap() as u32), top_k: 5, ..Default::default() };
        let scorer = PairScorer::new(a.clone(), b.clone(), options, None).unwrap();
        let name = g["text_file"].as_str().unwrap();
        let r = scorer.score(name, &text, &mut |_, _| {}).unwrap();
        let ids: Vec<u64> = r.tokens.iter().map(|t| t.id as u64).collect();
        let want_ids: Vec<u64> = g["token_ids"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect();
        assert_eq!(ids, want_ids, "{pair} {name}: token ids");
        for (t, w) in r.tokens.iter().zip(g["tokens"].as_array().unwrap()) {
            let f = |k: &str| w[k].as_f64().unwrap();
            let mut check = |what: &str, got: f64, want: f64, slot: usize, relative: bool| {
                let d = (got - want).abs();
                let tol = if relative { BITS.max(RELATIVE * want.abs()) } else { BITS };
                worst[slot] = worst[slot].max(d);
                if !(d <= tol) {
                    failures.push(format!("{pair} {name} token {}: {what} {got} vs {want}", t.index));
                }
            };
            check("surprisal_a", t.surprisal_bits_a, f("surprisal_bits_a"), 0, false);
            check("surprisal_b", t.surprisal_bits_b, f("surprisal_bits_b"), 0, false);
            check("delta", t.delta_bits, f("surprisal_bits_b") - f("surprisal_bits_a"), 0, false);
            check("entropy_a", t.entropy_bits_a, f("entropy_bits_a"), 1, false);
            check("entropy_b", t.entropy_bits_b, f("entropy_bits_b"), 1, false);
            check("kl_ab", t.kl_ab_bits, f("kl_ab_bits"), 2, true);
            check("kl_ba", t.kl_ba_bits, f("kl_ba_bits"), 2, true);
            check("cross_entropy_ab", t.cross_entropy_ab_bits, f("cross_entropy_ab_bits"), 3, true);
            if (t.rank_a as u64, t.rank_b as u64) != (w["rank_a"].as_u64().unwrap(), w["rank_b"].as_u64().unwrap()) {
                failures.push(format!(
                    "{pair} {name} token {}: ranks {} {} vs {} {}",
                    t.index, t.rank_a, t.rank_b, w["rank_a"], w["rank_b"]
                ));
            }
            for (side, top, key, margin) in
                [("a", &t.top_a, "top1_a", "top1_margin_logit_a"), ("b", &t.top_b, "top1_b", "top1_margin_logit_b")]
            {
                if top[0].id as u64 != w[key].as_u64().unwrap() && f(margin) > TIE_LOGIT {
                    failures.push(format!("{pair} {name} token {}: top-1 {side} {} vs {}", t.index, top[0].id, w[key]));
                }
            }
        }
        let (s, gs) = (&r.summary, &g["summary"]);
        let rel =
            |got: f64, k: &str| (got - gs[k].as_f64().unwrap()).abs() <= 1e-3 * gs[k].as_f64().unwrap().abs().max(1.0);
        for (k, got) in [
            ("perplexity_a", s.perplexity_a),
            ("perplexity_b", s.perplexity_b),
            ("mean_kl_ab_bits", s.mean_kl_ab_bits),
            ("mean_kl_ba_bits", s.mean_kl_ba_bits),
            ("mean_cross_entropy_ab_bits", s.mean_cross_entropy_ab_bits),
            ("binoculars", s.binoculars),
        ] {
            if !rel(got, k) {
                failures.push(format!("{pair} {name} summary {k}: {got} vs {}", gs[k]));
            }
        }
        // The share of differing top-1 ids: exact unless a position's top-1 was a float32 tie.
        let ties = g["tokens"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|w| {
                w["top1_margin_logit_a"].as_f64().unwrap() <= TIE_LOGIT
                    || w["top1_margin_logit_b"].as_f64().unwrap() <= TIE_LOGIT
            })
            .count();
        let n = r.summary.scored_tokens as f64;
        if (s.top1_disagreement - gs["top1_disagreement"].as_f64().unwrap()).abs() * n > ties as f64 + 0.5 {
            failures.push(format!(
                "{pair} {name}: top-1 disagreement {} vs {}",
                s.top1_disagreement, gs["top1_disagreement"]
            ));
        }
    }
    eprintln!(
        "{pair}: worst |Δ| bits: surprisal {:.2e}, entropy {:.2e}, KL {:.2e}, cross-entropy {:.2e}",
        worst[0], worst[1], worst[2], worst[3]
    );
    failures
}

#[test]
fn tiny_fixture_against_its_q4_0_quantization() {
    let f = check_pair("tiny-F32-vs-Q4_0", None);
    assert!(f.is_empty(), "{} disagreements:\n{}", f.len(), f.join("\n"));
}

#[test]
fn tiny_fixture_against_its_q8_0_quantization() {
    let f = check_pair("tiny-F32-vs-Q8_0", None);
    assert!(f.is_empty(), "{} disagreements:\n{}", f.len(), f.join("\n"));
}

/// The default model against its gguf-py re-quantization (Q4_1 → Q4_0), which
/// make_pair_golden.py --requant writes into models/ (80 MB, not committed): run when present.
#[test]
fn default_model_against_its_requantization() {
    let Some(_) = crate::support::default_model() else { return };
    let b = root().join("models/SmolLM2-135M-Instruct.Q4_0-requant.gguf");
    if !b.exists() {
        assert!(
            !crate::support::require_model(),
            "DENSI_REQUIRE_MODEL=1 but {} is missing; run tests/fixtures/pair/make_pair_golden.py --requant-only",
            b.display()
        );
        eprintln!(
            "\n*** SKIPPED: {} is missing; run tests/fixtures/pair/make_pair_golden.py --requant ***\n",
            b.display()
        );
        return;
    }
    // gguf-py's quantizer is deterministic: the file must be the one the golden was made from.
    let want = goldens("default-Q4_1-vs-Q4_0-requant")[0]["model_b_sha256"].as_str().unwrap().to_string();
    let got = Model::load(&b).unwrap().sha256().unwrap();
    assert_eq!(
        got,
        want,
        "{} is not the file the golden was made from; rerun make_pair_golden.py --requant",
        b.display()
    );
    let f = check_pair("default-Q4_1-vs-Q4_0-requant", Some(&b));
    assert!(f.is_empty(), "{} disagreements:\n{}", f.len(), f.join("\n"));
}

#[test]
fn different_vocabularies_are_refused_token_by_token_and_paired_by_word() {
    let a = load("tests/fixtures/gguf/tiny-llama-F32.gguf");
    let b = load("tests/fixtures/gguf/tiny-qwen2-F32.gguf");
    let e = same_vocabulary(&a, &b).unwrap_err().to_string();
    assert!(e.contains("--level word") && e.contains("tiny-qwen2-F32.gguf"), "{e}");
    let e = PairScorer::new(a.clone(), b.clone(), ScoreOptions::default(), None).err().unwrap().to_string();
    assert!(e.contains("cannot be compared token by token"), "{e}");

    // Word level: each model scored alone, words paired by byte spans.
    let text = std::fs::read_to_string(root().join("tests/fixtures/texts/english.txt")).unwrap();
    let options = ScoreOptions { bos: BosPolicy::Id(0), ..Default::default() };
    let score = |m: &Arc<Model>| {
        let backend = densi::BackendOptions { choice: densi::BackendChoice::Cpu, ..Default::default() };
        densi::backend::scorer(m, &backend, options.clone()).unwrap().score("english", &text).unwrap()
    };
    let (ta, tb) = (score(&a), score(&b));
    let words = align_words(&ta, &tb);
    assert!(words.len() > 20, "{} words", words.len());
    // The paired words tile the text's words in order, and each side's corrected surprisals add up
    // to the sum over its own words (a merged run's surprisal is the sum of its words').
    for w in words.windows(2) {
        assert!(w[0].byte_end <= w[1].byte_start);
    }
    let own = |t: &densi::TextScore| densi::export::words::text_words(t).iter().map(|w| w.surprisal_bits).sum::<f64>();
    let paired_a: f64 = words.iter().map(|w| w.surprisal_bits_a).sum();
    let paired_b: f64 = words.iter().map(|w| w.surprisal_bits_b).sum();
    assert!((paired_a - own(&ta)).abs() < 1e-9 && (paired_b - own(&tb)).abs() < 1e-9, "{paired_a} {paired_b}");
    assert!(words.iter().all(|w| (w.delta_bits - (w.surprisal_bits_b - w.surprisal_bits_a)).abs() < 1e-12));
    assert_eq!(words.iter().map(|w| w.tokens_a).sum::<usize>(), ta.tokens.len());
    assert_eq!(words.iter().map(|w| w.tokens_b).sum::<usize>(), tb.tokens.len());
}

#[test]
fn more_context_than_the_shorter_model_is_refused() {
    let a = load("tests/fixtures/gguf/tiny-llama-F32.gguf");
    let b = load("tests/fixtures/gguf/tiny-llama-Q8_0.gguf");
    let options = ScoreOptions { window: Some(100_000), ..Default::default() };
    let e = PairScorer::new(a, b, options, None).err().unwrap().to_string();
    assert!(e.contains("--window"), "{e}");
}
