//! Word- and sentence-level scores: the groups of [`crate::text`] (the one definition of words and
//! sentences) with their tokens' information, and the one ranking of sentences by density.
//!
//! **Word surprisal** is −log₂ p(word | context) with the beginning-of-word correction of Pimentel &
//! Meister, "How to Compute the Probability of a Word" (EMNLP 2024) and Oh & Schuler (2024). Tokenizers
//! attach the space to the *next* word (` models`), so the plain sum of a word's token surprisals
//! counts "a new word starts here" in and leaves "the word ends here" out. With B(ctx) = the
//! probability that the next token begins a new word (the mass of the model's word-boundary tokens:
//! every token whose text starts with whitespace, plus EOS/end-of-text; `TokenScore::boundary_bits` =
//! −log₂ B(ctx before the token)), a word of tokens i..j has
//!
//! ```text
//! surprisal = Σ_{k=i..j} s(t_k) − bow + eow,   bow = −log₂ B(ctx before t_i),  eow = −log₂ B(ctx through t_j)
//! ```
//!
//! Edge cases (README, "Word surprisal"):
//! - The correction is applied at whitespace boundaries. A word whose first token does not start with
//!   whitespace and that follows another word directly (`,` in `hello,`; `-` and `known` in
//!   `well-known`; a run of CJK after punctuation) has bow = 0, and the word before it eow = 0: the run
//!   of words between two whitespace boundaries carries one bow (on its first word) and one eow (on its
//!   last), so its words add up to the corrected surprisal of the whitespace-delimited chunk, as
//!   `wordsprobability` and minicons compute it.
//! - The first word of a text: when its first token starts with whitespace (` Hello`, or `\n`), bow as
//!   above; when it does not (`Hello` right after the start context), bow = −log₂(1 − B(start)), the
//!   mass of the tokens that begin a text without whitespace (Pimentel & Meister's `bos_fix`).
//! - The last word: eow from the distribution after the final token (`TextScore::end_boundary_bits`;
//!   EOS is a boundary token, so "the text ends here" counts as the word ending). Whitespace-only tokens
//!   at the end of the text (which the word definition gives to the last word) are the boundary itself:
//!   eow is taken before them, and their surprisal is left out of the corrected value (it stays in the
//!   uncorrected sum).
//! - A whitespace-only token inside a text (` ` before single-digit tokens, `\n`, `\n\n`) begins the
//!   word after it, so that word's bow is taken before the whitespace token.
//!
//! A sentence's surprisal is the plain sum of its tokens' (no correction: a sentence is not predicted
//! as a unit whose end is uncertain in the same way). Entropy of a word or sentence is the entropy of
//! the distribution before its first token. A span's offsets cover its own characters (not the
//! whitespace before it).
//!
//! **Densest** means the highest mean surprisal per token (bits/token), everywhere: `compare`'s
//! "densest sentence", the terminal UI's densest-sentence list and the HTML report. Density is
//! information per unit of text; a ranking by total bits would rank long sentences first whatever
//! their density.

use serde::Serialize;

use crate::metrics::{LN_2, TextScore, TokenScore, char_offsets};
pub use crate::text::Span;
use crate::text::{TokenGroup, group_tokens, is_whitespace_only, sentence_spans, starts_with_whitespace, word_spans};

/// A word or sentence with its tokens' scores.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SpanScore {
    /// Position of the span in its text (0-based).
    pub index: usize,
    /// The span's text, `text[byte_start..byte_end]`.
    pub text: String,
    /// First byte of the span.
    pub byte_start: usize,
    /// One past its last byte.
    pub byte_end: usize,
    /// First character (Unicode code point) of the span.
    pub char_start: usize,
    /// One past its last character.
    pub char_end: usize,
    /// The tokens it spans: `token_start..token_end`.
    pub token_start: usize,
    /// One past the index of its last token.
    pub token_end: usize,
    /// False when any of its tokens was not scored (the first token under `--bos none`): then
    /// surprisal and entropy are NaN.
    pub scored: bool,
    /// Words: the corrected word surprisal, −log₂ p(word | context) (module doc); sentences: the sum
    /// of its tokens' surprisal. Bits.
    pub surprisal_bits: f64,
    /// Σ of its tokens' surprisal, bits.
    pub surprisal_bits_uncorrected: f64,
    /// −log₂ of the "a new word starts here" mass its first token carried in (0 where no correction
    /// applies: sentences, a word attached to the one before it).
    pub bow_bits: f64,
    /// −log₂ of the "the word ends here" mass after it (0 where no correction applies).
    pub eow_bits: f64,
    /// Entropy before its first token, bits.
    pub entropy_bits: f64,
}

impl SpanScore {
    /// How many tokens the span holds.
    pub fn tokens(&self) -> usize {
        self.token_end - self.token_start
    }

    /// 2^−surprisal: the probability of the whole span given what came before.
    pub fn probability(&self) -> f64 {
        (-self.surprisal_bits).exp2()
    }

    /// The surprisal `which` asks for, bits.
    pub fn surprisal(&self, which: WordProbability) -> f64 {
        match which {
            WordProbability::Corrected => self.surprisal_bits,
            WordProbability::Uncorrected => self.surprisal_bits_uncorrected,
        }
    }

    /// Mean surprisal per token (the plain sum over its tokens), bits.
    pub fn mean_bits_per_token(&self) -> f64 {
        self.surprisal_bits_uncorrected / self.tokens().max(1) as f64
    }
}

/// Which word surprisal the word views show (`--word-probability`): the corrected −log₂ p(word)
/// (default) or the plain sum of the word's token surprisals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum WordProbability {
    #[default]
    /// −log₂ p(word | context) with the beginning-of-word correction (default).
    Corrected,
    /// The plain sum of the word's token surprisals.
    Uncorrected,
}

impl std::str::FromStr for WordProbability {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "corrected" => Ok(WordProbability::Corrected),
            "uncorrected" => Ok(WordProbability::Uncorrected),
            _ => Err(format!("unknown word probability `{s}` (corrected, uncorrected)")),
        }
    }
}

impl WordProbability {
    /// The name as `--word-probability` takes it.
    pub fn name(self) -> &'static str {
        match self {
            WordProbability::Corrected => "corrected",
            WordProbability::Uncorrected => "uncorrected",
        }
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
            let sum = if scored { toks.iter().map(|t| t.surprisal_bits).sum() } else { f64::NAN };
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
                surprisal_bits: sum,
                surprisal_bits_uncorrected: sum,
                bow_bits: 0.0,
                eow_bits: 0.0,
                entropy_bits: if scored { toks[0].entropy_bits } else { f64::NAN },
            }
        })
        .collect()
}

/// Words of a scored text, with the plain sums only (no correction): what the word surprisal was
/// before the beginning-of-word correction.
pub fn words(text: &str, tokens: &[TokenScore]) -> Vec<SpanScore> {
    aggregate(text, tokens, &word_spans(text))
}

/// The words of a scored text, corrected ([`corrected_words`] with the text's boundary information).
pub fn text_words(t: &TextScore) -> Vec<SpanScore> {
    let boundary_bits: Vec<f64> = t.tokens.iter().map(|tok| tok.boundary_bits).collect();
    corrected_words(&t.text, &t.tokens, &boundary_bits, t.end_boundary_bits)
}

/// Words of a scored text with the corrected word surprisal (module doc). `boundary_bits[k]` =
/// −log₂ B(ctx before token k) (NaN where not scored); `end_boundary_bits` = −log₂ B(ctx through the
/// last token), None when not computed (the last word's corrected surprisal is then NaN).
pub fn corrected_words(
    text: &str,
    tokens: &[TokenScore],
    boundary_bits: &[f64],
    end_boundary_bits: Option<f64>,
) -> Vec<SpanScore> {
    assert_eq!(boundary_bits.len(), tokens.len(), "one boundary value per token");
    let mut words = words(text, tokens);
    // A whitespace boundary before word k: the text's start, or a first token that starts with whitespace.
    let boundary_before: Vec<bool> =
        words.iter().enumerate().map(|(k, w)| k == 0 || starts_with_whitespace(&tokens[w.token_start].bytes)).collect();
    let n = words.len();
    for k in 0..n {
        let w = &words[k];
        let (start, mut end) = (w.token_start, w.token_end);
        if k + 1 == n {
            // Trailing whitespace-only tokens are the boundary itself (not the whole word, though).
            while end > start + 1 && is_whitespace_only(&tokens[end - 1].bytes) {
                end -= 1;
            }
        }
        let bow_bits = if !boundary_before[k] {
            0.0
        } else if k == 0 && !starts_with_whitespace(&tokens[start].bytes) {
            // bos_fix: the mass of the tokens that begin a text without whitespace, 1 − B.
            let b = boundary_bits[start];
            -(-(-b * LN_2).exp_m1()).log2()
        } else {
            boundary_bits[start]
        };
        let eow_bits = if k + 1 < n && !boundary_before[k + 1] {
            0.0
        } else if end < tokens.len() {
            boundary_bits[end]
        } else {
            end_boundary_bits.unwrap_or(f64::NAN)
        };
        let own: f64 = tokens[start..end].iter().map(|t| t.surprisal_bits).sum();
        let w = &mut words[k];
        w.bow_bits = bow_bits;
        w.eow_bits = eow_bits;
        w.surprisal_bits = if w.scored { own - bow_bits + eow_bits } else { f64::NAN };
    }
    words
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
                boundary_bits: f64::NAN,
                excess_bits: f64::NAN,
                z: f64::NAN,
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

    /// −log₂(1 − 2^−b): the first word's bow when its first token has no leading whitespace.
    fn complement_bits(b: f64) -> f64 {
        -(1.0 - (-b).exp2()).log2()
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn corrected_words_remove_the_start_mass_and_add_the_end_mass() {
        // Tokens: "My" | " favorite" | " color" ; surprisal 1, 2, 3; −log₂ B before each: 0.5, 0.25, 2.
        let t = "My favorite color";
        let tk = toks(t, &[2, 11]);
        let w = corrected_words(t, &tk, &[0.5, 0.25, 2.0], Some(0.125));
        // First word, no leading whitespace: bos_fix 1 − B; it ends where " favorite" begins.
        assert!(close(w[0].bow_bits, complement_bits(0.5)));
        assert_eq!(w[0].eow_bits, 0.25);
        assert!(close(w[0].surprisal_bits, 1.0 - complement_bits(0.5) + 0.25));
        assert_eq!((w[1].bow_bits, w[1].eow_bits, w[1].surprisal_bits), (0.25, 2.0, 2.0 - 0.25 + 2.0));
        // Last word: the distribution after the final token.
        assert_eq!((w[2].bow_bits, w[2].eow_bits, w[2].surprisal_bits), (2.0, 0.125, 3.0 - 2.0 + 0.125));
        assert_eq!(w[2].surprisal_bits_uncorrected, 3.0);
        assert!(close(w[2].probability(), (-(3.0 - 2.0 + 0.125f64)).exp2()));
        assert_eq!(w[2].surprisal(WordProbability::Uncorrected), 3.0);
        // No end distribution: the last word has no corrected value, the others do.
        let w = corrected_words(t, &tk, &[0.5, 0.25, 2.0], None);
        assert!(w[2].surprisal_bits.is_nan() && w[1].surprisal_bits.is_finite());
    }

    #[test]
    fn attached_punctuation_shares_one_correction_with_its_chunk() {
        // Tokens: "Hello" | "," | " world" | "." ; surprisal 1..4; B bits before each 1, 2, 3, 4.
        let t = "Hello, world.";
        let tk = toks(t, &[5, 6, 12]);
        let b = [1.0, 2.0, 3.0, 4.0];
        let w = corrected_words(t, &tk, &b, Some(0.5));
        let terms: Vec<(f64, f64)> = w.iter().map(|w| (w.bow_bits, w.eow_bits)).collect();
        assert_eq!(terms[1..], [(0.0, 3.0), (3.0, 0.0), (0.0, 0.5)]);
        assert_eq!(terms[0].1, 0.0);
        // Each whitespace-delimited chunk ("Hello,", "world.") sums to its corrected surprisal.
        assert!(close(w[0].surprisal_bits + w[1].surprisal_bits, 1.0 + 2.0 - complement_bits(1.0) + 3.0));
        assert_eq!(w[2].surprisal_bits + w[3].surprisal_bits, 3.0 + 4.0 - 3.0 + 0.5);
    }

    #[test]
    fn newlines_and_whitespace_tokens_begin_the_next_word() {
        // Tokens: " Hi" | "\n" | "there" | " " | "1" | "2" ; B bits before each 1..6.
        let t = " Hi\nthere 12";
        let tk = toks(t, &[3, 4, 9, 10, 11]);
        let b = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let w = corrected_words(t, &tk, &b, Some(0.25));
        assert_eq!(w.iter().map(|w| w.text.as_str()).collect::<Vec<_>>(), ["Hi", "there", "12"]);
        // A first token with leading whitespace: plain B, no bos_fix.
        assert_eq!((w[0].bow_bits, w[0].eow_bits), (1.0, 2.0));
        // "\n" + "there": bow before the newline, which is the previous word's eow.
        assert_eq!((w[1].bow_bits, w[1].eow_bits), (2.0, 4.0));
        assert_eq!(w[1].surprisal_bits, 2.0 + 3.0 - 2.0 + 4.0);
        // " " + "1" + "2" (single-digit tokens after a space token).
        assert_eq!((w[2].bow_bits, w[2].eow_bits), (4.0, 0.25));
    }

    #[test]
    fn trailing_whitespace_is_the_last_words_boundary() {
        // Tokens: "a" | " b" | "\n" ; surprisal 1, 2, 3; B bits before each 1, 2, 3.
        let t = "a b\n";
        let tk = toks(t, &[1, 3]);
        let w = corrected_words(t, &tk, &[1.0, 2.0, 3.0], Some(9.0));
        assert_eq!((w[1].token_start, w[1].token_end), (1, 3));
        // eow before the "\n" (B after " b"); the newline's 3 bits only in the plain sum.
        assert_eq!((w[1].bow_bits, w[1].eow_bits), (2.0, 3.0));
        assert_eq!(w[1].surprisal_bits, 2.0 - 2.0 + 3.0);
        assert_eq!(w[1].surprisal_bits_uncorrected, 2.0 + 3.0);
        // A text of whitespace only keeps its first token.
        let w = corrected_words("  ", &toks("  ", &[1]), &[1.0, 2.0], Some(3.0));
        assert_eq!((w.len(), w[0].eow_bits), (1, 2.0));
    }

    #[test]
    fn unscored_first_word_has_no_corrected_value() {
        let t = "Hello world";
        let mut tk = toks(t, &[5]);
        tk[0].scored = false;
        tk[0].surprisal_bits = f64::NAN;
        let w = corrected_words(t, &tk, &[f64::NAN, 1.0], Some(1.0));
        assert!(!w[0].scored && w[0].surprisal_bits.is_nan());
        assert_eq!(w[1].surprisal_bits, 2.0 - 1.0 + 1.0);
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
