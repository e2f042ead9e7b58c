//! Two models of different vocabularies on one text: their word scores paired by byte spans.
//!
//! Each model's words come from the one word definition ([`crate::text`]) with its own tokens, and
//! carry the beginning-of-word-corrected surprisal ([`crate::export::words::text_words`]). A word
//! is the same span of text for both models except where one model's token spans two words (`):`),
//! which merges them for that model only; pairing walks both lists and merges until the spans end
//! at the same byte. The corrected surprisal of a merged run is the sum of its words' (the
//! end-of-word term of one word is the beginning-of-word term of the next, so the sum telescopes to
//! −log₂ p(run)). No KL: the two predictive distributions are over different token sets.

use serde::Serialize;

use crate::export::words::text_words;
use crate::metrics::TextScore;

/// Why word-aligned output has no KL or cross-entropy.
pub const NO_KL: &str = "no KL or cross-entropy: the two models predict over different vocabularies, so their next-token distributions are not over one set";

/// A word (or a run of words one model's tokens join) under both models. Bits.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PairWord {
    /// Position among the text's paired words.
    pub index: usize,
    /// The word's text.
    pub word: String,
    /// First byte of its own characters.
    pub byte_start: usize,
    /// One past its last byte.
    pub byte_end: usize,
    /// Code point offsets.
    pub char_start: usize,
    /// One past its last character.
    pub char_end: usize,
    /// Tokens of model A it holds.
    pub tokens_a: usize,
    /// Tokens of model B.
    pub tokens_b: usize,
    /// False when a token of it was not scored by either model.
    pub scored: bool,
    /// −log₂ p_A(word | context), beginning-of-word corrected.
    pub surprisal_bits_a: f64,
    /// −log₂ p_B(word | context).
    pub surprisal_bits_b: f64,
    /// surprisal_bits_b − surprisal_bits_a.
    pub delta_bits: f64,
}

/// Pairs the words of one text scored by two models (same text, any vocabularies).
///
/// # Panics
/// When `a` and `b` are not the same text.
pub fn align_words(a: &TextScore, b: &TextScore) -> Vec<PairWord> {
    assert_eq!(a.text, b.text, "one text under two models");
    let (wa, wb) = (text_words(a), text_words(b));
    let chars: Vec<usize> = {
        // char index of each byte offset (a word boundary is always a character boundary).
        let mut v = vec![0usize; a.text.len() + 1];
        let mut n = 0;
        for (i, (byte, ch)) in a.text.char_indices().enumerate() {
            v[byte..byte + ch.len_utf8()].iter_mut().for_each(|x| *x = i);
            n = i + 1;
        }
        v[a.text.len()] = n;
        v
    };
    let mut out = Vec::new();
    let (mut i, mut j) = (0usize, 0usize);
    while i < wa.len() && j < wb.len() {
        let start = wa[i].byte_start.min(wb[j].byte_start);
        let (mut ea, mut eb) = (wa[i].byte_end, wb[j].byte_end);
        let (mut sa, mut sb) = (wa[i].surprisal_bits, wb[j].surprisal_bits);
        let (mut ta, mut tb) = (wa[i].tokens(), wb[j].tokens());
        let mut scored = wa[i].scored && wb[j].scored;
        i += 1;
        j += 1;
        // Merge on whichever side ends first until both end at the same byte.
        while ea != eb {
            let (w, e, s, t, k) = if ea < eb {
                (&wa, &mut ea, &mut sa, &mut ta, &mut i)
            } else {
                (&wb, &mut eb, &mut sb, &mut tb, &mut j)
            };
            let Some(next) = w.get(*k) else { break };
            *e = next.byte_end;
            *s += next.surprisal_bits;
            *t += next.tokens();
            scored &= next.scored;
            *k += 1;
        }
        let end = ea.max(eb);
        out.push(PairWord {
            index: out.len(),
            word: a.text[start..end].to_string(),
            byte_start: start,
            byte_end: end,
            char_start: chars[start],
            char_end: chars[end],
            tokens_a: ta,
            tokens_b: tb,
            scored,
            surprisal_bits_a: if scored { sa } else { f64::NAN },
            surprisal_bits_b: if scored { sb } else { f64::NAN },
            delta_bits: if scored { sb - sa } else { f64::NAN },
        });
    }
    out
}

/// Per text, the word-aligned pair's totals. Bits; NaN where no word was scored.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PairWordSummary {
    /// Paired words (runs count once).
    pub words: usize,
    /// Those both models scored.
    pub scored_words: usize,
    /// Σ surprisal_bits_a over the scored words: −log₂ p_A of the scored part of the text.
    pub total_bits_a: f64,
    /// Σ surprisal_bits_b.
    pub total_bits_b: f64,
    /// total_bits_a / scored_words.
    pub mean_bits_per_word_a: f64,
    /// total_bits_b / scored_words.
    pub mean_bits_per_word_b: f64,
    /// Mean of delta_bits (B − A).
    pub mean_delta_bits: f64,
    /// Mean of |delta_bits|.
    pub mean_abs_delta_bits: f64,
    /// Pearson correlation of the two models' word surprisals (NaN under two scored words or
    /// where one side is constant).
    pub correlation: f64,
}

impl PairWordSummary {
    /// Totals over `words`' scored entries.
    pub fn of(words: &[PairWord]) -> PairWordSummary {
        let scored: Vec<&PairWord> = words.iter().filter(|w| w.scored).collect();
        let n = scored.len() as f64;
        let sum = |f: &dyn Fn(&PairWord) -> f64| scored.iter().map(|w| f(w)).sum::<f64>();
        let (ta, tb) = (sum(&|w| w.surprisal_bits_a), sum(&|w| w.surprisal_bits_b));
        let mean = |x: f64| if scored.is_empty() { f64::NAN } else { x / n };
        let (ma, mb) = (mean(ta), mean(tb));
        let cov = sum(&|w| (w.surprisal_bits_a - ma) * (w.surprisal_bits_b - mb));
        let va = sum(&|w| (w.surprisal_bits_a - ma).powi(2));
        let vb = sum(&|w| (w.surprisal_bits_b - mb).powi(2));
        let correlation = if scored.len() < 2 || va == 0.0 || vb == 0.0 { f64::NAN } else { cov / (va * vb).sqrt() };
        PairWordSummary {
            words: words.len(),
            scored_words: scored.len(),
            total_bits_a: ta,
            total_bits_b: tb,
            mean_bits_per_word_a: ma,
            mean_bits_per_word_b: mb,
            mean_delta_bits: mean(tb - ta),
            mean_abs_delta_bits: mean(sum(&|w| w.delta_bits.abs())),
            correlation,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn word(index: usize, a: f64, b: f64, scored: bool) -> PairWord {
        PairWord {
            index,
            word: format!("w{index}"),
            byte_start: index,
            byte_end: index + 1,
            char_start: index,
            char_end: index + 1,
            tokens_a: 1,
            tokens_b: 1,
            scored,
            surprisal_bits_a: if scored { a } else { f64::NAN },
            surprisal_bits_b: if scored { b } else { f64::NAN },
            delta_bits: if scored { b - a } else { f64::NAN },
        }
    }

    #[test]
    fn summary_sums_scored_words_only() {
        // B = 2·A + 1 on the scored words: correlation 1, delta = A + 1.
        let words =
            [word(0, 0.0, 0.0, false), word(1, 1.0, 3.0, true), word(2, 2.0, 5.0, true), word(3, 4.0, 9.0, true)];
        let s = PairWordSummary::of(&words);
        assert_eq!((s.words, s.scored_words), (4, 3));
        assert_eq!((s.total_bits_a, s.total_bits_b), (7.0, 17.0));
        assert!((s.mean_delta_bits - 10.0 / 3.0).abs() < 1e-12);
        assert!((s.mean_abs_delta_bits - 10.0 / 3.0).abs() < 1e-12);
        assert!((s.correlation - 1.0).abs() < 1e-12, "{}", s.correlation);
        let none = PairWordSummary::of(&words[..1]);
        assert!(none.mean_bits_per_word_a.is_nan() && none.correlation.is_nan());
    }
}
