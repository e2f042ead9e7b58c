#!/usr/bin/env python3
"""Test vectors for densi's GGML dequantizers: random blocks of every quantized type densi reads, and what
gguf-py's reference dequantizer (`gguf.quants.dequantize`, a numpy port of ggml's `dequantize_row_*`) makes of
them. Writes tests/formats_data/dequant_vectors.gguf: for each type T a tensor `T` ([2, 512], raw blocks) and
`T.expected` ([2, 512] F32). Random bytes are valid blocks except the f16 scales, which are drawn from N(0, 0.05).

    python3 -m venv /tmp/v && /tmp/v/bin/pip install gguf==0.19.0 numpy
    /tmp/v/bin/python tests/formats_data/make_dequant_vectors.py
"""
import os
import numpy as np
import gguf

Q = gguf.GGMLQuantizationType
# type -> byte ranges of its f16 scale fields inside one block
SCALES = {
    Q.Q4_0: [0], Q.Q4_1: [0, 2], Q.Q5_0: [0], Q.Q5_1: [0, 2], Q.Q8_0: [0],
    Q.Q4_K: [0, 2], Q.Q5_K: [0, 2], Q.Q6_K: [208],
}


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
        expected = gguf.quants.dequantize(raw, qt).astype(np.float32)
        assert expected.shape == (rows, cols) and np.isfinite(expected).all()
        w.add_tensor(qt.name, raw, raw_dtype=qt)
        w.add_tensor(qt.name + ".expected", expected)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    print("wrote", out, os.path.getsize(out), "bytes")


if __name__ == "__main__":
    main()
