#!/usr/bin/env python3
"""Peak resident memory of `densi score` with the prefix cache at several budgets, against none.

Usage (from the repository root, after `cargo build --release`):
    python3 scripts/cache_rss.py [--densi target/release/densi] [--texts 40] [--words 330]
        [--budgets 0,16,36,64,256]

Writes a batch of distinct texts (words of tests/fixtures/texts/english.txt shuffled with a fixed
seed; about 400 tokens each with the default model, so ~17 MiB of K/V per text, more than the
largest budget in all), scores it once per `--cache-mb` budget on the CPU backend (2 threads), and
prints each run's peak RSS (the child's ru_maxrss from wait4), the growth over `--cache-mb 0`, and
whether that growth stays within the budget. Every run's output must be byte-identical to the
run without a cache (the cache changes no number).
"""
import argparse
import json
import os
import random
import subprocess
import sys
import tempfile


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--densi", default="target/release/densi")
    ap.add_argument("--texts", type=int, default=40)
    ap.add_argument("--words", type=int, default=330)
    ap.add_argument("--budgets", default="0,16,36,64,256")
    a = ap.parse_args()
    words = open("tests/fixtures/texts/english.txt", encoding="utf-8").read().split()
    rng = random.Random(7)
    tmp = tempfile.mkdtemp(prefix="densi-cache-rss-")
    batch = os.path.join(tmp, "batch.jsonl")
    with open(batch, "w", encoding="utf-8") as f:
        for i in range(a.texts):
            text = []
            while len(text) < a.words:
                rng.shuffle(words)
                text += words
            f.write(json.dumps({"id": f"t{i}", "text": " ".join(text[: a.words])}) + "\n")
    budgets = [int(b) for b in a.budgets.split(",")]
    if budgets[0] != 0:
        budgets.insert(0, 0)
    print(f"{a.texts} distinct texts of {a.words} words; {a.densi} score --backend cpu --threads 2")
    print(f"{'cache-mb':>8} {'peak RSS MiB':>12} {'growth MiB':>10} {'within':>7}")
    base, reference, ok = None, None, True
    for mb in budgets:
        out_path = os.path.join(tmp, f"out_{mb}.txt")
        with open(out_path, "wb") as out:
            p = subprocess.Popen([a.densi, "score", "--jsonl", batch, "--backend", "cpu", "--threads", "2",
                                  "--cache-mb", str(mb), "-q"], stdout=out)
            _, status, usage = os.wait4(p.pid, 0)
        if status != 0:
            sys.exit(f"densi exited with status {status} at --cache-mb {mb}")
        peak = usage.ru_maxrss / 1024  # KiB on Linux
        data = open(out_path, "rb").read()
        if base is None:
            base, reference = peak, data
        same = data == reference
        within = peak - base <= mb
        ok &= same and within
        print(f"{mb:>8} {peak:>12.1f} {peak - base:>10.1f} {'yes' if within else 'NO':>7}"
              f"{'' if same else '  OUTPUT DIFFERS'}", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
