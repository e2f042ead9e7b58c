//! One text under two models (`densi::pair`): the fused pair reduction against transformers
//! float32 logits with float64 statistics (tests/fixtures/pair/make_pair_golden.py), the vocabulary
//! check, and the word-aligned path for two different vocabularies.
//!
//! Tolerances (issue 16): surprisal and entropy within 2e-3 bits; KL and cross-entropy within
//! 2e-3 bits or 1e-3 relative, whichever is larger; ranks and top-1 ids exact unless the golden's
//! float32 competing logit is within 1e-5 logits (a tie at float32 precision, as golden.rs excuses).

use std::sync::Arc;

use densi::metrics::BosPolicy;
use densi::model::Model;
use densi::pair::words::align_words;
use densi::pair::{PairScorer, same_vocabulary};
use densi::score::ScoreOptions;

#[path = "../support/pair.rs"]
mod pair_support;
use pair_support::{check_pair, cpu, goldens, load, root};

#[test]
fn tiny_fixture_against_its_q4_0_quantization() {
    let f = check_pair("tiny-F32-vs-Q4_0", None, &cpu);
    assert!(f.is_empty(), "{} disagreements:\n{}", f.len(), f.join("\n"));
}

#[test]
fn tiny_fixture_against_its_q8_0_quantization() {
    let f = check_pair("tiny-F32-vs-Q8_0", None, &cpu);
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
    let f = check_pair("default-Q4_1-vs-Q4_0-requant", Some(&b), &cpu);
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
