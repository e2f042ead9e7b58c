#!/usr/bin/env python3
"""Writes a large random GGUF in the real layout and quant types of Qwen2.5-1.5B-Instruct Q4_K_M,
for densi's memory and speed measurements (docs/performance.md). The weights are random valid
blocks (random quants and scale bytes, small finite f16 super-block scales), not a trained model:
the numbers it gives are memory and time, never quality. The output is not committed.

Layout (llama.cpp's Q4_K_M mix): Q4_K everywhere, Q6_K for the tied token embedding and for
attn_v / ffn_down in the layers llama.cpp's `use_more_bits` picks; F32 norms and q/k/v biases.
The tokenizer is the default model's (SmolLM2, 49152 tokens, a subset of the 151936 embedding
rows), copied from its GGUF, so densi can tokenize text for it.

    /work/venv/bin/python scripts/make_big_gguf.py /tmp/qwen2-1.5b-random-Q4_K_M.gguf
"""

import sys
from pathlib import Path

import numpy as np
from gguf import GGMLQuantizationType as Q, GGUFReader, GGUFWriter

# Qwen2.5-1.5B (config.json of Qwen/Qwen2.5-1.5B-Instruct).
HIDDEN, LAYERS, HEADS, KV_HEADS, HEAD_DIM, INTER, VOCAB, CTX = 1536, 28, 12, 2, 128, 8960, 151936, 32768
BLOCK = {Q.Q4_K: (256, 144), Q.Q6_K: (256, 210)}


def use_more_bits(i: int, n: int) -> bool:
    """llama.cpp's choice of layers that keep more bits in Q4_K_M (llama-quant.cpp)."""
    return i < n // 8 or i >= 7 * n // 8 or (i - n // 8) % 3 == 2


def random_blocks(rng, rows: int, cols: int, qtype) -> np.ndarray:
    """rows × (cols/256) random blocks of `qtype` with the f16 scales set to small finite values."""
    elems, nbytes = BLOCK[qtype]
    nblocks = rows * cols // elems
    b = rng.integers(0, 256, size=(nblocks, nbytes), dtype=np.uint8)
    scale = lambda n: (rng.uniform(0.5, 1.0, n) * 2e-3).astype(np.float16).view(np.uint8).reshape(n, 2)
    if qtype == Q.Q4_K:  # { f16 d; f16 dmin; u8 scales[12]; u8 qs[128]; }
        b[:, 0:2] = scale(nblocks)
        b[:, 2:4] = scale(nblocks)
    else:  # Q6_K: { u8 ql[128]; u8 qh[64]; i8 scales[16]; f16 d; }
        b[:, 208:210] = scale(nblocks)
    return b.reshape(rows, cols // elems * nbytes)


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/qwen2-1.5b-random-Q4_K_M.gguf")
    root = Path(__file__).resolve().parent.parent
    tok = GGUFReader(root / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf")
    rng = np.random.default_rng(0)
    w = GGUFWriter(out, "qwen2")
    w.add_name("random Qwen2.5-1.5B layout, Q4_K_M mix (densi scripts/make_big_gguf.py)")
    w.add_context_length(CTX)
    w.add_embedding_length(HIDDEN)
    w.add_block_count(LAYERS)
    w.add_feed_forward_length(INTER)
    w.add_head_count(HEADS)
    w.add_head_count_kv(KV_HEADS)
    w.add_rope_freq_base(1e6)
    w.add_layer_norm_rms_eps(1e-6)
    for key in ["tokenizer.ggml.model", "tokenizer.ggml.pre", "tokenizer.ggml.tokens", "tokenizer.ggml.merges",
                "tokenizer.ggml.token_type", "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id"]:
        f = tok.fields.get(key)
        if f is None:
            continue
        v = f.contents()
        if key.endswith("_id"):
            w.add_uint32(key, int(v))
        elif key == "tokenizer.ggml.token_type":
            w.add_array(key, [int(x) for x in v])
        elif isinstance(v, list):
            w.add_array(key, v)
        else:
            w.add_string(key, v)

    def mat(name, rows, cols, qtype):
        w.add_tensor(name, random_blocks(rng, rows, cols, qtype), raw_dtype=qtype)

    def vec(name, n, scale, offset=0.0):
        w.add_tensor(name, (offset + scale * rng.uniform(-1, 1, n)).astype(np.float32))

    mat("token_embd.weight", VOCAB, HIDDEN, Q.Q6_K)
    q_dim, kv_dim = HEADS * HEAD_DIM, KV_HEADS * HEAD_DIM
    for i in range(LAYERS):
        more = Q.Q6_K if use_more_bits(i, LAYERS) else Q.Q4_K
        p = f"blk.{i}."
        vec(p + "attn_norm.weight", HIDDEN, 0.1, 1.0)
        mat(p + "attn_q.weight", q_dim, HIDDEN, Q.Q4_K)
        mat(p + "attn_k.weight", kv_dim, HIDDEN, Q.Q4_K)
        mat(p + "attn_v.weight", kv_dim, HIDDEN, more)
        vec(p + "attn_q.bias", q_dim, 0.02)
        vec(p + "attn_k.bias", kv_dim, 0.02)
        vec(p + "attn_v.bias", kv_dim, 0.02)
        mat(p + "attn_output.weight", HIDDEN, q_dim, Q.Q4_K)
        vec(p + "ffn_norm.weight", HIDDEN, 0.1, 1.0)
        mat(p + "ffn_gate.weight", INTER, HIDDEN, Q.Q4_K)
        mat(p + "ffn_up.weight", INTER, HIDDEN, Q.Q4_K)
        mat(p + "ffn_down.weight", HIDDEN, INTER, more)
    vec("output_norm.weight", HIDDEN, 0.1, 1.0)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file(progress=False)
    w.close()
    print(f"{out}: {out.stat().st_size / 2**30:.2f} GiB")


if __name__ == "__main__":
    main()
