"""What every benchmark script shares: one thread, timing with medians, result rows, the table.

A benchmark module exposes ``run(quick: bool) -> list[Result]`` (``quick``: a few seconds to a
minute, smaller sizes, fewer repeats) and a ``main()`` that parses ``--quick`` and prints
:func:`format_results`. ``python -m benchmarks.run_all [--quick]`` runs them all. Every figure comes
with a baseline measured in the same run, on the same machine, so the ratio means something on a
noisy 2-core machine where absolute times do not.

Example:
    >>> r = Result("demo", "case", "ms / request (p50)", xling=2.0, baseline=4.0, baseline_name="other",
    ...            lower_is_better=True, target=1.0)
    >>> r.ratio, r.met
    (0.5, True)
"""

from __future__ import annotations

import gc
import os
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass


def one_thread() -> None:
    """Pin every math library to one thread (thread over-subscription on 2 cores is the noise
    that made one training step 50x slower); call before importing torch/numpy users."""
    for name in ("OMP_NUM_THREADS", "NUMBA_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(name, "1")
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    try:
        import torch

        torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    except ImportError:
        pass


def timed(fn: Callable[[], object], repeats: int, warmup: int = 1) -> list[float]:
    """Seconds per call of ``fn`` over ``repeats`` calls, after ``warmup`` untimed ones."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        gc.collect()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) by linear interpolation.

    >>> percentile([1, 2, 3, 4], 50)
    2.5
    """
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no values")
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


@dataclass
class Result:
    """One measured figure, its baseline, and the target on their ratio (``xling / baseline``).

    Args:
        benchmark: the script's subject (``fill-mask``, ``search``...).
        case: what was measured (``xling-mini, 1 mask``, ``1M vectors, HNSW``).
        metric: the unit, as a person reads it (``ms / request (p50)``, ``sentences/s``).
        xling: xling's figure.
        baseline: the baseline's figure in the same run (``None``: a figure without one).
        baseline_name: what the baseline is (``transformers pipeline``).
        lower_is_better: times are; throughputs are not.
        target: the target on the ratio (``ratio <= target`` when lower is better, ``>=``
            otherwise), or ``None``.
        absolute_target: a target on xling's figure itself (``figure <= value`` when lower is
            better), e.g. 20 ms per query; ``None`` for none.
        note: anything a reader needs (sizes, recall, what was cached).
    """

    benchmark: str
    case: str
    metric: str
    xling: float
    baseline: float | None = None
    baseline_name: str = ""
    lower_is_better: bool = True
    target: float | None = None
    absolute_target: float | None = None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.baseline in (None, 0):
            return None
        return self.xling / self.baseline

    @property
    def met(self) -> bool | None:
        checks = []
        if self.target is not None and self.ratio is not None:
            checks.append(self.ratio <= self.target if self.lower_is_better else self.ratio >= self.target)
        if self.absolute_target is not None:
            checks.append(self.xling <= self.absolute_target if self.lower_is_better else self.xling >= self.absolute_target)
        return all(checks) if checks else None

    def target_text(self) -> str:
        parts = []
        sign = "<=" if self.lower_is_better else ">="
        if self.target is not None:
            parts.append(f"ratio {sign} {self.target:g}")
        if self.absolute_target is not None:
            parts.append(f"{sign} {self.absolute_target:g}")
        return ", ".join(parts)


def _number(value: float | None) -> str:
    if value is None:
        return "-"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def format_results(results: Sequence[Result], markdown: bool = False) -> str:
    """The results as a table (plain text, or markdown for the README)."""
    header = ["benchmark", "case", "metric", "xling", "baseline", "ratio", "target", "met", "note"]
    rows = []
    for r in results:
        met = {True: "yes", False: "NO", None: ""}[r.met]
        baseline = f"{_number(r.baseline)} ({r.baseline_name})" if r.baseline is not None else "-"
        ratio = f"{r.ratio:.2f}x" if r.ratio is not None else "-"
        rows.append([r.benchmark, r.case, r.metric, _number(r.xling), baseline, ratio, r.target_text(), met, r.note])
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in rows]
        return "\n".join(lines)
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    return "\n".join("  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip() for row in [header, *rows])


def cli(run: Callable[[bool], list[Result]], description: str) -> None:
    """The ``main()`` of a benchmark script: ``--quick``, ``--markdown``; prints the table."""
    import argparse

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="smaller sizes and fewer repeats (seconds to a minute)")
    parser.add_argument("--markdown", action="store_true", help="print a markdown table")
    args = parser.parse_args()
    one_thread()
    print(format_results(run(args.quick), markdown=args.markdown))
