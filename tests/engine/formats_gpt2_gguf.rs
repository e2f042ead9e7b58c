//! GGUF arch `gpt2`: the GPT-2 fixture (tests/fixtures/gpt2, safetensors f16 + vocab.json/merges.txt)
//! written as GGUF the way llama.cpp's convert_hf_to_gguf.py `GPT2Model` writes it (Conv1D weights
//! transposed to [out, in], `attn_qkv` = c_attn, tokenizer from vocab.json/merges.txt with
//! `tokenizer.ggml.pre = gpt-2`), by a minimal GGUF writer below. Loading it must give exactly the
//! safetensors model's weights, and its tokenizer the golden token ids of every fixture text.

use std::path::{Path, PathBuf};

use densi::model::Model;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

enum Val {
    U32(u32),
    F32(f32),
    Bool(bool),
    Str(String),
    Strs(Vec<String>),
    I32s(Vec<i32>),
}

fn put_str(b: &mut Vec<u8>, s: &str) {
    b.extend_from_slice(&(s.len() as u64).to_le_bytes());
    b.extend_from_slice(s.as_bytes());
}

/// GGUF v3 with `kv` metadata and `(name, ne, ggml type, bytes)` tensors, alignment 32.
fn write_gguf(kv: &[(&str, Val)], tensors: &[(String, Vec<u64>, u32, Vec<u8>)]) -> Vec<u8> {
    let mut b = b"GGUF".to_vec();
    b.extend_from_slice(&3u32.to_le_bytes());
    b.extend_from_slice(&(tensors.len() as u64).to_le_bytes());
    b.extend_from_slice(&(kv.len() as u64).to_le_bytes());
    for (k, v) in kv {
        put_str(&mut b, k);
        match v {
            Val::U32(x) => {
                b.extend_from_slice(&4u32.to_le_bytes());
                b.extend_from_slice(&x.to_le_bytes());
            }
            Val::F32(x) => {
                b.extend_from_slice(&6u32.to_le_bytes());
                b.extend_from_slice(&x.to_le_bytes());
            }
            Val::Bool(x) => {
                b.extend_from_slice(&7u32.to_le_bytes());
                b.push(*x as u8);
            }
            Val::Str(s) => {
                b.extend_from_slice(&8u32.to_le_bytes());
                put_str(&mut b, s);
            }
            Val::Strs(v) => {
                b.extend_from_slice(&9u32.to_le_bytes());
                b.extend_from_slice(&8u32.to_le_bytes());
                b.extend_from_slice(&(v.len() as u64).to_le_bytes());
                for s in v {
                    put_str(&mut b, s);
                }
            }
            Val::I32s(v) => {
                b.extend_from_slice(&9u32.to_le_bytes());
                b.extend_from_slice(&5u32.to_le_bytes());
                b.extend_from_slice(&(v.len() as u64).to_le_bytes());
                for x in v {
                    b.extend_from_slice(&x.to_le_bytes());
                }
            }
        }
    }
    let mut offset = 0u64;
    for (name, ne, ty, data) in tensors {
        put_str(&mut b, name);
        b.extend_from_slice(&(ne.len() as u32).to_le_bytes());
        for d in ne {
            b.extend_from_slice(&d.to_le_bytes());
        }
        b.extend_from_slice(&ty.to_le_bytes());
        b.extend_from_slice(&offset.to_le_bytes());
        offset += (data.len() as u64).div_ceil(32) * 32;
    }
    for (_, _, _, data) in tensors {
        while !b.len().is_multiple_of(32) {
            b.push(0);
        }
        b.extend_from_slice(data);
    }
    b
}

/// A row-major [rows, cols] matrix of 2-byte elements, transposed to [cols, rows].
fn transpose2(data: &[u8], rows: usize, cols: usize) -> Vec<u8> {
    let mut out = vec![0u8; data.len()];
    for r in 0..rows {
        for c in 0..cols {
            let (s, d) = (2 * (r * cols + c), 2 * (c * rows + r));
            out[d..d + 2].copy_from_slice(&data[s..s + 2]);
        }
    }
    out
}

fn gpt2_as_gguf() -> Vec<u8> {
    let dir = fixtures().join("gpt2");
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
    let n = |k: &str| config[k].as_u64().unwrap() as u32;
    let (h, layers) = (n("n_embd"), n("n_layer"));

    // Tokenizer (convert_hf_to_gguf.py `_set_vocab_gpt2`): tokens by id, `<|endoftext|>` control.
    let vocab: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(dir.join("vocab.json")).unwrap()).unwrap();
    let mut tokens = vec![String::new(); vocab.len()];
    for (t, id) in &vocab {
        tokens[id.as_u64().unwrap() as usize] = t.clone();
    }
    let types: Vec<i32> = tokens.iter().map(|t| if t == "<|endoftext|>" { 3 } else { 1 }).collect();
    let merges: Vec<String> = std::fs::read_to_string(dir.join("merges.txt"))
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("#version") && !l.is_empty())
        .map(str::to_string)
        .collect();
    let kv = vec![
        ("general.architecture", Val::Str("gpt2".into())),
        ("gpt2.block_count", Val::U32(layers)),
        ("gpt2.context_length", Val::U32(n("n_positions"))),
        ("gpt2.embedding_length", Val::U32(h)),
        ("gpt2.feed_forward_length", Val::U32(4 * h)),
        ("gpt2.attention.head_count", Val::U32(n("n_head"))),
        ("gpt2.attention.layer_norm_epsilon", Val::F32(config["layer_norm_epsilon"].as_f64().unwrap() as f32)),
        ("tokenizer.ggml.model", Val::Str("gpt2".into())),
        ("tokenizer.ggml.pre", Val::Str("gpt-2".into())),
        ("tokenizer.ggml.tokens", Val::Strs(tokens)),
        ("tokenizer.ggml.token_type", Val::I32s(types)),
        ("tokenizer.ggml.merges", Val::Strs(merges)),
        ("tokenizer.ggml.bos_token_id", Val::U32(50256)),
        ("tokenizer.ggml.eos_token_id", Val::U32(50256)),
        ("tokenizer.ggml.add_bos_token", Val::Bool(false)),
    ];

    // Tensors, f16 as in the checkpoint (GGML type 1; 1-D tensors too, which llama.cpp would keep
    // in F32 — the values are the same).
    let bytes = std::fs::read(dir.join("model.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut tensors = Vec::new();
    let mut add = |hf: &str, gguf: String, conv1d: bool| {
        let t = st.tensor(hf).unwrap_or_else(|_| panic!("{hf}"));
        assert_eq!(t.dtype(), safetensors::Dtype::F16);
        let shape = t.shape().to_vec();
        let (data, ne) = if conv1d {
            // Conv1D [in, out] → [out, in] rows; ggml lists dims fastest first: ne = [in, out].
            (transpose2(t.data(), shape[0], shape[1]), vec![shape[0] as u64, shape[1] as u64])
        } else {
            (t.data().to_vec(), shape.iter().rev().map(|&d| d as u64).collect())
        };
        tensors.push((gguf, ne, 1u32, data));
    };
    add("transformer.wte.weight", "token_embd.weight".into(), false);
    add("transformer.wpe.weight", "position_embd.weight".into(), false);
    for l in 0..layers {
        let (p, g) = (format!("transformer.h.{l}"), format!("blk.{l}"));
        for (hf, gg) in [("ln_1", "attn_norm"), ("ln_2", "ffn_norm")] {
            add(&format!("{p}.{hf}.weight"), format!("{g}.{gg}.weight"), false);
            add(&format!("{p}.{hf}.bias"), format!("{g}.{gg}.bias"), false);
        }
        for (hf, gg) in [
            ("attn.c_attn", "attn_qkv"),
            ("attn.c_proj", "attn_output"),
            ("mlp.c_fc", "ffn_up"),
            ("mlp.c_proj", "ffn_down"),
        ] {
            add(&format!("{p}.{hf}.weight"), format!("{g}.{gg}.weight"), true);
            add(&format!("{p}.{hf}.bias"), format!("{g}.{gg}.bias"), false);
        }
    }
    add("transformer.ln_f.weight", "output_norm.weight".into(), false);
    add("transformer.ln_f.bias", "output_norm.bias".into(), false);
    write_gguf(&kv, &tensors)
}

#[test]
fn gpt2_gguf_equals_the_safetensors_model() {
    let st = Model::load(&fixtures().join("gpt2")).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("tiny-gpt2-F16.gguf");
    std::fs::write(&path, gpt2_as_gguf()).unwrap();
    let g = Model::load(&path).unwrap_or_else(|e| panic!("{e}"));

    assert_eq!(format!("{:?}", g.config), format!("{:?}", st.config));
    let (a, b) = (&st.weights, &g.weights);
    assert_eq!(a.token_embedding, b.token_embedding);
    assert_eq!(a.position_embedding, b.position_embedding);
    assert!(b.lm_head.is_none());
    for (x, y) in a.blocks.iter().zip(&b.blocks) {
        for (l, m) in [(&x.q, &y.q), (&x.k, &y.k), (&x.v, &y.v), (&x.o, &y.o)] {
            assert_eq!((&l.weight, &l.bias), (&m.weight, &m.bias));
        }
        match (&x.mlp, &y.mlp) {
            (densi::model::Mlp::Gelu { fc: f1, proj: p1 }, densi::model::Mlp::Gelu { fc: f2, proj: p2 }) => {
                assert_eq!((&f1.weight, &f1.bias, &p1.weight, &p1.bias), (&f2.weight, &f2.bias, &p2.weight, &p2.bias));
            }
            _ => panic!("GPT-2 blocks must have a gelu MLP"),
        }
        assert_eq!((&x.attn_norm.weight, &x.attn_norm.bias), (&y.attn_norm.weight, &y.attn_norm.bias));
        assert_eq!((&x.mlp_norm.weight, &x.mlp_norm.bias), (&y.mlp_norm.weight, &y.mlp_norm.bias));
    }
    assert_eq!((&a.final_norm.weight, &a.final_norm.bias), (&b.final_norm.weight, &b.final_norm.bias));

    // The GGUF tokenizer (pre `gpt-2`) gives the golden ids (transformers' GPT2Tokenizer) of every text.
    let mut n = 0;
    for e in std::fs::read_dir(fixtures().join("gpt2/golden")).unwrap() {
        let p = e.unwrap().path();
        let j: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
        let text = std::fs::read_to_string(fixtures().join("texts").join(j["text_file"].as_str().unwrap())).unwrap();
        let want: Vec<u32> = j["token_ids"].as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect();
        assert_eq!(g.tokenizer.encode(&text).unwrap().ids, want, "{}", p.display());
        n += 1;
    }
    assert!(n >= 6);
    assert_eq!((g.tokenizer.bos_id, g.tokenizer.doc_separator, g.tokenizer.add_bos), (Some(50256), Some(50256), false));
}
