"""Scoring a corpus with Ray Data: one densi model per actor, long-format rows out.

>>> import ray, densi.ray                                                      # doctest: +SKIP
>>> ds = ray.data.read_json("corpus.jsonl")               # {"id": ..., "text": ...} per line
>>> rows = densi.ray.score_dataset(ds, "models/SmolLM2-135M-Instruct.Q4_1.gguf", actors=2)
>>> rows.write_parquet("scores/")

Each actor loads the model once (the file must be readable at ``model_path`` on every node: copy it
to each node or put it on shared storage) and scores the batches it is given with
``threads`` CPU threads (or, with ``num_gpus``, on the GPU). The rows are those of
``densi export -f parquet`` for the same texts, with every column but ``text_id`` nullable and one
more column, ``error``: null for a scored row, the CLI's one-line message for a text that failed
when ``on_error="row"`` (then that text has exactly one row, with its ``text_id``, the error, and
nulls elsewhere). With ``on_error="raise"`` (the default) a failing text fails the job with an
:class:`densi.InputError`. Texts are never dropped silently.

Faults: Ray restarts an actor that dies and re-runs the batch it had; a batch's rows are only
kept when its task finishes, so a retried batch is neither lost nor duplicated.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, List, Optional, Union

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow
    import ray.data

__all__ = ["score_dataset", "DensiScorer", "ERROR_COLUMN"]

ERROR_COLUMN = "error"


class DensiScorer:
    """The Ray Data actor: a :class:`densi.Model` loaded once, called on pyarrow batches."""

    def __init__(
        self,
        model_path: Optional[str],
        text_column: str,
        id_column: str,
        level: str,
        units: str,
        on_error: str,
        score_options: Dict[str, Any],
        backend: str,
        threads: Optional[int],
    ) -> None:
        from . import Model

        self.model = Model(model_path, backend=backend, threads=threads)
        self.text_column = text_column
        self.id_column = id_column
        self.level = level
        self.units = units
        self.on_error = on_error
        self.score_options = score_options
        self.schema = _schema(level, units)

    def __call__(self, batch: "pyarrow.Table") -> "pyarrow.Table":
        import pyarrow as pa

        from . import DensiError, Results, TextResult
        from ._model import _as_text

        for column in (self.text_column, self.id_column):
            if column not in batch.column_names:
                raise KeyError(f"the dataset has no column {column!r} (columns: {', '.join(batch.column_names)})")
        ids = batch.column(self.id_column).to_pylist()
        texts = batch.column(self.text_column).to_pylist()
        pieces: List[pa.Table] = []
        run: List[TextResult] = []  # consecutive scored texts, turned into one table

        def flush() -> None:
            if run:
                t = Results(run, self.level, self.units).to_arrow()
                t = t.append_column(ERROR_COLUMN, pa.nulls(t.num_rows, pa.string()))
                pieces.append(t.cast(self.schema))
                run.clear()

        for raw_id, raw_text in zip(ids, texts):
            text_id = "" if raw_id is None else str(raw_id)
            try:
                if raw_text is None:
                    from ._errors import InputError

                    raise InputError(f"{text_id}: missing text (null)")
                text = _as_text(text_id, raw_text)
                run.append(
                    self.model.score(
                        text, ids=[text_id], level=self.level, units=self.units, progress=False, **self.score_options
                    )
                )
            except DensiError as e:
                if self.on_error == "raise":
                    raise
                flush()
                pieces.append(_error_row(self.schema, text_id, str(e)))
        flush()
        if not pieces:
            return self.schema.empty_table()
        return pa.concat_tables(pieces)


def _schema(level: str, units: str) -> "pyarrow.Schema":
    """The output schema: the export's columns, all nullable but ``text_id``, plus ``error``."""
    import pyarrow as pa

    from ._results import _raw_columns, _to_arrow

    export = _to_arrow(_raw_columns([], level, units)).schema
    fields = [f.with_nullable(f.name != "text_id") for f in export]
    return pa.schema(fields + [pa.field(ERROR_COLUMN, pa.string(), nullable=True)])


def _error_row(schema: "pyarrow.Schema", text_id: str, message: str) -> "pyarrow.Table":
    import pyarrow as pa

    arrays = []
    for f in schema:
        if f.name == "text_id":
            arrays.append(pa.array([text_id], pa.string()))
        elif f.name == ERROR_COLUMN:
            arrays.append(pa.array([message], pa.string()))
        else:
            arrays.append(pa.nulls(1, f.type))
    return pa.Table.from_arrays(arrays, schema=schema)


def score_dataset(
    ds: "ray.data.Dataset",
    model_path: Optional[str] = None,
    *,
    text_column: str = "text",
    id_column: str = "id",
    level: str = "token",
    units: str = "bits",
    bos: Union[str, int] = "auto",
    window: Optional[int] = None,
    stride: Optional[int] = None,
    top_k: int = 5,
    on_error: str = "raise",
    actors: int = 2,
    threads: int = 1,
    num_gpus: float = 0,
    backend: Optional[str] = None,
    batch_size: int = 16,
) -> "ray.data.Dataset":
    """Scores every text of ``ds`` with densi on a pool of Ray actors; returns the long-format rows.

    Parameters
    ----------
    ds
        A Ray dataset with a text column (``str`` or UTF-8 ``bytes``) and an id column, e.g. from
        ``ray.data.read_json("corpus.jsonl")`` or ``ray.data.read_parquet(...)``.
    model_path
        The model file or directory, readable at this path on every node (default: as
        :class:`densi.Model`, resolved on each node).
    level, units, bos, window, stride, top_k
        As :meth:`densi.Model.score`.
    on_error
        ``"raise"``: a text that fails (empty, not UTF-8, null) fails the job with the CLI's message;
        ``"row"``: it becomes one row with its ``text_id`` and the message in ``error``.
    actors
        Actors in the pool (each holds one copy of the model, ~4 bytes per parameter).
    threads
        CPU threads per actor; Ray reserves as many CPUs for each actor.
    num_gpus
        GPUs per actor (e.g. 1, or 0.5 to put two actors on each GPU); with GPUs the backend
        defaults to ``"gpu"``.
    backend
        ``"cpu"``, ``"gpu"`` or ``"auto"``; default ``"gpu"`` when ``num_gpus > 0``, else ``"cpu"``.
    batch_size
        Texts per batch: a retried batch re-scores this many texts.

    Returns
    -------
    ray.data.Dataset
        Rows with the columns of ``densi export -f parquet`` plus ``error``; write them with
        ``.write_parquet(path)``. Order follows the input when the dataset context preserves order
        (``ray.data.DataContext.get_current().execution_options.preserve_order = True``).

    When the actors take every CPU of the cluster (e.g. two 1-thread actors on 2 CPUs), Ray has
    none left for the read tasks and waits forever: read the input first (``ds.materialize()``)
    or leave CPUs free.
    """
    if on_error not in ("raise", "row"):
        from ._errors import OptionError

        raise OptionError(f"on_error: unknown value `{on_error}` (raise, row)")
    if actors < 1:
        from ._errors import OptionError

        raise OptionError(f"actors: {actors} (give at least 1)")
    if backend is None:
        backend = "gpu" if num_gpus else "cpu"
    from ray.data import ActorPoolStrategy

    return ds.map_batches(
        DensiScorer,
        fn_constructor_kwargs=dict(
            model_path=model_path,
            text_column=text_column,
            id_column=id_column,
            level=level,
            units=units,
            on_error=on_error,
            score_options=dict(bos=bos, window=window, stride=stride, top_k=top_k),
            backend=backend,
            threads=threads,
        ),
        batch_format="pyarrow",
        batch_size=batch_size,
        compute=ActorPoolStrategy(size=actors),
        num_cpus=threads,
        num_gpus=num_gpus or None,
    )
