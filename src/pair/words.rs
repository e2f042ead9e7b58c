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
