//! How density is shown, shared by every front end (the terminal UI, the HTML report): the metrics a
//! text can be coloured by (names, units, fixed and fitted scales), a token's or word's value of each
//! ([`unit_value`]),
//! GLTR's rank buckets, the "think point" rule and the colour map. Plain data, no terminal or HTML
//! types. Words and sentences themselves are defined in [`crate::text`]; what "densest" means is in
//! [`crate::export::words`].

/// The metric that colours the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// −log₂ p(token | context), bits.
    Surprisal,
    /// Entropy of the prediction before the token, bits.
    Entropy,
    /// Varentropy (variance of the surprisal) of the prediction before the token, bits².
    Varentropy,
    /// Surprisal minus entropy: how much more surprising the token was than the model itself expected.
    Excess,
    /// GLTR's rank buckets: 1, 2–10, 11–100, 101–1000, >1000.
    Rank,
}

/// Labels of GLTR's rank buckets, indexed by [`rank_bucket`].
pub const RANK_BUCKETS: [&str; 5] = ["1", "2–10", "11–100", "101–1k", ">1k"];

/// Bucket 0..=4 of a rank (GLTR).
pub fn rank_bucket(rank: u32) -> usize {
    match rank {
        0..=1 => 0,
        2..=10 => 1,
        11..=100 => 2,
        101..=1000 => 3,
        _ => 4,
    }
}

impl Metric {
    /// Every metric, in the order the front ends cycle through them.
    pub const ALL: [Metric; 5] = [Metric::Surprisal, Metric::Entropy, Metric::Varentropy, Metric::Excess, Metric::Rank];

    /// Position in [`Metric::ALL`].
    pub fn index(self) -> usize {
        Metric::ALL.iter().position(|&m| m == self).unwrap()
    }

    /// The metric's name as shown to users.
    pub fn name(self) -> &'static str {
        match self {
            Metric::Surprisal => "surprisal",
            Metric::Entropy => "entropy",
            Metric::Varentropy => "varentropy",
            Metric::Excess => "surprisal − entropy",
            Metric::Rank => "rank bucket",
        }
    }

    /// Its unit (`bits`, `bits²`, or empty for rank buckets).
    pub fn unit(self) -> &'static str {
        match self {
            Metric::Varentropy => "bits²",
            Metric::Rank => "",
            _ => "bits",
        }
    }

    /// The fixed scale (`s` toggles between it and one fitted to the texts).
    pub fn fixed_range(self) -> (f64, f64) {
        match self {
            Metric::Surprisal | Metric::Entropy => (0.0, 20.0),
            Metric::Varentropy => (0.0, 40.0),
            Metric::Excess => (-10.0, 10.0),
            Metric::Rank => (0.0, 4.0),
        }
    }

    /// Starting threshold for `n`/`N` (adjusted with `+`/`-` by [`Metric::threshold_step`]).
    pub fn default_threshold(self) -> f64 {
        match self {
            Metric::Surprisal => 8.0,
            Metric::Entropy => 6.0,
            Metric::Varentropy => 12.0,
            Metric::Excess => 4.0,
            Metric::Rank => 3.0,
        }
    }

    /// How much `+`/`-` move the threshold.
    pub fn threshold_step(self) -> f64 {
        match self {
            Metric::Rank => 1.0,
            Metric::Varentropy => 1.0,
            _ => 0.5,
        }
    }

    /// Formats a value of this metric (rank buckets by their label).
    pub fn fmt(self, v: f64) -> String {
        match self {
            Metric::Rank => RANK_BUCKETS[(v.max(0.0) as usize).min(4)].to_string(),
            _ => format!("{v:.2}"),
        }
    }
}

/// The colour scale fitted to `values` (the non-finite ones are skipped): 0 to the largest value,
/// so that "dark" always means "near zero bits"; surprisal − entropy, which can be negative, from its
/// smallest to its largest value. Rank buckets and a text without values keep the fixed range.
pub fn fitted_range(metric: Metric, values: impl IntoIterator<Item = f64>) -> (f64, f64) {
    if metric == Metric::Rank {
        return metric.fixed_range();
    }
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.into_iter().filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return metric.fixed_range();
    }
    if metric != Metric::Excess {
        lo = 0.0;
    }
    if hi - lo < 1e-6 {
        hi = lo + 1.0;
    }
    (lo, hi)
}

/// Where a value sits on a scale `range`, clamped to 0..=1 (0 = the map's dark end).
pub fn scale_position(v: f64, range: (f64, f64)) -> f64 {
    ((v - range.0) / (range.1 - range.0)).clamp(0.0, 1.0)
}

/// The value of `metric` for a unit: one token, or the run of tokens of a word ([`crate::text`]).
/// Surprisal is the sum over the unit's tokens (the chain rule); entropy, varentropy and rank are
/// those before its first token (the uncertainty where the unit begins); surprisal − entropy uses
/// both. The same numbers as a word of `export --level word`. None when there is no value: an empty
/// unit, a unit with an unscored token (the first token under `--bos none`; the export marks such a
/// word `scored = false`), or a non-finite result.
pub fn unit_value(tokens: &[crate::metrics::TokenScore], metric: Metric) -> Option<f64> {
    let first = tokens.first()?;
    if !tokens.iter().all(|t| t.scored) {
        return None;
    }
    let surprisal = || tokens.iter().map(|t| t.surprisal_bits).sum::<f64>();
    let v = match metric {
        Metric::Surprisal => surprisal(),
        Metric::Entropy => first.entropy_bits,
        Metric::Varentropy => first.varentropy_bits2,
        Metric::Excess => surprisal() - first.entropy_bits,
        Metric::Rank => rank_bucket(first.rank) as f64,
    };
    v.is_finite().then_some(v)
}

/// The value of `metric` for a word: like [`unit_value`] over its `tokens`, except that surprisal
/// (and surprisal − entropy) is `surprisal_bits`, the word surprisal the user picked (the corrected
/// −log₂ p(word) of `export::words` or the plain sum).
pub fn word_value(surprisal_bits: f64, tokens: &[crate::metrics::TokenScore], metric: Metric) -> Option<f64> {
    let plain = unit_value(tokens, metric)?;
    let v = match metric {
        Metric::Surprisal => surprisal_bits,
        Metric::Excess => surprisal_bits - tokens[0].entropy_bits,
        _ => plain,
    };
    v.is_finite().then_some(v)
}

/// "Think points": where a model would benefit from reasoning before it answers. A token is one when
/// the model was both uncertain and split between very different continuations — entropy ≥ 6 bits
/// and varentropy ≥ 12 bits² — or when the token was far more surprising than the model expected:
/// surprisal − entropy ≥ 8 bits. (Thresholds chosen on the three example prompts so that about one
/// token in ten qualifies: ` blue`, ` Jason`, ` Wei`, ` researcher`, ` square`, ` ((`, ` [`, `A`.)
pub const THINK_ENTROPY_BITS: f64 = 6.0;
/// Think-point rule: varentropy threshold in bits² (with [`THINK_ENTROPY_BITS`]).
pub const THINK_VARENTROPY_BITS2: f64 = 12.0;
/// Think-point rule: surprisal − entropy threshold in bits.
pub const THINK_EXCESS_BITS: f64 = 8.0;

/// Whether a scored token is a think point (the rule above; unscored tokens never are).
pub fn is_think_point(t: &crate::metrics::TokenScore) -> bool {
    t.scored
        && ((t.entropy_bits >= THINK_ENTROPY_BITS && t.varentropy_bits2 >= THINK_VARENTROPY_BITS2)
            || t.surprisal_bits - t.entropy_bits >= THINK_EXCESS_BITS)
}

/// matplotlib's `inferno` sampled at 0, 1/8, ..., 1 (its listed colormap, rounded to 8 bits).
/// Dark for little information, bright yellow for a lot; lightness increases monotonically.
pub const INFERNO: [(u8, u8, u8); 9] = [
    (0, 0, 4),
    (31, 12, 72),
    (85, 15, 109),
    (136, 34, 106),
    (186, 54, 85),
    (227, 89, 51),
    (249, 140, 10),
    (249, 201, 50),
    (252, 255, 164),
];

/// The inferno colour at t ∈ [0, 1] (clamped), linearly interpolated between the samples.
pub fn inferno(t: f64) -> (u8, u8, u8) {
    let t = if t.is_finite() { t.clamp(0.0, 1.0) } else { 0.0 };
    let x = t * (INFERNO.len() - 1) as f64;
    let i = (x.floor() as usize).min(INFERNO.len() - 2);
    let f = x - i as f64;
    let (a, b) = (INFERNO[i], INFERNO[i + 1]);
    let mix = |p: u8, q: u8| (p as f64 + (q as f64 - p as f64) * f).round() as u8;
    (mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// Relative luminance (Rec. 709 weights) of an sRGB colour, 0..1.
pub fn luminance((r, g, b): (u8, u8, u8)) -> f64 {
    (0.2126 * r as f64 + 0.7152 * g as f64 + 0.0722 * b as f64) / 255.0
}

/// Black or white, whichever reads on a background of this colour.
pub fn ink_on(background: (u8, u8, u8)) -> (u8, u8, u8) {
    if luminance(background) > 0.45 { (0, 0, 0) } else { (255, 255, 255) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::TokenScore;

    fn token(surprisal: f64, entropy: f64, varentropy: f64, rank: u32) -> TokenScore {
        TokenScore {
            index: 0,
            id: 0,
            token: String::new(),
            bytes: Vec::new(),
            byte_start: 0,
            byte_end: 0,
            char_start: 0,
            char_end: 0,
            scored: true,
            surprisal_bits: surprisal,
            probability: (-surprisal).exp2(),
            entropy_bits: entropy,
            varentropy_bits2: varentropy,
            rank,
            top: Vec::new(),
            window: 0,
            context_len: 1,
            boundary_bits: f64::NAN,
            excess_bits: f64::NAN,
            z: f64::NAN,
        }
    }

    #[test]
    fn word_values_sum_surprisal_and_take_the_rest_before_the_first_token() {
        let word = [token(3.0, 5.0, 7.0, 12), token(1.5, 0.5, 0.25, 1)];
        assert_eq!(unit_value(&word, Metric::Surprisal), Some(4.5));
        assert_eq!(unit_value(&word, Metric::Entropy), Some(5.0));
        assert_eq!(unit_value(&word, Metric::Varentropy), Some(7.0));
        assert_eq!(unit_value(&word, Metric::Excess), Some(4.5 - 5.0));
        assert_eq!(unit_value(&word, Metric::Rank), Some(2.0), "rank 12 is in the 11–100 bucket");
        assert_eq!(unit_value(&[], Metric::Surprisal), None);
    }

    #[test]
    fn a_unit_with_an_unscored_token_has_no_value() {
        let mut word = [token(f64::NAN, f64::NAN, f64::NAN, 0), token(2.0, 1.0, 1.0, 1)];
        word[0].scored = false;
        for m in Metric::ALL {
            assert_eq!(unit_value(&word, m), None, "{m:?}");
            assert!(unit_value(&word[1..], m).is_some(), "{m:?}");
        }
    }

    #[test]
    fn fitted_scales_start_at_zero_except_for_excess() {
        assert_eq!(fitted_range(Metric::Surprisal, [3.0, f64::NAN, 12.5, 1.0]), (0.0, 12.5));
        assert_eq!(fitted_range(Metric::Excess, [-2.0, 5.0]), (-2.0, 5.0));
        assert_eq!(fitted_range(Metric::Entropy, [0.0, 0.0]), (0.0, 1.0), "a flat text still has a scale");
        assert_eq!(fitted_range(Metric::Entropy, []), Metric::Entropy.fixed_range());
        assert_eq!(fitted_range(Metric::Rank, [0.0, 1.0]), Metric::Rank.fixed_range());
        assert_eq!(scale_position(5.0, (0.0, 10.0)), 0.5);
        assert_eq!(scale_position(-1.0, (0.0, 10.0)), 0.0);
    }

    #[test]
    fn rank_buckets_are_gltrs() {
        let got: Vec<usize> = [1, 2, 10, 11, 100, 101, 1000, 1001].map(rank_bucket).to_vec();
        assert_eq!(got, [0, 1, 1, 2, 2, 3, 3, 4]);
    }

    #[test]
    fn inferno_hits_its_samples_and_clamps() {
        assert_eq!(inferno(0.0), INFERNO[0]);
        assert_eq!(inferno(1.0), INFERNO[8]);
        assert_eq!(inferno(0.5), INFERNO[4]);
        assert_eq!(inferno(-3.0), INFERNO[0]);
        assert_eq!(inferno(f64::NAN), INFERNO[0]);
    }
}
