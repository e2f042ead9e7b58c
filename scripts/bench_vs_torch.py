#!/usr/bin/env python3
"""densi's CPU forward against PyTorch, interleaved, on the same model and lengths.

Usage (from the repository root, after `cargo build --release`):
    /work/venv/bin/python scripts/bench_vs_torch.py [--model models/SmolLM2-135M-Instruct.Q4_1.gguf]
        [--tokens 128,512,1024,2048,4096] [--threads 2] [--reps 3] [--densi target/release/densi]
        [--before OLD_DENSI]

For each length, first `densi bench --backend cpu --threads T --tokens N --repeats R` (forward pass +
full-vocabulary statistics: surprisal, entropy, varentropy, rank, top-5 for every position; median of
R runs after 1 warm-up), then PyTorch (transformers loading the same GGUF, dequantized to float32,
`attn_implementation="sdpa"`, T threads, `use_cache=False`, one forward pass over random ids under
`torch.inference_mode()`, no statistics at all; median of R runs after 1 warm-up). Interleaving the two
per length keeps a busy machine's load roughly the same for both. Prints tok/s of each, the ratio
densi / PyTorch (target >= 1.2 at every length), densi's GFLOP/s (`ModelConfig::forward_flops`, as
`densi bench` prints it), and the load average before each length. With `--before OLD_DENSI`, an older
densi binary runs too, right before the new one at each length: its tok/s and GFLOP/s, for a
before/after in the same run.
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import time


def densi_bench(exe, model, n, threads, reps):
    cmd = [exe, "bench", "--backend", "cpu", "--threads", str(threads), "--tokens", str(n),
           "--repeats", str(reps), "--model", model]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    # "  tokens     seconds         min    tokens/s    GFLOP/s"
    for line in out.splitlines():
        f = line.split()
        if len(f) >= 5 and f[0] == str(n) and re.fullmatch(r"[0-9.]+", f[1]):
            return float(f[1]), float(f[3]), float(f[4])
    raise RuntimeError(f"no result row for {n} tokens in:\n{out}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=os.environ.get("DENSI_MODEL", "models/SmolLM2-135M-Instruct.Q4_1.gguf"))
    ap.add_argument("--tokens", default="128,512,1024,2048,4096")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--densi", default="target/release/densi")
    ap.add_argument("--before", help="an older densi binary to time at each length too")
    a = ap.parse_args()
    lengths = [int(x) for x in a.tokens.split(",")]

    import torch
    from transformers import AutoModelForCausalLM

    torch.set_num_threads(a.threads)
    d, f = os.path.split(os.path.abspath(a.model))
    model = AutoModelForCausalLM.from_pretrained(d, gguf_file=f, dtype=torch.float32, attn_implementation="sdpa").eval()
    vocab = model.config.vocab_size
    gen = torch.Generator().manual_seed(0x5EED)

    def torch_bench(n):
        x = torch.randint(0, vocab, (1, n), generator=gen)
        with torch.inference_mode():
            model(input_ids=x, use_cache=False)  # warm-up
            times = []
            for _ in range(a.reps):
                t = time.perf_counter()
                model(input_ids=x, use_cache=False).logits
                times.append(time.perf_counter() - t)
        return statistics.median(times)

    print(f"model {a.model}; {a.threads} threads; median of {a.reps} after 1 warm-up; torch {torch.__version__}")
    before = f"{'before tok/s':>12} {'GFLOP/s':>8} " if a.before else ""
    print(f"{'tokens':>7} {'load1':>6} {before}{'densi s':>8} {'densi tok/s':>11} {'GFLOP/s':>8} "
          f"{'torch s':>8} {'torch tok/s':>11} {'ratio':>6}")
    for n in lengths:
        load = os.getloadavg()[0]
        before = ""
        if a.before:
            _, btps, bgf = densi_bench(a.before, a.model, n, a.threads, a.reps)
            before = f"{btps:>12.0f} {bgf:>8.1f} "
        ds, dtps, dgf = densi_bench(a.densi, a.model, n, a.threads, a.reps)
        ts = torch_bench(n)
        ttps = n / ts
        print(f"{n:>7} {load:>6.1f} {before}{ds:>8.3f} {dtps:>11.0f} {dgf:>8.1f} {ts:>8.3f} {ttps:>11.0f} "
              f"{dtps / ttps:>6.2f}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
