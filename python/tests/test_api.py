"""The Python API against the real `densi` command: same numbers, same fields, same errors."""

from __future__ import annotations

import io
import json
import threading
import time

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import densi

TEXTS = [
    "My favorite color is blue",
    "The capital of France is Paris. It is on the Seine.",
    "Ünïcödé, emoji 🎉 and CJK 漢字: «quotes», don't split.",
    "  leading spaces, a tab\tand a\nnew line",
]


def test_score_equals_cli_json_export(model, cli):
    doc = cli.export_json(TEXTS)
    results = model.score(TEXTS, progress=False)
    assert isinstance(results, densi.Results) and len(results) == len(TEXTS)
    assert results.to_dicts() == doc["texts"]
    r = results[1]
    assert (r.id, r.text, r.summary, r.settings, r.tokens) == (
        "text2",
        TEXTS[1],
        doc["texts"][1]["summary"],
        doc["texts"][1]["settings"],
        doc["texts"][1]["tokens"],
    )


@pytest.mark.parametrize(
    "kwargs, flags",
    [
        (dict(level="word", units="nats"), ["--level", "word", "--units", "nats"]),
        (dict(window=8, stride=3, top_k=2), ["--window", "8", "--stride", "3", "--top-k", "2"]),
        (dict(bos="none", top_k=0), ["--bos", "none", "--top-k", "0"]),
        (dict(bos="<|im_start|>"), ["--bos", "<|im_start|>"]),
    ],
)
def test_options_equal_cli(model, cli, kwargs, flags):
    doc = cli.export_json(TEXTS[:3], *flags)
    assert model.score(TEXTS[:3], progress=False, **kwargs).to_dicts() == doc["texts"]


def test_words_match_cli_word_level(model, cli):
    doc = cli.export_json(TEXTS[2:3], "--level", "word")
    assert model.score(TEXTS[2], progress=False).words == doc["texts"][0]["words"]


def _cli_csv(cli, texts, *flags) -> pd.DataFrame:
    args = ["export", "-f", "csv", *flags]
    for t in texts:
        args += ["--text", t]
    return pd.read_csv(io.BytesIO(cli.run(*args).stdout), keep_default_na=False, na_values=[""])


TOKEN_DTYPES = {
    "text_id": "string",
    "token_index": "int64",
    "token_id": "int64",
    "token": "string",
    "byte_start": "int64",
    "byte_end": "int64",
    "char_start": "int64",
    "char_end": "int64",
    "surprisal_bits": "float64",
    "probability": "float64",
    "entropy_bits": "float64",
    "varentropy_bits2": "float64",
    "rank": "Int64",
    "top1_token": "string",
    "top1_probability": "float64",
    "scored": "bool",
    "excess_bits": "float64",
    "z": "float64",
    "boundary_bits": "float64",
}


def _check_dtypes(df: pd.DataFrame, expected: dict) -> None:
    assert list(df.columns) == list(expected)
    for name, want in expected.items():
        got = df[name].dtype
        if want == "string":
            assert pd.api.types.is_string_dtype(got) or got == object, (name, got)
        else:
            assert str(got) == want, (name, got)


@pytest.mark.parametrize("bos", ["auto", "none"])
def test_dataframe_has_the_csv_columns_dtypes_and_values(model, cli, bos):
    df = model.score(TEXTS, bos=bos, progress=False).to_pandas()
    csv = _cli_csv(cli, TEXTS, "--bos", bos)
    _check_dtypes(df, TOKEN_DTYPES)
    assert list(df.columns) == list(csv.columns)
    assert len(df) == len(csv)
    for name in df.columns:
        ours, theirs = df[name].to_numpy(dtype=object), csv[name].to_numpy(dtype=object)
        for a, b in zip(ours, theirs):
            missing_a = a is None or a is pd.NA or (isinstance(a, float) and np.isnan(a))
            missing_b = b is None or b is pd.NA or (isinstance(b, float) and np.isnan(b))
            assert missing_a == missing_b, (name, a, b)
            if not missing_a:
                # csv numbers are the shortest decimals that read back as the same f64: exact.
                assert (str(a) if name in ("text_id", "token", "top1_token") else a) == b, (name, a, b)
    if bos == "none":
        first = df[df.token_index == 0]
        assert first["rank"].isna().all() and first["surprisal_bits"].isna().all() and not first["scored"].any()


def test_word_dataframe(model, cli):
    df = model.score(TEXTS, level="word", units="nats", progress=False).to_pandas()
    csv = _cli_csv(cli, TEXTS, "--level", "word", "--units", "nats")
    assert list(df.columns) == list(csv.columns)
    pd.testing.assert_frame_equal(
        df.astype({"text_id": object, "word": object}),
        csv.astype({"text_id": object, "word": object}),
        check_exact=True,
    )


def test_numpy_columns_wrap_native_memory(model):
    r = model.score(TEXTS[0], progress=False)
    cols = r.columns()
    s = cols["surprisal_bits"]
    assert s.dtype == np.float64 and s.shape == (len(r),)
    # np.frombuffer over the bytearray the native side filled: no copy on the Python side.
    assert not s.flags.owndata and isinstance(getattr(s.base, "obj", s.base), bytearray)
    np.testing.assert_array_equal(s, [t["surprisal_bits"] for t in r.tokens])
    assert cols["rank"].dtype == np.int64 and cols["scored"].dtype == np.bool_
    assert cols["token"].dtype == object


def test_arrow_and_parquet_equal_cli_parquet(model, cli, tmp_path):
    ref = tmp_path / "cli.parquet"
    args = ["export", "-f", "parquet", "-o", str(ref), "--bos", "none"]
    for t in TEXTS:
        args += ["--text", t]
    cli.run(*args)
    cli_table = pq.read_table(ref)
    results = model.score(TEXTS, bos="none", progress=False)
    ours = results.to_arrow()
    assert ours.schema.equals(cli_table.schema.remove_metadata()), (ours.schema, cli_table.schema)
    assert ours.equals(cli_table.replace_schema_metadata(None))

    # Results.to_parquet writes the CLI's file (without pyarrow on the writing side).
    mine = tmp_path / "py.parquet"
    results.to_parquet(mine)
    assert pq.read_table(mine).replace_schema_metadata(None).equals(cli_table.replace_schema_metadata(None))
    prov_cli = json.loads(pq.read_metadata(ref).metadata[b"densi.provenance"])
    prov_py = json.loads(pq.read_metadata(mine).metadata[b"densi.provenance"])
    prov_cli.pop("date"), prov_py.pop("date")
    assert prov_py == prov_cli
    assert prov_py["model_sha256"] == model.sha256() and prov_py["level"] == "token"
    with pytest.raises(densi.InputError, match="already exists"):
        results.to_parquet(mine)
    results.to_parquet(mine, force=True)
    # pandas reads it too, with the same values as our DataFrame.
    pdf = pd.read_parquet(mine, dtype_backend="numpy_nullable")
    assert list(pdf.columns) == list(TOKEN_DTYPES)
    np.testing.assert_array_equal(pdf["surprisal_bits"].to_numpy(dtype=float, na_value=np.nan),
                                  results.to_pandas()["surprisal_bits"].to_numpy())


def test_single_text_to_pandas_like_the_readme(model):
    df = model.score("My favorite color is blue").to_pandas()
    assert df["token"].tolist() == ["My", " favorite", " color", " is", " blue"]
    assert (df["surprisal_bits"] > 0).all() and df["scored"].all()


def test_errors_are_exceptions_with_the_cli_messages(model, cli, tmp_path):
    missing = str(tmp_path / "nope.gguf")
    with pytest.raises(densi.ModelNotFoundError) as e:
        densi.Model(missing)
    assert str(e.value) == cli.error("info", "--model", missing)
    assert isinstance(e.value, FileNotFoundError) and isinstance(e.value, densi.DensiError)

    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF" + b"\x00" * 12)
    with pytest.raises(densi.ModelFileError) as e:
        densi.Model(bad)
    assert str(e.value) == cli.error("info", "--model", str(bad))

    for kwargs, flags in [
        (dict(window=1), ["--window", "1"]),
        (dict(window=100_000), ["--window", "100000"]),
        (dict(window=8, stride=8), ["--window", "8", "--stride", "8"]),
        (dict(bos="<|no such token|>"), ["--bos", "<|no such token|>"]),
        (dict(bos=10**9), ["--bos", str(10**9)]),
    ]:
        with pytest.raises(densi.OptionError) as e:
            model.score("hello", progress=False, **kwargs)
        assert str(e.value) == cli.error("export", "-f", "json", "--text", "hello", *flags), kwargs

    with pytest.raises(densi.InputError, match=r"^text1: empty text$"):
        model.score("", progress=False)
    with pytest.raises(densi.InputError, match=r"^text2: empty text$"):
        model.score(["ok", ""], progress=False)
    # Bytes are read as the CLI reads a file: the same message up to its --lossy hint.
    (tmp_path / "bad.txt").write_bytes(b"ab\ncd\xffe")
    cli_msg = cli.error("export", "-f", "json", str(tmp_path / "bad.txt"))
    with pytest.raises(densi.InputError) as e:
        model.score(b"ab\ncd\xffe", ids=[str(tmp_path / "bad.txt")], progress=False)
    assert str(e.value).split(";")[0] == cli_msg.split(";")[0]
    with pytest.raises(densi.OptionError, match="unknown level `sentence`"):
        model.score("hello", level="sentence", progress=False)
    with pytest.raises(densi.OptionError, match="unknown units"):
        model.score("hello", units="bans", progress=False)
    with pytest.raises(densi.OptionError, match="unknown backend `tpu`"):
        densi.Model(model.path, backend="tpu")
    with pytest.raises(densi.OptionError, match="unknown weight storage `f8`"):
        densi.Model(model.path, backend="cpu", weights="f8")
    with pytest.raises(TypeError, match=r"text1: expected str or bytes, got int"):
        model.score([3], progress=False)


def test_weights_storage_gives_the_same_numbers(model):
    """`weights=` is the CLI's --weights: resident and f32-expanded weights score identically (the
    same f32 products, tests/engine/resident.rs)."""
    text = TEXTS[0]
    scores = {
        w: densi.Model(model.path, backend="cpu", weights=w).score(text, progress=False).to_pandas()
        for w in ("resident", "f32")
    }
    pd.testing.assert_frame_equal(scores["resident"], scores["f32"], check_exact=True)


def test_gil_is_released_while_scoring(model):
    text = " ".join(TEXTS * 12)
    done = threading.Event()
    span = {}

    def work():
        t0 = time.perf_counter()
        model.score(text, progress=False)
        span["s"] = time.perf_counter() - t0
        done.set()

    worker = threading.Thread(target=work)
    ticks = []
    worker.start()
    while not done.is_set():
        ticks.append(time.perf_counter())
        time.sleep(0.005)
    worker.join()
    gaps = np.diff(ticks)
    # With the GIL held the main thread would stall for the whole native call.
    assert span["s"] > 0.3, "text too short to tell"
    assert len(ticks) > 20 and gaps.max() < span["s"] / 3, (gaps.max(), span["s"])


def test_progress_bar_with_tqdm(model, capsys):
    model.score(TEXTS, progress=True)
    err = capsys.readouterr().err
    assert "densi" in err and "tok" in err


def test_model_properties(model, model_path):
    assert model.path == str(model_path)
    assert model.architecture == "llama" and model.parameters > 100_000_000
    assert model.backend == "cpu" and model.device.startswith("cpu")
    assert "densi.Model" in repr(model)
