"""docs/python.md is a notebook: its ```python blocks run here, in order, in one namespace."""

from __future__ import annotations

import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "python.md"


def test_docs_python_md_runs(monkeypatch):
    blocks = re.findall(r"^```python\n(.*?)^```", DOC.read_text(), flags=re.S | re.M)
    assert len(blocks) >= 5, "the examples of docs/python.md were not found"
    # The page says densi.Model() finds the default model from the checkout: run from its root.
    monkeypatch.chdir(DOC.parents[1])
    namespace: dict = {}
    for i, code in enumerate(blocks):
        exec(compile(code, f"{DOC}:block{i + 1}", "exec"), namespace)
