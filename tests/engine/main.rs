//! The library without a GPU: file formats and their errors, dequantization, tokenization, the
//! plain and fast CPU forwards, and golden values from transformers.

mod arch_forward;
mod boundary;
mod cpu_forward;
mod cpu_ops;
mod formats_dequant;
mod formats_errors;
mod formats_gpt2_gguf;
mod formats_load;
mod formats_quants;
mod golden;
mod outside_numbers;
mod pair;
mod pair_words;
mod prefix_cache;
mod resident;
#[path = "../support/mod.rs"]
mod support;
mod tokenizer_ids;
mod tokenizer_llamacpp_vocab;
mod tokenizer_spm;
mod words_golden;
