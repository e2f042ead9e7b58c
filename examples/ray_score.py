#!/usr/bin/env python3
"""Score a corpus with densi on Ray Data and write Parquet (see docs/python.md, "Corpora on Ray Data").

    python examples/ray_score.py corpus.jsonl scores/ --actors 2
    python examples/ray_score.py corpus/ scores/ --address auto --num-gpus 1 --actors 4

Input: JSONL ({"id": ..., "text": ...} per line) or Parquet (a file or a directory) with an id and a
text column. Output: a directory of Parquet files with the rows of `densi export -f parquet` plus an
`error` column. The model must be readable at --model on every node of the cluster.
"""

from __future__ import annotations

import argparse
import time

import ray
import ray.data

import densi.ray


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("input", help="a .jsonl file, or Parquet file(s)/directory")
    p.add_argument("output", help="output directory for the Parquet files")
    p.add_argument("--model", default=None, help="model path on every node [default: as densi.Model()]")
    p.add_argument("--address", default=None, help="Ray cluster address (`auto` joins a running cluster)")
    p.add_argument("--actors", type=int, default=2)
    p.add_argument("--threads", type=int, default=1, help="CPU threads (and reserved CPUs) per actor")
    p.add_argument("--num-gpus", type=float, default=0, help="GPUs per actor (0.5: two actors share a GPU)")
    p.add_argument("--level", default="token", choices=["token", "word"])
    p.add_argument("--on-error", default="raise", choices=["raise", "row"])
    p.add_argument("--batch-size", type=int, default=16)
    a = p.parse_args()

    ray.init(address=a.address)
    ds = ray.data.read_json(a.input) if a.input.endswith((".jsonl", ".json")) else ray.data.read_parquet(a.input)
    # Reading first keeps the read tasks from waiting for CPUs that the actors hold.
    ds = ds.materialize()
    rows = densi.ray.score_dataset(
        ds,
        a.model,
        level=a.level,
        on_error=a.on_error,
        actors=a.actors,
        threads=a.threads,
        num_gpus=a.num_gpus,
        batch_size=a.batch_size,
    )
    t0 = time.perf_counter()
    rows.write_parquet(a.output)
    print(f"wrote {a.output} in {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
