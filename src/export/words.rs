//! Word- and sentence-level scores: the groups of [`crate::text`] (the one definition of words and
//! sentences) with their tokens' information, and the one ranking of sentences by density.
//!
//! A word's surprisal is the sum of its tokens' (the chain rule: −log₂ p(word | context)); its entropy
//! is the entropy of the distribution before its first token (the uncertainty just before the word
//! starts). A word's offsets cover its own characters (not the whitespace before it).
//!
//! **Densest** means the highest mean surprisal per token (bits/token), everywhere: `compare`'s
//! "densest sentence", the terminal UI's densest-sentence list and the HTML report. Density is
//! information per unit of text; a ranking by total bits would rank long sentences first whatever
//! their density.

use serde::Serialize;

use crate::metrics::{TokenScore, char_offsets};
pub use crate::text::Span;
use crate::text::{TokenGroup, group_tokens, sentence_spans, word_spans};

/// A word or sentence with its tokens' scores.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SpanScore {
    pub index: usize,
    /// The span's text, `text[byte_start..byte_end]`.
    pub text: String,
    pub byte_start: usize,
    pub byte_end: usize,
    pub char_start: usize,
    pub char_end: usize,
    /// The tokens it spans: `token_start..token_end`.
    pub token_start: usize,
    pub token_end: usize,
    /// False when any of its tokens was not scored (the first token under `--bos none`): then
    /// surprisal and entropy are NaN.
    pub scored: bool,
    /// Σ of its tokens' surprisal, bits.
    pub surprisal_bits: f64,
    /// Entropy before its first token, bits.
    pub entropy_bits: f64,
}

impl SpanScore {
    pub fn tokens(&self) -> usize {
        self.token_end - self.token_start
    }

    /// 2^−surprisal: the probability of the whole span given what came before.
    pub fn probability(&self) -> f64 {
        (-self.surprisal_bits).exp2()
    }

    /// Mean surprisal per token, bits.
    pub fn mean_bits_per_token(&self) -> f64 {
        self.surprisal_bits / self.tokens().max(1) as f64
    }
}

/// Scores a text's tokens grouped by `spans` ([`word_spans`], [`sentence_spans`]; see
/// [`group_tokens`]). Every token lands in exactly one group.
pub fn aggregate(text: &str, tokens: &[TokenScore], spans: &[Span]) -> Vec<SpanScore> {
    score_groups(text, tokens, &group_tokens(text, tokens, spans))
}

/// The scores of token groups (from [`crate::text`]).
pub fn score_groups(text: &str, tokens: &[TokenScore], groups: &[TokenGroup]) -> Vec<SpanScore> {
    let byte_ranges: Vec<Span> = groups.iter().map(|g| g.bytes).collect();
    let chars = char_offsets(text, &byte_ranges);
    groups
        .iter()
        .enumerate()
        .map(|(index, g)| {
            let toks = &tokens[g.tokens.clone()];
            let scored = toks.iter().all(|t| t.scored);
            let (byte_start, byte_end) = g.bytes;
            SpanScore {
                index,
                text: text[byte_start..byte_end].to_string(),
                byte_start,
                byte_end,
                char_start: chars[index].0,
                char_end: chars[index].1,
                token_start: g.tokens.start,
                token_end: g.tokens.end,
                scored,
                surprisal_bits: if scored { toks.iter().map(|t| t.surprisal_bits).sum() } else { f64::NAN },
                entropy_bits: if scored { toks[0].entropy_bits } else { f64::NAN },
            }
        })
        .collect()
}

/// Words of a scored text.
pub fn words(text: &str, tokens: &[TokenScore]) -> Vec<SpanScore> {
    aggregate(text, tokens, &word_spans(text))
}

/// Sentences of a scored text.
pub fn sentences(text: &str, tokens: &[TokenScore]) -> Vec<SpanScore> {
    aggregate(text, tokens, &sentence_spans(text))
}

/// The fully scored sentences, densest (highest mean surprisal per token) first; ties keep text order.
pub fn densest_sentences(text: &str, tokens: &[TokenScore]) -> Vec<SpanScore> {
    let mut out: Vec<SpanScore> = sentences(text, tokens).into_iter().filter(|s| s.scored).collect();
    // Stable: equal densities stay in text order.
    out.sort_by(|a, b| b.mean_bits_per_token().total_cmp(&a.mean_bits_per_token()));
    out
}

/// The densest sentence (see [`densest_sentences`]).
pub fn densest_sentence(text: &str, tokens: &[TokenScore]) -> Option<SpanScore> {
    densest_sentences(text, tokens).into_iter().next()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Tokens tiling `text` at the given byte cut points, with surprisal = index + 1 bits.
    fn toks(text: &str, cuts: &[usize]) -> Vec<TokenScore> {
        let mut bounds = vec![0];
        bounds.extend_from_slice(cuts);
        bounds.push(text.len());
        bounds
            .windows(2)
            .enumerate()
            .map(|(i, w)| TokenScore {
                index: i,
                id: i as u32,
                token: text[w[0]..w[1]].to_string(),
                bytes: text.as_bytes()[w[0]..w[1]].to_vec(),
                byte_start: w[0],
                byte_end: w[1],
                char_start: 0,
                char_end: 0,
                scored: true,
                surprisal_bits: (i + 1) as f64,
                probability: 0.5,
                entropy_bits: 10.0 + i as f64,
                varentropy_bits2: 1.0,
                rank: 1,
                top: Vec::new(),
                window: 0,
                context_len: i + 1,
            })
            .collect()
    }

    #[test]
    fn leading_space_tokens_go_to_their_word_and_sums_are_kept() {
        // Tokens: "My" | " favorite" | " color" | " is" | " blue"
        let t = "My favorite color is blue";
        let tk = toks(t, &[2, 11, 17, 20]);
        let w = words(t, &tk);
        assert_eq!(w.iter().map(|w| w.text.as_str()).collect::<Vec<_>>(), ["My", "favorite", "color", "is", "blue"]);
        assert_eq!(w[4].byte_start, 21);
        assert_eq!(w[4].char_start, 21);
        assert_eq!((w[4].token_start, w[4].token_end), (4, 5));
        assert_eq!(w[4].surprisal_bits, 5.0);
        assert_eq!(w[4].entropy_bits, 14.0);
    }

    #[test]
    fn multi_token_words_sum_and_spanning_tokens_merge_words() {
        // Tokens: "Ans" | "wer" | "):" | "\n" | " x" | "  "
        let t = "Answer):\n x  ";
        let tk = toks(t, &[3, 6, 8, 9, 11]);
        let w = words(t, &tk);
        assert_eq!(w.iter().map(|w| w.text.as_str()).collect::<Vec<_>>(), ["Answer", "):", "x"]);
        assert_eq!(w[0].surprisal_bits, 1.0 + 2.0);
        assert_eq!(w[1].surprisal_bits, 3.0);
        // "\n", " x" and the trailing "  " all belong to the last word.
        assert_eq!((w[2].token_start, w[2].token_end), (3, 6));
        assert_eq!(w[2].surprisal_bits, 4.0 + 5.0 + 6.0);
        let total: f64 = tk.iter().map(|t| t.surprisal_bits).sum();
        assert_eq!(w.iter().map(|w| w.surprisal_bits).sum::<f64>(), total);
    }

    #[test]
    fn unscored_first_token_makes_its_word_unscored() {
        let t = "Hello world";
        let mut tk = toks(t, &[3, 5]);
        tk[0].scored = false;
        tk[0].surprisal_bits = f64::NAN;
        let w = words(t, &tk);
        assert!(!w[0].scored && w[0].surprisal_bits.is_nan());
        assert!(w[1].scored);
    }

    #[test]
    fn densest_sentence_is_highest_bits_per_token() {
        // Tokens: "A" | "." | " B" | " C" | "." ; surprisal 1..5
        let t = "A. B C.";
        let tk = toks(t, &[1, 2, 4, 6]);
        let d = densest_sentence(t, &tk).unwrap();
        assert_eq!(d.text, "B C.");
        assert_eq!(d.surprisal_bits, 3.0 + 4.0 + 5.0);
    }

    #[test]
    fn densest_is_per_token_not_total() {
        // A long thin sentence has more bits in all than a short dense one; the dense one ranks first.
        let t = "a b c d e f. X!";
        let cuts = [1, 3, 5, 7, 9, 11, 12, 14];
        let mut tk = toks(t, &cuts);
        for (i, s) in [2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 5.0, 5.0].into_iter().enumerate() {
            tk[i].surprisal_bits = s;
        }
        // "a b c d e f." = 7 tokens, 14 bits, 2 bits/token; "X!" = 2 tokens, 10 bits, 5 bits/token.
        let ranked = densest_sentences(t, &tk);
        assert_eq!(ranked.iter().map(|s| s.text.as_str()).collect::<Vec<_>>(), ["X!", "a b c d e f."]);
        assert!(ranked[1].surprisal_bits > ranked[0].surprisal_bits);
        // Equal density: text order.
        for tok in &mut tk {
            tok.surprisal_bits = 1.0;
        }
        let ranked = densest_sentences(t, &tk);
        assert_eq!(ranked[0].text, "a b c d e f.");
        // A sentence with an unscored token is not ranked.
        tk[0].scored = false;
        assert_eq!(densest_sentences(t, &tk).len(), 1);
    }
}
