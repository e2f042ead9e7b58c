#!/usr/bin/env python3
"""Test vectors for densi's GGML dequantizers: random data of every tensor type densi reads, and what gguf-py's
reference dequantizer (`gguf.quants.dequantize`, a numpy port of ggml's `dequantize_row_*`) makes of it. Writes
tests/formats_data/dequant_vectors.gguf: for each type T a tensor `T` ([2, 512], raw data) and `T.expected`
([2, 512] F32).

Block types: random bytes are valid blocks except the f16 scales (`SCALES`: byte offsets of `d`, `dmin` in one
block), which are drawn from N(0, 0.05) so that every value is finite. Float types (F32, F16, BF16): random bit
patterns, every one kept except NaN and infinity (so subnormals, signed zeros and the largest values are in).

    python3 -m venv /tmp/v && /tmp/v/bin/pip install gguf==0.19.0 numpy
    /tmp/v/bin/python tests/formats_data/make_dequant_vectors.py

Last run with gguf 0.19.0, numpy 2.4.6.
"""
import os
import numpy as np
import gguf

Q = gguf.GGMLQuantizationType
# type -> byte offsets of its f16 scale fields inside one block (src/model/gguf/quants.rs `scale_offsets`)
SCALES = {
    Q.Q4_0: [0], Q.Q4_1: [0, 2], Q.Q5_0: [0], Q.Q5_1: [0, 2], Q.Q8_0: [0],
    Q.Q4_K: [0, 2], Q.Q5_K: [0, 2], Q.Q6_K: [208],
    Q.Q2_K: [80, 82], Q.Q3_K: [108], Q.IQ4_NL: [0], Q.IQ4_XS: [0],
}
FLOATS = {Q.F32: (np.uint32, np.float32), Q.F16: (np.uint16, np.float16), Q.BF16: (np.uint16, None)}


def finite_bits(rng, n, bits_t, float_t):
    """n random bit patterns of a float type, none NaN or infinite."""
    out = np.empty(0, dtype=bits_t)
    while out.size < n:
        b = rng.integers(0, np.iinfo(bits_t).max, size=n, dtype=bits_t, endpoint=True)
        f = b.view(float_t) if float_t is not None else (b.astype(np.uint32) << 16).view(np.float32)
        out = np.concatenate([out, b[np.isfinite(f)]])
    return out[:n]


def main():
    rng = np.random.default_rng(1234)
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "dequant_vectors.gguf")
    w = gguf.GGUFWriter(out, arch="dequant-vectors")
    rows, cols = 2, 512
    for qt, scale_offsets in SCALES.items():
        block, size = gguf.GGML_QUANT_SIZES[qt]
        n_blocks = rows * cols // block
        raw = rng.integers(0, 256, size=(n_blocks, size), dtype=np.uint8)
        for off in scale_offsets:
            raw[:, off:off + 2] = rng.normal(0, 0.05, size=(n_blocks, 1)).astype(np.float16).view(np.uint8)
        raw = raw.reshape(rows, cols // block * size)
        add(w, qt, raw)
    for qt, (bits_t, float_t) in FLOATS.items():
        raw = finite_bits(rng, rows * cols, bits_t, float_t).view(np.uint8).reshape(rows, -1)
        add(w, qt, raw)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    print("wrote", out, os.path.getsize(out), "bytes")


def add(w, qt, raw):
    expected = gguf.quants.dequantize(raw, qt).astype(np.float32)
    assert expected.shape == (2, 512) and np.isfinite(expected).all(), qt.name
    w.add_tensor(qt.name, raw, raw_dtype=qt)
    w.add_tensor(qt.name + ".expected", expected)


if __name__ == "__main__":
    main()
