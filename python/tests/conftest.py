"""Shared fixtures: the real `densi` binary and the default model (no mocks, no skips: a missing
piece fails the run with the command that provides it)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _densi_bin() -> Path:
    p = Path(os.environ.get("DENSI_BIN", ROOT / "target" / "debug" / "densi"))
    if not p.exists():
        pytest.fail(f"{p}: the densi binary is missing; run `cargo build` first (or set DENSI_BIN)")
    return p


def _model_path() -> Path:
    p = Path(os.environ.get("DENSI_TEST_MODEL", ROOT / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"))
    if not p.exists():
        pytest.fail(f"{p}: the default model is missing; run models/fetch.sh")
    return p


@pytest.fixture(scope="session")
def densi_bin() -> Path:
    return _densi_bin()


@pytest.fixture(scope="session")
def model_path() -> Path:
    return _model_path()


@pytest.fixture(scope="session")
def model(model_path):
    import densi

    return densi.Model(model_path, backend="cpu")


class Cli:
    """Runs the real `densi` command with the test model on the CPU."""

    def __init__(self, binary: Path, model: Path):
        self.binary, self.model = binary, model

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        cmd = [str(self.binary), "--quiet", *args]
        if args and args[0] in ("export", "score", "compare"):
            cmd += ["--model", str(self.model), "--backend", "cpu"]
        r = subprocess.run(cmd, capture_output=True)
        if check and r.returncode != 0:
            raise AssertionError(f"{' '.join(cmd)} failed ({r.returncode}): {r.stderr.decode(errors='replace')}")
        return r

    def export_json(self, texts, *extra: str) -> dict:
        args = ["export", "-f", "json"]
        for t in texts:
            args += ["--text", t]
        return json.loads(self.run(*args, *extra).stdout)

    def error(self, *args: str) -> str:
        """The one-line error the CLI prints, without its `densi: ` prefix."""
        r = self.run(*args, check=False)
        assert r.returncode != 0, f"expected a failure: {args}"
        line = r.stderr.decode().strip().splitlines()[-1]
        assert line.startswith("densi: "), line
        return line[len("densi: ") :]


@pytest.fixture(scope="session")
def cli(densi_bin, model_path) -> Cli:
    return Cli(densi_bin, model_path)
