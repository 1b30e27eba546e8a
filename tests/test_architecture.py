"""The package's shape (docs/ARCHITECTURE.md): layers that import one way, no import cycle, no
module too long to read, and each shared file name spelled in one place."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from xling.config import REPO_ROOT

PACKAGE = REPO_ROOT / "xling"
MAX_LINES = 600
#: What each layer may import of xling (besides itself and the top-level modules: config, errors, ...).
LAYERS = {
    "xling.data": set(),
    "xling.core": {"xling.data"},
    "xling.training": {"xling.data", "xling.core"},
    "xling.commands": {"xling.data", "xling.core", "xling.training"},
    "xling.ui": {"xling.data", "xling.core", "xling.training"},
}
#: The one import against the layers: the corpus builder filters prose paragraphs by what fastText's
#: detector (core) says their language is.
ALLOWED = {("xling.data.harvest", "xling.core.detectors")}
#: File names more than one layer reads: each literal may stand in one module of xling only.
SHARED_NAMES = ("parallel.jsonl", "mono.jsonl", "progress.jsonl", "config.yaml", "metrics.json",
                "trainer_state.pt", "xling.json", "xling-encoder.json", "teachers.json")


def _modules() -> dict[str, Path]:
    modules = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(REPO_ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        modules[name] = path
    return modules


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The xling modules ``name`` imports anywhere in its file (inside functions too)."""
    is_package = path.name == "__init__.py"
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = name.split(".") if is_package else name.split(".")[:-1]
                package = package[: len(package) - node.level + 1]
                base = ".".join([*package, *([base] if base else [])])
            targets = [base, *(f"{base}.{alias.name}" for alias in node.names)]
        else:
            continue
        for target in targets:
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name and target != "xling":
                found.add(target)
    return found


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_cycle_finder_finds_a_cycle_through_three_modules():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_among_xlings_modules(graph):
    assert _cycles(graph) == []


def test_layers_import_one_way(graph):
    wrong = []
    for name, targets in graph.items():
        layer = next((layer for layer in LAYERS if name == layer or name.startswith(layer + ".")), None)
        if layer is None:
            continue
        for target in targets:
            other = next((other for other in LAYERS if target == other or target.startswith(other + ".")), None)
            if other is not None and other != layer and other not in LAYERS[layer] and (name, target) not in ALLOWED:
                wrong.append(f"{name} -> {target}")
    assert wrong == []


def test_no_module_is_over_600_lines():
    long = {str(path.relative_to(REPO_ROOT)): n for path in _modules().values()
            if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert long == {}


@pytest.mark.parametrize("file_name", SHARED_NAMES)
def test_each_shared_file_name_is_spelled_in_one_module(file_name):
    pattern = re.compile(r"""["']""" + re.escape(file_name) + r"""["']""")
    spelled = []
    for path in _modules().values():
        code = "\n".join(line for line in path.read_text(encoding="utf-8").splitlines()
                         if not line.lstrip().startswith((">>>", "...", "#")))
        if pattern.search(_without_docstrings(code)):
            spelled.append(str(path.relative_to(REPO_ROOT)))
    assert len(spelled) == 1, spelled


def _without_docstrings(code: str) -> str:
    """The code less its docstrings (which may name a file to explain it)."""
    tree = ast.parse(code)
    lines = code.splitlines()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                for row in range(first.lineno - 1, first.end_lineno):
                    lines[row] = ""
    return "\n".join(lines)


#: Where a module of the library layers may call ``from_env()`` (issue 19): entry points, which
#: read the environment once and pass ``Paths`` down. Keyed by (module, enclosing function).
ENTRY_POINTS = {
    ("xling.core.calibration", "main"),     # python -m xling.core.calibration
    ("xling.data.harvest", "add_arguments"),  # the harvest CLI's argparse defaults (--out, --demo, --deb-cache)
    ("xling.data.prose", "run_prose_cli"),  # python -m xling.data.prose: its --cache default
    ("xling.training.command", "run"),      # python -m xling.training (also what the UI's JobManager launches)
    ("xling.core.services", "__init__"),    # Services(config=None): the app's composition root (AppConfig.from_env())
}
#: Library code that still reads the environment as a hidden default (issue 19, not yet passed
#: down). Each one removed from here is a fix; nothing may be added.
HIDDEN_DEFAULTS = {
    ("xling.core.model_folders", "resolve_model_source"),  # load_masked_lm/load_detector don't take paths yet
    ("xling.core.e5_folder", "default_cache"),             # e5.py's cache=None defaults
    ("xling.core.delta", "materialise"),                   # cache=None (XlingModel.load, load_masked_lm)
    ("xling.core.embedding_cache", "shipped_dir"),         # shipped_vectors/has_vectors folder=None
    ("xling.data.harvest", "harvest"),                     # HarvestConfig.deb_cache=None (the CLI always sets it)
}


def _environment_reads(path: Path) -> set[tuple[str, int]]:
    """``(enclosing function, line)`` of each ``….from_env(…)`` call in the file (docstrings and
    comments are not code: the AST sees neither)."""
    found = set()

    def visit(node: ast.AST, function: str) -> None:
        for child in ast.iter_child_nodes(node):
            name = child.name if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) else function
            if isinstance(child, ast.Call) and isinstance(child.func, ast.Attribute) and child.func.attr == "from_env":
                found.add((function, child.lineno))
            visit(child, name)

    visit(ast.parse(path.read_text(encoding="utf-8")), "<module>")
    return found


def test_only_entry_points_of_the_library_layers_read_the_environment():
    reads = {}
    for name, path in _modules().items():
        if name.startswith(("xling.core", "xling.data", "xling.training")):
            for function, line in _environment_reads(path):
                reads.setdefault((name, function), []).append(line)
    unexpected = {key: lines for key, lines in reads.items() if key not in ENTRY_POINTS | HIDDEN_DEFAULTS}
    assert unexpected == {}, "take Paths as a parameter; only an entry point calls Paths.from_env()"
    assert HIDDEN_DEFAULTS <= set(reads), "a hidden default is gone: remove it from HIDDEN_DEFAULTS"


def test_the_environment_read_finder_sees_calls_not_docstrings(tmp_path):
    module = tmp_path / "m.py"
    module.write_text('"""Paths.from_env() in a docstring."""\n\ndef f():\n    return Paths.from_env()  # a call\n')
    assert _environment_reads(module) == {("f", 4)}
