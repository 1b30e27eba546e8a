"""Calibrating a language-ID head: one temperature, fitted on dev texts (Guo et al., 2017).

A head trained with cross-entropy on clean, balanced texts is over-confident: xling-mini said
"Punjabi 97-99 %" of Urdu. Dividing its logits by one temperature ``T`` (fitted by minimising the
negative log-likelihood of the right languages on the dev split) leaves every ranking as it was and
makes the probabilities mean what they say: the expected calibration error (ECE, the gap between
confidence and accuracy, averaged over 15 confidence bins) is reported before and after, on the
fitting texts and on held-out ones.

    python -m xling.core.calibration checkpoints/xling-mini            # fit on the cache's dev split, print
    python -m xling.core.calibration checkpoints/xling-mini --write    # ... and store T in xling.json

Example:
    >>> t = fit_temperature(np.array([[4.0, 0.0], [4.0, 0.0]]), np.array([0, 1]))
    >>> t > 1   # one of two confident answers is wrong: soften
    True
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from xling.core.model_folders import XLING_MANIFEST
from xling.core.vectors import log_softmax, softmax

#: Confidence bins of the expected calibration error.
ECE_BINS = 15
#: The search range of the temperature (log-spaced, then refined).
_T_RANGE = (0.05, 20.0)


def nll(logits: np.ndarray, labels: np.ndarray, temperature: float = 1.0) -> float:
    """Mean negative log-likelihood of ``labels`` under ``softmax(logits / temperature)``."""
    logp = log_softmax(np.asarray(logits, dtype=np.float64) / temperature)
    return float(-logp[np.arange(len(labels)), labels].mean())


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The temperature minimising :func:`nll` (a log-spaced grid, then golden-section search
    around its best point). The NLL is convex in ``1/T``, so this finds the optimum."""
    logits, labels = np.asarray(logits, dtype=np.float64), np.asarray(labels, dtype=np.int64)
    if logits.ndim != 2 or len(logits) != len(labels) or not len(labels):
        raise ValueError("need (n, classes) logits and n labels, n >= 1")
    grid = np.geomspace(*_T_RANGE, 61)
    losses = [nll(logits, labels, t) for t in grid]
    best = int(np.argmin(losses))
    lo, hi = np.log(grid[max(best - 1, 0)]), np.log(grid[min(best + 1, len(grid) - 1)])
    ratio = (np.sqrt(5) - 1) / 2
    for _ in range(40):
        a, b = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
        if nll(logits, labels, float(np.exp(a))) < nll(logits, labels, float(np.exp(b))):
            hi = b
        else:
            lo = a
    return float(np.exp((lo + hi) / 2))


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS) -> float:
    """Share-weighted mean ``|accuracy - confidence|`` over equal-width confidence bins of the top answer."""
    probs, labels = np.asarray(probs, dtype=np.float64), np.asarray(labels)
    confidence, predicted = probs.max(axis=1), probs.argmax(axis=1)
    right = predicted == labels
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        members = which == b
        if members.any():
            total += members.mean() * abs(right[members].mean() - confidence[members].mean())
    return float(total)


@dataclass(frozen=True)
class CalibrationReport:
    """What fitting did: the temperature and the figures before and after it.

    ``held_out_*`` are on texts the fit did not see (``None`` when none were given).
    """

    temperature: float
    n_texts: int
    accuracy: float
    nll_before: float
    nll_after: float
    ece_before: float
    ece_after: float
    mean_confidence_before: float
    mean_confidence_after: float
    held_out_n: int | None = None
    held_out_ece_before: float | None = None
    held_out_ece_after: float | None = None

    def to_dict(self) -> dict:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def _labelled(model, texts: Sequence[str], langs: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    index = {lang: i for i, lang in enumerate(model.languages)}
    kept = [(t, index[lang]) for t, lang in zip(texts, langs) if lang in index and t.strip()]
    if not kept:
        raise ValueError("no text is in one of the head's languages")
    logits = model.language_logits([t for t, _ in kept])
    return logits, np.array([label for _, label in kept])


def calibrate(model, texts: Sequence[str], langs: Sequence[str], held_out: tuple[Sequence[str], Sequence[str]] | None = None
              ) -> CalibrationReport:
    """Fit :attr:`XlingModel.lid_temperature` on ``texts`` (their ``langs`` the truth; texts in
    languages the head lacks are skipped) and report; the model is not changed."""
    logits, labels = _labelled(model, texts, langs)
    t = fit_temperature(logits, labels)
    before, after = softmax(logits), softmax(logits, t)
    extra = {}
    if held_out is not None:
        h_logits, h_labels = _labelled(model, *held_out)
        extra = {"held_out_n": len(h_labels),
                 "held_out_ece_before": expected_calibration_error(softmax(h_logits), h_labels),
                 "held_out_ece_after": expected_calibration_error(softmax(h_logits, t), h_labels)}
    return CalibrationReport(
        temperature=t, n_texts=len(labels), accuracy=float((logits.argmax(1) == labels).mean()),
        nll_before=nll(logits, labels), nll_after=nll(logits, labels, t),
        ece_before=expected_calibration_error(before, labels), ece_after=expected_calibration_error(after, labels),
        mean_confidence_before=float(before.max(1).mean()), mean_confidence_after=float(after.max(1).mean()), **extra)


def write_temperature(folder: str | Path, temperature: float, report: dict | None = None) -> Path:
    """Store ``temperature`` (and the report that chose it) in the checkpoint's ``xling.json``."""
    path = Path(folder) / XLING_MANIFEST
    manifest = json.loads(path.read_text(encoding="utf-8"))
    manifest["lid_temperature"] = round(float(temperature), 4)
    if report is not None:
        manifest["lid_calibration"] = report
    path.write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def _read_texts(path: Path, per_lang: int) -> tuple[list[str], list[str]]:
    """The first ``per_lang`` texts of each language of a ``{text, lang}`` file (:func:`read_texts`)."""
    from xling.data.eval_files import read_texts

    texts: list[str] = []
    langs: list[str] = []
    seen: dict[str, int] = {}
    for row in read_texts(path):
        if seen.get(row.lang, 0) < per_lang:
            seen[row.lang] = seen.get(row.lang, 0) + 1
            texts.append(row.text)
            langs.append(row.lang)
    return texts, langs


def main(argv: list[str] | None = None) -> int:
    import argparse

    from xling.config import Paths
    from xling.core.model import XlingModel
    from xling.errors import XlingError

    parser = argparse.ArgumentParser(prog="python -m xling.core.calibration", description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", help="an xling checkpoint folder with a language-ID head")
    parser.add_argument("--data", type=Path, help="texts to fit on, {text, lang} JSONL "
                        "(default: the harvested corpus's dev split, eval/dev_texts.jsonl)")
    parser.add_argument("--held-out", type=Path, help="texts to report on (default: the demo corpus's test split)")
    parser.add_argument("--per-lang", type=int, default=200, help="texts per language read from each file (default: 200)")
    parser.add_argument("--write", action="store_true", help="store the temperature in the checkpoint's xling.json")
    args = parser.parse_args(argv)
    paths = Paths.from_env()
    data = args.data or paths.corpus_cache / "eval" / "dev_texts.jsonl"
    held = args.held_out or paths.demo_corpus / "eval" / "test_texts.jsonl"
    for path in (data, held):
        if not path.is_file():
            print(f"error: {path}: no such file (python -m xling.data.harvest writes the dev split)", file=sys.stderr)
            return 2
    try:
        model = XlingModel.load(args.checkpoint)
        report = calibrate(model, *_read_texts(data, args.per_lang), held_out=_read_texts(held, args.per_lang))
    except (XlingError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    figures = report.to_dict()
    figures["fitted_on"] = "the harvested corpus's dev split" if args.data is None else data.name
    figures["held_out_on"] = "the demo corpus's test split" if args.held_out is None else held.name
    figures["per_lang"] = args.per_lang
    print(json.dumps(figures, indent=1))
    if args.write:
        print(f"wrote lid_temperature {report.temperature:.4f} to {write_temperature(args.checkpoint, report.temperature, figures)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
