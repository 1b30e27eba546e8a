"""Run every benchmark script, each in its own process, and write one table of their results.

    OMP_NUM_THREADS=1 python -m benchmarks.run_all [--quick] [--only NAME ...] [--markdown] [--out FILE]

A benchmark is any ``benchmarks/*.py`` (but ``common``, ``run_all`` and ``__init__``) defining a
top-level ``run(quick)``; scripts without one are listed as skipped. Each runs in a fresh Python
process (``python -c`` importing it, calling ``run(quick)`` and printing its rows as JSON), so one
script's imports, caches and memory never touch another's; its progress (stderr) shows as it goes.
The rows are printed as one table (``--markdown``: a markdown one) and written as markdown to
``--out`` (default ``benchmarks/results.md``) with the date, the machine and the command. A script
that fails (or outlives ``--timeout``) becomes a failure row, the others still run, and the exit
code is 1. ``--only`` takes script names (``projection_speed``, or ``projection_speed.py``).
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import datetime
import json
import os
import platform
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks.common import Result, format_results, one_thread

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
NOT_BENCHMARKS = {"common", "run_all", "__init__"}
#: Prefixes the child's JSON line on stdout (a script may print its own lines there too).
MARKER = "@@xling-benchmark-results@@ "


@dataclasses.dataclass
class ModuleRun:
    """One script's outcome: its rows (or a failure row), its wall time, and why it failed."""

    name: str
    results: list[Result]
    seconds: float
    error: str | None = None


def has_run_function(path: Path) -> bool:
    """Whether ``path`` defines a top-level ``run`` (read, not imported: the parent stays light)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return any(isinstance(node, ast.FunctionDef) and node.name == "run" for node in tree.body)


def discover(folder: Path = HERE) -> tuple[list[str], list[str]]:
    """``(benchmarks, skipped)``: module names with a ``run`` function, and those without.

    Example:
        >>> "projection_speed" in discover()[0]
        True
    """
    found, skipped = [], []
    for path in sorted(folder.glob("*.py")):
        if path.stem in NOT_BENCHMARKS:
            continue
        try:
            (found if has_run_function(path) else skipped).append(path.stem)
        except SyntaxError:
            found.append(path.stem)  # let its run fail loudly as a failure row
    return found, skipped


def run_child(name: str, quick: bool) -> None:
    """In the child process: import ``benchmarks.<name>``, run it, print its rows as one JSON line."""
    import importlib

    one_thread()
    module = importlib.import_module(f"benchmarks.{name}")
    results = module.run(quick)
    print(MARKER + json.dumps([dataclasses.asdict(r) for r in results]), flush=True)


def failure(name: str, message: str) -> Result:
    return Result(name, "FAILED", "-", float("nan"), note=message)


def kill_group(pid: int) -> None:
    """Kill the process group that ``pid`` leads (a child started with ``start_new_session``)."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass  # it ended meanwhile


def run_module(name: str, quick: bool, timeout: float | None) -> ModuleRun:
    """Run one script in its own process and collect its rows (or a failure row).

    Its stderr is echoed as it comes (progress), and its last line kept for a failure's note; on
    ``timeout`` its whole process group (it may start processes of its own) is killed.
    """
    code = f"from benchmarks.run_all import run_child; run_child({name!r}, {quick!r})"
    start = time.perf_counter()
    last_line = ""
    with tempfile.TemporaryFile("w+", encoding="utf-8") as out:
        child = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, stdout=out, stderr=subprocess.PIPE,
                                 text=True, start_new_session=True)
        timer = threading.Timer(timeout, kill_group, (child.pid,)) if timeout else None
        if timer is not None:
            timer.start()
        try:
            for line in child.stderr:
                sys.stderr.write(line)
                last_line = line.strip() or last_line
            child.wait()
        finally:
            if timer is not None:
                timer.cancel()
        out.seek(0)
        lines = out.read().splitlines()
    seconds = time.perf_counter() - start
    if child.returncode == -signal.SIGKILL and timeout and seconds >= timeout:
        return ModuleRun(name, [failure(name, f"timed out after {timeout:g} s")], seconds, "timeout")
    payload = [line for line in lines if line.startswith(MARKER)]
    for line in lines:
        if not line.startswith(MARKER):
            print(f"[{name}] {line}", file=sys.stderr)
    if child.returncode != 0 or not payload:
        why = f"exit code {child.returncode}" if child.returncode != 0 else "no results printed"
        return ModuleRun(name, [failure(name, f"{why}: {last_line[-300:]}")], seconds, why)
    try:
        rows = [Result(**row) for row in json.loads(payload[-1][len(MARKER):])]
    except (TypeError, ValueError) as exc:
        return ModuleRun(name, [failure(name, f"unreadable results: {exc}")], seconds, "unreadable results")
    if not rows:
        return ModuleRun(name, [failure(name, "run() returned no rows")], seconds, "no rows")
    return ModuleRun(name, rows, seconds)


def machine() -> str:
    """Cores, CPU model, memory, Python and the thread setting, as one line."""
    model, memory = platform.processor() or "unknown CPU", ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory = f", {int(line.split()[1]) / 2**20:.0f} GiB RAM"
                break
    except OSError:
        pass
    return (f"{os.cpu_count()} cores, {model}{memory}, {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}")


def report(runs: Sequence[ModuleRun], command: str, started: datetime.datetime, quick: bool,
           skipped: Sequence[str]) -> str:
    """The markdown file: when, where, how, the table, and each script's time."""
    rows = [r for run in runs for r in run.results]
    lines = [
        "# Benchmark results",
        "",
        f"- date: {started:%Y-%m-%d %H:%M} UTC",
        f"- machine: {machine()}",
        f"- command: `{command}`",
        f"- mode: {'quick (smaller sizes, fewer repeats)' if quick else 'full'}",
        "",
        "Ratios are xling / baseline, both measured in this run; `met` checks the target.",
        "",
        format_results(rows, markdown=True),
        "",
        "| script | seconds | status |",
        "|---|---|---|",
        *[f"| {run.name} | {run.seconds:.1f} | {'ok' if run.error is None else 'FAILED: ' + run.error} |"
          for run in runs],
    ]
    if skipped:
        lines += ["", f"Skipped (no `run` function): {', '.join(skipped)}."]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="each script's quick mode (smaller sizes, fewer repeats)")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="run only these scripts")
    parser.add_argument("--markdown", action="store_true", help="print a markdown table")
    parser.add_argument("--out", type=Path, default=HERE / "results.md",
                        help="markdown file (default: benchmarks/results.md)")
    parser.add_argument("--timeout", type=float, default=None, metavar="SECONDS",
                        help="give up on a script after this long (default: no limit)")
    args = parser.parse_args(argv)
    one_thread()  # the children inherit the thread settings through the environment
    found, skipped = discover()
    names = found
    if args.only:
        wanted = [name.removesuffix(".py").removeprefix("benchmarks.") for name in args.only]
        unknown = [name for name in wanted if name not in found]
        if unknown:
            why = {name: "has no run function" if name in skipped else "is not a script in benchmarks/"
                   for name in unknown}
            parser.error("; ".join(f"{name} {reason}" for name, reason in why.items())
                         + f" (benchmarks: {', '.join(found)})")
        names = list(dict.fromkeys(wanted))
        skipped = []
    started = datetime.datetime.now(datetime.timezone.utc)
    given = sys.argv[1:] if argv is None else argv
    command = "python -m benchmarks.run_all" + "".join(" " + shlex.quote(a) for a in given)
    print(f"[run_all] {len(names)} benchmark{'s' * (len(names) != 1)}: {', '.join(names)}"
          + (f"; skipped (no run function): {', '.join(skipped)}" if skipped else ""), file=sys.stderr, flush=True)
    runs = []
    for name in names:
        print(f"[run_all] {name} ...", file=sys.stderr, flush=True)
        outcome = run_module(name, args.quick, args.timeout)
        status = "ok" if outcome.error is None else f"FAILED ({outcome.error})"
        print(f"[run_all] {name}: {outcome.seconds:.1f} s, {status}", file=sys.stderr, flush=True)
        runs.append(outcome)
    rows = [r for run in runs for r in run.results]
    print(format_results(rows, markdown=args.markdown))
    print("\n" + "\n".join(f"{run.name}: {run.seconds:.1f} s{'' if run.error is None else ', FAILED'}" for run in runs))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report(runs, command, started, args.quick, skipped), encoding="utf-8")
    print(f"wrote {args.out}")
    return 1 if any(run.error is not None for run in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
