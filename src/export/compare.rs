//! The numbers `densi compare` and the HTML report show for each text: its summary, its most notable
//! token, word and sentence, and its difference from the first text. Pure computation over
//! [`TextScore`]s; the CLI prints it as a table or json, the report as an HTML table.

use serde::Serialize;

use super::words::{WordProbability, densest_sentence, text_words};
use crate::metrics::{TextScore, TokenScore};

/// One token, briefly.
#[derive(Debug, Serialize)]
pub struct TokenBrief {
    /// Position of the token in the text.
    pub index: usize,
    /// The token as text.
    pub token: String,
    /// Its surprisal, bits.
    pub surprisal_bits: f64,
    /// Entropy of the distribution before this token.
    pub entropy_bits: f64,
    /// Its rank (1 = the model's top choice).
    pub rank: u32,
}

impl TokenBrief {
    /// The brief of a scored token.
    pub fn of(t: &TokenScore) -> TokenBrief {
        TokenBrief {
            index: t.index,
            token: t.token.clone(),
            surprisal_bits: t.surprisal_bits,
            entropy_bits: t.entropy_bits,
            rank: t.rank,
        }
    }
}

/// A word (tokens summed), briefly.
#[derive(Debug, Serialize)]
pub struct WordBrief {
    /// Position of the word in the text.
    pub index: usize,
    /// The word.
    pub word: String,
    /// How many tokens it spans.
    pub tokens: usize,
    /// Its surprisal (sum over its tokens), bits.
    pub surprisal_bits: f64,
    /// Entropy before the word's first token.
    pub entropy_bits: f64,
}

/// A sentence, briefly.
#[derive(Debug, Serialize)]
pub struct SentenceBrief {
    /// The sentence.
    pub text: String,
    /// First byte in the text.
    pub byte_start: usize,
    /// One past its last byte.
    pub byte_end: usize,
    /// How many tokens it spans.
    pub tokens: usize,
    /// Σ surprisal of its tokens, bits.
    pub total_bits: f64,
    /// total bits / tokens.
    pub mean_bits_per_token: f64,
}

/// This text minus the first.
#[derive(Debug, Serialize)]
pub struct Diff {
    /// Token count difference.
    pub tokens: i64,
    /// Total bits difference.
    pub total_bits: f64,
    /// Mean bits per token difference.
    pub mean_bits_per_token: f64,
    /// Bits per character difference.
    pub bits_per_char: f64,
    /// Perplexity difference.
    pub perplexity: f64,
    /// None when either text has none.
    pub fast_detectgpt: Option<f64>,
}

/// One text's row of `densi compare` (and of the report's comparison table).
#[derive(Debug, Serialize)]
pub struct Compared {
    /// The text's id.
    pub id: String,
    /// Tokens in the text.
    pub tokens: usize,
    /// Tokens scored.
    pub scored_tokens: usize,
    /// Characters of the text.
    pub chars: usize,
    /// Σ surprisal, bits.
    pub total_bits: f64,
    /// total bits / scored tokens.
    pub mean_bits_per_token: f64,
    /// total bits / characters.
    pub bits_per_char: f64,
    /// 2^(mean bits per token).
    pub perplexity: f64,
    /// Σ(−s + H) / √ΣV over the scored tokens (Bao et al. 2024; unit-free): `metrics::Summary::fast_detectgpt`.
    pub fast_detectgpt: Option<f64>,
    /// The text's last token: how predictable its ending was.
    pub last_token: Option<TokenBrief>,
    /// The last word with a letter or digit in it (punctuation after it skipped): the "answer" of a prompt.
    pub last_word: Option<WordBrief>,
    /// The token before which the model was least sure (highest entropy).
    pub most_uncertain: Option<TokenBrief>,
    /// The most surprising token.
    pub densest_token: Option<TokenBrief>,
    /// The sentence with the highest mean surprisal per token.
    pub densest_sentence: Option<SentenceBrief>,
    /// This text minus the first (zero for the first).
    pub diff_from_first: Diff,
}

fn max_by(tokens: &[TokenScore], key: impl Fn(&TokenScore) -> f64) -> Option<TokenBrief> {
    tokens
        .iter()
        .filter(|t| t.scored)
        .fold(None, |best: Option<&TokenScore>, t| match best {
            Some(b) if key(b) >= key(t) => Some(b),
            _ => Some(t),
        })
        .map(TokenBrief::of)
}

/// The row of `t`, with its differences from `first`.
pub fn compared(t: &TextScore, first: &TextScore, word_probability: WordProbability) -> Compared {
    let s = &t.summary;
    let f = &first.summary;
    Compared {
        id: t.id.clone(),
        tokens: s.tokens,
        scored_tokens: s.scored_tokens,
        chars: s.chars,
        total_bits: s.total_bits,
        mean_bits_per_token: s.mean_bits_per_token,
        bits_per_char: s.bits_per_char,
        perplexity: s.perplexity,
        fast_detectgpt: s.fast_detectgpt,
        last_token: t.tokens.last().filter(|t| t.scored).map(TokenBrief::of),
        last_word: text_words(t).into_iter().rev().find(|w| w.scored && w.text.chars().any(char::is_alphanumeric)).map(
            |w| WordBrief {
                index: w.index,
                tokens: w.tokens(),
                surprisal_bits: w.surprisal(word_probability),
                entropy_bits: w.entropy_bits,
                word: w.text,
            },
        ),
        most_uncertain: max_by(&t.tokens, |t| t.entropy_bits),
        densest_token: max_by(&t.tokens, |t| t.surprisal_bits),
        densest_sentence: densest_sentence(&t.text, &t.tokens).map(|d| SentenceBrief {
            tokens: d.tokens(),
            mean_bits_per_token: d.mean_bits_per_token(),
            text: d.text,
            byte_start: d.byte_start,
            byte_end: d.byte_end,
            total_bits: d.surprisal_bits,
        }),
        diff_from_first: Diff {
            tokens: s.tokens as i64 - f.tokens as i64,
            total_bits: s.total_bits - f.total_bits,
            mean_bits_per_token: s.mean_bits_per_token - f.mean_bits_per_token,
            bits_per_char: s.bits_per_char - f.bits_per_char,
            perplexity: s.perplexity - f.perplexity,
            fast_detectgpt: s.fast_detectgpt.zip(f.fast_detectgpt).map(|(a, b)| a - b),
        },
    }
}

/// Column headers: the file names when they are distinct, else the ids.
pub fn column_headers(ids: &[&str]) -> Vec<String> {
    let base: Vec<String> = ids
        .iter()
        .map(|id| std::path::Path::new(id).file_name().map_or(id.to_string(), |n| n.to_string_lossy().into_owned()))
        .collect();
    let mut sorted = base.clone();
    sorted.sort();
    sorted.dedup();
    if sorted.len() == base.len() { base } else { ids.iter().map(|id| id.to_string()).collect() }
}
