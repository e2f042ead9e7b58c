"""densi: token information density from a real causal language model.

For every token of a text: surprisal (−log₂ p), entropy and varentropy of the model's predictive
distribution, rank and top alternatives; word-level sums; the numbers of the ``densi`` command.

>>> import densi                                                          # doctest: +SKIP
>>> densi.Model().score("My favorite color is blue").to_pandas()          # doctest: +SKIP

``densi.Model`` loads a model (GGUF file or Hugging Face directory) on a backend; ``Model.score``
returns :class:`TextResult` (one text) or :class:`Results` (several) with the JSON export's fields,
numpy columns, and ``to_pandas()`` / ``to_arrow()`` (pandas and pyarrow are optional). Errors are
:class:`DensiError` subclasses with the CLI's one-line messages. ``densi.ray`` scores a corpus
with Ray Data.
"""

from ._densi import __version__
from ._errors import (
    DensiError,
    FileAccessError,
    GpuError,
    InputError,
    ModelFileError,
    ModelNotFoundError,
    OptionError,
)
from ._model import Model
from ._results import Results, TextResult

__all__ = [
    "Model",
    "TextResult",
    "Results",
    "DensiError",
    "ModelNotFoundError",
    "ModelFileError",
    "FileAccessError",
    "InputError",
    "OptionError",
    "GpuError",
    "__version__",
]
