"""densi.ray on a local Ray cluster (2 CPUs, two actors) against `densi export -f parquet` of the
same corpus: identical rows, also when an actor is killed mid-run; failing texts are error rows or
an exception, never dropped. Prints the 1- vs 2-actor timings (docs/python.md quotes them)."""

from __future__ import annotations

import json
import os
import random
import signal
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

import ray
import ray.data

import densi
import densi.ray

SUBJECTS = ["The cat", "My neighbour", "A small robot", "The river", "Our teacher", "Every student", "The old map"]
VERBS = ["likes", "found", "paints", "remembers", "carried", "describes", "ignored"]
OBJECTS = ["the blue door", "a quiet song", "three red apples", "the last train", "its own shadow", "a warm bread"]
ENDINGS = [".", "!", "?", " yesterday.", " every morning.", " again and again."]


def make_corpus(n: int, seed: int = 14) -> list:
    """n short texts (5-15 tokens), reproducible, with ids as strings and as numbers."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        text = f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)}{rng.choice(ENDINGS)}"
        rows.append({"id": f"doc{i:04d}", "text": text})
    return rows


N_TEXTS = 200


@pytest.fixture(scope="module")
def ray_cluster():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, object_store_memory=256 * 1024 * 1024)
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, cli):
    d = tmp_path_factory.mktemp("corpus")
    rows = make_corpus(N_TEXTS)
    path = d / "corpus.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    ref = d / "cli.parquet"
    t0 = time.perf_counter()
    cli.run("export", "--jsonl", str(path), "-f", "parquet", "--threads", "1", "-o", str(ref))
    print(f"\nray corpus: {N_TEXTS} texts; densi export -f parquet (1 thread): {time.perf_counter() - t0:.1f} s")
    return path, pq.read_table(ref).replace_schema_metadata(None)


def _sorted(t: pa.Table) -> pa.Table:
    return t.sort_by([("text_id", "ascending"), ("token_index", "ascending")])


def _actor_pids() -> set:
    """PIDs of the processes running densi's Ray actor (Ray names them after the class)."""
    pids = set()
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                cmd = (p / "cmdline").read_bytes()
            except OSError:
                continue
            if b"DensiScorer" in cmd:
                pids.add(int(p.name))
    return pids


def _score(corpus_path, model_path, actors: int, kill_one: bool = False):
    # Read first: with both CPUs held by the actors, Ray would have none left for the read tasks.
    ds = ray.data.read_json(str(corpus_path)).materialize()
    out = densi.ray.score_dataset(ds, str(model_path), actors=actors, threads=1, batch_size=10)
    batches, killed, t0 = [], None, time.perf_counter()
    for batch in out.iter_batches(batch_format="pyarrow", batch_size=None):
        batches.append(batch)
        if kill_one and killed is None:
            # The first rows are out, so both actors are busy with later batches: kill one mid-batch.
            pids = sorted(_actor_pids())
            assert pids, "no densi actor process found"
            killed = pids[0]
            os.kill(killed, signal.SIGKILL)
    elapsed = time.perf_counter() - t0
    return pa.concat_tables(batches), elapsed, killed


def _compare_with_cli(table: pa.Table, ref: pa.Table) -> None:
    assert table.column("error").null_count == table.num_rows, "no error rows expected"
    ours = _sorted(table.drop_columns(["error"]))
    ref = _sorted(ref)
    assert ours.num_rows == ref.num_rows, (ours.num_rows, ref.num_rows)
    # Same values row for row (the schema differs only in nullability).
    assert ours.cast(ref.schema).equals(ref)
    keys = list(zip(ours.column("text_id").to_pylist(), ours.column("token_index").to_pylist()))
    assert len(set(keys)) == len(keys), "duplicated rows"


def test_ray_matches_cli_with_one_and_two_actors(ray_cluster, corpus, model_path):
    path, ref = corpus
    timings = {}
    for actors in (1, 2):
        table, elapsed, _ = _score(path, model_path, actors)
        _compare_with_cli(table, ref)
        timings[actors] = elapsed
    print(
        f"\nray: {N_TEXTS} texts, {ref.num_rows} token rows; 1 actor {timings[1]:.1f} s, "
        f"2 actors {timings[2]:.1f} s (speed-up {timings[1] / timings[2]:.2f}x; each run includes loading the model per actor)"
    )


def test_killed_actor_loses_and_duplicates_nothing(ray_cluster, corpus, model_path):
    path, ref = corpus
    table, _, killed = _score(path, model_path, 2, kill_one=True)
    assert killed is not None
    with pytest.raises(ProcessLookupError):
        os.kill(killed, 0)  # it really died
    _compare_with_cli(table, ref)
    print(f"\nray: killed actor pid {killed} mid-run; {table.num_rows} rows, equal to the CLI's")


def test_failing_texts_are_error_rows_or_an_exception(ray_cluster, model_path, cli):
    rows = [
        {"id": "good1", "text": b"My favorite color is blue"},
        {"id": "empty", "text": b""},
        {"id": "latin1", "text": b"caf\xe9 au lait"},
        {"id": "good2", "text": b"The sky is green"},
    ]
    ds = ray.data.from_items(rows).materialize()
    out = densi.ray.score_dataset(ds, str(model_path), actors=1, on_error="row").to_arrow_refs()
    table = pa.concat_tables(ray.get(out))
    errors = {r["text_id"]: r["error"] for r in table.filter(pc.is_valid(table["error"])).to_pylist()}
    assert errors == {
        "empty": "empty: empty input (0 bytes)",
        "latin1": 'latin1: not valid UTF-8: byte 0xE9 at byte offset 3 (line 1, column 4); decode it with errors="replace" to replace invalid bytes with U+FFFD',
    }
    good = table.filter(pc.is_null(table["error"]))
    assert sorted(set(good.column("text_id").to_pylist())) == ["good1", "good2"]
    # The good rows are the CLI's.
    doc = cli.export_json(["My favorite color is blue"])
    got = good.filter(pc.equal(good["text_id"], "good1"))
    assert got.column("surprisal_bits").to_pylist() == [t["surprisal_bits"] for t in doc["texts"][0]["tokens"]]

    with pytest.raises(Exception, match="empty: empty input"):
        densi.ray.score_dataset(ds, str(model_path), actors=1).materialize()
