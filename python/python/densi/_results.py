"""Scoring results: one :class:`TextResult` per text, and :class:`Results` for several.

The long format (one row per token, or per word) has the columns of ``densi export -f csv``, typed:

========================  ==========  =============================================================
column                    numpy       pandas / Arrow
========================  ==========  =============================================================
``text_id``, ``token``,   object      pandas' string dtype (``object`` before pandas 3) / ``string``
``word``, ``top1_token``  (``str``)   (``top1_token`` is missing when no alternative was kept)
offsets, indices,         int64       int64 / int64
counts, ``token_id``
``rank``                  int64       ``Int64`` (nullable) / int64 with nulls; missing (0 in
                                      numpy) for a token that was not scored
surprisal, probability,   float64     float64: NaN in numpy and pandas, null in Arrow, where the
entropy, varentropy                   metric does not exist (an unscored first token)
``scored``                bool        bool / bool
========================  ==========  =============================================================

Column names carry the units: ``surprisal_bits``, ``entropy_bits``, ``varentropy_bits2`` (or
``_nats``, ``_nats2`` with ``units="nats"``).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Dict, Iterator, List, Optional, Sequence, Tuple, Union, overload

import numpy as np

from . import _densi

if TYPE_CHECKING:  # pragma: no cover
    import pandas
    import pyarrow

__all__ = ["TextResult", "Results"]

_Raw = List[Tuple[str, str, Any, Optional[np.ndarray]]]


def _raw_columns(scores: Sequence[_densi.Score], level: str, units: str) -> _Raw:
    """(name, kind, numpy values, validity mask or None) per column, straight from the native columns."""
    out: _Raw = []
    for name, kind, data, valid in _densi.columns(list(scores), level, units):
        mask = None if valid is None else np.frombuffer(valid, dtype=np.bool_)
        if kind == "str":
            values = np.array(data, dtype=object)
            if mask is not None:
                values[~mask] = None
        elif kind == "int":
            values = np.frombuffer(data, dtype=np.int64)
        elif kind == "float":
            values = np.frombuffer(data, dtype=np.float64)
        elif kind == "bool":
            values = np.frombuffer(data, dtype=np.bool_)
        else:  # pragma: no cover - the native module only makes the four kinds above
            raise AssertionError(f"unknown column kind {kind!r}")
        out.append((name, kind, values, mask))
    return out


def _columns(raw: _Raw) -> Dict[str, np.ndarray]:
    return {name: values for name, _, values, _ in raw}


def _to_pandas(raw: _Raw) -> "pandas.DataFrame":
    try:
        import pandas as pd
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("to_pandas() needs pandas: pip install pandas") from e
    data: Dict[str, Any] = {}
    for name, kind, values, mask in raw:
        if kind == "int" and mask is not None:
            data[name] = pd.arrays.IntegerArray(values, ~mask)
        else:
            data[name] = values
    return pd.DataFrame(data, copy=False)


def _to_arrow(raw: _Raw) -> "pyarrow.Table":
    try:
        import pyarrow as pa
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("to_arrow() needs pyarrow: pip install pyarrow") from e
    types = {"str": pa.string(), "int": pa.int64(), "float": pa.float64(), "bool": pa.bool_()}
    arrays, fields = [], []
    for name, kind, values, mask in raw:
        null = None if mask is None else ~mask
        if kind == "str":
            arrays.append(pa.array(values.tolist(), type=pa.string(), mask=null))
        else:
            arrays.append(pa.array(values, type=types[kind], mask=null))
        fields.append(pa.field(name, types[kind], nullable=mask is not None))
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


class TextResult:
    """One scored text: the fields of a text object of the JSON export (``id``, ``text``, ``summary``,
    ``settings``, ``tokens`` / ``words``), its long-format columns as numpy arrays
    (:meth:`columns`), and :meth:`to_pandas` / :meth:`to_arrow`.

    ``level`` and ``units`` (given to :meth:`Model.score`) choose the rows and column names of
    :meth:`columns`, :meth:`to_pandas`, :meth:`to_arrow` and :meth:`to_dict`; ``tokens`` and
    ``words`` are always both available.
    """

    __slots__ = ("_score", "level", "units", "_model", "_cache")

    def __init__(self, score: _densi.Score, level: str = "token", units: str = "bits", model: Any = None):
        self._score = score
        self.level = level
        self.units = units
        self._model = model
        self._cache: Dict[Tuple[str, str], Dict[str, Any]] = {}

    def _json(self, level: str) -> Dict[str, Any]:
        key = (level, self.units)
        if key not in self._cache:
            self._cache[key] = json.loads(self._score.to_json(level, self.units))
        return self._cache[key]

    @property
    def id(self) -> str:
        """The text's id (``text1``, ``text2``... unless given)."""
        return self._score.id

    @property
    def text(self) -> str:
        return self._score.text

    @property
    def summary(self) -> Dict[str, Any]:
        """Per-text totals: ``tokens``, ``scored_tokens``, ``bytes``, ``chars``, ``total_bits``,
        ``mean_bits_per_token``, ``bits_per_byte``, ``bits_per_char``, ``perplexity``."""
        return self._json("token")["summary"]

    @property
    def settings(self) -> Dict[str, Any]:
        """How it was scored: BOS policy and token, window, stride, windows, top_k, backend, device."""
        return self._json("token")["settings"]

    @property
    def tokens(self) -> List[Dict[str, Any]]:
        """Per-token objects, as in the JSON export (with ``top``: the ``top_k`` alternatives)."""
        return self._json("token")["tokens"]

    @property
    def words(self) -> List[Dict[str, Any]]:
        """Per-word objects, as in the JSON export with ``--level word``."""
        return self._json("word")["words"]

    def to_dict(self) -> Dict[str, Any]:
        """This text's object of ``densi export -f json`` (at this result's level and units)."""
        return self._json(self.level)

    def columns(self) -> Dict[str, np.ndarray]:
        """The long-format columns as numpy arrays (see the module doc for types and missing values)."""
        return _columns(_raw_columns([self._score], self.level, self.units))

    def to_pandas(self) -> "pandas.DataFrame":
        """One row per token (or word): the csv export's columns and dtypes. Needs pandas."""
        return _to_pandas(_raw_columns([self._score], self.level, self.units))

    def to_arrow(self) -> "pyarrow.Table":
        """One row per token (or word), typed as in ``densi export -f parquet``. Needs pyarrow."""
        return _to_arrow(_raw_columns([self._score], self.level, self.units))

    def __len__(self) -> int:
        """Number of tokens."""
        return len(self._score)

    def __repr__(self) -> str:
        s = self.summary
        return (
            f"<densi.TextResult id={self.id!r} tokens={s['tokens']} "
            f"mean_bits_per_token={s['mean_bits_per_token']:.3f}>"
        )


class Results(Sequence[TextResult]):
    """Several scored texts, in input order: a sequence of :class:`TextResult` whose
    :meth:`to_pandas` / :meth:`to_arrow` / :meth:`columns` stack all texts' rows, and
    :meth:`to_parquet` writes them as ``densi export -f parquet`` does."""

    def __init__(self, results: Sequence[TextResult], level: str = "token", units: str = "bits", model: Any = None):
        self._results = list(results)
        self.level = level
        self.units = units
        self._model = model

    @overload
    def __getitem__(self, i: int) -> TextResult: ...

    @overload
    def __getitem__(self, i: slice) -> "Results": ...

    def __getitem__(self, i: Union[int, slice]) -> Union[TextResult, "Results"]:
        if isinstance(i, slice):
            return Results(self._results[i], self.level, self.units, self._model)
        return self._results[i]

    def __len__(self) -> int:
        return len(self._results)

    def __iter__(self) -> Iterator[TextResult]:
        return iter(self._results)

    def _raw(self) -> _Raw:
        return _raw_columns([r._score for r in self._results], self.level, self.units)

    def columns(self) -> Dict[str, np.ndarray]:
        """All texts' long-format columns as numpy arrays."""
        return _columns(self._raw())

    def to_pandas(self) -> "pandas.DataFrame":
        """All texts' rows in one DataFrame (long format). Needs pandas."""
        return _to_pandas(self._raw())

    def to_arrow(self) -> "pyarrow.Table":
        """All texts' rows in one Arrow table (long format). Needs pyarrow."""
        return _to_arrow(self._raw())

    def to_dicts(self) -> List[Dict[str, Any]]:
        """The JSON export's ``texts`` list."""
        return [r.to_dict() for r in self._results]

    def to_parquet(self, path: Any, force: bool = False) -> None:
        """Writes ``densi export -f parquet``'s file (provenance in the key-value metadata under
        ``densi.provenance``), atomically; an existing file is only replaced with ``force``.
        Needs no pyarrow."""
        import os

        if self._model is None:
            raise ValueError("to_parquet() needs the results of Model.score()")
        self._model._native.write_parquet(
            os.fspath(path), [r._score for r in self._results], self.level, self.units, force
        )

    def __repr__(self) -> str:
        return f"<densi.Results texts={len(self)} level={self.level!r} units={self.units!r}>"
