//! Loading every fixture: configs, storage types, weight shapes; GGUF against the safetensors
//! checkpoint it was converted from (tests/fixtures/make_fixtures.py writes the GGUFs from the
//! llama/ and qwen2/ checkpoints the way convert_hf_to_gguf.py does, Q/K permuted); the hub-cache
//! layout and sharded checkpoints; the default model.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use densi::model::{Architecture, Linear, Mlp, Model, Weights};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn load(p: &Path) -> Model {
    let t = std::time::Instant::now();
    let m = Model::load(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    eprintln!("{}: loaded in {:?} ({}, {})", p.display(), t.elapsed(), m.source.weight_dtype, m.tokenizer.description);
    m
}

fn gguf(name: &str) -> PathBuf {
    fixtures().join("gguf").join(format!("{name}.gguf"))
}

/// Every matrix of `w` as (name, data), in a fixed order.
fn tensors(w: &Weights) -> Vec<(String, Cow<'_, [f32]>)> {
    let mut v: Vec<(String, Cow<[f32]>)> = vec![("token_embedding".into(), w.token_embedding.values())];
    if let Some(p) = &w.position_embedding {
        v.push(("position_embedding".into(), p.values()));
    }
    fn lin<'a>(v: &mut Vec<(String, Cow<'a, [f32]>)>, n: String, l: &'a Linear) {
        v.push((format!("{n}.weight"), l.weight.values()));
        if let Some(b) = &l.bias {
            v.push((format!("{n}.bias"), Cow::Borrowed(b)));
        }
    }
    for (i, b) in w.blocks.iter().enumerate() {
        v.push((format!("{i}.attn_norm"), Cow::Borrowed(&b.attn_norm.weight)));
        lin(&mut v, format!("{i}.q"), &b.q);
        lin(&mut v, format!("{i}.k"), &b.k);
        lin(&mut v, format!("{i}.v"), &b.v);
        lin(&mut v, format!("{i}.o"), &b.o);
        v.push((format!("{i}.mlp_norm"), Cow::Borrowed(&b.mlp_norm.weight)));
        match &b.mlp {
            Mlp::SwiGlu { gate, up, down } | Mlp::GeGlu { gate, up, down } => {
                lin(&mut v, format!("{i}.gate"), gate);
                lin(&mut v, format!("{i}.up"), up);
                lin(&mut v, format!("{i}.down"), down);
            }
            Mlp::Gelu { fc, proj } | Mlp::GeluErf { fc, proj } => {
                lin(&mut v, format!("{i}.fc"), fc);
                lin(&mut v, format!("{i}.proj"), proj);
            }
        }
    }
    v.push(("final_norm".into(), Cow::Borrowed(&w.final_norm.weight)));
    if let Some(h) = &w.lm_head {
        lin(&mut v, "lm_head".into(), h);
    }
    v
}

/// Largest |a − b| over all tensors; panics when the two models' tensor lists differ.
fn max_abs_diff(a: &Weights, b: &Weights) -> f32 {
    let (ta, tb) = (tensors(a), tensors(b));
    assert_eq!(ta.iter().map(|t| &t.0).collect::<Vec<_>>(), tb.iter().map(|t| &t.0).collect::<Vec<_>>());
    let mut m = 0f32;
    for ((n, x), (_, y)) in ta.iter().zip(&tb) {
        assert_eq!(x.len(), y.len(), "{n}");
        for (p, q) in x.iter().zip(y.iter()) {
            m = m.max((p - q).abs());
        }
    }
    m
}

/// The shapes every backend relies on (weights.rs conventions).
fn check_shapes(m: &Model) {
    let c = &m.config;
    let w = &m.weights;
    let (h, q, kv) = (c.hidden_size, c.num_heads * c.head_dim, c.num_kv_heads * c.head_dim);
    assert_eq!((w.token_embedding.rows(), w.token_embedding.cols()), (c.vocab_size, h));
    assert_eq!(w.blocks.len(), c.num_layers);
    for b in &w.blocks {
        for (l, out, inp) in [(&b.q, q, h), (&b.k, kv, h), (&b.v, kv, h), (&b.o, h, q)] {
            assert_eq!((l.out_features, l.in_features, l.weight.rows(), l.weight.cols()), (out, inp, out, inp));
            if let Some(bias) = &l.bias {
                assert_eq!(bias.len(), out);
            }
        }
        assert_eq!(b.attn_norm.weight.len(), h);
        assert_eq!(b.mlp_norm.weight.len(), h);
        assert_eq!(b.attn_norm.eps, c.norm_eps);
    }
    assert_eq!(w.lm_head.is_none(), c.tie_word_embeddings);
    assert_eq!((w.lm_head_weight().rows(), w.lm_head_weight().cols()), (c.vocab_size, h));
    assert!(m.tokenizer.vocab_size() <= c.vocab_size);
}

#[test]
fn hf_fixtures_load_with_their_configs() {
    // (dir, arch, vocab, hidden, layers, heads, kv heads, intermediate, context, tied, dtype), from each config.json.
    let cases = [
        ("gpt2", Architecture::Gpt2, 50257, 32, 2, 4, 4, 128, 128, true, "F16"),
        ("llama", Architecture::Llama, 1000, 64, 2, 4, 2, 160, 256, true, "F32"),
        ("llama_untied", Architecture::Llama, 1000, 64, 2, 4, 2, 160, 256, false, "F32"),
        ("qwen2", Architecture::Qwen2, 1000, 64, 2, 4, 2, 160, 256, false, "BF16"),
        ("qwen3", Architecture::Qwen3, 1000, 64, 2, 4, 2, 160, 256, false, "F32"),
        ("gemma_tiny", Architecture::Gemma, 1000, 64, 2, 4, 1, 160, 256, true, "F32"),
        ("gemma2_tiny", Architecture::Gemma2, 1000, 64, 4, 4, 2, 160, 256, true, "F32"),
        ("gemma3_tiny", Architecture::Gemma3, 1000, 64, 6, 4, 2, 160, 256, true, "F32"),
        ("gptneox_tiny", Architecture::GptNeox, 1000, 64, 2, 4, 4, 160, 256, false, "F32"),
        ("phi3_tiny", Architecture::Phi3, 1000, 64, 2, 4, 2, 160, 256, false, "F32"),
    ];
    for (dir, arch, vocab, hidden, layers, heads, kv, inter, ctx, tied, dtype) in cases {
        let m = load(&fixtures().join(dir));
        let c = &m.config;
        assert_eq!(
            (c.architecture, c.vocab_size, c.hidden_size, c.num_layers, c.num_heads, c.num_kv_heads),
            (arch, vocab, hidden, layers, heads, kv),
            "{dir}"
        );
        assert_eq!((c.intermediate_size, c.context_length, c.tie_word_embeddings), (inter, ctx, tied), "{dir}");
        assert_eq!(m.source.format, "safetensors");
        assert_eq!(m.source.weight_dtype, dtype, "{dir}");
        check_shapes(&m);
        // Qwen2 carries q/k/v biases, Llama none; GPT-2 biases everywhere and learned positions.
        let b = &m.weights.blocks[0];
        match arch {
            Architecture::Qwen2 => {
                assert!(b.q.bias.is_some() && b.k.bias.is_some() && b.v.bias.is_some() && b.o.bias.is_none())
            }
            Architecture::Llama => assert!(b.q.bias.is_none() && b.o.bias.is_none()),
            // q/k norms over [head_dim]; Gemma's four norms, no biases.
            Architecture::Qwen3 | Architecture::Gemma | Architecture::Gemma2 | Architecture::Gemma3 => {
                assert!(b.q.bias.is_none() && b.o.bias.is_none());
                assert_eq!(b.qk_norm.is_some(), arch.qk_norm());
                if let Some([qn, kn]) = &b.qk_norm {
                    assert_eq!((qn.weight.len(), kn.weight.len()), (c.head_dim, c.head_dim));
                }
                assert_eq!(b.post_norms.is_some(), arch.post_norms());
            }
            // Biases everywhere, LayerNorm, exact-GELU MLP, no learned positions; a quarter of each
            // head rotates (partial_rotary_factor 0.25), attention and MLP in parallel.
            Architecture::GptNeox => {
                assert!(b.q.bias.is_some() && b.k.bias.is_some() && b.v.bias.is_some() && b.o.bias.is_some());
                assert!(matches!(b.mlp, Mlp::GeluErf { .. }) && m.weights.position_embedding.is_none());
                assert_eq!((c.rope_dims(), c.head_dim, c.attention.parallel_residual), (4, 16, true));
            }
            // Fused qkv_proj and gate_up_proj split into Llama's projections; a window on every layer.
            Architecture::Phi3 => {
                assert!(b.q.bias.is_none() && b.o.bias.is_none() && b.qk_norm.is_none());
                assert_eq!((b.q.out_features, b.k.out_features, b.v.out_features), (64, 32, 32));
                assert!(
                    matches!(&b.mlp, Mlp::SwiGlu { gate, up, .. } if gate.out_features == 160 && up.out_features == 160)
                );
                assert_eq!((c.attention.sliding_window, c.layer_attention(1).window), (Some(16), Some(16)));
            }
            Architecture::Gpt2 => {
                assert!(b.q.bias.is_some() && b.o.bias.is_some());
                let p = m.weights.position_embedding.as_ref().unwrap();
                assert_eq!((p.rows(), p.cols()), (ctx, hidden));
            }
        }
        // Every fixture's tokenizer has <|endoftext|> as id 0 (GPT-2: 50256) and it is the BOS.
        let eot = if arch == Architecture::Gpt2 { 50256 } else { 0 };
        assert_eq!(m.tokenizer.doc_separator, Some(eot), "{dir}");
        assert_eq!(m.tokenizer.bos_id, Some(eot), "{dir}");
        assert!(!m.tokenizer.add_bos, "{dir}");
    }
}

#[test]
fn gguf_fixtures_load_with_their_types() {
    // Storage types of the matrices, as gguf-py's GGUFReader lists them for each file.
    let cases = [
        ("tiny-llama-F32", "F32"),
        ("tiny-llama-F32-v2", "F32"),
        ("tiny-llama-F16", "F16"),
        ("tiny-llama-BF16", "BF16"),
        ("tiny-llama-Q8_0", "Q8_0"),
        ("tiny-llama-Q4_0", "mixed Q4_0/Q8_0"),
        ("tiny-llama-Q4_1", "mixed Q4_1/Q8_0"),
        ("tiny-qwen2-F32", "F32"),
    ];
    for (name, dtype) in cases {
        let m = load(&gguf(name));
        assert_eq!(m.source.format, "gguf");
        assert_eq!(m.source.weight_dtype, dtype, "{name}");
        check_shapes(&m);
        assert_eq!(m.tokenizer.vocab_size(), 1000);
        assert_eq!(m.tokenizer.doc_separator, Some(0));
        assert!(!m.tokenizer.add_bos);
    }
}

/// The F32 GGUF holds exactly the safetensors checkpoint's numbers, so after undoing the Q/K
/// permutation every weight must be bit-identical; the v2 file is the same file with version 2.
#[test]
fn gguf_f32_equals_the_safetensors_checkpoint() {
    let st = load(&fixtures().join("llama"));
    for name in ["tiny-llama-F32", "tiny-llama-F32-v2"] {
        let g = load(&gguf(name));
        assert_eq!(max_abs_diff(&st.weights, &g.weights), 0.0, "{name}");
        assert_eq!(g.config.rope_theta, st.config.rope_theta);
        assert_eq!(g.config.norm_eps, st.config.norm_eps);
    }
    // qwen2: bf16 checkpoint → F32 GGUF is exact; qwen2 Q/K are not permuted by the converter.
    let st = load(&fixtures().join("qwen2"));
    let g = load(&gguf("tiny-qwen2-F32"));
    assert_eq!(max_abs_diff(&st.weights, &g.weights), 0.0);
}

/// Lower-precision GGUFs are within their format's rounding of the F32 weights:
/// f16/bf16 relative rounding (2⁻¹¹, 2⁻⁸ of |w|), Q8_0 half a step (d/2 with d = max|w|/127 per
/// block of 32), Q4 a step (d = max|w|/8 or range/15 per block). The bounds use the tensor-wide
/// max |w| (plus the f16 rounding of the scales).
#[test]
fn quantized_gguf_is_within_rounding_of_f32() {
    let f32m = load(&gguf("tiny-llama-F32"));
    let max_w = tensors(&f32m.weights).iter().flat_map(|t| t.1.iter()).fold(0f32, |m, x| m.max(x.abs()));
    for (name, bound) in [
        ("tiny-llama-F16", max_w / 2048.0),
        ("tiny-llama-BF16", max_w / 256.0),
        ("tiny-llama-Q8_0", max_w / 127.0 / 2.0 * 1.01),
        ("tiny-llama-Q4_0", max_w / 8.0 * 1.01),
        ("tiny-llama-Q4_1", max_w * 2.0 / 15.0 * 1.01),
    ] {
        let m = load(&gguf(name));
        let d = max_abs_diff(&f32m.weights, &m.weights);
        eprintln!("{name}: max |Δw| = {d:.3e} (bound {bound:.3e}, max |w| {max_w:.3})");
        assert!(d > 0.0 && d <= bound, "{name}: {d} vs {bound}");
    }
}

/// A hub-cache entry: `models--ORG--NAME/{refs/main, snapshots/REV/* → ../../blobs/*}` loads
/// from the entry and from the snapshot, with the same weights as the plain directory.
#[cfg(unix)]
#[test]
fn hub_cache_layout() {
    let plain = load(&fixtures().join("llama"));
    let tmp = tempfile::tempdir().unwrap();
    let entry = tmp.path().join("models--densi--tiny-llama");
    let rev = "0123456789abcdef0123456789abcdef01234567";
    let snap = entry.join("snapshots").join(rev);
    std::fs::create_dir_all(&snap).unwrap();
    std::fs::create_dir_all(entry.join("blobs")).unwrap();
    std::fs::create_dir_all(entry.join("refs")).unwrap();
    std::fs::write(entry.join("refs/main"), format!("{rev}\n")).unwrap();
    for (i, f) in
        ["config.json", "generation_config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"]
            .iter()
            .enumerate()
    {
        let blob = entry.join("blobs").join(format!("blob{i}"));
        std::fs::copy(fixtures().join("llama").join(f), &blob).unwrap();
        std::os::unix::fs::symlink(format!("../../blobs/blob{i}"), snap.join(f)).unwrap();
    }
    for p in [&entry, &snap] {
        let m = load(p);
        assert_eq!(max_abs_diff(&plain.weights, &m.weights), 0.0);
        assert_eq!(m.tokenizer.encode("Hello world").unwrap(), plain.tokenizer.encode("Hello world").unwrap());
    }
}

/// A checkpoint split into shards with model.safetensors.index.json loads to the same weights.
#[test]
fn sharded_checkpoint() {
    use safetensors::tensor::TensorView;
    let src = fixtures().join("llama");
    let plain = load(&src);
    let tmp = tempfile::tempdir().unwrap();
    for f in ["config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json"] {
        std::fs::copy(src.join(f), tmp.path().join(f)).unwrap();
    }
    let bytes = std::fs::read(src.join("model.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut names = st.names();
    names.sort();
    let mut weight_map = serde_json::Map::new();
    for (k, part) in names.chunks(names.len() / 2 + 1).enumerate() {
        let file = format!("model-{:05}-of-00002.safetensors", k + 1);
        let views: Vec<(String, TensorView)> = part.iter().map(|n| (n.to_string(), st.tensor(n).unwrap())).collect();
        safetensors::serialize_to_file(views, None, &tmp.path().join(&file)).unwrap();
        for n in part {
            weight_map.insert(n.to_string(), file.clone().into());
        }
    }
    let index = serde_json::json!({"metadata": {}, "weight_map": weight_map});
    std::fs::write(tmp.path().join("model.safetensors.index.json"), index.to_string()).unwrap();
    let m = load(tmp.path());
    assert_eq!(m.source.weight_files.len(), 2);
    assert_eq!(max_abs_diff(&plain.weights, &m.weights), 0.0);
}

/// The default model (skipped loudly when absent): its config from the GGUF metadata, its
/// storage types (gguf-py lists 210 Q4_1 tensors, 61 F32 norms, and token_embd as Q8_0), its
/// tokenizer's special ids. Prints the load time.
#[test]
fn default_model_loads() {
    let Some(path) = crate::support::default_model() else { return };
    let m = load(&path);
    let c = &m.config;
    assert_eq!(c.architecture, Architecture::Llama);
    assert_eq!(
        (c.vocab_size, c.hidden_size, c.num_layers, c.num_heads, c.num_kv_heads, c.head_dim, c.intermediate_size),
        (49152, 576, 30, 9, 3, 64, 1536)
    );
    assert_eq!((c.context_length, c.rope_theta, c.tie_word_embeddings), (8192, 100000.0, true));
    assert!((c.norm_eps - 1e-5).abs() < 1e-12);
    assert_eq!(m.source.weight_dtype, "mixed Q4_1/Q8_0");
    check_shapes(&m);
    let t = &m.tokenizer;
    assert_eq!((t.bos_id, t.eos_id, t.add_bos, t.doc_separator), (Some(1), Some(2), false, Some(0)));
    assert_eq!(t.vocab_size(), 49152);
}

#[test]
fn a_file_of_a_hf_directory_loads_its_directory() {
    let dir = fixtures().join("llama");
    let whole = load(&dir);
    for file in ["model.safetensors", "config.json"] {
        let m = load(&dir.join(file));
        assert_eq!(m.config.hidden_size, whole.config.hidden_size, "{file}");
        assert_eq!(max_abs_diff(&m.weights, &whole.weights), 0.0, "{file}");
    }
}
