//! Word- and sentence-level aggregation of token scores.
//!
//! Words, as psycholinguistics tools count them: whitespace separates words and is part of none;
//! a word is a maximal run of letters and digits (an apostrophe between two of them stays inside:
//! `don't`, `l’eau`); every other character (punctuation, symbols) is a word of its own.
//! Text without spaces between words (Chinese, Japanese) is not segmented further.
//!
//! Tokens do not line up with words (` models` carries the space before the word; `):` spans two
//! punctuation words), so tokens are assigned to words by their first non-whitespace byte, and:
//! - a token of whitespace only belongs to the next word (GPT-style tokenizers attach a space to
//!   the word after it); whitespace at the very end belongs to the last word;
//! - when one token spans several words, those words are merged into one (a token's surprisal cannot
//!   be split), e.g. `):` is one word when the tokenizer made it one token.
//!
//! So every token belongs to exactly one word, and the sum of the words' surprisal equals the sum of
//! the tokens'. A word's offsets cover its own characters (not the whitespace before it).
//! A word's surprisal is the sum of its tokens' (the chain rule: −log₂ p(word | context));
//! its entropy is the entropy of the distribution before its first token (the uncertainty just
//! before the word starts).

use serde::Serialize;

use crate::metrics::{TokenScore, char_offsets};

/// A `[start, end)` byte range of a text.
pub type Span = (usize, usize);

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

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric()
}

fn is_apostrophe(c: char) -> bool {
    c == '\'' || c == '\u{2019}'
}

/// Word spans of a text (see the module doc). Whitespace is in no span.
pub fn word_spans(text: &str) -> Vec<Span> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut spans = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let (start, c) = chars[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if is_word_char(c) {
            let mut j = i + 1;
            while j < chars.len() {
                let c = chars[j].1;
                let inner_apostrophe = is_apostrophe(c) && j + 1 < chars.len() && is_word_char(chars[j + 1].1);
                if is_word_char(c) || inner_apostrophe {
                    j += 1;
                } else {
                    break;
                }
            }
            let end = chars.get(j).map_or(text.len(), |&(b, _)| b);
            spans.push((start, end));
            i = j;
        } else {
            spans.push((start, start + c.len_utf8()));
            i += 1;
        }
    }
    spans
}

/// Sentence spans: a sentence ends after `.`, `!`, `?` (with any closing quotes or brackets after
/// them) followed by whitespace, and at every line break. Leading and trailing whitespace is trimmed
/// off each span; blank lines make no sentence.
pub fn sentences(text: &str) -> Vec<Span> {
    let mut spans = Vec::new();
    let mut start = 0usize;
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let push = |s: usize, e: usize, spans: &mut Vec<Span>| {
        let piece = &text[s..e];
        let lead = piece.len() - piece.trim_start().len();
        let trimmed = piece.trim();
        if !trimmed.is_empty() {
            spans.push((s + lead, s + lead + trimmed.len()));
        }
    };
    let mut i = 0;
    while i < chars.len() {
        let (b, c) = chars[i];
        if c == '\n' {
            push(start, b, &mut spans);
            start = b + 1;
        } else if matches!(c, '.' | '!' | '?') {
            // Closing quotes/brackets stay with the sentence.
            let mut j = i + 1;
            while j < chars.len() && matches!(chars[j].1, '"' | '\'' | ')' | ']' | '\u{201D}' | '\u{2019}') {
                j += 1;
            }
            if j == chars.len() || chars[j].1.is_whitespace() {
                let end = chars.get(j).map_or(text.len(), |&(b, _)| b);
                push(start, end, &mut spans);
                start = end;
                i = j;
                continue;
            }
        }
        i += 1;
    }
    push(start, text.len(), &mut spans);
    spans
}

/// Groups a text's tokens by `spans` (ordered, non-overlapping byte ranges, e.g. [`word_spans`] or
/// [`sentences`]) with the rules of the module doc. Every token lands in exactly one group.
/// A text with no spans (whitespace only) becomes one group over the whole text.
pub fn aggregate(text: &str, tokens: &[TokenScore], spans: &[Span]) -> Vec<SpanScore> {
    if tokens.is_empty() {
        return Vec::new();
    }
    let whole = [(0, text.len())];
    let spans: &[Span] = if spans.is_empty() { &whole } else { spans };

    // (first span, last span, first token, last token) per group, built left to right.
    let mut groups: Vec<(usize, usize, usize, usize)> = Vec::new();
    let mut w = 0usize; // first span that may still overlap the current token
    for (ti, t) in tokens.iter().enumerate() {
        let (s, e) = (t.byte_start, t.byte_end);
        while w < spans.len() && spans[w].1 <= s {
            w += 1;
        }
        // Spans overlapping [s, e).
        let mut last = None;
        let mut k = w;
        while k < spans.len() && spans[k].0 < e {
            if spans[k].1 > s {
                last = Some(k);
            }
            k += 1;
        }
        let (first, last) = match last {
            Some(l) => (w.min(l), l),
            // Whitespace only: the next span, or the last one at the end of the text.
            None => {
                let next = w.min(spans.len() - 1);
                (next, next)
            }
        };
        match groups.last_mut() {
            Some(g) if first <= g.1 => {
                g.1 = g.1.max(last);
                g.3 = ti;
            }
            _ => groups.push((first, last, ti, ti)),
        }
    }

    let byte_ranges: Vec<Span> = groups.iter().map(|g| (spans[g.0].0, spans[g.1].1)).collect();
    let chars = char_offsets(text, &byte_ranges);
    groups
        .iter()
        .enumerate()
        .map(|(index, &(_, _, t0, t1))| {
            let toks = &tokens[t0..=t1];
            let scored = toks.iter().all(|t| t.scored);
            let (byte_start, byte_end) = byte_ranges[index];
            SpanScore {
                index,
                text: text[byte_start..byte_end].to_string(),
                byte_start,
                byte_end,
                char_start: chars[index].0,
                char_end: chars[index].1,
                token_start: t0,
                token_end: t1 + 1,
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

/// The sentence with the highest mean surprisal per token (ties: the earlier one); only fully scored sentences.
pub fn densest_sentence(text: &str, tokens: &[TokenScore]) -> Option<SpanScore> {
    aggregate(text, tokens, &sentences(text)).into_iter().filter(|s| s.scored).fold(
        None,
        |best: Option<SpanScore>, s| match best {
            Some(b) if b.mean_bits_per_token() >= s.mean_bits_per_token() => Some(b),
            _ => Some(s),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts_of(text: &str, spans: &[Span]) -> Vec<String> {
        spans.iter().map(|&(s, e)| text[s..e].to_string()).collect()
    }

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
    fn words_split_on_whitespace_and_punctuation() {
        let t = "Don't stop: (8-2)*3, l’eau\n naïve 水!";
        assert_eq!(
            texts_of(t, &word_spans(t)),
            ["Don't", "stop", ":", "(", "8", "-", "2", ")", "*", "3", ",", "l’eau", "naïve", "水", "!"]
        );
        assert_eq!(word_spans("  \n "), Vec::<Span>::new());
        assert_eq!(texts_of("it's'", &word_spans("it's'")), ["it's", "'"]);
    }

    #[test]
    fn sentences_split_at_terminators_and_newlines() {
        let t = "What is 3.5? It is \"big.\" Yes!\n\nAnswer: (C)";
        assert_eq!(texts_of(t, &sentences(t)), ["What is 3.5?", "It is \"big.\"", "Yes!", "Answer: (C)"]);
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
}
