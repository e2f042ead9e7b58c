//! llama.cpp's SentencePiece tokenizer for GGUF vocabularies with `tokenizer.ggml.model = llama`
//! (Llama-2, Mistral, TinyLlama, Phi-3, Gemma): a port of `llm_tokenizer_spm_session` and of the
//! special-token partition that runs before it (`tokenizer_st_partition`, llama-vocab.cpp), with
//! byte offsets into the original text for every token.
//!
//! Per text: user-defined tokens written in the text are cut out first (longest token text first,
//! as llama.cpp does; control tokens stay text, llama.cpp's `parse_special = false`). Each
//! remaining stretch gets a `▁` prefix when `add_space_prefix` is set and it starts the text or
//! follows a token, has its spaces replaced by `▁`, is split into UTF-8 characters, and the
//! adjacent pair whose concatenation is the highest-scoring vocabulary entry is merged, again and
//! again (ties: the leftmost pair). A final piece missing from the vocabulary becomes its bytes
//! as `<0xNN>` tokens.
//!
//! Offsets: a `▁` that replaced a space covers that space; the prefix `▁` covers zero bytes; a
//! byte-fallback token covers one byte of the text (the bytes of a `▁` standing for a space: the
//! first covers the space, the other two zero bytes).

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};

/// Token ids and, per token, the `[start, end)` byte range of the text it stands for.
pub type IdsAndOffsets = (Vec<u32>, Vec<(usize, usize)>);

/// A SentencePiece vocabulary as llama.cpp tokenizes with it.
#[derive(Debug, Clone)]
pub struct SpmTokenizer {
    /// Token text → id (a text listed twice maps to its last id, as llama.cpp's `token_to_id`).
    token_to_id: HashMap<String, u32>,
    /// Merge score of each id (`tokenizer.ggml.scores`).
    scores: Vec<f32>,
    /// Tokens matched in the text before merging: (text, id, strip whitespace to the right),
    /// longest text first.
    user_defined: Vec<(String, u32, bool)>,
    /// Prepend `▁` to a stretch of text that starts the text or follows a token.
    add_space_prefix: bool,
}

/// Why a text could not be tokenized.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingByteToken(pub u8);

const SPACE_MARK: &str = "\u{2581}";

impl SpmTokenizer {
    /// What decides the ids besides the tokens' texts: the merge scores, the user-defined tokens
    /// and the prefix space (for [`super::TextTokenizer::fingerprint`]).
    pub fn rules_bytes(&self) -> Vec<u8> {
        let mut out: Vec<u8> = self.scores.iter().flat_map(|s| s.to_le_bytes()).collect();
        out.extend(format!("{:?} {}", self.user_defined, self.add_space_prefix).into_bytes());
        out
    }

    /// `tokens[id]`, `scores[id]` (same length), `user_defined`: (id, rstrip) of the tokens cut
    /// out of the text before merging.
    pub fn new(tokens: &[String], scores: Vec<f32>, user_defined: &[(u32, bool)], add_space_prefix: bool) -> Self {
        let mut token_to_id = HashMap::with_capacity(tokens.len());
        for (id, t) in tokens.iter().enumerate() {
            token_to_id.insert(t.clone(), id as u32);
        }
        let mut user: Vec<(String, u32, bool)> = user_defined
            .iter()
            .filter(|(id, _)| !tokens[*id as usize].is_empty())
            .map(|&(id, rstrip)| (tokens[id as usize].clone(), id, rstrip))
            .collect();
        // llama.cpp's std::sort by length (not stable); equal lengths cannot overlap at one spot
        // with different texts, so the order among them does not change the result.
        user.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.1.cmp(&b.1)));
        SpmTokenizer { token_to_id, scores, user_defined: user, add_space_prefix }
    }

    /// The id of a token text.
    pub fn token_to_id(&self, text: &str) -> Option<u32> {
        self.token_to_id.get(text).copied()
    }

    /// Token ids of `text` and the `[start, end)` byte range of the text each one stands for.
    pub fn encode(&self, text: &str) -> Result<IdsAndOffsets, MissingByteToken> {
        let mut ids = Vec::new();
        let mut offsets = Vec::new();
        let mut prev_is_token = true;
        for frag in self.partition(text) {
            match frag {
                Fragment::Text(s, e) => {
                    self.encode_stretch(text, s, e, self.add_space_prefix && prev_is_token, &mut ids, &mut offsets)?;
                    prev_is_token = false;
                }
                Fragment::Token(id, s, e) => {
                    ids.push(id);
                    offsets.push((s, e));
                    prev_is_token = true;
                }
            }
        }
        Ok((ids, offsets))
    }

    /// llama.cpp's `tokenizer_st_partition` for the user-defined tokens: each token in turn (longest
    /// first) splits every text fragment at each of its occurrences. A token with `rstrip` also
    /// takes the ASCII whitespace after it (llama.cpp drops it; here the token's span covers it).
    fn partition(&self, text: &str) -> Vec<Fragment> {
        let mut frags = if text.is_empty() { vec![] } else { vec![Fragment::Text(0, text.len())] };
        for (tok, id, rstrip) in &self.user_defined {
            let mut out = Vec::with_capacity(frags.len());
            for f in frags {
                let Fragment::Text(mut s, e) = f else {
                    out.push(f);
                    continue;
                };
                while let Some(m) = text[s..e].find(tok.as_str()) {
                    let m = s + m;
                    if m > s {
                        out.push(Fragment::Text(s, m));
                    }
                    let mut end = m + tok.len();
                    if *rstrip {
                        // C's isspace: space, \t, \n, \v, \f, \r.
                        while end < e && matches!(text.as_bytes()[end], b' ' | b'\t'..=b'\r') {
                            end += 1;
                        }
                    }
                    out.push(Fragment::Token(*id, m, end));
                    s = end;
                }
                if s < e {
                    out.push(Fragment::Text(s, e));
                }
            }
            frags = out;
        }
        frags
    }

    /// One stretch `text[start..end]` of plain text (llama.cpp's `llm_tokenizer_spm_session`).
    fn encode_stretch(
        &self,
        text: &str,
        start: usize,
        end: usize,
        prefix: bool,
        ids: &mut Vec<u32>,
        offsets: &mut Vec<(usize, usize)>,
    ) -> Result<(), MissingByteToken> {
        // The escaped text and, for each of its bytes (and its end), the position in `text`.
        let mut esc = String::with_capacity(end - start + 8);
        let mut pos_of: Vec<usize> = Vec::with_capacity(end - start + 9);
        // Characters: [begin, end) in `esc`.
        let mut chars: Vec<(usize, usize)> = Vec::new();
        if prefix {
            chars.push((0, SPACE_MARK.len()));
            esc.push_str(SPACE_MARK);
            pos_of.extend([start; 3]);
        }
        for (i, c) in text[start..end].char_indices() {
            let p = start + i;
            let b = esc.len();
            if c == ' ' {
                esc.push_str(SPACE_MARK);
                pos_of.extend([p, p + 1, p + 1]);
            } else {
                esc.push(c);
                pos_of.extend(p..p + c.len_utf8());
            }
            chars.push((b, esc.len()));
        }
        pos_of.push(end);

        // Symbols as a linked list over `chars`; `len` 0 marks one merged into its left neighbour.
        struct Symbol {
            begin: usize,
            len: usize,
            prev: isize,
            next: isize,
        }
        let n = chars.len();
        let mut symbols: Vec<Symbol> = chars
            .iter()
            .enumerate()
            .map(|(i, &(b, e))| Symbol {
                begin: b,
                len: e - b,
                prev: i as isize - 1,
                next: if i + 1 == n { -1 } else { i as isize + 1 },
            })
            .collect();
        let mut queue = BinaryHeap::new();
        let try_add = |queue: &mut BinaryHeap<Bigram>, symbols: &[Symbol], left: isize, right: isize| {
            if left < 0 || right < 0 {
                return;
            }
            let (l, r) = (&symbols[left as usize], &symbols[right as usize]);
            let piece = &esc[l.begin..r.begin + r.len];
            if let Some(&id) = self.token_to_id.get(piece) {
                let score = self.scores.get(id as usize).copied().unwrap_or(0.0);
                queue.push(Bigram { score, left: left as usize, right: right as usize, size: piece.len() });
            }
        };
        for i in 1..n {
            try_add(&mut queue, symbols.as_slice(), i as isize - 1, i as isize);
        }
        while let Some(bg) = queue.pop() {
            let (ln, rn) = (symbols[bg.left].len, symbols[bg.right].len);
            // Skip a pair whose symbols have changed since it was queued.
            if ln == 0 || rn == 0 || ln + rn != bg.size {
                continue;
            }
            symbols[bg.left].len += rn;
            symbols[bg.right].len = 0;
            let next = symbols[bg.right].next;
            symbols[bg.left].next = next;
            if next >= 0 {
                symbols[next as usize].prev = bg.left as isize;
            }
            let prev = symbols[bg.left].prev;
            try_add(&mut queue, symbols.as_slice(), prev, bg.left as isize);
            try_add(&mut queue, symbols.as_slice(), bg.left as isize, next);
        }

        // Every merged piece is a token; a lone character missing from the vocabulary falls back
        // to its bytes (llama.cpp's `resegment`).
        let mut i: isize = if n == 0 { -1 } else { 0 };
        while i >= 0 {
            let s = &symbols[i as usize];
            let piece = &esc[s.begin..s.begin + s.len];
            if let Some(&id) = self.token_to_id.get(piece) {
                ids.push(id);
                offsets.push((pos_of[s.begin], pos_of[s.begin + s.len]));
            } else {
                for k in s.begin..s.begin + s.len {
                    ids.push(self.byte_token(esc.as_bytes()[k])?);
                    offsets.push((pos_of[k], pos_of[k + 1]));
                }
            }
            i = s.next;
        }
        Ok(())
    }

    /// llama.cpp's `byte_to_token` for SPM: `<0xNN>`, else the byte itself as a one-byte token.
    fn byte_token(&self, b: u8) -> Result<u32, MissingByteToken> {
        let hex = format!("<0x{b:02X}>");
        if let Some(&id) = self.token_to_id.get(&hex) {
            return Ok(id);
        }
        std::str::from_utf8(&[b]).ok().and_then(|s| self.token_to_id.get(s)).copied().ok_or(MissingByteToken(b))
    }
}

#[derive(Clone, Copy)]
enum Fragment {
    /// Plain text `[start, end)`.
    Text(usize, usize),
    /// A user-defined token id covering `[start, end)`.
    Token(u32, usize, usize),
}

/// A candidate merge of two adjacent symbols.
struct Bigram {
    score: f32,
    left: usize,
    right: usize,
    size: usize,
}

// Max-heap order of llama.cpp's `llm_bigram_spm::comparator`: highest score first, then leftmost.
impl Ord for Bigram {
    fn cmp(&self, o: &Self) -> Ordering {
        self.score.total_cmp(&o.score).then_with(|| o.left.cmp(&self.left))
    }
}
impl PartialOrd for Bigram {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl PartialEq for Bigram {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for Bigram {}

#[cfg(test)]
mod tests {
    use super::*;

    fn toy() -> SpmTokenizer {
        // ids:        0      1      2     3     4      5       6        7       8
        let toks = ["<unk>", "▁", "a", "b", "ab", "▁a", "▁ab", "<0xC3>", "<0xA9>"];
        let scores = vec![0.0, -1.0, -2.0, -2.0, -0.5, -0.6, -0.1, 0.0, 0.0];
        let toks: Vec<String> = toks.iter().map(|s| s.to_string()).collect();
        SpmTokenizer::new(&toks, scores, &[], true)
    }

    #[test]
    fn merges_by_score_and_maps_offsets() {
        let t = toy();
        // "▁ab": "ab" (-0.5) beats "▁a" (-0.6), then "▁"+"ab" = "▁ab".
        let (ids, offs) = t.encode("ab").unwrap();
        assert_eq!(ids, vec![6]);
        assert_eq!(offs, vec![(0, 2)]);
        // A space becomes ▁ and covers its byte; é falls back to its two bytes.
        let (ids, offs) = t.encode("a é").unwrap();
        assert_eq!(ids, vec![5, 1, 7, 8]);
        assert_eq!(offs, vec![(0, 1), (1, 2), (2, 3), (3, 4)]);
    }

    #[test]
    fn missing_byte_token_is_reported() {
        let t = toy();
        assert_eq!(t.encode("x").unwrap_err(), MissingByteToken(b'x'));
    }
}
