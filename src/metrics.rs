//! Per-token information metrics, computed in one place for every backend.
//!
//! A backend reduces each row of logits z (the predictive distribution before a token) to a
//! [`RowStats`]; [`reduce_logits_row`] is the exact CPU reduction that GPU kernels are tested against.
//!
//! Formulas (natural log inside, reported in bits = nats / ln 2):
//! - m = max z, S₀ = Σ e^(z−m), S₁ = Σ e^(z−m)(z−m), S₂ = Σ e^(z−m)(z−m)²
//! - ln p(t) = (z_t − m) − ln S₀                       surprisal = −ln p(t)
//! - H = −Σ p ln p = ln S₀ − S₁/S₀                      entropy
//! - V = Σ p (ln p + H)² = S₂/S₀ − (S₁/S₀)²             varentropy (variance of −ln p)
//! - rank = 1 + #{v : z_v > z_t}                        1 = the argmax; ties share the better rank
//!
//! Sums are accumulated in f64 after shifting by the max, so nothing overflows and the
//! cancellation in V stays far below the 1e-4 nats we test to.

use serde::Serialize;

/// ln 2: nats per bit.
pub const LN_2: f64 = std::f64::consts::LN_2;

/// Statistics of one predictive distribution with respect to its target token. Natural units.
#[derive(Debug, Clone, PartialEq)]
pub struct RowStats {
    /// ln p(target), nats (≤ 0).
    pub target_logprob: f64,
    /// Entropy, nats.
    pub entropy: f64,
    /// Varentropy, nats².
    pub varentropy: f64,
    /// 1 + number of vocabulary entries with a strictly larger logit.
    pub rank: u32,
    /// The `k` most probable tokens, most probable first: (id, probability).
    pub top: Vec<(u32, f64)>,
}

/// Running sums for an online (blockwise) log-sum-exp over a logits row, shifted by the running max.
/// Two partial results over disjoint vocabulary blocks merge exactly with [`LogitSums::merge`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LogitSums {
    /// The largest logit seen (the shift m).
    pub max: f64,
    /// S₀ = Σ e^(z−m).
    pub s0: f64,
    /// S₁ = Σ e^(z−m)(z−m).
    pub s1: f64,
    /// S₂ = Σ e^(z−m)(z−m)².
    pub s2: f64,
}

impl LogitSums {
    /// Sums over no logits.
    pub const EMPTY: LogitSums = LogitSums { max: f64::NEG_INFINITY, s0: 0.0, s1: 0.0, s2: 0.0 };

    /// Sums over one block of logits.
    pub fn of(logits: &[f32]) -> LogitSums {
        let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let (mut s0, mut s1, mut s2) = (0.0f64, 0.0f64, 0.0f64);
        for &z in logits {
            let d = z - max;
            // exp in f32 is exact enough (≈1e-7 relative) and several times faster; accumulate in f64.
            let e = d.exp() as f64;
            let d = d as f64;
            s0 += e;
            s1 += e * d;
            s2 += e * d * d;
        }
        LogitSums { max: max as f64, s0, s1, s2 }
    }

    /// Combines the sums of two disjoint blocks: re-centres the smaller-max side on the larger max.
    /// With c = m_b − m (≤ 0 for the side being moved) and r = e^c:
    /// S₀ = r S₀', S₁ = r (S₁' + c S₀'), S₂ = r (S₂' + 2c S₁' + c² S₀').
    pub fn merge(self, other: LogitSums) -> LogitSums {
        if other.s0 == 0.0 {
            return self;
        }
        if self.s0 == 0.0 {
            return other;
        }
        let m = self.max.max(other.max);
        let shift = |s: LogitSums| {
            let c = s.max - m;
            let r = c.exp();
            (r * s.s0, r * (s.s1 + c * s.s0), r * (s.s2 + 2.0 * c * s.s1 + c * c * s.s0))
        };
        let (a0, a1, a2) = shift(self);
        let (b0, b1, b2) = shift(other);
        LogitSums { max: m, s0: a0 + b0, s1: a1 + b1, s2: a2 + b2 }
    }

    /// ln Σ e^z.
    pub fn log_normalizer(&self) -> f64 {
        self.max + self.s0.ln()
    }

    /// Entropy in nats.
    pub fn entropy(&self) -> f64 {
        self.s0.ln() - self.s1 / self.s0
    }

    /// Varentropy in nats²; clamped at 0 against rounding.
    pub fn varentropy(&self) -> f64 {
        let mean = self.s1 / self.s0;
        (self.s2 / self.s0 - mean * mean).max(0.0)
    }
}

/// Keeps the `k` largest (logit, id) pairs; ties broken towards the lower id.
#[derive(Debug, Clone)]
pub struct TopK {
    k: usize,
    /// Sorted, best first.
    items: Vec<(f32, u32)>,
}

impl TopK {
    /// Keeps the `k` largest.
    pub fn new(k: usize) -> TopK {
        TopK { k, items: Vec::with_capacity(k + 1) }
    }

    /// Offers one logit.
    #[inline]
    pub fn push(&mut self, logit: f32, id: u32) {
        if self.k == 0 {
            return;
        }
        if self.items.len() == self.k {
            let (worst, worst_id) = self.items[self.k - 1];
            if logit < worst || (logit == worst && id > worst_id) {
                return;
            }
        }
        let pos = self.items.partition_point(|&(l, i)| l > logit || (l == logit && i < id));
        self.items.insert(pos, (logit, id));
        self.items.truncate(self.k);
    }

    /// Best first.
    pub fn items(&self) -> &[(f32, u32)] {
        &self.items
    }
}

/// Reduces one row of logits over the whole vocabulary (plus optional bias already added) to the
/// statistics of the distribution with respect to `target`. The CPU oracle for the GPU lm-head kernel.
pub fn reduce_logits_row(logits: &[f32], target: u32, top_k: usize) -> RowStats {
    let sums = LogitSums::of(logits);
    let z_t = logits[target as usize];
    let mut above = 0u32;
    let mut top = TopK::new(top_k);
    for (i, &z) in logits.iter().enumerate() {
        above += (z > z_t) as u32;
        top.push(z, i as u32);
    }
    row_stats_from_parts(&sums, z_t as f64, above, top.items())
}

/// Builds [`RowStats`] from reduced parts (used by the CPU reduction and by the GPU path after its merge).
pub fn row_stats_from_parts(sums: &LogitSums, target_logit: f64, above: u32, top: &[(f32, u32)]) -> RowStats {
    let log_z = sums.log_normalizer();
    RowStats {
        target_logprob: target_logit - log_z,
        entropy: sums.entropy(),
        varentropy: sums.varentropy(),
        rank: above + 1,
        top: top.iter().map(|&(z, id)| (id, (z as f64 - log_z).exp())).collect(),
    }
}

/// How the first token gets its context.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BosPolicy {
    /// The model's BOS if its tokenizer adds one, else its document separator (`<|endoftext|>`), else none.
    Auto,
    /// Nothing is prepended: the first token is not scored.
    None,
    /// This token id is prepended.
    Id(u32),
    /// This token (by its text, e.g. `<|endoftext|>`) is prepended.
    Token(String),
}

impl std::str::FromStr for BosPolicy {
    type Err = String;
    /// `auto`, `none`, a token id (`0`), or a token's text (`<|endoftext|>`).
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "" => Err("empty --bos value (use auto, none, a token id or a token)".into()),
            "auto" => Ok(BosPolicy::Auto),
            "none" => Ok(BosPolicy::None),
            _ => Ok(s.parse::<u32>().map(BosPolicy::Id).unwrap_or_else(|_| BosPolicy::Token(s.to_string()))),
        }
    }
}

/// One alternative the model considered.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Alternative {
    /// Token id.
    pub id: u32,
    /// The token's text (escaped bytes when not valid UTF-8 on its own).
    pub token: String,
    /// Its probability at this position.
    pub probability: f64,
}

/// Everything densi says about one token of a text. Surprisal, entropy and varentropy are in bits.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TokenScore {
    /// Position of the token in the text (0-based; a prepended BOS is not counted).
    pub index: usize,
    /// Token id.
    pub id: u32,
    /// The token's text; its bytes as `\xNN` escapes when they are not valid UTF-8 on their own.
    pub token: String,
    /// The token's raw bytes.
    #[serde(skip)]
    pub bytes: Vec<u8>,
    /// First byte of the token in the text.
    pub byte_start: usize,
    /// One past its last byte.
    pub byte_end: usize,
    /// Unicode code point offsets; a token inside a multi-byte character covers that whole character.
    pub char_start: usize,
    /// One past its last character (a character the token only partly covers counts whole).
    pub char_end: usize,
    /// False for a first token that had no context (`--bos none`); its metrics are NaN and it is left out of sums.
    pub scored: bool,
    /// −log₂ p(token | everything before it).
    pub surprisal_bits: f64,
    /// p(token | context) = 2^−surprisal.
    pub probability: f64,
    /// Entropy of the predictive distribution before this token, bits.
    pub entropy_bits: f64,
    /// Σ p (log₂ p + H)², bits².
    pub varentropy_bits2: f64,
    /// 1 = the model's top choice.
    pub rank: u32,
    /// The top-k alternatives at this position, most probable first.
    pub top: Vec<Alternative>,
    /// Which sliding window scored it (0 when the text fit in one).
    pub window: usize,
    /// How many tokens of context it had (including a prepended BOS).
    pub context_len: usize,
}

/// Per-text totals over the scored tokens.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Summary {
    /// Tokens in the text.
    pub tokens: usize,
    /// Tokens that were scored (the first is not under `--bos none`).
    pub scored_tokens: usize,
    /// UTF-8 bytes of the text.
    pub bytes: usize,
    /// Characters (Unicode code points) of the text.
    pub chars: usize,
    /// Σ surprisal over the scored tokens, bits.
    pub total_bits: f64,
    /// total bits / scored tokens.
    pub mean_bits_per_token: f64,
    /// total bits / bytes.
    pub bits_per_byte: f64,
    /// total bits / characters.
    pub bits_per_char: f64,
    /// 2^(mean bits per token).
    pub perplexity: f64,
}

impl Summary {
    /// Sums a text's scored tokens.
    pub fn of(tokens: &[TokenScore], text: &str) -> Summary {
        let scored: Vec<&TokenScore> = tokens.iter().filter(|t| t.scored).collect();
        let total_bits: f64 = scored.iter().map(|t| t.surprisal_bits).sum();
        let n = scored.len();
        let bytes = text.len();
        let chars = text.chars().count();
        let per = |d: usize| if d == 0 { f64::NAN } else { total_bits / d as f64 };
        let mean = per(n);
        Summary {
            tokens: tokens.len(),
            scored_tokens: n,
            bytes,
            chars,
            total_bits,
            mean_bits_per_token: mean,
            bits_per_byte: per(bytes),
            bits_per_char: per(chars),
            perplexity: mean.exp2(),
        }
    }
}

/// How a text was scored: part of every result's provenance.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ScoreSettings {
    /// The policy asked for.
    pub bos_policy: BosPolicy,
    /// The token actually prepended, if any.
    pub bos_token: Option<u32>,
    /// Window length W in tokens (a prepended BOS included).
    pub window: usize,
    /// Stride S between windows.
    pub stride: usize,
    /// How many windows (forward passes) the text took.
    pub windows: usize,
    /// Alternatives kept per token.
    pub top_k: usize,
    /// `cpu` or `gpu`.
    pub backend: String,
    /// E.g. `cpu, 2 threads` or `NVIDIA H200 (Vulkan)`.
    pub device: String,
}

/// A scored text.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TextScore {
    /// The text's id (file path, `--text #N`, a JSONL id).
    pub id: String,
    /// The text as scored.
    pub text: String,
    /// Every token, in order.
    pub tokens: Vec<TokenScore>,
    /// Totals and rates.
    pub summary: Summary,
    /// How it was scored.
    pub settings: ScoreSettings,
}

/// Bytes as text: UTF-8 when valid, else each byte as `\xNN`.
pub fn display_bytes(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_string(),
        Err(_) => bytes.iter().map(|b| format!("\\x{b:02X}")).collect(),
    }
}

/// Code point offsets for byte offsets: a token that starts or ends inside a character covers that character
/// (the convention of Hugging Face's offset mapping).
pub fn char_offsets(text: &str, byte_offsets: &[(usize, usize)]) -> Vec<(usize, usize)> {
    // char_index_of[b] = index of the character containing byte b.
    let mut char_index_of = vec![0usize; text.len() + 1];
    let mut n = 0usize;
    for (ci, (b, ch)) in text.char_indices().enumerate() {
        for slot in &mut char_index_of[b..b + ch.len_utf8()] {
            *slot = ci;
        }
        n = ci + 1;
    }
    char_index_of[text.len()] = n;
    byte_offsets
        .iter()
        .map(|&(s, e)| {
            let cs = char_index_of[s];
            let ce = if e > s { char_index_of[e - 1] + 1 } else { cs };
            (cs, ce)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Direct f64 formulas on a small row, as the reference script computes them (log-softmax in f64).
    fn direct(logits: &[f32], target: usize) -> (f64, f64, f64, u32) {
        let z: Vec<f64> = logits.iter().map(|&x| x as f64).collect();
        let m = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let lse = m + z.iter().map(|x| (x - m).exp()).sum::<f64>().ln();
        let lp: Vec<f64> = z.iter().map(|x| x - lse).collect();
        let h = -lp.iter().map(|l| l.exp() * l).sum::<f64>();
        let v = lp.iter().map(|l| l.exp() * (l + h).powi(2)).sum::<f64>();
        let rank = 1 + lp.iter().filter(|&&l| l > lp[target]).count() as u32;
        (lp[target], h, v, rank)
    }

    #[test]
    fn reduction_matches_direct_formulas() {
        let logits: Vec<f32> = (0..1000).map(|i| ((i * 7919 % 1000) as f32 / 37.0).sin() * 9.0).collect();
        for target in [0usize, 17, 999] {
            let r = reduce_logits_row(&logits, target as u32, 5);
            let (lp, h, v, rank) = direct(&logits, target);
            assert!((r.target_logprob - lp).abs() < 1e-6, "{} vs {}", r.target_logprob, lp);
            assert!((r.entropy - h).abs() < 1e-6);
            assert!((r.varentropy - v).abs() < 1e-5);
            assert_eq!(r.rank, rank);
        }
    }

    #[test]
    fn blockwise_merge_equals_whole_row() {
        let logits: Vec<f32> = (0..777).map(|i| ((i as f32) * 0.37).cos() * 12.0 - (i % 13) as f32).collect();
        let whole = LogitSums::of(&logits);
        let merged = logits.chunks(100).map(LogitSums::of).fold(LogitSums::EMPTY, LogitSums::merge);
        // Each block exponentiates in f32 around its own max (≈1e-7 relative per term), so the two
        // orders agree to f32 rounding, not to f64's.
        assert!((whole.log_normalizer() - merged.log_normalizer()).abs() < 1e-6);
        assert!((whole.entropy() - merged.entropy()).abs() < 1e-6);
        assert!((whole.varentropy() - merged.varentropy()).abs() < 1e-5);
    }

    #[test]
    fn top_k_is_sorted_and_ties_prefer_lower_ids() {
        let mut t = TopK::new(3);
        for (z, id) in [(1.0, 5), (3.0, 2), (3.0, 1), (0.5, 0), (2.0, 9)] {
            t.push(z, id);
        }
        assert_eq!(t.items(), &[(3.0, 1), (3.0, 2), (2.0, 9)]);
    }

    #[test]
    fn char_offsets_cover_partial_characters() {
        // "a水" : 'a' is 1 byte, '水' is 3 bytes split over two tokens.
        let text = "a水b";
        let offs = char_offsets(text, &[(0, 1), (1, 3), (3, 4), (4, 5)]);
        assert_eq!(offs, vec![(0, 1), (1, 2), (1, 2), (2, 3)]);
    }
}
