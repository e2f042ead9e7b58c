//! Words and sentences: the one definition every front end uses (`export --level word`, `compare`,
//! the terminal UI's word view and densest-sentence list, the HTML report).
//!
//! **Words**, as psycholinguistics tools count them: whitespace separates words and is part of none;
//! a word is a maximal run of letters and digits (an apostrophe between two of them stays inside:
//! `don't`, `l’eau`); every other character (punctuation, symbols, emoji) is a word of its own. The
//! unit is the user-perceived character (Unicode extended grapheme cluster, UAX #29), so a combining
//! mark stays with its letter (NFD `e` + U+0308 is one letter of `naïve`) and an emoji ZWJ sequence
//! (`👩‍👩‍👧`), a flag or a skin-tone emoji is one symbol. Text without spaces between words
//! (Chinese, Japanese) is not segmented further: a run of ideographs is one word.
//!
//! **Sentences** end after `.`, `!`, `?` (with any closing quotes or brackets after them) followed by
//! whitespace, and at every line break; leading and trailing whitespace is trimmed off; blank lines
//! make no sentence.
//!
//! **Tokens into units.** Tokens do not line up with words (` models` carries the space before the
//! word; `):` spans two punctuation words), so [`group_tokens`] assigns each token to the units
//! (words or sentences) it overlaps, and:
//! - a token of whitespace only belongs to the next unit (GPT-style tokenizers attach a space to
//!   the word after it); whitespace at the very end belongs to the last unit;
//! - when one token spans several units, those units merge into one (a token's surprisal cannot be
//!   split), e.g. `):` is one word when the tokenizer made it one token.
//!
//! So every token belongs to exactly one group, groups are runs of consecutive tokens, and the sum
//! of the groups' surprisal is the sum of the tokens'.

use std::ops::Range;

use unicode_segmentation::UnicodeSegmentation;

use crate::metrics::TokenScore;

/// A `[start, end)` byte range of a text.
pub type Span = (usize, usize);

/// A word or sentence as a run of tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenGroup {
    /// The tokens it holds (consecutive, never empty).
    pub tokens: Range<usize>,
    /// The bytes of its own characters: from the start of its first word (or sentence) to the end of
    /// its last, without the whitespace before it.
    pub bytes: Span,
}

/// Whether a token's bytes begin with whitespace (any Unicode whitespace; SentencePiece's `▁` is
/// the space it stands for): such a token starts a new word after a word boundary. A byte-fallback
/// token holding the first bytes of a character starts with no whitespace.
pub fn starts_with_whitespace(bytes: &[u8]) -> bool {
    let head = &bytes[..bytes.len().min(4)];
    let valid = match std::str::from_utf8(head) {
        Ok(s) => s,
        Err(e) => std::str::from_utf8(&head[..e.valid_up_to()]).unwrap_or(""),
    };
    valid.chars().next().is_some_and(|c| c.is_whitespace() || c == '\u{2581}')
}

/// Whether a token is whitespace only (it then belongs to the word after it; see the module doc).
pub fn is_whitespace_only(bytes: &[u8]) -> bool {
    !bytes.is_empty()
        && std::str::from_utf8(bytes).is_ok_and(|s| s.chars().all(|c| c.is_whitespace() || c == '\u{2581}'))
}

fn is_word_char(g: &str) -> bool {
    g.chars().next().is_some_and(char::is_alphanumeric)
}

fn is_apostrophe(g: &str) -> bool {
    g.starts_with(['\'', '\u{2019}'])
}

/// Word spans of a text (see the module doc). Whitespace is in no span.
pub fn word_spans(text: &str) -> Vec<Span> {
    let graphemes: Vec<(usize, &str)> = text.grapheme_indices(true).collect();
    let end_of = |j: usize| graphemes.get(j).map_or(text.len(), |&(b, _)| b);
    let mut spans = Vec::new();
    let mut i = 0;
    while i < graphemes.len() {
        let (start, g) = graphemes[i];
        if g.starts_with(char::is_whitespace) {
            i += 1;
            continue;
        }
        let mut j = i + 1;
        if is_word_char(g) {
            while j < graphemes.len() {
                let g = graphemes[j].1;
                let inner_apostrophe = is_apostrophe(g) && graphemes.get(j + 1).is_some_and(|n| is_word_char(n.1));
                if !(is_word_char(g) || inner_apostrophe) {
                    break;
                }
                j += 1;
            }
        }
        spans.push((start, end_of(j)));
        i = j;
    }
    spans
}

/// Sentence spans of a text (see the module doc).
pub fn sentence_spans(text: &str) -> Vec<Span> {
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

/// Groups a text's tokens by `spans` (ordered, non-overlapping byte ranges: [`word_spans`] or
/// [`sentence_spans`]) with the rules of the module doc. Every token lands in exactly one group.
/// A text with no spans (whitespace only) becomes one group over the whole text.
pub fn group_tokens(text: &str, tokens: &[TokenScore], spans: &[Span]) -> Vec<TokenGroup> {
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
    groups
        .into_iter()
        .map(|(s0, s1, t0, t1)| TokenGroup { tokens: t0..t1 + 1, bytes: (spans[s0].0, spans[s1].1) })
        .collect()
}

/// The words of a tokenized text.
pub fn word_groups(text: &str, tokens: &[TokenScore]) -> Vec<TokenGroup> {
    group_tokens(text, tokens, &word_spans(text))
}

/// The sentences of a tokenized text.
pub fn sentence_groups(text: &str, tokens: &[TokenScore]) -> Vec<TokenGroup> {
    group_tokens(text, tokens, &sentence_spans(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts_of(text: &str, spans: &[Span]) -> Vec<String> {
        spans.iter().map(|&(s, e)| text[s..e].to_string()).collect()
    }

    /// Tokens tiling `text` at the given byte cut points.
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
                token: String::new(),
                bytes: text.as_bytes()[w[0]..w[1]].to_vec(),
                byte_start: w[0],
                byte_end: w[1],
                char_start: 0,
                char_end: 0,
                scored: true,
                surprisal_bits: 1.0,
                probability: 0.5,
                entropy_bits: 1.0,
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
    fn apostrophes_hyphens_digits_and_cjk() {
        let t = "Don't stop: (8-2)*3, l’eau\n naïve 水中! well-known 3.14 it's'";
        assert_eq!(
            texts_of(t, &word_spans(t)),
            [
                "Don't", "stop", ":", "(", "8", "-", "2", ")", "*", "3", ",", "l’eau", "naïve", "水中", "!", "well",
                "-", "known", "3", ".", "14", "it's", "'"
            ]
        );
        // A leading or trailing apostrophe is not inside a word.
        assert_eq!(texts_of("'tis rock'n'roll'", &word_spans("'tis rock'n'roll'")), ["'", "tis", "rock'n'roll", "'"]);
    }

    #[test]
    fn whitespace_and_newlines_are_in_no_word() {
        assert_eq!(word_spans("  \n \r\n\t"), Vec::<Span>::new());
        let t = "a\r\nb\n\nc";
        assert_eq!(texts_of(t, &word_spans(t)), ["a", "b", "c"]);
    }

    #[test]
    fn combining_marks_stay_with_their_letter() {
        // NFD: e + U+0308 COMBINING DIAERESIS, then a mark on a digit and on a symbol.
        let t = "nai\u{0308}ve 1\u{20E3}x *\u{0301}!";
        assert_eq!(texts_of(t, &word_spans(t)), ["nai\u{0308}ve", "1\u{20E3}x", "*\u{0301}", "!"]);
        let nfd_start = "e\u{0301}te\u{0301}";
        assert_eq!(texts_of(nfd_start, &word_spans(nfd_start)), [nfd_start]);
    }

    #[test]
    fn emoji_sequences_are_one_symbol() {
        // A ZWJ family, a skin tone, a flag: one word each; letters around them are words of their own.
        let t = "hi👩\u{200d}👩\u{200d}👧👋\u{1F3FD}🇫🇷ok";
        assert_eq!(texts_of(t, &word_spans(t)), ["hi", "👩\u{200d}👩\u{200d}👧", "👋\u{1F3FD}", "🇫🇷", "ok"]);
    }

    #[test]
    fn sentences_split_at_terminators_and_newlines() {
        let t = "What is 3.5? It is \"big.\" Yes!\n\nAnswer: (C)";
        assert_eq!(texts_of(t, &sentence_spans(t)), ["What is 3.5?", "It is \"big.\"", "Yes!", "Answer: (C)"]);
        assert_eq!(sentence_spans(" \n\n "), Vec::<Span>::new());
        let t = "line one\nline two. Next";
        assert_eq!(texts_of(t, &sentence_spans(t)), ["line one", "line two.", "Next"]);
    }

    #[test]
    fn tokens_go_to_their_words() {
        // Tokens: "Ans" | "wer" | "):" | "\n" | " x" | "  "
        let t = "Answer):\n x  ";
        let g = word_groups(t, &toks(t, &[3, 6, 8, 9, 11]));
        assert_eq!(
            g,
            [
                TokenGroup { tokens: 0..2, bytes: (0, 6) },
                TokenGroup { tokens: 2..3, bytes: (6, 8) },
                // "\n", " x" and the trailing "  " all belong to the last word.
                TokenGroup { tokens: 3..6, bytes: (10, 11) },
            ]
        );
        // A token split inside a character (水 = 3 bytes over two tokens) stays in its word.
        let t = "a水 b";
        let g = word_groups(t, &toks(t, &[2, 4]));
        assert_eq!(g.iter().map(|g| g.tokens.clone()).collect::<Vec<_>>(), [0..2, 2..3]);
        // Whitespace only: one group over everything.
        assert_eq!(word_groups("  ", &toks("  ", &[1])), [TokenGroup { tokens: 0..2, bytes: (0, 2) }]);
        assert_eq!(word_groups("", &[]), []);
    }

    #[test]
    fn whitespace_starts_of_token_bytes() {
        for yes in [&b" x"[..], b"\n", b"\t\t", b"\r\n", "\u{3000}x".as_bytes(), "\u{2581}x".as_bytes(), b" "] {
            assert!(starts_with_whitespace(yes), "{yes:?}");
        }
        // Byte-fallback pieces of a character (水 = E6 B0 B4), punctuation, an empty token.
        for no in [&b"x"[..], b",", b"\xE6", b"\xE6\xB0", b"", "水".as_bytes()] {
            assert!(!starts_with_whitespace(no), "{no:?}");
        }
        assert!(is_whitespace_only(b" \n") && is_whitespace_only("\u{2581}".as_bytes()));
        assert!(!is_whitespace_only(b" x") && !is_whitespace_only(b"") && !is_whitespace_only(b"\xE6"));
    }

    #[test]
    fn tokens_go_to_their_sentences() {
        // Tokens: "A" | "." | " B" | " C" | ".\n" | "D"
        let t = "A. B C.\nD";
        let g = sentence_groups(t, &toks(t, &[1, 2, 4, 6, 8]));
        assert_eq!(g.iter().map(|g| g.tokens.clone()).collect::<Vec<_>>(), [0..2, 2..5, 5..6]);
        assert_eq!(g[1].bytes, (3, 7));
    }
}
