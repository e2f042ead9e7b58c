"""densi's exceptions. The message is the CLI's one-line error (what `densi` prints after ``densi: ``)."""

from __future__ import annotations

__all__ = [
    "DensiError",
    "ModelNotFoundError",
    "ModelFileError",
    "FileAccessError",
    "InputError",
    "OptionError",
    "GpuError",
]


class DensiError(Exception):
    """Base class of every error densi raises."""


class ModelNotFoundError(DensiError, FileNotFoundError):
    """No model at the given path, ``$DENSI_MODEL``, or the default location."""


class ModelFileError(DensiError, ValueError):
    """A model file or directory that is not what it claims to be, or an unsupported architecture or tensor type."""


class FileAccessError(DensiError, OSError):
    """A file that cannot be read or written (the message names it)."""


class InputError(DensiError, ValueError):
    """A bad text: empty, not UTF-8; or an output path that cannot be written."""


class OptionError(DensiError, ValueError):
    """A bad option value (``bos``, ``window``, ``stride``, ``level``, ``backend``...).

    The message names the option as the CLI does (``--window: 1 is too small (at least 2 tokens)``).
    """


class GpuError(DensiError, RuntimeError):
    """The GPU backend failed (no adapter, device lost, out of memory, a limit the model does not fit)."""
