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
//! - S_W = Σ_{v∈W} e^(z_v−m), ln B = ln S_W − ln S₀      boundary mass: the probability that the next
//!   token starts a new word (W = the model's [`BoundaryMask`]); one more masked sum in the same pass
//!
//! Sums are accumulated in f64 after shifting by the max, so nothing overflows and the
//! cancellation in V stays far below the 1e-4 nats we test to.

use serde::Serialize;

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
    /// ln Σ_{v∈W} p(v) over the word-boundary set W, nats (−∞ when W is empty or has no mass).
    pub boundary_logprob: f64,
}

/// Which tokens count as the start of a new word (the boundary set W of [`BoundaryMask`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BoundarySet {
    /// Every token whose decoded bytes start with a whitespace character (SentencePiece `▁` decodes
    /// to a space), plus the model's EOS and its end-of-text token where they differ.
    #[default]
    Full,
    /// Only tokens whose decoded text starts with a space ' ', no EOS: minicons' `bow_correction` set.
    SpaceOnly,
}

/// A set of vocabulary ids as a bitset (bit `id % 32` of word `id / 32`): the layout the GPU lm-head
/// reads, and what the CPU reductions test membership against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoundaryMask {
    vocab: usize,
    words: Vec<u32>,
}

impl BoundaryMask {
    /// The empty set over a vocabulary of `vocab` ids (its boundary mass is 0, ln B = −∞).
    pub fn empty(vocab: usize) -> BoundaryMask {
        BoundaryMask { vocab, words: vec![0; vocab.div_ceil(32).max(1)] }
    }

    /// The set of `ids`; ids at or above `vocab` are ignored.
    pub fn from_ids(vocab: usize, ids: impl IntoIterator<Item = u32>) -> BoundaryMask {
        let mut m = BoundaryMask::empty(vocab);
        for id in ids {
            if (id as usize) < vocab {
                m.words[id as usize / 32] |= 1 << (id % 32);
            }
        }
        m
    }

    pub fn vocab(&self) -> usize {
        self.vocab
    }

    #[inline]
    pub fn contains(&self, id: u32) -> bool {
        (id as usize) < self.vocab && self.words[id as usize / 32] >> (id % 32) & 1 == 1
    }

    /// The bitset words (⌈vocab/32⌉, at least one).
    pub fn words(&self) -> &[u32] {
        &self.words
    }

    /// Number of ids in the set.
    pub fn len(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Running sums for an online (blockwise) log-sum-exp over a logits row, shifted by the running max.
/// Two partial results over disjoint vocabulary blocks merge exactly with [`LogitSums::merge`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LogitSums {
    pub max: f64,
    pub s0: f64,
    pub s1: f64,
    pub s2: f64,
    /// Σ e^(z−max) over the boundary set's ids only.
    pub sb: f64,
}

impl LogitSums {
    pub const EMPTY: LogitSums = LogitSums { max: f64::NEG_INFINITY, s0: 0.0, s1: 0.0, s2: 0.0, sb: 0.0 };

    /// Sums over one block of logits (no boundary set: `sb` = 0).
    pub fn of(logits: &[f32]) -> LogitSums {
        Self::of_block(logits, 0, &BoundaryMask::empty(0))
    }

    /// Sums over one block of logits holding vocabulary ids `v0 ..`, `sb` over the ids in `boundary`.
    pub fn of_block(logits: &[f32], v0: u32, boundary: &BoundaryMask) -> LogitSums {
        let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let (mut s0, mut s1, mut s2, mut sb) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
        for (i, &z) in logits.iter().enumerate() {
            let d = z - max;
            // exp in f32 is exact enough (≈1e-7 relative) and several times faster; accumulate in f64.
            let e = d.exp() as f64;
            let d = d as f64;
            s0 += e;
            s1 += e * d;
            s2 += e * d * d;
            if boundary.contains(v0 + i as u32) {
                sb += e;
            }
        }
        LogitSums { max: max as f64, s0, s1, s2, sb }
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
            (r * s.s0, r * (s.s1 + c * s.s0), r * (s.s2 + 2.0 * c * s.s1 + c * c * s.s0), r * s.sb)
        };
        let (a0, a1, a2, ab) = shift(self);
        let (b0, b1, b2, bb) = shift(other);
        LogitSums { max: m, s0: a0 + b0, s1: a1 + b1, s2: a2 + b2, sb: ab + bb }
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

    /// ln B = ln Σ_{v∈W} p(v), nats (−∞ when the set has no mass).
    pub fn boundary_logprob(&self) -> f64 {
        self.sb.ln() - self.s0.ln()
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
    pub fn new(k: usize) -> TopK {
        TopK { k, items: Vec::with_capacity(k + 1) }
    }

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
/// statistics of the distribution with respect to `target`, with no boundary set (`boundary_logprob`
/// = −∞). See [`reduce_row`].
pub fn reduce_logits_row(logits: &[f32], target: u32, top_k: usize) -> RowStats {
    reduce_row(logits, Some(target), top_k, &BoundaryMask::empty(0))
}

/// Reduces one row of logits over the whole vocabulary (plus optional bias already added) to the
/// statistics of the distribution with respect to `target` (none: the row after a text's last token,
/// whose `target_logprob` is NaN and `rank` 0) and its mass over `boundary`. The CPU oracle for the
/// fast reduction and the GPU lm-head kernel.
pub fn reduce_row(logits: &[f32], target: Option<u32>, top_k: usize, boundary: &BoundaryMask) -> RowStats {
    let sums = LogitSums::of_block(logits, 0, boundary);
    let z_t = target.map(|t| logits[t as usize]);
    let mut above = 0u32;
    let mut top = TopK::new(top_k);
    for (i, &z) in logits.iter().enumerate() {
        above += z_t.is_some_and(|z_t| z > z_t) as u32;
        top.push(z, i as u32);
    }
    row_stats_from_parts(&sums, z_t.map(f64::from), above, top.items())
}

/// Builds [`RowStats`] from reduced parts (used by the CPU reductions and by the GPU path after its
/// merge). `target_logit` None: a row without a target (NaN log-probability, rank 0).
pub fn row_stats_from_parts(sums: &LogitSums, target_logit: Option<f64>, above: u32, top: &[(f32, u32)]) -> RowStats {
    let log_z = sums.log_normalizer();
    RowStats {
        target_logprob: target_logit.map_or(f64::NAN, |z| z - log_z),
        entropy: sums.entropy(),
        varentropy: sums.varentropy(),
        rank: if target_logit.is_some() { above + 1 } else { 0 },
        top: top.iter().map(|&(z, id)| (id, (z as f64 - log_z).exp())).collect(),
        boundary_logprob: sums.boundary_logprob(),
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
    pub id: u32,
    /// The token's text (escaped bytes when not valid UTF-8 on its own).
    pub token: String,
    pub probability: f64,
}

/// Everything densi says about one token of a text. Surprisal, entropy and varentropy are in bits.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TokenScore {
    pub index: usize,
    pub id: u32,
    /// The token's text; its bytes as `\xNN` escapes when they are not valid UTF-8 on their own.
    pub token: String,
    /// The token's raw bytes.
    #[serde(skip)]
    pub bytes: Vec<u8>,
    pub byte_start: usize,
    pub byte_end: usize,
    /// Unicode code point offsets; a token inside a multi-byte character covers that whole character.
    pub char_start: usize,
    pub char_end: usize,
    /// False for a first token that had no context (`--bos none`); its metrics are NaN and it is left out of sums.
    pub scored: bool,
    /// −log₂ p(token | everything before it).
    pub surprisal_bits: f64,
    pub probability: f64,
    /// Entropy of the predictive distribution before this token, bits.
    pub entropy_bits: f64,
    /// Σ p (log₂ p + H)², bits².
    pub varentropy_bits2: f64,
    /// 1 = the model's top choice.
    pub rank: u32,
    pub top: Vec<Alternative>,
    /// Which sliding window scored it (0 when the text fit in one).
    pub window: usize,
    /// How many tokens of context it had (including a prepended BOS).
    pub context_len: usize,
    /// −log₂ B(context before this token): B = the probability that a new word starts here, the
    /// distribution's mass over the model's word-boundary tokens. Bits; NaN when not scored.
    pub boundary_bits: f64,
    /// surprisal − entropy, bits: how much more surprising the token was than the model expected on
    /// average (negative: less). NaN when not scored.
    pub excess_bits: f64,
    /// (surprisal − entropy) / √varentropy: the excess in standard deviations of the surprisal under
    /// the model's own distribution; unit-free; 0 when varentropy is 0, NaN when not scored.
    pub z: f64,
}

impl TokenScore {
    /// Fills the per-token metrics derived from the row statistics (natural units in `row`).
    pub fn set_row(&mut self, row: &RowStats) {
        self.scored = true;
        self.surprisal_bits = -row.target_logprob / LN_2;
        self.probability = row.target_logprob.exp();
        self.entropy_bits = row.entropy / LN_2;
        self.varentropy_bits2 = row.varentropy / (LN_2 * LN_2);
        self.rank = row.rank;
        self.boundary_bits = -row.boundary_logprob / LN_2;
        (self.excess_bits, self.z) = excess_and_z(self.surprisal_bits, self.entropy_bits, self.varentropy_bits2);
    }
}

/// (surprisal − entropy, (surprisal − entropy) / √varentropy) in bits and unit-free; z = 0 when the
/// varentropy is 0 (a one-point distribution: the token was the certain one, excess 0).
pub fn excess_and_z(surprisal_bits: f64, entropy_bits: f64, varentropy_bits2: f64) -> (f64, f64) {
    let excess = surprisal_bits - entropy_bits;
    let z = if varentropy_bits2 > 0.0 {
        excess / varentropy_bits2.sqrt()
    } else if excess.is_nan() {
        f64::NAN
    } else {
        0.0
    };
    (excess, z)
}

/// Per-text totals over the scored tokens.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Summary {
    pub tokens: usize,
    pub scored_tokens: usize,
    pub bytes: usize,
    pub chars: usize,
    pub total_bits: f64,
    pub mean_bits_per_token: f64,
    pub bits_per_byte: f64,
    pub bits_per_char: f64,
    /// 2^(mean bits per token).
    pub perplexity: f64,
    /// Fast-DetectGPT's analytic criterion with the same model as sampler and scorer (Bao et al. 2024):
    /// Σ(−s + H) / √ΣV over the scored tokens, s, H in bits and V in bits² (unit-free). Higher = the
    /// text is likelier than the model's own samples (machine-like). None when ΣV = 0.
    pub fast_detectgpt: Option<f64>,
}

impl Summary {
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
            fast_detectgpt: fast_detectgpt(&scored),
        }
    }
}

/// Σ(−s + H) / √ΣV over `scored` (bits; see [`Summary::fast_detectgpt`]).
fn fast_detectgpt(scored: &[&TokenScore]) -> Option<f64> {
    let excess: f64 = scored.iter().map(|t| t.entropy_bits - t.surprisal_bits).sum();
    let var: f64 = scored.iter().map(|t| t.varentropy_bits2).sum();
    (var > 0.0).then(|| excess / var.sqrt())
}

/// How a text was scored: part of every result's provenance.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ScoreSettings {
    /// The policy asked for.
    pub bos_policy: BosPolicy,
    /// The token actually prepended, if any.
    pub bos_token: Option<u32>,
    pub window: usize,
    pub stride: usize,
    pub windows: usize,
    pub top_k: usize,
    /// `cpu` or `gpu`.
    pub backend: String,
    /// E.g. `cpu, 2 threads` or `NVIDIA H200 (Vulkan)`.
    pub device: String,
}

/// A scored text.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TextScore {
    pub id: String,
    pub text: String,
    pub tokens: Vec<TokenScore>,
    pub summary: Summary,
    /// −log₂ B(context through the last token), bits: the probability that the text's last word
    /// ends where the text ends, from the distribution after the final token (which scores no token).
    pub end_boundary_bits: Option<f64>,
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
    fn boundary_sum_merges_blockwise_and_is_a_log_probability() {
        let logits: Vec<f32> = (0..777).map(|i| ((i as f32) * 0.37).cos() * 12.0 - (i % 13) as f32).collect();
        let mask = BoundaryMask::from_ids(777, (0..777).filter(|i| i % 4 == 1));
        let whole = LogitSums::of_block(&logits, 0, &mask);
        let merged = logits
            .chunks(100)
            .enumerate()
            .map(|(b, c)| LogitSums::of_block(c, b as u32 * 100, &mask))
            .fold(LogitSums::EMPTY, LogitSums::merge);
        let lp: Vec<f64> = {
            let m = logits.iter().fold(f64::NEG_INFINITY, |a, &b| a.max(b as f64));
            let lse = m + logits.iter().map(|&z| (z as f64 - m).exp()).sum::<f64>().ln();
            logits.iter().map(|&z| z as f64 - lse).collect()
        };
        let want = (0..777).filter(|i| i % 4 == 1).map(|i| lp[i].exp()).sum::<f64>().ln();
        assert!((whole.boundary_logprob() - want).abs() < 1e-6, "{} vs {want}", whole.boundary_logprob());
        assert!((merged.boundary_logprob() - want).abs() < 1e-6);
        assert_eq!(LogitSums::of(&logits).boundary_logprob(), f64::NEG_INFINITY, "no set: B = 0");
        assert!(mask.contains(1) && !mask.contains(2) && !mask.contains(10_000));
        assert_eq!(mask.len(), 194);
    }

    #[test]
    fn excess_z_and_fast_detectgpt() {
        // s = 3, H = 1, V = 4 bits²: excess 2 bits, z = 2 / √4 = 1.
        assert_eq!(excess_and_z(3.0, 1.0, 4.0), (2.0, 1.0));
        // A one-point distribution: V = 0, z defined as 0.
        assert_eq!(excess_and_z(0.0, 0.0, 0.0), (0.0, 0.0));
        assert!(excess_and_z(f64::NAN, f64::NAN, f64::NAN).1.is_nan());
        let tok = |s: f64, h: f64, v: f64, scored: bool| {
            let mut t = TokenScore {
                index: 0,
                id: 0,
                token: String::new(),
                bytes: Vec::new(),
                byte_start: 0,
                byte_end: 1,
                char_start: 0,
                char_end: 1,
                scored: false,
                surprisal_bits: f64::NAN,
                probability: f64::NAN,
                entropy_bits: f64::NAN,
                varentropy_bits2: f64::NAN,
                rank: 0,
                top: Vec::new(),
                window: 0,
                context_len: 0,
                boundary_bits: f64::NAN,
                excess_bits: f64::NAN,
                z: f64::NAN,
            };
            if scored {
                let ln2 = LN_2;
                let row = RowStats {
                    target_logprob: -s * ln2,
                    entropy: h * ln2,
                    varentropy: v * ln2 * ln2,
                    rank: 1,
                    top: Vec::new(),
                    boundary_logprob: -ln2,
                };
                t.set_row(&row);
            }
            t
        };
        let toks = [tok(3.0, 1.0, 4.0, true), tok(1.0, 2.0, 5.0, true), tok(9.0, 9.0, 9.0, false)];
        assert!((toks[0].excess_bits - 2.0).abs() < 1e-12 && (toks[0].z - 1.0).abs() < 1e-12);
        assert!((toks[0].boundary_bits - 1.0).abs() < 1e-12, "B = 1/2 is 1 bit");
        // Σ(−s + H) / √ΣV = ((−3 + 1) + (−1 + 2)) / √(4 + 5) = −1/3; the unscored token is left out.
        let s = Summary::of(&toks, "abc");
        assert!((s.fast_detectgpt.unwrap() + 1.0 / 3.0).abs() < 1e-12, "{:?}", s.fast_detectgpt);
        assert_eq!(Summary::of(&toks[2..], "abc").fast_detectgpt, None, "ΣV = 0");
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
