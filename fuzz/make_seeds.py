#!/usr/bin/env python3
"""Writes the fuzzers' seed inputs: micro GGUF models (llama, qwen2, gpt2; every supported tensor type)
and micro safetensors files. Small on purpose (a few KB) so libFuzzer mutates them quickly.

    python3 -m venv /tmp/v && /tmp/v/bin/pip install gguf numpy
    /tmp/v/bin/python fuzz/make_seeds.py    # writes fuzz/seeds/{gguf,safetensors}/
"""
import json, os, struct
import numpy as np
import gguf

HERE = os.path.dirname(os.path.abspath(__file__))
Q = gguf.GGMLQuantizationType
rng = np.random.default_rng(0)

H, FF, VOCAB, CTX, HEADS, KV = 32, 32, 12, 16, 2, 1
HD = H // HEADS
TOKENS = ["<|endoftext|>", "a", "b", "c", "\u0120", "1", "2", "ab", "\u0120a", "abc", "\u010a", "<tag>"]
TYPES = [3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 4]
MERGES = ["a b", "\u0120 a", "ab c"]


def add(w, name, shape, qt=Q.F32):
    data = rng.normal(0, 0.5, size=shape).astype(np.float32)
    if qt == Q.F32:
        w.add_tensor(name, data)
    elif qt == Q.F16:
        w.add_tensor(name, data.astype(np.float16))
    else:
        w.add_tensor(name, gguf.quants.quantize(data, qt), raw_dtype=qt)


def tokenizer(w, pre):
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre(pre)
    w.add_token_list(TOKENS)
    w.add_token_types(TYPES)
    w.add_token_merges(MERGES)
    w.add_bos_token_id(0)
    w.add_eos_token_id(0)
    w.add_add_bos_token(False)


def write(w, path):
    w.write_header_to_file(path)
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def llama_like(path, arch, pre):
    w = gguf.GGUFWriter(path, arch=arch)
    w.add_context_length(CTX)
    w.add_embedding_length(H)
    w.add_block_count(1)
    w.add_feed_forward_length(FF)
    w.add_head_count(HEADS)
    w.add_head_count_kv(KV)
    w.add_rope_freq_base(10000.0)
    w.add_layer_norm_rms_eps(1e-5)
    tokenizer(w, pre)
    add(w, "token_embd.weight", (VOCAB, H))
    add(w, "blk.0.attn_norm.weight", (H,))
    add(w, "blk.0.attn_q.weight", (HEADS * HD, H), Q.Q8_0)
    add(w, "blk.0.attn_k.weight", (KV * HD, H), Q.Q4_0)
    add(w, "blk.0.attn_v.weight", (KV * HD, H), Q.Q4_1)
    if arch == "qwen2":
        add(w, "blk.0.attn_q.bias", (HEADS * HD,))
        add(w, "blk.0.attn_k.bias", (KV * HD,))
        add(w, "blk.0.attn_v.bias", (KV * HD,))
        add(w, "output.weight", (VOCAB, H), Q.BF16)
    add(w, "blk.0.attn_output.weight", (H, HEADS * HD), Q.F16)
    add(w, "blk.0.ffn_norm.weight", (H,))
    add(w, "blk.0.ffn_gate.weight", (FF, H), Q.BF16)
    add(w, "blk.0.ffn_up.weight", (FF, H), Q.Q8_0)
    add(w, "blk.0.ffn_down.weight", (H, FF))
    add(w, "output_norm.weight", (H,))
    write(w, path)


def gpt2(path):
    w = gguf.GGUFWriter(path, arch="gpt2")
    w.add_context_length(CTX)
    w.add_embedding_length(H)
    w.add_block_count(1)
    w.add_feed_forward_length(FF)
    w.add_head_count(HEADS)
    w.add_layer_norm_eps(1e-5)
    tokenizer(w, "gpt-2")
    add(w, "token_embd.weight", (VOCAB, H))
    add(w, "position_embd.weight", (CTX, H))
    for n in ["blk.0.attn_norm", "blk.0.ffn_norm", "output_norm"]:
        add(w, n + ".weight", (H,))
        add(w, n + ".bias", (H,))
    for n, o, i in [("blk.0.attn_qkv", 3 * H, H), ("blk.0.attn_output", H, H), ("blk.0.ffn_up", FF, H), ("blk.0.ffn_down", H, FF)]:
        add(w, n + ".weight", (o, i), Q.Q8_0)
        add(w, n + ".bias", (o,))
    write(w, path)


SCALES = {Q.Q8_0: [0], Q.Q4_0: [0], Q.Q4_1: [0, 2], Q.Q5_0: [0], Q.Q5_1: [0, 2], Q.Q2_K: [80, 82], Q.Q3_K: [108],
          Q.Q4_K: [0, 2], Q.Q5_K: [0, 2], Q.Q6_K: [208], Q.IQ4_NL: [0], Q.IQ4_XS: [0]}


def every_type(path):
    """One [256] tensor of every storage type densi reads (random valid blocks for the types gguf-py cannot
    quantize), so the header fuzzer's dequantization starts from each layout."""
    w = gguf.GGUFWriter(path, arch="llama")
    for qt in [Q.F32, Q.F16, Q.BF16, Q.Q8_0, Q.Q4_0, Q.Q4_1, Q.Q5_0, Q.Q5_1, Q.Q2_K, Q.Q3_K, Q.Q4_K, Q.Q5_K,
               Q.Q6_K, Q.IQ4_NL, Q.IQ4_XS]:
        block, size = gguf.GGML_QUANT_SIZES[qt]
        raw = rng.integers(0, 256, size=(256 // block, size), dtype=np.uint8)
        if block > 1:  # finite f16 scales (d, dmin), as src/model/gguf/quants.rs `scale_offsets`
            for at in SCALES[qt]:
                raw[:, at:at + 2] = np.array([0.01], dtype=np.float16).view(np.uint8)
        else:
            raw = gguf.quants.quantize(rng.normal(size=256).astype(np.float32), qt).view(np.uint8)
        w.add_tensor(qt.name, raw.reshape(1, -1), raw_dtype=qt)
    write(w, path)


def safetensors(path, tensors):
    """tensors: [(name, dtype, shape, raw bytes)] in order."""
    header, off, data = {"__metadata__": {"format": "pt"}}, 0, b""
    for name, dt, shape, raw in tensors:
        header[name] = {"dtype": dt, "shape": list(shape), "data_offsets": [off, off + len(raw)]}
        off += len(raw)
        data += raw
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + data)


def main():
    g = os.path.join(HERE, "seeds", "gguf")
    s = os.path.join(HERE, "seeds", "safetensors")
    os.makedirs(g, exist_ok=True)
    os.makedirs(s, exist_ok=True)
    llama_like(os.path.join(g, "micro-llama.gguf"), "llama", "smollm")
    llama_like(os.path.join(g, "micro-qwen2.gguf"), "qwen2", "qwen2")
    gpt2(os.path.join(g, "micro-gpt2.gguf"))
    f32 = rng.normal(size=(2, 3)).astype(np.float32)
    f16 = rng.normal(size=(4,)).astype(np.float16)
    bf16 = (rng.normal(size=(2, 2)).astype(np.float32).view(np.uint32) >> 16).astype(np.uint16)
    safetensors(os.path.join(s, "mixed.safetensors"), [
        ("a.weight", "F32", (2, 3), f32.tobytes()), ("b.weight", "F16", (4,), f16.tobytes()),
        ("c.weight", "BF16", (2, 2), bf16.tobytes()), ("d.step", "I64", (), struct.pack("<q", 7)),
        ("e.empty", "F32", (0, 5), b"")])
    safetensors(os.path.join(s, "empty.safetensors"), [])
    every_type(os.path.join(g, "every-type.gguf"))


if __name__ == "__main__":
    main()
