//! Throughput benchmark of a forward backend: scores synthetic token sequences of given lengths after
//! a warm-up and reports tokens/s and achieved GFLOP/s (FLOPs from [`ModelConfig::forward_flops`]).
//! Also: SmolLM2-135M's shapes and random weights of any shape, so the forward can be timed (and
//! tested) without a model file.

use std::time::Instant;

use crate::error::Result;
use crate::model::{Architecture, Block, Linear, Matrix, Mlp, ModelConfig, Norm, NormKind, Weights};
use crate::score::Forward;

/// One benchmarked length.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BenchRow {
    /// Tokens in the window (all but the first are scored).
    pub tokens: usize,
    /// Median wall time of one `score_window` call over the repetitions, seconds.
    pub seconds: f64,
    /// Fastest repetition, seconds.
    pub min_seconds: f64,
    pub repetitions: usize,
    /// tokens / seconds (median).
    pub tokens_per_s: f64,
    /// forward_flops(tokens) / seconds (median), in 10⁹ FLOP/s.
    pub gflops: f64,
}

/// A deterministic pseudo-random token sequence of `len` ids below `vocab` (splitmix64).
pub fn synthetic_tokens(len: usize, vocab: usize, seed: u64) -> Vec<u32> {
    let mut rng = SplitMix64::new(seed);
    (0..len).map(|_| (rng.next_u64() % vocab as u64) as u32).collect()
}

/// Scores one synthetic sequence per length: `warmup` untimed calls, then `repetitions` timed ones
/// (at least 1); each call is one whole `score_window` (forward + lm-head reduction, top-5), a
/// full pass (the backend's prefix cache is off meanwhile).
pub fn bench_forward(
    forward: &mut dyn Forward,
    config: &ModelConfig,
    lengths: &[usize],
    warmup: usize,
    repetitions: usize,
) -> Result<Vec<BenchRow>> {
    // A full pass each time: the prefix cache would answer every repetition after the first.
    let budget = forward.reuse_counts().map(|c| c.budget);
    forward.set_prefix_cache(0);
    let rows = bench_lengths(forward, config, lengths, warmup, repetitions);
    if let Some(b) = budget {
        forward.set_prefix_cache(b);
    }
    rows
}

fn bench_lengths(
    forward: &mut dyn Forward,
    config: &ModelConfig,
    lengths: &[usize],
    warmup: usize,
    repetitions: usize,
) -> Result<Vec<BenchRow>> {
    let mut rows = Vec::with_capacity(lengths.len());
    for &len in lengths {
        let len = len.max(2);
        let ids = synthetic_tokens(len, config.vocab_size, 0x5EED ^ len as u64);
        for _ in 0..warmup {
            forward.score_window(&ids, 1, 5)?;
        }
        let mut times = Vec::with_capacity(repetitions.max(1));
        for _ in 0..repetitions.max(1) {
            let t0 = Instant::now();
            let out = forward.score_window(&ids, 1, 5)?;
            times.push(t0.elapsed().as_secs_f64());
            std::hint::black_box(out);
        }
        times.sort_by(f64::total_cmp);
        let seconds = times[times.len() / 2];
        rows.push(BenchRow {
            tokens: len,
            seconds,
            min_seconds: times[0],
            repetitions: times.len(),
            tokens_per_s: len as f64 / seconds,
            gflops: config.forward_flops(len) / seconds / 1e9,
        });
    }
    Ok(rows)
}

/// One prefix-reuse scenario: the same windows scored without the prefix cache and with it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PrefixBenchRow {
    /// What was scored.
    pub name: String,
    /// Windows scored (each a whole `score_rows` with the top-5 reduction and the end row).
    pub windows: usize,
    /// Positions of all windows: what a full pass computes.
    pub positions: u64,
    /// Positions computed with reuse.
    pub computed: u64,
    /// Wall seconds without reuse (median of the repetitions).
    pub seconds_full: f64,
    /// Wall seconds with reuse, starting from `warm` in the cache (median of the repetitions).
    pub seconds_reuse: f64,
}

impl PrefixBenchRow {
    /// seconds_full / seconds_reuse.
    pub fn speedup(&self) -> f64 {
        self.seconds_full / self.seconds_reuse
    }
}

/// `count` minimal pairs of `len` tokens: each pair shares its first `shared` tokens, then differs;
/// the pairs share nothing. Adjacent in the batch, as a stimulus list has them.
pub fn minimal_pairs(count: usize, len: usize, shared: usize, vocab: usize) -> Vec<Vec<u32>> {
    let mut batch = Vec::with_capacity(2 * count);
    for pair in 0..count as u64 {
        let frame = synthetic_tokens(shared, vocab, 0xFA11 ^ (pair << 8));
        for member in 0..2u64 {
            let mut text = frame.clone();
            text.extend(synthetic_tokens(len - shared, vocab, 0x7A11 ^ (pair << 8) ^ (member << 4) ^ 1));
            batch.push(text);
        }
    }
    batch
}

/// `count` minimal pairs of `len` tokens after one context of `frame` tokens that every text starts
/// with (an instruction or story shared by a whole stimulus list): after the context, the two texts
/// of a pair share their first half of the rest, then differ; the pairs share only the context.
pub fn minimal_pairs_in_context(count: usize, len: usize, frame: usize, vocab: usize) -> Vec<Vec<u32>> {
    let context = synthetic_tokens(frame, vocab, 0xC0DE);
    let rest = len - frame;
    let mut batch = Vec::with_capacity(2 * count);
    for pair in 0..count as u64 {
        let mut shared = context.clone();
        shared.extend(synthetic_tokens(rest / 2, vocab, 0xFA12 ^ (pair << 8)));
        for member in 0..2u64 {
            let mut text = shared.clone();
            text.extend(synthetic_tokens(len - text.len(), vocab, 0x7A12 ^ (pair << 8) ^ (member << 4) ^ 1));
            batch.push(text);
        }
    }
    batch
}

/// Times scoring `windows` (after `warm`, untimed) with the backend's prefix cache off, then on
/// (`budget` bytes, emptied before each repetition); counts positions computed with reuse.
pub fn bench_prefix(
    forward: &mut dyn Forward,
    name: &str,
    warm: &[Vec<u32>],
    windows: &[Vec<u32>],
    budget: usize,
    repetitions: usize,
) -> Result<PrefixBenchRow> {
    let run = |forward: &mut dyn Forward, bytes: usize| -> Result<(f64, u64)> {
        let mut times = Vec::new();
        let mut computed = 0;
        for _ in 0..repetitions.max(1) {
            forward.set_prefix_cache(0);
            forward.set_prefix_cache(bytes);
            for w in warm {
                forward.score_rows(w, 1, 5, true)?;
            }
            let before = forward.reuse_counts().unwrap_or_default().computed;
            let t0 = Instant::now();
            for w in windows {
                std::hint::black_box(forward.score_rows(w, 1, 5, true)?);
            }
            times.push(t0.elapsed().as_secs_f64());
            computed = forward.reuse_counts().unwrap_or_default().computed - before;
        }
        times.sort_by(f64::total_cmp);
        Ok((times[times.len() / 2], computed))
    };
    let (seconds_full, _) = run(forward, 0)?;
    let (seconds_reuse, computed) = run(forward, budget)?;
    Ok(PrefixBenchRow {
        name: name.to_string(),
        windows: windows.len(),
        positions: windows.iter().map(|w| w.len() as u64).sum(),
        computed,
        seconds_full,
        seconds_reuse,
    })
}

/// The three cases of `densi bench --prefix`, with the prefix cache at `budget` bytes against none:
/// - 20 minimal pairs of `len` tokens (40 windows; each pair shares its first 80 %, the pairs nothing):
///   at most 1 / (0.5 + 0.5 × 0.2) = 1.67× fewer positions, whatever the cache;
/// - 20 minimal pairs of `len` tokens whose first 80 % is one context shared by all 40 texts
///   ([`minimal_pairs_in_context`]);
/// - an edit: a 2,000-token window scored, then its last token replaced by three (a word typed at the
///   end, the last token retokenized with it), as the TUI sees it; only the second is timed.
pub fn prefix_cases(
    forward: &mut dyn Forward,
    config: &ModelConfig,
    len: usize,
    budget: usize,
    repetitions: usize,
) -> Result<Vec<PrefixBenchRow>> {
    let vocab = config.vocab_size;
    let len = len.clamp(2, config.context_length);
    let shared = len * 4 / 5;
    let pairs = minimal_pairs(20, len, shared, vocab);
    let long_len = 2000.min(config.context_length.saturating_sub(3)).max(2);
    let long = synthetic_tokens(long_len, vocab, 0xED17);
    let mut edited = long[..long_len - 1].to_vec();
    edited.extend(synthetic_tokens(3, vocab, 0xED18));
    Ok(vec![
        bench_prefix(
            forward,
            &format!("20 minimal pairs of {len} tokens sharing {shared}"),
            &[],
            &pairs,
            budget,
            repetitions,
        )?,
        bench_prefix(
            forward,
            &format!("20 minimal pairs of {len} after a {shared}-token context"),
            &[],
            &minimal_pairs_in_context(20, len, shared, vocab),
            budget,
            repetitions,
        )?,
        bench_prefix(
            forward,
            &format!("a word appended to {long_len} tokens"),
            &[long],
            &[edited],
            budget,
            repetitions,
        )?,
    ])
}

/// SmolLM2-135M(-Instruct)'s configuration (its config.json / GGUF metadata).
pub fn smollm2_135m_config() -> ModelConfig {
    ModelConfig {
        architecture: Architecture::Llama,
        vocab_size: 49152,
        hidden_size: 576,
        num_layers: 30,
        num_heads: 9,
        num_kv_heads: 3,
        head_dim: 64,
        intermediate_size: 1536,
        context_length: 8192,
        rope_theta: 100000.0,
        norm_eps: 1e-5,
        tie_word_embeddings: true,
        attention: Default::default(),
    }
}

/// Random weights of `config`'s shapes: matrices uniform with std 1/√in (so activations stay O(1)
/// through the layers), embeddings with std 0.1 (logits with a spread like a trained model's), norm
/// weights near 1, small biases where the architecture has them. Deterministic in `seed`.
pub fn random_weights(config: &ModelConfig, seed: u64) -> Weights {
    let rng = &mut SplitMix64::new(seed);
    let (h, i) = (config.hidden_size, config.intermediate_size);
    let (q, kv) = (config.num_heads * config.head_dim, config.num_kv_heads * config.head_dim);
    let gpt2 = config.architecture == Architecture::Gpt2;
    let qkv_bias = config.architecture != Architecture::Llama;
    let kind = if gpt2 { NormKind::LayerNorm } else { NormKind::RmsNorm };
    let norm = |rng: &mut SplitMix64| Norm {
        kind,
        weight: (0..h).map(|_| 0.8 + 0.4 * rng.unit()).collect(),
        bias: gpt2.then(|| uniform(rng, h, 0.05)),
        eps: config.norm_eps,
    };
    let blocks = (0..config.num_layers)
        .map(|_| Block {
            attn_norm: norm(rng),
            q: linear(rng, q, h, qkv_bias),
            k: linear(rng, kv, h, qkv_bias),
            v: linear(rng, kv, h, qkv_bias),
            o: linear(rng, h, q, gpt2),
            mlp_norm: norm(rng),
            mlp: if gpt2 {
                Mlp::Gelu { fc: linear(rng, i, h, true), proj: linear(rng, h, i, true) }
            } else {
                Mlp::SwiGlu {
                    gate: linear(rng, i, h, false),
                    up: linear(rng, i, h, false),
                    down: linear(rng, h, i, false),
                }
            },
            qk_norm: None,
            post_norms: None,
        })
        .collect();
    Weights {
        token_embedding: Matrix::from_f32(config.vocab_size, h, uniform(rng, config.vocab_size * h, 0.1)),
        position_embedding: gpt2
            .then(|| Matrix::from_f32(config.context_length, h, uniform(rng, config.context_length * h, 0.1))),
        blocks,
        final_norm: norm(rng),
        lm_head: (!config.tie_word_embeddings).then(|| linear(rng, config.vocab_size, h, false)),
    }
}

/// n values uniform on [−a, a] with standard deviation `std` (a = std·√3).
fn uniform(rng: &mut SplitMix64, n: usize, std: f32) -> Vec<f32> {
    let a = std * 3f32.sqrt();
    (0..n).map(|_| rng.uniform() * a).collect()
}

fn linear(rng: &mut SplitMix64, out_f: usize, in_f: usize, bias: bool) -> Linear {
    Linear {
        weight: Matrix::from_f32(out_f, in_f, uniform(rng, out_f * in_f, 1.0 / (in_f as f32).sqrt())),
        bias: bias.then(|| uniform(rng, out_f, 0.02)),
        in_features: in_f,
        out_features: out_f,
    }
}

/// splitmix64 (Steele, Lea and Flood 2014; the constants of Vigna's reference `splitmix64.c`): a tiny,
/// fast, deterministic generator for synthetic data, so benchmarks and tests reproduce exactly. The one
/// generator of the crate and its tests.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> SplitMix64 {
        SplitMix64(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1): the top 24 bits, so every value is an exact f32.
    pub fn unit(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }

    /// Uniform in [−1, 1).
    pub fn uniform(&mut self) -> f32 {
        self.unit() * 2.0 - 1.0
    }

    /// `n` values uniform in [−scale, scale).
    pub fn vec(&mut self, n: usize, scale: f32) -> Vec<f32> {
        (0..n).map(|_| self.uniform() * scale).collect()
    }

    /// Uniform below `n` (modulo bias below 2⁻³² for the small `n` of tests: irrelevant here).
    pub fn below(&mut self, n: u32) -> u32 {
        (self.next_u64() % n as u64) as u32
    }
}
