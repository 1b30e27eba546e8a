"""The examples in xling's docstrings run, and say what they show (``python -m pytest --doctest-modules``
would do the same; here they run with the rest of the suite, in one place)."""

from __future__ import annotations

import doctest
import importlib

import pytest

from xling.config import REPO_ROOT


def _module_names() -> list[str]:
    names = []
    for path in sorted((REPO_ROOT / "xling").rglob("*.py")):
        parts = path.relative_to(REPO_ROOT).with_suffix("").parts
        if parts[-1] != "__main__":
            names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


@pytest.mark.parametrize("name", _module_names())
def test_docstring_examples_run(name, monkeypatch):
    monkeypatch.chdir(REPO_ROOT)  # examples name repo files (demo/corpus, configs/...) by relative path
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False,
                             report=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples of {name} failed (run it with -s)"
