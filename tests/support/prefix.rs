//! Shared by the prefix-cache tests of the engine (CPU) and GPU test binaries (each includes this
//! file with `#[path]`): scoring texts with reuse and without (`--cache-mb 0`) on one backend and
//! comparing every scored quantity, and the edits (insert, delete, replace at the start, middle and
//! end) of a text.
//!
//! Tolerance 1e-5 bits (varentropy: 1e-5 × max(1, V) bits²): a reused position sees the same keys
//! and values; what differs is the number of rows each GEMM runs on (the suffix only), which can pick
//! another kernel or tile and so another f32 summation order in the recomputed positions.
#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;

use densi::backend::{BackendChoice, BackendOptions};
use densi::metrics::TextScore;
use densi::model::Model;
use densi::score::{ScoreOptions, Scorer};

pub const TOL_BITS: f64 = 1e-5;

pub fn fixture(name: &str) -> Arc<Model> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name);
    Arc::new(Model::load(&dir).unwrap())
}

/// A scorer on `choice` (the CPU with 2 threads) with the cache budget `cache_mb` (None: the default).
pub fn scorer(model: &Arc<Model>, choice: BackendChoice, cache_mb: Option<usize>, score: ScoreOptions) -> Scorer {
    let backend = BackendOptions { choice, threads: Some(2), cache_mb, ..Default::default() };
    densi::backend::scorer(model, &backend, score).unwrap()
}

/// Every scored quantity of `got` within TOL_BITS of `want` (same tokens, ranks, top ids up to near ties).
pub fn assert_same(got: &TextScore, want: &TextScore, what: &str) -> f64 {
    assert_eq!(got.tokens.len(), want.tokens.len(), "{what}");
    let mut worst = 0.0f64;
    let mut close = |a: f64, b: f64, field: &str, i: usize| {
        if (a.is_nan() && b.is_nan()) || a == b {
            return;
        }
        let d = (a - b).abs();
        worst = worst.max(d);
        assert!(d <= TOL_BITS, "{what}: token {i} {field}: {a} vs {b} (|Δ| = {d:e})");
    };
    for (i, (a, b)) in got.tokens.iter().zip(&want.tokens).enumerate() {
        assert_eq!((a.id, a.scored, a.window, a.context_len), (b.id, b.scored, b.window, b.context_len), "{what}: {i}");
        close(a.surprisal_bits, b.surprisal_bits, "surprisal", i);
        close(a.entropy_bits, b.entropy_bits, "entropy", i);
        // Varentropy is in bits²: the same relative precision, 1e-5 × max(1, V) bits².
        let v = a.varentropy_bits2.abs().max(1.0);
        close(a.varentropy_bits2 / v, b.varentropy_bits2 / v, "varentropy / max(1, V)", i);
        // The boundary value is −log₂ of a mass that can be 2⁻²⁰ (measured: 20.25 bits differing by
        // 1.09e-5 when the recomputed rows took the other GEMM kernel): the same relative
        // precision as varentropy, 1e-5 × max(1, B) bits.
        let bb = a.boundary_bits.abs().max(1.0);
        close(a.boundary_bits / bb, b.boundary_bits / bb, "boundary / max(1, B)", i);
        assert!(a.rank.abs_diff(b.rank) <= 1, "{what}: token {i} rank {} vs {}", a.rank, b.rank);
        for (x, y) in a.top.iter().zip(&b.top) {
            close(x.probability, y.probability, "top p", i);
        }
    }
    match (got.end_boundary_bits, want.end_boundary_bits) {
        (Some(a), Some(b)) => close(a, b, "end boundary", got.tokens.len()),
        (a, b) => assert_eq!(a.is_some(), b.is_some(), "{what}"),
    }
    worst
}

/// Scores `texts` in order with reuse and without; returns (positions, computed) of the reusing scorer.
pub fn check_texts(
    model: &Arc<Model>,
    choice: BackendChoice,
    score: ScoreOptions,
    texts: &[String],
    budget_mb: Option<usize>,
) -> (u64, u64) {
    let mut cached = scorer(model, choice, budget_mb, score.clone());
    let mut fresh = scorer(model, choice, Some(0), score);
    let mut worst = 0.0f64;
    for (n, text) in texts.iter().enumerate() {
        let a = cached.score(&format!("t{n}"), text).unwrap();
        let b = fresh.score(&format!("t{n}"), text).unwrap();
        worst = worst.max(assert_same(&a, &b, &format!("text {n} {text:?}")));
        let c = cached.reuse_counts().unwrap();
        assert!(c.bytes <= c.budget, "cache {} bytes over its budget {}", c.bytes, c.budget);
    }
    let f = fresh.reuse_counts().unwrap();
    assert_eq!(f.positions, f.computed, "no cache: every position computed");
    let c = cached.reuse_counts().unwrap();
    eprintln!("positions {} computed {} worst |Δ| {worst:e} bits", c.positions, c.computed);
    (c.positions, c.computed)
}

/// The edits of one text: insert, delete, replace a word at the start, middle and end (split at spaces).
pub fn edits(text: &str) -> Vec<String> {
    let words: Vec<&str> = text.split(' ').collect();
    let n = words.len();
    let mut out = vec![text.to_string()];
    for at in [0, n / 2, n - 1] {
        let mut ins = words.clone();
        ins.insert(at + 1, "suddenly");
        let mut del = words.clone();
        del.remove(at);
        let mut rep = words.clone();
        rep[at] = "lantern";
        for w in [ins, del, rep] {
            out.push(w.join(" "));
        }
        // Back to the original after each group: a text seen before (its rows and end row reused).
        out.push(text.to_string());
    }
    out.push(format!("{text} And then"));
    out.push(format!("{text} And then the storm came."));
    out
}

pub fn english() -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/texts/english.txt");
    std::fs::read_to_string(p).unwrap().trim().to_string()
}
