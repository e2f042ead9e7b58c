//! Tokenization exactly as the model's own tokenizer does it: Hugging Face `tokenizers` for
//! `tokenizer.json`, GPT-2's `vocab.json` + `merges.txt` and GGUF byte-level BPE vocabularies
//! (`tokenizer.ggml.model = gpt2`, with llama.cpp's pre-tokenizer regexes), and [`spm`], a port of
//! llama.cpp's SentencePiece tokenizer, for GGUF `tokenizer.ggml.model = llama` vocabularies
//! (Llama-2, Mistral, Phi-3, Gemma).
//!
//! Offsets are computed from the tokens' raw bytes (byte-level BPE tiles the text exactly), so a
//! token that holds only part of a UTF-8 character still gets exact byte offsets. A SentencePiece
//! prefix `▁` that stands for no character of the text covers zero bytes.

mod spm;

use std::collections::HashMap;
use std::path::Path;

use tokenizers::decoders::byte_level::ByteLevel;
use tokenizers::models::bpe::{BPE, Merges, Vocab};
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::{AddedToken, SplitDelimiterBehavior};

use crate::error::{DensiError, Result};

/// Token ids for a text, with exact byte offsets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoding {
    /// Token ids, in order.
    pub ids: Vec<u32>,
    /// `[start, end)` UTF-8 byte offsets of each token into the text; they tile the text.
    pub byte_offsets: Vec<(usize, usize)>,
}

/// What turns text into ids.
enum Engine {
    /// Hugging Face `tokenizers` (tokenizer.json, GPT-2 files, GGUF byte-level BPE).
    Hf(Box<tokenizers::Tokenizer>),
    /// llama.cpp's SentencePiece tokenizer (GGUF `tokenizer.ggml.model = llama`).
    Spm(spm::SpmTokenizer),
}

/// A model's tokenizer with exact byte offsets and the special tokens densi needs.
pub struct TextTokenizer {
    engine: Engine,
    /// Token bytes may start with a SentencePiece prefix space the text lacks (HF Metaspace).
    prefix_space: bool,
    /// Raw bytes of each token id (byte-level BPE decoded; special tokens as their UTF-8 text).
    pub(crate) token_bytes: Vec<Vec<u8>>,
    /// BOS token id, if the model has one.
    pub bos_id: Option<u32>,
    /// EOS token id, if the model has one.
    pub eos_id: Option<u32>,
    /// Whether the model's own tokenizer prepends BOS (`add_bos_token`).
    pub add_bos: bool,
    /// Document separator, `<|endoftext|>` when the vocabulary has it.
    pub doc_separator: Option<u32>,
    /// Human-readable description for provenance, e.g. "gguf gpt2 BPE, pre=smollm".
    pub description: String,
}

impl TextTokenizer {
    /// Encodes `text` without adding special tokens.
    pub fn encode(&self, text: &str) -> Result<Encoding> {
        let inner = match &self.engine {
            Engine::Hf(inner) => inner,
            Engine::Spm(sp) => {
                let (ids, byte_offsets) = sp.encode(text).map_err(|spm::MissingByteToken(b)| {
                    DensiError::Other(format!(
                        "tokenizer: the vocabulary has no byte token <0x{b:02X}> for a byte of the text"
                    ))
                })?;
                return Ok(Encoding { ids, byte_offsets });
            }
        };
        let enc = inner.encode(text, false).map_err(|e| DensiError::Other(format!("tokenizer: {e}")))?;
        let ids: Vec<u32> = enc.get_ids().to_vec();
        let byte_offsets = self.walk_offsets(text, &ids)?;
        Ok(Encoding { ids, byte_offsets })
    }

    /// Offsets from the tokens' bytes, which must spell the text; a token's leading space that
    /// the text does not have is a SentencePiece prefix (`▁`) and covers zero bytes.
    fn walk_offsets(&self, text: &str, ids: &[u32]) -> Result<Vec<(usize, usize)>> {
        let t = text.as_bytes();
        let mut pos = 0usize;
        let mut out = Vec::with_capacity(ids.len());
        for &id in ids {
            let b = self.token_bytes(id);
            let prefix = self.prefix_space && !t[pos..].starts_with(b) && b.first() == Some(&b' ');
            let b = if prefix { &b[1..] } else { b };
            if !t[pos..].starts_with(b) {
                return Err(DensiError::Other(format!(
                    "tokenizer: token {id} ({}) does not spell the text at byte {pos} (the tokenizer is not lossless)",
                    self.token_display(id)
                )));
            }
            out.push((pos, pos + b.len()));
            pos += b.len();
        }
        if pos != text.len() {
            return Err(DensiError::Other(format!(
                "tokenizer: token bytes cover {pos} bytes of a {}-byte text (the tokenizer is not lossless)",
                text.len()
            )));
        }
        Ok(out)
    }

    /// The raw bytes of a token.
    pub fn token_bytes(&self, id: u32) -> &[u8] {
        self.token_bytes.get(id as usize).map(Vec::as_slice).unwrap_or(&[])
    }

    /// A token for display: its bytes as UTF-8 when valid, else `\xNN` escapes for each byte.
    pub fn token_display(&self, id: u32) -> String {
        crate::metrics::display_bytes(self.token_bytes(id))
    }

    /// The id of a token given by its text (e.g. `<|endoftext|>`).
    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        match &self.engine {
            Engine::Hf(inner) => inner.token_to_id(token),
            Engine::Spm(sp) => sp.token_to_id(token),
        }
    }

    /// sha256 (hex) of everything that decides a text's ids: each token's bytes, the merges or
    /// scores and pre-tokenizer (Hugging Face: the whole serialized tokenizer; SentencePiece: the
    /// scores, user-defined tokens and prefix-space rule), and the special tokens. Two tokenizers
    /// with the same fingerprint give every text the same ids.
    pub fn fingerprint(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        for b in &self.token_bytes {
            h.update((b.len() as u64).to_le_bytes());
            h.update(b);
        }
        h.update(format!(
            "{:?} {:?} {} {:?} {}",
            self.bos_id, self.eos_id, self.add_bos, self.doc_separator, self.prefix_space
        ));
        match &self.engine {
            Engine::Hf(inner) => h.update(inner.to_string(false).unwrap_or_default()),
            Engine::Spm(sp) => h.update(sp.rules_bytes()),
        }
        h.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Number of token ids.
    pub fn vocab_size(&self) -> usize {
        self.token_bytes.len()
    }

    /// The word-boundary set W: the ids of the tokens that begin a new word (B(ctx) = Σ_{v∈W} p(v)).
    /// - `Full`: every token whose decoded bytes start with a Unicode whitespace character (space,
    ///   `\n`, `\t`, `\r`, …; SentencePiece's `▁` counts as the space it decodes to), plus the EOS
    ///   token and the end-of-text / document separator token where they differ.
    /// - `SpaceOnly`: tokens whose decoded text starts with a space ' ' (or `▁`) and nothing else:
    ///   minicons' `bow_correction` set.
    ///
    /// Byte-fallback tokens holding part of a character start with no whitespace and are not in W.
    pub fn boundary_ids(&self, set: crate::metrics::BoundarySet) -> Vec<u32> {
        use crate::metrics::BoundarySet;
        let starts_word = |bytes: &[u8]| {
            let first = match std::str::from_utf8(&bytes[..bytes.len().min(4)]) {
                Ok(s) => s.chars().next(),
                // A valid first character followed by a cut one.
                Err(e) => std::str::from_utf8(&bytes[..e.valid_up_to()]).ok().and_then(|s| s.chars().next()),
            };
            match (first, set) {
                (Some('▁'), _) => true,
                (Some(c), BoundarySet::Full) => c.is_whitespace(),
                (Some(c), BoundarySet::SpaceOnly) => c == ' ',
                (None, _) => false,
            }
        };
        let mut ids: Vec<u32> =
            (0..self.token_bytes.len() as u32).filter(|&id| starts_word(self.token_bytes(id))).collect();
        if set == BoundarySet::Full {
            ids.extend(self.eos_id.iter().chain(self.doc_separator.iter()));
            ids.sort_unstable();
            ids.dedup();
        }
        ids
    }

    /// Errors unless every token id is a row of the model's `[vocab_size, hidden]` embedding.
    pub fn check_fits(&self, path: &Path, model_vocab_size: usize) -> Result<()> {
        if self.vocab_size() > model_vocab_size {
            return Err(tok_err(
                path,
                format!(
                    "the tokenizer has {} tokens (ids up to {}) but the model's vocabulary has only {}",
                    self.vocab_size(),
                    self.vocab_size() - 1,
                    model_vocab_size
                ),
            ));
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Construction
// ---------------------------------------------------------------------------------------------

/// The `tokenizer.ggml.*` metadata of a GGUF file (read and type-checked by `gguf.rs`).
#[derive(Debug, Clone)]
pub struct GgufVocab {
    /// `tokenizer.ggml.model`: `gpt2` (byte-level BPE) or `llama` (SentencePiece).
    pub model: String,
    /// `general.name` (llama.cpp sets per-token attributes by it, e.g. for Phi-3).
    pub model_name: Option<String>,
    /// `tokenizer.ggml.pre`: the pre-tokenizer (split regexes) llama.cpp applies.
    pub pre: Option<String>,
    /// Token strings, by id.
    pub tokens: Vec<String>,
    /// llama.cpp token types: 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte.
    pub token_types: Option<Vec<i32>>,
    /// `"left right"` pairs, highest priority first.
    pub merges: Vec<String>,
    /// `tokenizer.ggml.scores`: SentencePiece merge scores, one per token.
    pub scores: Option<Vec<f32>>,
    /// `tokenizer.ggml.add_space_prefix` (SentencePiece; llama.cpp's default is true).
    pub add_space_prefix: Option<bool>,
    /// `tokenizer.ggml.bos_token_id`.
    pub bos_id: Option<u32>,
    /// `tokenizer.ggml.eos_token_id`.
    pub eos_id: Option<u32>,
    /// `tokenizer.ggml.unknown_token_id`.
    pub unk_id: Option<u32>,
    /// `tokenizer.ggml.padding_token_id`.
    pub pad_id: Option<u32>,
    /// `tokenizer.ggml.add_bos_token`.
    pub add_bos: Option<bool>,
}

const TOKEN_TYPE_UNKNOWN: i32 = 2;
const TOKEN_TYPE_CONTROL: i32 = 3;
const TOKEN_TYPE_USER_DEFINED: i32 = 4;

/// `tokenizer.ggml.pre` values we reproduce: llama.cpp's names (llama-vocab.cpp), grouped by the
/// regexes they share.
pub const GGUF_PRE_SUPPORTED: &str = "default; llama-bpe, llama3, llama-v3, falcon3, falcon-h1, pixtral, \
midm-2.0, lfm2, dbrx, smaug-bpe, chatglm-bpe, glm4; deepseek-llm; deepseek-coder; deepseek-v3; falcon; \
starcoder, refact, command-r, smollm, codeshell, exaone, minerva-7b; gpt-2 (gpt2), phi-2, mpt, olmo, jais, \
exaone4, trillion, granite-docling, jina-es, jina-de, gigachat, a.x-4.0, mellum; qwen2, deepseek-r1-qwen, \
megrez, stablelm2; qwen35; poro-chat, bloom, gpt3-finnish";

/// GPT-2's split regex as llama.cpp writes it (LLAMA_VOCAB_PRE_TYPE_GPT2). HF's ByteLevel adds
/// `|\s+`, which splits the same way (a lone whitespace before a non-space is a piece either way).
const RE_GPT2: &str = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)";
/// Llama-3's split regex, with llama.cpp's ASCII-only spelling of `(?i:'s|'t|...)`.
const RE_LLAMA3: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// Qwen2's: Llama-3's with single digits.
const RE_QWEN2: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// Qwen3.5's: Qwen2's with combining marks (`\p{M}`) inside words.
const RE_QWEN35: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// DeepSeek-LLM's letters: llama.cpp's explicit list of cased-letter ranges (written as escapes,
/// since some of them are characters an editor would normalize).
const RE_DEEPSEEK_LLM_LETTERS: &str = "\\s?[A-Za-z\u{b5}\u{c0}-\u{d6}\u{d8}-\u{f6}\u{f8}-\u{1ba}\u{1bc}-\u{1bf}\u{1c4}-\u{293}\u{295}-\u{2af}\u{370}-\u{373}\u{376}\u{377}\u{37b}-\u{37d}\u{37f}\u{386}\u{388}-\u{38a}\u{38c}\u{38e}-\u{3a1}\u{3a3}-\u{3f5}\u{3f7}-\u{481}\u{48a}-\u{52f}\u{531}-\u{556}\u{10a0}-\u{10c5}\u{13a0}-\u{13f5}\u{13f8}-\u{13fd}\u{1c90}-\u{1cba}\u{1cbd}-\u{1cbf}\u{1d00}-\u{1d2b}\u{1d6b}-\u{1d77}\u{1d79}-\u{1d9a}\u{1e00}-\u{1f15}\u{1f18}-\u{1f1d}\u{1f20}-\u{1f45}\u{1f48}-\u{1f4d}\u{1f50}-\u{1f57}\u{1f59}\u{1f5b}\u{1f5d}\u{1f5f}-\u{1f7d}\u{1f80}-\u{1fb4}\u{1fb6}-\u{1fbc}\u{1fbe}\u{1fc2}-\u{1fc4}\u{1fc6}-\u{1fcc}\u{1fd0}-\u{1fd3}\u{1fd6}-\u{1fdb}\u{1fe0}-\u{1fec}\u{1ff2}-\u{1ff4}\u{1ff6}-\u{1ffc}\u{2102}\u{2107}\u{210a}-\u{2113}\u{2115}\u{2119}-\u{211d}\u{2124}\u{2126}\u{2128}\u{212a}-\u{212d}\u{212f}-\u{2134}\u{2139}\u{213c}-\u{213f}\u{2145}-\u{2149}\u{214e}\u{2183}\u{2184}\u{2c00}-\u{2c7b}\u{2c7e}-\u{2ce4}\u{2ceb}-\u{2cee}\u{2cf2}\u{2cf3}\u{a640}-\u{a66d}\u{a680}-\u{a69b}\u{a722}-\u{a76f}\u{a771}-\u{a787}\u{a78b}-\u{a78e}\u{ab70}-\u{abbf}\u{fb00}-\u{fb06}\u{fb13}-\u{fb17}\u{ff21}-\u{ff3a}\u{ff41}-\u{ff5a}\u{10400}-\u{1044f}\u{104b0}-\u{104d3}\u{104d8}-\u{104fb}\u{10c80}-\u{10cb2}\u{10cc0}-\u{10cf2}\u{118a0}-\u{118df}\u{1e900}-\u{1e943}]+";

/// How llama.cpp pre-tokenizes for a `tokenizer.ggml.pre` value (llama-vocab.cpp): the regexes
/// it applies one after the other (each splits the pieces of the previous one, keeping the
/// unmatched stretches as pieces too — HF's `Split(.., Isolated)`), whether whole words found in
/// the vocabulary skip the merges (`ignore_merges`), and the `add_bos` default.
struct PreTokenizerSpec {
    regexes: &'static [&'static str],
    ignore_merges: bool,
    add_bos_default: bool,
}

fn gguf_pre_spec(pre: Option<&str>) -> std::result::Result<PreTokenizerSpec, String> {
    let spec = |regexes, ignore_merges, add_bos_default| PreTokenizerSpec { regexes, ignore_merges, add_bos_default };
    Ok(match pre.unwrap_or("default") {
        "default" => spec(&[r"[\p{P}\$\+<=>\^~\|]+", RE_GPT2, r"\p{N}+", "[0-9][0-9][0-9]"], false, false),
        "llama-bpe" | "llama3" | "llama-v3" | "falcon3" | "falcon-h1" | "pixtral" | "midm-2.0" | "lfm2" => {
            spec(&[RE_LLAMA3], true, true)
        }
        "dbrx" | "smaug-bpe" | "chatglm-bpe" => spec(&[RE_LLAMA3], false, false),
        "glm4" => spec(&[RE_LLAMA3], true, false),
        "deepseek-llm" => spec(
            &[
                "[\r\n]",
                RE_DEEPSEEK_LLM_LETTERS,
                "\\s?[!-/:-~\u{ff01}-\u{ff0f}\u{ff1a}-\u{ff5e}\u{2018}-\u{201f}\u{3000}-\u{3002}]+",
                "\\s+$",
                "[\u{4e00}-\u{9fa5}\u{800}-\u{4e00}\u{ac00}-\u{d7ff}]+",
                "\\p{N}+",
            ],
            false,
            false,
        ),
        "deepseek-coder" => spec(
            &[
                "[\r\n]",
                "\\s?\\p{L}+",
                "\\s?\\p{P}+",
                "[\u{4e00}-\u{9fa5}\u{800}-\u{4e00}\u{ac00}-\u{d7ff}]+",
                "\\p{N}",
            ],
            false,
            false,
        ),
        "deepseek-v3" => spec(
            &[
                "\\p{N}{1,3}",
                "[\u{4e00}-\u{9fa5}\u{3040}-\u{309f}\u{30a0}-\u{30ff}]+",
                "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+",
            ],
            false,
            false,
        ),
        "falcon" => spec(&[r"[\p{P}\$\+<=>\^~\|`]+", RE_GPT2, "[0-9][0-9][0-9]"], false, false),
        // Every digit on its own, then GPT-2's regex.
        "starcoder" | "refact" | "command-r" | "smollm" | "codeshell" | "exaone" | "minerva-7b" => {
            spec(&[r"\p{N}", RE_GPT2], false, false)
        }
        // llama.cpp spells it `gpt-2`; `gpt2` is accepted as the same pre-tokenizer.
        "gpt-2" | "gpt2" | "phi-2" | "mpt" | "olmo" | "jais" | "exaone4" | "trillion" | "granite-docling"
        | "jina-es" | "jina-de" | "gigachat" | "a.x-4.0" | "mellum" => spec(&[RE_GPT2], false, false),
        "qwen2" | "deepseek-r1-qwen" | "megrez" | "stablelm2" => spec(&[RE_QWEN2], false, false),
        "qwen35" => spec(&[RE_QWEN35], false, false),
        "poro-chat" | "bloom" | "gpt3-finnish" => spec(&[r" ?[^(\s|.,!?…。，、।۔،)]+"], false, false),
        other => {
            return Err(format!(
                "unknown pre-tokenizer `tokenizer.ggml.pre` = `{other}` (supported: {GGUF_PRE_SUPPORTED})"
            ));
        }
    })
}

/// GPT-2's byte ↔ printable-char table (`bytes_to_unicode`): printable Latin-1 bytes map to
/// themselves, the other 68 bytes to U+0100.. in order.
fn byte_decoder() -> HashMap<char, u8> {
    let mut printable: Vec<u32> = (b'!' as u32..=b'~' as u32).collect();
    printable.extend(0xA1..=0xAC);
    printable.extend(0xAE..=0xFF);
    let mut map = HashMap::with_capacity(256);
    let mut next = 0u32;
    for b in 0..=255u32 {
        let c = if printable.contains(&b) {
            b
        } else {
            next += 1;
            255 + next
        };
        map.insert(char::from_u32(c).expect("valid code point"), b as u8);
    }
    map
}

/// A byte-level BPE token's raw bytes; a char outside the table (not byte-level) keeps its UTF-8.
fn byte_level_bytes(token: &str, dec: &HashMap<char, u8>) -> Vec<u8> {
    let mut out = Vec::with_capacity(token.len());
    for c in token.chars() {
        match dec.get(&c) {
            Some(&b) => out.push(b),
            None => out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
        }
    }
    out
}

/// A SentencePiece-style token's raw bytes: `▁` is a space, `<0xNN>` is byte NN.
fn metaspace_bytes(token: &str) -> Vec<u8> {
    if token.len() == 6
        && token.starts_with("<0x")
        && token.ends_with('>')
        && let Ok(b) = u8::from_str_radix(&token[3..5], 16)
    {
        return vec![b];
    }
    token.replace('\u{2581}', " ").into_bytes()
}

/// Metadata that cannot describe a vocabulary: one clear reason (the GGUF reader checks types and
/// lengths; this checks what a hand-built [`GgufVocab`] could still get wrong).
fn check_vocab(v: &GgufVocab) -> std::result::Result<(), String> {
    let n = v.tokens.len();
    if n == 0 {
        return Err("the vocabulary is empty (`tokenizer.ggml.tokens` has no tokens)".into());
    }
    if n > u32::MAX as usize {
        return Err(format!("{n} tokens do not fit 32-bit token ids"));
    }
    if let Some(t) = &v.token_types
        && t.len() != n
    {
        return Err(format!("`tokenizer.ggml.token_type` has {} entries for {n} tokens", t.len()));
    }
    if let Some(s) = &v.scores {
        if s.len() != n {
            return Err(format!("`tokenizer.ggml.scores` has {} entries for {n} tokens", s.len()));
        }
        if let Some(i) = s.iter().position(|x| x.is_nan()) {
            return Err(format!("`tokenizer.ggml.scores` holds NaN (token {i})"));
        }
    }
    for (key, id) in [("bos", v.bos_id), ("eos", v.eos_id), ("unknown", v.unk_id), ("padding", v.pad_id)] {
        if let Some(id) = id
            && id as usize >= n
        {
            return Err(format!("`tokenizer.ggml.{key}_token_id` = {id} is not a token id (vocabulary of {n})"));
        }
    }
    Ok(())
}

fn tok_err(path: &Path, reason: impl Into<String>) -> DensiError {
    DensiError::Tokenizer { path: path.to_path_buf(), reason: reason.into() }
}

/// Byte-level BPE pre-tokenizer: the split regexes, then ByteLevel's byte → char mapping.
fn byte_level_pre_tokenizer(regexes: &[&str]) -> std::result::Result<PreTokenizerWrapper, String> {
    let mut steps: Vec<PreTokenizerWrapper> = Vec::with_capacity(regexes.len() + 1);
    for re in regexes {
        let split = Split::new(SplitPattern::Regex(re.to_string()), SplitDelimiterBehavior::Isolated, false)
            .map_err(|e| format!("split regex {re:?}: {e}"))?;
        steps.push(split.into());
    }
    steps.push(ByteLevel::new(false, false, false).into());
    Ok(Sequence::new(steps).into())
}

impl TextTokenizer {
    /// Builds the tokenizer that llama.cpp builds from GGUF metadata: `tokenizer.ggml.model` =
    /// `gpt2` (byte-level BPE) or `llama` (SentencePiece).
    pub fn from_gguf(path: &Path, v: &GgufVocab) -> Result<TextTokenizer> {
        check_vocab(v).map_err(|r| tok_err(path, r))?;
        match v.model.as_str() {
            "gpt2" => Self::from_gguf_bpe(path, v),
            "llama" => Self::from_gguf_spm(path, v),
            other => Err(tok_err(
                path,
                format!(
                    "tokenizer.ggml.model `{other}` is not supported (supported: gpt2 = byte-level BPE, llama = SentencePiece)"
                ),
            )),
        }
    }

    /// SentencePiece (`tokenizer.ggml.model = llama`) as llama.cpp tokenizes it ([`spm`]): scores
    /// from `tokenizer.ggml.scores`, user-defined tokens (type 4) matched in the text first,
    /// `add_space_prefix` (default true) and `add_bos_token` (default true) as llama.cpp reads them.
    fn from_gguf_spm(path: &Path, v: &GgufVocab) -> Result<TextTokenizer> {
        let scores = v
            .scores
            .clone()
            .ok_or_else(|| tok_err(path, "a SentencePiece vocabulary needs `tokenizer.ggml.scores`"))?;
        let ty = |id: usize| v.token_types.as_deref().and_then(|t| t.get(id).copied()).unwrap_or(1);
        // llama.cpp gives Phi-3's special tokens RSTRIP (they swallow the whitespace after them),
        // except <unk>, <s> and <|endoftext|>; it picks the model by `general.name`.
        let name = v.model_name.as_deref().unwrap_or("").to_lowercase();
        let phi3 = name.contains("phi-3") || name.contains("phi3");
        let rstrip = |tok: &str| phi3 && !matches!(tok, "<unk>" | "<s>" | "<|endoftext|>");
        let user: Vec<(u32, bool)> = (0..v.tokens.len())
            .filter(|&id| ty(id) == TOKEN_TYPE_USER_DEFINED)
            .map(|id| (id as u32, rstrip(&v.tokens[id])))
            .collect();
        let add_space_prefix = v.add_space_prefix.unwrap_or(true);
        let spm = spm::SpmTokenizer::new(&v.tokens, scores, &user, add_space_prefix);
        let token_bytes = v
            .tokens
            .iter()
            .enumerate()
            .map(|(id, tok)| match ty(id) {
                TOKEN_TYPE_CONTROL | TOKEN_TYPE_UNKNOWN | TOKEN_TYPE_USER_DEFINED => tok.as_bytes().to_vec(),
                _ => metaspace_bytes(tok),
            })
            .collect();
        let doc_separator = spm.token_to_id("<|endoftext|>");
        Ok(TextTokenizer {
            engine: Engine::Spm(spm),
            prefix_space: true,
            token_bytes,
            bos_id: v.bos_id,
            eos_id: v.eos_id,
            add_bos: v.add_bos.unwrap_or(true),
            doc_separator,
            description: format!(
                "gguf llama SentencePiece, {} tokens, add_space_prefix={add_space_prefix}",
                v.tokens.len()
            ),
        })
    }

    /// Byte-level BPE (`tokenizer.ggml.model = gpt2`) with the file's vocabulary and merges, the
    /// pre-tokenizer named by `tokenizer.ggml.pre`, control / user-defined tokens as added tokens.
    fn from_gguf_bpe(path: &Path, v: &GgufVocab) -> Result<TextTokenizer> {
        let spec = gguf_pre_spec(v.pre.as_deref()).map_err(|r| tok_err(path, r))?;

        let mut vocab: Vocab = Vocab::default();
        vocab.reserve(v.tokens.len());
        for (id, tok) in v.tokens.iter().enumerate() {
            if vocab.insert(tok.clone(), id as u32).is_some() {
                return Err(tok_err(
                    path,
                    format!("token {tok:?} appears twice in tokenizer.ggml.tokens (again at id {id})"),
                ));
            }
        }
        let mut merges: Merges = Vec::with_capacity(v.merges.len());
        for (i, m) in v.merges.iter().enumerate() {
            // llama.cpp splits at the first space after position 0.
            // (A space byte is never inside a multi-byte char, so `p` is a char boundary.)
            let cut = m.bytes().skip(1).position(|b| b == b' ').map(|p| p + 1);
            let Some(p) = cut else {
                return Err(tok_err(path, format!("merge #{i} {m:?} is not two tokens separated by a space")));
            };
            let (a, b) = (&m[..p], &m[p + 1..]);
            // Checked here: the `tokenizers` builder (0.23) indexes past its buffer, a panic, when a
            // merge's result is longer than every token of the vocabulary.
            for part in [a, b, &format!("{a}{b}")] {
                if !vocab.contains_key(part) {
                    return Err(tok_err(path, format!("merge #{i} {m:?}: {part:?} is not in tokenizer.ggml.tokens")));
                }
            }
            merges.push((a.to_string(), b.to_string()));
        }
        let bpe = BPE::builder()
            .vocab_and_merges(vocab, merges)
            .ignore_merges(spec.ignore_merges)
            .build()
            .map_err(|e| tok_err(path, format!("building the BPE model: {e}")))?;

        let mut inner = tokenizers::Tokenizer::new(bpe);
        inner.with_pre_tokenizer(Some(byte_level_pre_tokenizer(spec.regexes).map_err(|r| tok_err(path, r))?));
        inner.with_decoder(Some(ByteLevel::new(false, false, false)));

        let types = v.token_types.as_deref();
        let ty = |id: usize| types.and_then(|t| t.get(id).copied()).unwrap_or(1);
        let mut special = Vec::new();
        let mut user = Vec::new();
        for (id, tok) in v.tokens.iter().enumerate() {
            match ty(id) {
                TOKEN_TYPE_CONTROL | TOKEN_TYPE_UNKNOWN => {
                    special.push(AddedToken::from(tok.clone(), true).normalized(false))
                }
                TOKEN_TYPE_USER_DEFINED => user.push(AddedToken::from(tok.clone(), false).normalized(false)),
                _ => {}
            }
        }
        inner.add_special_tokens(special).map_err(|e| tok_err(path, format!("adding control tokens: {e}")))?;
        inner.add_tokens(user).map_err(|e| tok_err(path, format!("adding user-defined tokens: {e}")))?;
        // Control tokens written in the text stay text (llama.cpp's `parse_special = false`);
        // user-defined tokens are still matched, as llama.cpp always does.
        inner.set_encode_special_tokens(true);

        let dec = byte_decoder();
        let token_bytes = v
            .tokens
            .iter()
            .enumerate()
            .map(|(id, tok)| match ty(id) {
                TOKEN_TYPE_CONTROL | TOKEN_TYPE_UNKNOWN | TOKEN_TYPE_USER_DEFINED => tok.as_bytes().to_vec(),
                _ => byte_level_bytes(tok, &dec),
            })
            .collect();
        let doc_separator = inner.token_to_id("<|endoftext|>");
        Ok(TextTokenizer {
            engine: Engine::Hf(Box::new(inner)),
            prefix_space: false,
            token_bytes,
            bos_id: v.bos_id,
            eos_id: v.eos_id,
            add_bos: v.add_bos.unwrap_or(spec.add_bos_default),
            doc_separator,
            description: format!(
                "gguf gpt2 byte-level BPE, pre={}, {} tokens, {} merges",
                v.pre.as_deref().unwrap_or("default"),
                v.tokens.len(),
                v.merges.len()
            ),
        })
    }

    /// Loads a Hugging Face tokenizer from a model directory: `tokenizer.json`, or GPT-2's
    /// `vocab.json` + `merges.txt`; BOS/EOS and `add_bos_token` from `tokenizer_config.json`,
    /// `special_tokens_map.json`, `generation_config.json` and `config.json` where present.
    pub fn from_hf_dir(dir: &Path, config: &serde_json::Value) -> Result<TextTokenizer> {
        let tokenizer_json = dir.join("tokenizer.json");
        let tok_config = read_json_opt(&dir.join("tokenizer_config.json"))?;
        let special_map = read_json_opt(&dir.join("special_tokens_map.json"))?;
        let gen_config = read_json_opt(&dir.join("generation_config.json"))?;

        let (mut inner, what, tok_path) = if tokenizer_json.is_file() {
            let t = without_panic(&tokenizer_json, || {
                tokenizers::Tokenizer::from_file(&tokenizer_json).map_err(|e| tok_err(&tokenizer_json, e.to_string()))
            })?;
            (t, "tokenizer.json", tokenizer_json.clone())
        } else {
            let (vocab, merges) = (dir.join("vocab.json"), dir.join("merges.txt"));
            if !(vocab.is_file() && merges.is_file()) {
                return Err(tok_err(dir, "no tokenizer.json, and no vocab.json + merges.txt"));
            }
            (gpt2_from_vocab_merges(&vocab, &merges, tok_config.as_ref())?, "vocab.json + merges.txt", vocab)
        };

        // Special tokens named in the configs are matched as a whole in the text (as transformers does).
        let named = |key: &str| -> Option<String> {
            [tok_config.as_ref(), special_map.as_ref()].into_iter().flatten().find_map(|j| token_content(j.get(key)?))
        };
        if what != "tokenizer.json" {
            let names: Vec<AddedToken> = ["bos_token", "eos_token", "unk_token", "pad_token"]
                .iter()
                .filter_map(|k| named(k))
                .filter(|t| inner.token_to_id(t).is_some())
                .map(|t| AddedToken::from(t, true).normalized(false))
                .collect();
            inner.add_special_tokens(names).map_err(|e| tok_err(&tok_path, e.to_string()))?;
        }
        let id_from_configs = |key: &str| -> Option<u32> {
            [gen_config.as_ref(), Some(config)].into_iter().flatten().find_map(|j| {
                let v = j.get(key)?;
                v.as_u64().or_else(|| v.as_array()?.first()?.as_u64()).map(|x| x as u32)
            })
        };
        let bos_id = named("bos_token").and_then(|t| inner.token_to_id(&t)).or_else(|| id_from_configs("bos_token_id"));
        let eos_id = named("eos_token").and_then(|t| inner.token_to_id(&t)).or_else(|| id_from_configs("eos_token_id"));
        let add_bos = match tok_config.as_ref().and_then(|j| j.get("add_bos_token")).and_then(|v| v.as_bool()) {
            Some(b) => b,
            // No explicit setting: ask the tokenizer's own post-processor.
            None => probe_adds_bos(&inner, bos_id),
        };

        let n = inner.get_vocab(true).values().map(|&id| id as usize + 1).max().unwrap_or(0);
        let added = inner.get_added_tokens_decoder();
        let byte_level = is_byte_level(&inner);
        let dec = byte_decoder();
        let token_bytes = (0..n as u32)
            .map(|id| {
                if let Some(t) = added.get(&id) {
                    return t.content.as_bytes().to_vec();
                }
                match inner.id_to_token(id) {
                    Some(tok) if byte_level => byte_level_bytes(&tok, &dec),
                    Some(tok) => metaspace_bytes(&tok),
                    None => Vec::new(),
                }
            })
            .collect();
        // As for GGUF: special tokens written in the text are text, not control tokens.
        inner.set_encode_special_tokens(true);
        inner.with_truncation(None).map_err(|e| tok_err(&tok_path, e.to_string()))?;
        inner.with_padding(None);
        let doc_separator = inner.token_to_id("<|endoftext|>");
        Ok(TextTokenizer {
            engine: Engine::Hf(Box::new(inner)),
            prefix_space: !byte_level,
            token_bytes,
            bos_id,
            eos_id,
            add_bos,
            doc_separator,
            description: format!("{what} ({n} tokens{})", if byte_level { ", byte-level" } else { "" }),
        })
    }
}

/// GPT-2's slow-tokenizer files: BPE from vocab.json + merges.txt, byte-level with GPT-2's regex,
/// plus `added_tokens_decoder` entries from tokenizer_config.json.
/// Runs a constructor of the `tokenizers` crate, turning a panic inside it into an error naming
/// `path`: the crate (0.23) panics on some malformed vocabularies (a merge whose result is longer than
/// every token) where it should return an error. The panic message is not printed.
fn without_panic<T>(path: &Path, build: impl FnOnce() -> Result<T>) -> Result<T> {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(build));
    std::panic::set_hook(hook);
    outcome.unwrap_or_else(|payload| {
        let why = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("no message");
        Err(tok_err(
            path,
            format!("the tokenizers crate could not build this vocabulary (a malformed merge or token: {why})"),
        ))
    })
}

fn gpt2_from_vocab_merges(
    vocab: &Path,
    merges: &Path,
    tok_config: Option<&serde_json::Value>,
) -> Result<tokenizers::Tokenizer> {
    let as_str = |p: &Path| p.to_str().map(str::to_string).ok_or_else(|| tok_err(p, "path is not UTF-8"));
    let (vocab_s, merges_s) = (as_str(vocab)?, as_str(merges)?);
    let bpe = without_panic(vocab, || {
        BPE::from_file(&vocab_s, &merges_s).build().map_err(|e| tok_err(vocab, format!("vocab.json + merges.txt: {e}")))
    })?;
    let mut t = tokenizers::Tokenizer::new(bpe);
    t.with_pre_tokenizer(Some(byte_level_pre_tokenizer(&[RE_GPT2]).map_err(|r| tok_err(vocab, r))?));
    t.with_decoder(Some(ByteLevel::new(false, false, false)));
    if let Some(added) = tok_config.and_then(|j| j.get("added_tokens_decoder")).and_then(|a| a.as_object()) {
        let mut entries: Vec<(u64, &serde_json::Value)> =
            added.iter().filter_map(|(id, v)| Some((id.parse().ok()?, v))).collect();
        entries.sort_by_key(|e| e.0);
        for (id, v) in entries {
            let Some(content) = v.get("content").and_then(|c| c.as_str()) else { continue };
            let special = v.get("special").and_then(|s| s.as_bool()).unwrap_or(false);
            let tok = AddedToken::from(content.to_string(), special).normalized(false);
            if special { t.add_special_tokens([tok]) } else { t.add_tokens([tok]) }
                .map_err(|e| tok_err(vocab, e.to_string()))?;
            if t.token_to_id(content) != Some(id as u32) {
                return Err(tok_err(vocab, format!("added token {content:?} should have id {id}")));
            }
        }
    }
    Ok(t)
}

fn read_json_opt(path: &Path) -> Result<Option<serde_json::Value>> {
    if !path.is_file() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(path).map_err(|e| DensiError::io(path, e))?;
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| DensiError::Config { path: path.to_path_buf(), reason: format!("not valid JSON: {e}") })
}

/// `"<s>"` or `{"content": "<s>", ...}`.
fn token_content(v: &serde_json::Value) -> Option<String> {
    v.as_str().or_else(|| v.get("content")?.as_str()).map(str::to_string)
}

fn probe_adds_bos(t: &tokenizers::Tokenizer, bos_id: Option<u32>) -> bool {
    let (Some(bos), Ok(with), Ok(without)) = (bos_id, t.encode("a", true), t.encode("a", false)) else { return false };
    with.get_ids().len() == without.get_ids().len() + 1 && with.get_ids().first() == Some(&bos)
}

/// Whether tokens are byte-level (GPT-2 char table) rather than SentencePiece-style.
fn is_byte_level(t: &tokenizers::Tokenizer) -> bool {
    let has = |v: serde_json::Result<String>| v.map(|s| s.contains("\"ByteLevel\"")).unwrap_or(false);
    has(serde_json::to_string(&t.get_decoder())) || has(serde_json::to_string(&t.get_pre_tokenizer()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_decoder_is_gpt2s_table() {
        let d = byte_decoder();
        assert_eq!(d.len(), 256);
        // From GPT-2's encoder.py: space is 'Ġ' (U+0120), newline 'Ċ' (U+010A), 'a' is itself.
        assert_eq!(d[&'\u{120}'], b' ');
        assert_eq!(d[&'\u{10A}'], b'\n');
        assert_eq!(d[&'a'], b'a');
    }

    #[test]
    fn unknown_pre_is_named() {
        let e = gguf_pre_spec(Some("tekken")).err().unwrap();
        assert!(e.contains("tekken") && e.contains("smollm"), "{e}");
    }
}
