"""The model: load once, score many texts."""

from __future__ import annotations

import os
import tempfile
import warnings
from typing import Any, Iterable, List, Optional, Sequence, Tuple, Union, overload

from . import _densi
from ._errors import OptionError
from ._results import Results, TextResult

__all__ = ["Model"]

Text = Union[str, bytes]
PathLike = Union[str, "os.PathLike[str]"]


def _as_text(what: str, t: Any) -> str:
    if isinstance(t, str):
        return t
    if isinstance(t, (bytes, bytearray, memoryview)):
        return _densi.decode(what, bytes(t))
    raise TypeError(f"{what}: expected str or bytes, got {type(t).__name__}")


class Model:
    """A causal language model loaded for scoring, on a compute backend.

    Parameters
    ----------
    path
        A GGUF file or a Hugging Face model directory. Default: ``$DENSI_MODEL``, else
        ``models/SmolLM2-135M-Instruct.Q4_1.gguf`` (relative to the working directory, then to the
        densi checkout the package was built from), as the ``densi`` command does.
    backend
        ``"auto"`` (a real GPU when there is one, else the CPU; a GPU failure mid-run finishes on
        the CPU with a warning), ``"gpu"`` (wgpu, also on a software adapter) or ``"cpu"``.
    device
        GPU adapter index as listed by ``densi devices``.
    threads
        CPU threads (default: all cores).
    weights
        ``"resident"`` (the weights stay in the file's type in memory, dequantized inside the
        matrix products) or ``"f32"`` (expanded to f32 at load: the oracle, 4 bytes per weight);
        the same numbers either way. Default: the ``densi`` command's ``--weights`` default.

    Raises
    ------
    ModelNotFoundError, ModelFileError, FileAccessError, OptionError, GpuError
        With the ``densi`` command's one-line messages.

    Examples
    --------
    >>> model = densi.Model()                                  # doctest: +SKIP
    >>> model.score("My favorite color is blue").to_pandas()   # doctest: +SKIP
    """

    def __init__(
        self,
        path: Optional[PathLike] = None,
        backend: str = "auto",
        device: Optional[int] = None,
        threads: Optional[int] = None,
        weights: Optional[str] = None,
    ) -> None:
        if backend != "cpu" and not os.environ.get("XDG_RUNTIME_DIR"):
            # As the densi command does: Mesa's Vulkan driver asks libwayland for a display when the
            # GPU is probed, which prints an error per probe where this is unset (headless machines).
            os.environ["XDG_RUNTIME_DIR"] = tempfile.gettempdir()
        self._native = _densi.Model(
            None if path is None else os.fspath(path), backend, device, threads, weights
        )

    @property
    def path(self) -> str:
        """The file or directory the model was loaded from."""
        return os.fspath(self._native.path)

    @property
    def architecture(self) -> str:
        return self._native.architecture

    @property
    def parameters(self) -> int:
        return self._native.parameters

    @property
    def context_length(self) -> int:
        """The model's context in tokens (the default window)."""
        return self._native.context_length

    @property
    def backend(self) -> str:
        """``"cpu"`` or ``"gpu"``: the backend in use (after any fallback)."""
        return self._native.backend[0]

    @property
    def device(self) -> str:
        """The device, e.g. ``cpu, 2 threads``."""
        return self._native.backend[1]

    def sha256(self) -> str:
        """sha256 of the weight files (hex), as in the exports' provenance."""
        return self._native.sha256()

    def __repr__(self) -> str:
        return f"<densi.Model {self.architecture} {self.parameters:,} parameters from {self.path!r} on {self.device}>"

    @overload
    def score(
        self,
        text_or_texts: Text,
        bos: Union[str, int] = ...,
        window: Optional[int] = ...,
        stride: Optional[int] = ...,
        top_k: int = ...,
        level: str = ...,
        units: str = ...,
        ids: Optional[Sequence[str]] = ...,
        progress: Optional[bool] = ...,
    ) -> TextResult: ...

    @overload
    def score(
        self,
        text_or_texts: Iterable[Text],
        bos: Union[str, int] = ...,
        window: Optional[int] = ...,
        stride: Optional[int] = ...,
        top_k: int = ...,
        level: str = ...,
        units: str = ...,
        ids: Optional[Sequence[str]] = ...,
        progress: Optional[bool] = ...,
    ) -> Results: ...

    def score(
        self,
        text_or_texts: Union[Text, Iterable[Text]],
        bos: Union[str, int] = "auto",
        window: Optional[int] = None,
        stride: Optional[int] = None,
        top_k: int = 5,
        level: str = "token",
        units: str = "bits",
        ids: Optional[Sequence[str]] = None,
        progress: Optional[bool] = None,
    ) -> Union[TextResult, Results]:
        """Scores a text (returns a :class:`TextResult`) or several (returns :class:`Results`).

        The GIL is released while the model runs, so other Python threads go on.

        Parameters
        ----------
        text_or_texts
            A ``str`` (or UTF-8 ``bytes``), or an iterable of them.
        bos
            First token's context: ``"auto"`` (the model's BOS, else ``<|endoftext|>``), ``"none"``
            (the first token is not scored), a token id, or a token's text.
        window, stride
            Sliding windows in tokens (default: the model's context, and half the window).
        top_k
            Alternatives kept per token.
        level
            Rows of the tables: ``"token"`` or ``"word"``.
        units
            ``"bits"`` or ``"nats"`` (surprisal, entropy; varentropy in their square).
        ids
            Text ids (default: ``text1``, ``text2``... as ``densi export --text``).
        progress
            A ``tqdm`` progress bar over tokens: ``None`` shows it when tqdm is installed and
            stderr is a terminal, ``True`` always, ``False`` never.

        Raises
        ------
        InputError
            An empty text, or bytes that are not UTF-8.
        OptionError
            A bad ``bos``, ``window``, ``stride``, ``top_k``, ``level`` or ``units``.
        """
        single = isinstance(text_or_texts, (str, bytes, bytearray, memoryview))
        raw: List[Any] = [text_or_texts] if single else list(text_or_texts)  # type: ignore[arg-type]
        if ids is None:
            names = [f"text{i + 1}" for i in range(len(raw))]
        else:
            names = [str(i) for i in ([ids] if single and isinstance(ids, str) else ids)]
            if len(names) != len(raw):
                raise OptionError(f"ids: {len(names)} ids for {len(raw)} texts")
        items: List[Tuple[str, str]] = [(n, _as_text(n, t)) for n, t in zip(names, raw)]
        # Check the table options before any work (the native side names them as the CLI does).
        _densi.columns([], level, units)
        bos_s = str(bos)

        bar = _progress_bar(progress)
        if bar is not None and not bar.disable:
            bar.total = sum(self._native.token_count(t) for _, t in items)
            bar.refresh()
        results: List[TextResult] = []
        done = 0
        try:
            for name, text in items:
                callback = None
                if bar is not None and not bar.disable:
                    base = done

                    def callback(n: int, _total: int, base: int = base) -> None:
                        bar.update(base + n - bar.n)

                score, warns = self._native.score_text(name, text, bos_s, window, stride, int(top_k), callback)
                for w in warns:
                    warnings.warn(w, RuntimeWarning, stacklevel=2)
                done += len(score)
                if bar is not None and not bar.disable:
                    bar.update(done - bar.n)
                results.append(TextResult(score, level, units, self))
        finally:
            if bar is not None:
                bar.close()
        if single:
            return results[0]
        return Results(results, level, units, self)


def _progress_bar(progress: Optional[bool]) -> Any:
    if progress is False:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        if progress:
            raise ImportError("progress=True needs tqdm: pip install tqdm") from None
        return None
    return tqdm(total=None, unit="tok", desc="densi", disable=None if progress is None else False, leave=False)
