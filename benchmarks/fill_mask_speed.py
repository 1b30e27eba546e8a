"""Masked prediction: xling's fill-mask path against transformers' fill-mask pipeline, latency per request.

    OMP_NUM_THREADS=1 python -m benchmarks.fill_mask_speed [--quick] [--markdown]

xling's side is :func:`xling.core.fill_mask.run_fill_mask`, the call the masked prediction tab
(``/fill_mask``) and ``xling fill-mask`` make, on ``checkpoints/xling-mini`` and
``checkpoints/xling-base`` loaded by the app's :class:`~xling.core.services.Services`; the baseline
is ``transformers.pipeline("fill-mask")`` on the same folder (xling-base's rebuilt from its delta). Both give the top 5 per mask for the same 30 one-mask sentences in 20 languages
and 10 two-mask ones, one request at a time, after a warm-up pass; the requests of both sides are
interleaved so that machine noise hits both alike. Reported: p50 and p95 milliseconds per request
(``--quick``: 2 rounds over the sentences; full: 10). Cases: one mask with the tab's defaults
(language ``auto``: detected by the model's own head, then conditioned on), one mask with the
language given (no detection), two masks independently (one pass, as the pipeline) and two masks
left to right (the tab's default: one pass per mask). Target (issue 7): xling/pipeline <= 1.0 on p50.
"""

from __future__ import annotations

import gc
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks import common

REPO = Path(__file__).resolve().parent.parent
#: The committed masked LMs measured (each when it is there).
MODELS = ("xling-mini", "xling-base")
TOP_K = 5

#: ``(language, sentence with one [MASK])``.
ONE_MASK = [
    ("en", "Paris is the capital of [MASK] ."),
    ("en", "Please enter your [MASK] and try again."),
    ("de", "Der Hund [MASK] im Garten."),
    ("de", "Die Datei konnte nicht [MASK] werden."),
    ("fr", "Le chat dort sur le [MASK] ."),
    ("fr", "Impossible d'ouvrir le [MASK] demandé."),
    ("es", "El archivo no se pudo [MASK] ."),
    ("es", "Mi hermana vive en una casa [MASK] ."),
    ("it", "Il file è stato [MASK] correttamente."),
    ("pt", "Clique aqui para [MASK] a página."),
    ("nl", "Het bestand is [MASK] opgeslagen."),
    ("sv", "Filen kunde inte [MASK] ."),
    ("da", "Vælg en [MASK] fra listen."),
    ("pl", "Nie można otworzyć [MASK] ."),
    ("cs", "Soubor byl úspěšně [MASK] ."),
    ("ru", "Не удалось открыть [MASK] ."),
    ("ru", "Москва — столица [MASK] ."),
    ("uk", "Введіть своє [MASK] користувача."),
    ("tr", "Dosya [MASK] edilemedi."),
    ("fi", "Tiedostoa ei voitu [MASK] ."),
    ("hu", "A fájl nem [MASK] meg."),
    ("el", "Το αρχείο δεν [MASK] να ανοίξει."),
    ("ar", "لا يمكن فتح [MASK] ."),
    ("he", "לא ניתן לפתוח את [MASK] ."),
    ("hi", "फ़ाइल को [MASK] नहीं किया जा सका।"),
    ("ja", "ファイルを [MASK] できません。"),
    ("zh", "无法打开 [MASK] 文件。"),
    ("ko", "파일을 [MASK] 수 없습니다."),
    ("vi", "Không thể [MASK] tập tin."),
    ("id", "Berkas tidak dapat [MASK] ."),
]

#: ``(language, sentence with two [MASK])``.
TWO_MASKS = [
    ("en", "The [MASK] could not be [MASK] ."),
    ("en", "Please [MASK] the [MASK] before you continue."),
    ("de", "Der [MASK] schläft im [MASK] ."),
    ("fr", "Le [MASK] n'a pas pu être [MASK] ."),
    ("es", "No se puede [MASK] el [MASK] ."),
    ("it", "Impossibile [MASK] il [MASK] ."),
    ("pt", "Não foi possível [MASK] o [MASK] ."),
    ("ru", "Не удалось [MASK] [MASK] ."),
    ("pl", "Nie można [MASK] [MASK] ."),
    ("nl", "Het [MASK] kon niet worden [MASK] ."),
]


def interleaved(sides: dict[str, Callable[[str, str], object]], sentences: list[tuple[str, str]],
                rounds: int) -> dict[str, list[float]]:
    """Seconds per request of each side, one request at a time, after one untimed warm-up pass;
    the sides take turns going first so drift and noise fall on both."""
    for lang, text in sentences:
        for call in sides.values():
            call(lang, text)
    gc.collect()
    times: dict[str, list[float]] = {name: [] for name in sides}
    order = list(sides)
    for _ in range(rounds):
        for lang, text in sentences:
            for name in order:
                start = time.perf_counter()
                sides[name](lang, text)
                times[name].append(time.perf_counter() - start)
            order.reverse()
    return times


def run(quick: bool) -> list[common.Result]:
    """p50 / p95 ms per request of xling's fill-mask and the pipeline, four cases, per model."""
    common.one_thread()
    rounds = 2 if quick else 10
    results: list[common.Result] = []
    for name in MODELS:
        if (REPO / "checkpoints" / name / "config.json").is_file():
            results += run_model(name, rounds)
    return results


def run_model(name: str, rounds: int) -> list[common.Result]:
    """The four cases on ``checkpoints/<name>``; the pipeline reads the same folder (a delta of
    e5-small rebuilt by :func:`xling.core.delta.materialise`) and gets its own mask token."""
    from transformers import pipeline

    from xling.config import AppConfig, Paths
    from xling.core.delta import materialise
    from xling.core.encoders import quiet_model_loading
    from xling.core.fill_mask import run_fill_mask

    with tempfile.TemporaryDirectory(prefix="xling-bench-") as cache:
        from xling.core.services import Services

        paths = Paths(cache=Path(cache), demo=REPO / "demo", checkpoints=REPO / "checkpoints")
        services = Services(AppConfig(masked_lm=name, paths=paths))
        services.masked_lm(name)
        with quiet_model_loading():
            folder = materialise(REPO / "checkpoints" / name, cache=cache)
            pipe = pipeline("fill-mask", model=str(folder), top_k=TOP_K, device="cpu")
        pipe.model.eval()
        mask = pipe.tokenizer.mask_token

        def xling(sequential: bool = True, given_language: bool = False) -> Callable[[str, str], object]:
            return lambda lang, text: run_fill_mask(services, text, name, TOP_K, sequential=sequential,
                                                    language=lang if given_language else "auto")

        def baseline(lang: str, text: str) -> object:
            return pipe(text.replace("[MASK]", mask))

        cases = [
            ("1 mask, tab defaults (language auto)", ONE_MASK, xling()),
            ("1 mask, language given", ONE_MASK, xling(given_language=True)),
            ("2 masks, independent (one pass)", TWO_MASKS, xling(sequential=False)),
            ("2 masks, left to right (tab default)", TWO_MASKS, xling()),
        ]
        results: list[common.Result] = []
        for case, sentences, call in cases:
            times = interleaved({"xling": call, "pipeline": baseline}, sentences, rounds)
            n = len(times["xling"])
            for q, target in ((50, 1.0), (95, None)):
                results.append(common.Result(
                    "fill-mask", f"{name}, {case}", f"ms / request (p{q})",
                    common.percentile(times["xling"], q) * 1e3, common.percentile(times["pipeline"], q) * 1e3,
                    "transformers pipeline", lower_is_better=True, target=target,
                    note=f"top {TOP_K}; {n} requests each, {len(sentences)} sentences x {rounds} rounds"))
    return results


def main() -> None:
    common.cli(run, __doc__.splitlines()[0])


if __name__ == "__main__":
    main()
