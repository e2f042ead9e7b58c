//! Tokenization exactly as the model's own tokenizer does it, built on Hugging Face `tokenizers`:
//! from `tokenizer.json`, from GPT-2's `vocab.json` + `merges.txt`, or from GGUF metadata
//! (`tokenizer.ggml.*`).
//!
//! Offsets are computed from the tokens' raw bytes (byte-level BPE tiles the text exactly), so a
//! token that holds only part of a UTF-8 character still gets exact byte offsets.

use crate::error::Result;

/// Token ids for a text, with exact byte offsets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoding {
    pub ids: Vec<u32>,
    /// `[start, end)` UTF-8 byte offsets of each token into the text; they tile the text.
    pub byte_offsets: Vec<(usize, usize)>,
}

pub struct TextTokenizer {
    pub(crate) inner: tokenizers::Tokenizer,
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
        let enc = self.inner.encode(text, false).map_err(|e| crate::DensiError::Other(format!("tokenizer: {e}")))?;
        let ids: Vec<u32> = enc.get_ids().to_vec();
        let mut byte_offsets = Vec::with_capacity(ids.len());
        let mut pos = 0usize;
        for &id in &ids {
            let n = self.token_bytes(id).len();
            byte_offsets.push((pos, pos + n));
            pos += n;
        }
        if pos != text.len() {
            return Err(crate::DensiError::Other(format!(
                "tokenizer: token bytes cover {pos} bytes of a {}-byte text (the tokenizer is not lossless byte-level BPE)",
                text.len()
            )));
        }
        Ok(Encoding { ids, byte_offsets })
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
        self.inner.token_to_id(token)
    }

    pub fn vocab_size(&self) -> usize {
        self.token_bytes.len()
    }
}
