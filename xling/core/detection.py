"""Language detection as the app shows it: a model's language-ID head beside a reference detector
(fastText lid.176 by default, or py3langid or eld: :data:`~xling.core.detectors.REFERENCE_DETECTORS`).

* :func:`detect_text` -- top-``k`` languages of one text from both detectors, and whether they agree.
* :func:`split_spans` / :func:`label_spans` -- cut mixed-language text into sentences and script
  runs, and label each span.
* :func:`analyse_text` -- both of the above for one text, as the Language detection tab shows it.
* :func:`detect_many` / :func:`detect_batches` / :func:`summarise` -- a batch of texts (an uploaded
  file), all at once or batch by batch, with accuracy when the file has gold languages.
* :func:`guesses_figure` -- the two top-``k`` lists as one grouped bar chart (plotly).

Records are frozen dataclasses with ``to_dict()`` for JSON; nothing here imports gradio.

Example (a stand-in reference detector: Japanese for text with kana or kanji, German otherwise):
    >>> class Reference:
    ...     name = "reference"
    ...     def predict(self, texts, k=5):
    ...         return [[("ja", 0.9)] if any(ord(c) > 0x3000 for c in t) else [("de", 0.8)] for t in texts]
    >>> detect_text("Der Zug hat heute Verspätung.", None, Reference()).reference_top[0].label
    'German (de)'
    >>> analysis = analyse_text("Das ist gut. これはペンです。", None, Reference())
    >>> [s.guess.lang for s in analysis.reference_spans], span_languages(analysis.reference_spans)
    (['de', 'ja'], ['de', 'ja'])
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from xling.core.detectors import FASTTEXT, LanguageDetector, detector_label
from xling.core.spans import Span, split_spans
from xling.data.languages import language_label, language_name
from xling.data.texts import no_letters, readable_text
from xling.errors import DataError

#: Longer texts are cut here (at a space when there is one); the cut is reported in the result's note.
MAX_TEXT_CHARS = 5000
#: Where each command and tab sends people whose model has no language-ID head.
TRAIN_HINT = "train one in the Fine-tune tab or with python -m xling.training"

# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class LanguageGuess:
    """One candidate language.

    Args:
        lang: the normalised code (ISO 639-1 where one exists).
        name: its English name (``German``); the code itself when no name is known.
        prob: the detector's probability, in ``[0, 1]``.
    """

    lang: str
    name: str
    prob: float

    @property
    def label(self) -> str:
        """``German (de)``: how the app and the CLI show a language."""
        return language_label(self.lang)

    def to_dict(self) -> dict[str, Any]:
        return {"lang": self.lang, "name": self.name, "prob": self.prob}


@dataclass(frozen=True)
class DetectionResult:
    """Both detectors' answers for one text.

    Args:
        text: the text as detected (after a cut to :data:`MAX_TEXT_CHARS`).
        model_top: the model head's top-``k``, best first; empty without a model detector.
        reference_top: the reference detector's top-``k``, best first.
        agree: whether both top-1 languages are the same; ``None`` when one side has no answer.
        note: what the reader should know (the text was cut, the reference's answer is a language
            the model does not know); empty when nothing.
        reference: the reference detector's name (``fasttext``, ``py3langid``, ``eld``).
        outside_model: the reference's answer is a language the model's head was not trained on, so
            the head's answer, however confident, is a guess among the languages it knows.
    """

    text: str
    model_top: tuple[LanguageGuess, ...]
    reference_top: tuple[LanguageGuess, ...]
    agree: bool | None
    note: str = ""
    reference: str = FASTTEXT
    outside_model: bool = False

    @property
    def model_best(self) -> LanguageGuess | None:
        return self.model_top[0] if self.model_top else None

    @property
    def reference_best(self) -> LanguageGuess | None:
        return self.reference_top[0] if self.reference_top else None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready values; the reference's top-``k`` goes under its name (``"fasttext"``, ...)."""
        return {
            "text": self.text,
            "model": [g.to_dict() for g in self.model_top],
            "reference": self.reference,
            self.reference: [g.to_dict() for g in self.reference_top],
            "agree": self.agree,
            "note": self.note,
            "outside_model": self.outside_model,
        }


@dataclass(frozen=True)
class LabelledSpan:
    """A :class:`Span` with one detector's best language (``guess`` is ``None`` without letters)."""

    span: Span
    guess: LanguageGuess | None

    def to_dict(self) -> dict[str, Any]:
        return {"start": self.span.start, "end": self.span.end, "text": self.span.text,
                "script": self.span.script, **(self.guess.to_dict() if self.guess else {"lang": None})}


@dataclass(frozen=True)
class TextAnalysis:
    """Everything the Language detection tab shows for one text.

    Args:
        result: both detectors' top-``k`` for the whole text.
        model_spans: the model's label per span (empty without a model detector).
        reference_spans: the reference detector's label per span.
    """

    result: DetectionResult
    model_spans: list[LabelledSpan] = field(default_factory=list)
    reference_spans: list[LabelledSpan] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {**self.result.to_dict(),
                "spans": {"model": [s.to_dict() for s in self.model_spans],
                          self.result.reference: [s.to_dict() for s in self.reference_spans]},
                "languages": self.languages(), "spans_agree": self.spans_agreement()}

    def languages(self) -> list[str]:
        """The languages the text is in, by the reference's span labels (the model's without a
        reference span), in order of appearance: :func:`span_languages`. More than one: a mixed text."""
        return span_languages(self.reference_spans or self.model_spans)

    def spans_agreement(self) -> tuple[int, int] | None:
        """``(agreeing, compared)``: spans with a letter that both detectors label the same
        language; ``None`` without a model."""
        if not self.model_spans:
            return None
        pairs = [(m.guess, r.guess) for m, r in zip(self.model_spans, self.reference_spans)
                 if m.guess is not None and r.guess is not None]
        return sum(m.lang == r.lang for m, r in pairs), len(pairs)


@dataclass(frozen=True)
class BatchSummary:
    """How a batch went.

    Args:
        n: number of texts.
        agreement: fraction of texts whose two top-1 answers agree (``None`` without a model).
        n_gold: texts with a gold language (from the file's ``lang`` column).
        model_accuracy: model top-1 accuracy on those (``None`` without gold or model).
        reference_accuracy: the reference's top-1 accuracy on those (``None`` without gold).
        reference: the reference detector's name.
    """

    n: int
    agreement: float | None
    n_gold: int = 0
    model_accuracy: float | None = None
    reference_accuracy: float | None = None
    reference: str = FASTTEXT

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready values; the reference's accuracy is ``<name>_accuracy`` (``fasttext_accuracy``)."""
        return {"n": self.n, "agreement": self.agreement, "n_gold": self.n_gold,
                "model_accuracy": self.model_accuracy, "reference": self.reference,
                f"{self.reference}_accuracy": self.reference_accuracy}


# --------------------------------------------------------------------------- names


def _guesses(hits: Sequence[tuple[str, float]]) -> tuple[LanguageGuess, ...]:
    return tuple(LanguageGuess(lang, language_name(lang), float(prob)) for lang, prob in hits)


# --------------------------------------------------------------------------- whole texts


def clip_text(text: str, max_chars: int = MAX_TEXT_CHARS) -> tuple[str, int]:
    """Cut ``text`` to at most ``max_chars`` characters, at the last space before the limit when one
    is near (so no word is cut in half).

    Returns:
        ``(clipped, original_length)``.

    Example:
        >>> clip_text("one two three", 9)
        ('one two', 13)
    """
    if len(text) <= max_chars:
        return text, len(text)
    cut = text.rfind(" ", max(0, max_chars - 200), max_chars + 1)
    return text[: cut if cut > 0 else max_chars].rstrip(), len(text)


def _prepared(text: str | None, max_chars: int) -> tuple[str, str]:
    text = readable_text(text or "")
    if not text.strip():
        raise DataError("nothing to detect: the text is empty; type or paste a sentence")
    if (found := no_letters(text)) is not None:
        raise DataError(f"no language to detect: the text has no letters, only {found}")
    clipped, length = clip_text(text.strip(), max_chars)
    note = f"The text was cut to its first {len(clipped):,} of {length:,} characters." if length > len(clipped) else ""
    return clipped, note


def known_languages(detector: LanguageDetector | None) -> list[str] | None:
    """The languages a model detector can answer (an xling head's list); ``None`` when unknown."""
    languages = getattr(getattr(detector, "model", None), "languages", None)
    return list(languages) if languages else None


def _result(text: str, model_hits: Sequence[tuple[str, float]] | None, reference_hits: Sequence[tuple[str, float]],
            languages: list[str] | None, reference: str, note: str = "") -> DetectionResult:
    model_top = _guesses(model_hits or [])
    reference_top = _guesses(reference_hits)
    agree = model_top[0].lang == reference_top[0].lang if model_top and reference_top else None
    notes = [note] if note else []
    outside = bool(agree is False and languages is not None and reference_top[0].lang not in languages)
    if outside:
        notes.append(f"{detector_label(reference)}'s answer, {reference_top[0].label}, is not one of the model's "
                     f"{len(languages)} languages.")
    return DetectionResult(text, model_top, reference_top, agree, " ".join(notes), reference, outside)


def detect_text(text: str, detector: LanguageDetector | None, reference: LanguageDetector, k: int = 5,
                max_chars: int = MAX_TEXT_CHARS) -> DetectionResult:
    """Top-``k`` languages of one text from a model detector and the reference.

    Args:
        text: the text; newlines are fine. Longer than ``max_chars`` is cut (said in ``note``).
        detector: the model's language-ID head (:class:`~xling.core.detectors.XlingDetector`), or
            ``None`` for a model without one (only the reference answers).
        reference: the reference detector (``services.reference_detector(name)``; fastText lid.176
            by default).
        k: how many languages per detector.
        max_chars: the cut.

    Returns:
        A :class:`DetectionResult`.

    Raises:
        DataError: the text is empty or only whitespace.
    """
    clipped, note = _prepared(text, max_chars)
    model_hits = detector.predict([clipped], k=k)[0] if detector is not None else None
    [reference_hits] = reference.predict([clipped], k=k)
    return _result(clipped, model_hits, reference_hits, known_languages(detector), reference.name, note)


def detect_many(texts: Sequence[str], detector: LanguageDetector | None, reference: LanguageDetector, k: int = 1,
                batch_size: int = 256, progress: Callable[[int, int], None] | None = None,
                max_chars: int = MAX_TEXT_CHARS) -> list[DetectionResult]:
    """Detect a batch of texts (one result per text, in order).

    Args:
        texts: the texts; a blank one, or one without letters, gets empty answers and a note
            rather than an error.
        detector: the model head, or ``None``.
        reference: the reference detector (fastText lid.176, py3langid, eld).
        k: languages per detector and text.
        batch_size: texts per model call (and per ``progress`` report).
        progress: called as ``progress(done, total)`` after each batch.
        max_chars: longer texts are cut.

    Returns:
        A :class:`DetectionResult` per text.

    Raises:
        DataError: ``texts`` is empty.
    """
    results: list[DetectionResult] = []
    for batch in detect_batches(texts, detector, reference, k=k, batch_size=batch_size, max_chars=max_chars):
        results += batch
        if progress is not None:
            progress(len(results), len(texts))
    return results


def detect_batches(texts: Sequence[str], detector: LanguageDetector | None, reference: LanguageDetector, k: int = 1,
                   batch_size: int = 256, max_chars: int = MAX_TEXT_CHARS) -> Iterator[list[DetectionResult]]:
    """:func:`detect_many` one batch at a time: a caller that stops iterating (a client that went
    away) stops the work after the current batch.

    Raises:
        DataError: ``texts`` is empty (on the first ``next``).
    """
    if not texts:
        raise DataError("nothing to detect: no texts given")
    languages = known_languages(detector)
    for start in range(0, len(texts), batch_size):
        chunk = [clip_text(readable_text(t), max_chars)[0] for t in texts[start : start + batch_size]]
        # Texts without letters get no answer (a detector would still name a language for them).
        empty = [no_letters(t) for t in chunk]
        kept = [t for t, e in zip(chunk, empty) if e is None]
        model_hits = iter(detector.predict(kept, k=k) if detector is not None and kept else [None] * len(kept))
        reference_hits = iter(reference.predict(kept, k=k) if kept else [])
        yield [_result(t, next(model_hits), next(reference_hits), languages, reference.name) if e is None else
               DetectionResult(t, (), (), None, f"no letters ({e})" if e else "empty", reference.name)
               for t, e in zip(chunk, empty)]


def summarise(results: Sequence[DetectionResult], gold: Sequence[str | None] | None = None) -> BatchSummary:
    """Agreement over a batch and, where gold languages are known, each detector's accuracy.

    Args:
        results: from :func:`detect_many`.
        gold: a gold code (or ``None``) per result, normalised like detector codes.

    Example:
        >>> r = DetectionResult("x", (LanguageGuess("de", "German", .9),), (LanguageGuess("nl", "Dutch", .8),), False)
        >>> summarise([r], ["de"])
        BatchSummary(n=1, agreement=0.0, n_gold=1, model_accuracy=1.0, reference_accuracy=0.0, reference='fasttext')
    """
    judged = [r.agree for r in results if r.agree is not None]
    agreement = sum(judged) / len(judged) if judged else None
    reference = results[0].reference if results else FASTTEXT
    pairs = [(r, g) for r, g in zip(results, gold or []) if g]
    if not pairs:
        return BatchSummary(len(results), agreement, reference=reference)
    has_model = any(r.model_top for r in results)
    model_accuracy = (sum(bool(r.model_best and r.model_best.lang == g) for r, g in pairs) / len(pairs)
                      if has_model else None)
    reference_accuracy = sum(bool(r.reference_best and r.reference_best.lang == g) for r, g in pairs) / len(pairs)
    return BatchSummary(len(results), agreement, len(pairs), model_accuracy, reference_accuracy, reference)


# --------------------------------------------------------------------------- spans


def label_spans(text: str, detector: LanguageDetector, spans: Sequence[Span] | None = None) -> list[LabelledSpan]:
    """Label each span of ``text`` with ``detector``'s best language.

    Args:
        text: the text.
        detector: any language detector (a reference detector or a model head).
        spans: the spans to label (default: :func:`split_spans` of ``text``).

    Returns:
        One :class:`LabelledSpan` per span; spans without letters get ``guess=None``.
    """
    spans = list(split_spans(text) if spans is None else spans)
    wanted = [i for i, s in enumerate(spans) if s.script is not None]
    hits = detector.predict([spans[i].text for i in wanted], k=1) if wanted else []
    guesses: list[LanguageGuess | None] = [None] * len(spans)
    for i, row in zip(wanted, hits):
        guesses[i] = _guesses(row[:1])[0] if row else None
    return [LabelledSpan(span, guess) for span, guess in zip(spans, guesses)]


#: The text's main language (most letters in its main script) always counts; a span in another
#: script (Japanese inside German) counts whatever its score; another language in the main script
#: counts only when its detector is this sure of it and the span has at least
#: :data:`MIXED_MIN_LETTERS` letters, so a quoted word, a name or a detector's slip on a short
#: sentence (fastText read one sentence of a Swahili text as Italian at 0.56, "Sagte er okay." as
#: Danish) does not make a one-language text "mixed".
MIXED_MIN_PROB = 0.7
MIXED_MIN_LETTERS = 16


def span_languages(spans: Sequence[LabelledSpan], min_prob: float = MIXED_MIN_PROB,
                   min_letters: int = MIXED_MIN_LETTERS) -> list[str]:
    """The languages a text is in, from its labelled spans, in order of first appearance (see
    :data:`MIXED_MIN_PROB`). More than one: a mixed text.
    """
    labelled = [(s, sum(ch.isalpha() for ch in s.span.text)) for s in spans if s.guess is not None]
    if not labelled:
        return []
    by_script: dict[str | None, int] = {}
    for item, count in labelled:
        by_script[item.span.script] = by_script.get(item.span.script, 0) + count
    main = max(by_script, key=lambda script: by_script[script])
    in_main: dict[str, int] = {}
    for item, count in labelled:
        if item.span.script == main:
            in_main[item.guess.lang] = in_main.get(item.guess.lang, 0) + count
    main_lang = max(in_main, key=lambda lang: in_main[lang])
    counted = [item.guess.lang for item, count in labelled
               if item.guess.lang == main_lang or item.span.script != main
               or (item.guess.prob >= min_prob and count >= min_letters)]
    return list(dict.fromkeys(counted))


def analyse_text(text: str, detector: LanguageDetector | None, reference: LanguageDetector, k: int = 5,
                 max_chars: int = MAX_TEXT_CHARS) -> TextAnalysis:
    """:func:`detect_text` on the whole text and :func:`label_spans` by both detectors.

    Args:
        text: the text (cut to ``max_chars``).
        detector: the model head, or ``None``.
        reference: the reference detector.
        k: languages per detector for the whole text.
        max_chars: the cut.

    Raises:
        DataError: the text is empty or only whitespace.
    """
    result = detect_text(text, detector, reference, k=k, max_chars=max_chars)
    spans = split_spans(result.text)
    return TextAnalysis(
        result=result,
        model_spans=label_spans(result.text, detector, spans) if detector is not None else [],
        reference_spans=label_spans(result.text, reference, spans),
    )


# --------------------------------------------------------------------------- plots


def guesses_figure(result: DetectionResult, model_label: str = "model", reference_label: str = "fastText lid.176"):
    """Both detectors' top-``k`` as one horizontal grouped bar chart over the union of their languages
    (most probable on top), so shared and missing candidates are visible at a glance.

    Args:
        result: a :class:`DetectionResult`.
        model_label: legend name of the model's bars.
        reference_label: legend name of the reference's bars.

    Returns:
        A ``plotly.graph_objects.Figure``.
    """
    import plotly.graph_objects as go

    sides = [(model_label, result.model_top, "#4f46e5"), (reference_label, result.reference_top, "#f59e0b")]
    sides = [side for side in sides if side[1]]
    best: dict[str, float] = {}
    labels: dict[str, str] = {}
    for _, guesses, _ in sides:
        for g in guesses:
            best[g.lang] = max(best.get(g.lang, 0.0), g.prob)
            labels[g.lang] = g.label
    order = sorted(best, key=lambda lang: best[lang])  # plotly draws the first category at the bottom
    figure = go.Figure()
    for name, guesses, colour in reversed(sides):  # plotly stacks a group's bars bottom-up: the model's on top
        probs = {g.lang: g.prob for g in guesses}
        values = [probs.get(lang) for lang in order]
        figure.add_bar(
            name=name, orientation="h", y=[labels[lang] for lang in order], x=values, marker_color=colour,
            text=[f"{v:.1%}" if v is not None else "" for v in values], textposition="outside",
            hovertemplate="%{y}: %{x:.2%}<extra>" + name + "</extra>",
        )
    figure.update_layout(
        barmode="group", height=140 + 42 * max(len(order), 1), margin={"l": 10, "r": 30, "t": 30, "b": 40},
        legend={"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 1, "xanchor": "right",
                "traceorder": "reversed"},
        xaxis={"range": [0, 1.15], "tickformat": ".0%", "title": "probability"},
        plot_bgcolor="rgba(0,0,0,0)", paper_bgcolor="rgba(0,0,0,0)",
    )
    return figure


# --------------------------------------------------------------------------- models


def detectors_for(services: Any, name: str | None,
                  reference: str | None = None) -> tuple[LanguageDetector | None, LanguageDetector]:
    """The detectors for a masked-LM picker value: its language-ID head (``None`` when the model has
    none, e.g. a plain hub BERT) and the reference detector.

    Args:
        services: a :class:`~xling.core.services.Services` (models load once and are shared).
        name: a masked LM name as the picker or ``--model`` gives it (``None``: the default).
        reference: a name of :data:`~xling.core.detectors.REFERENCE_DETECTORS` (``None``: fastText).

    Raises:
        ModelLoadError: the model cannot be found or loaded, or ``reference`` is no reference detector.
    """
    reference_detector = services.reference_detector(reference)  # an unknown name fails before a model loads
    bundle = services.masked_lm(name)
    head = services.detector(name) if bundle.has_language_head else None
    return head, reference_detector


def missing_head_message(name: str, reference: str = FASTTEXT) -> str:
    """What to tell someone whose model has no language-ID head (``reference``: the detector that
    answers instead).

    Example:
        >>> missing_head_message("bert-base", "eld")
        'bert-base has no language-ID head, so only eld answers; train one in the Fine-tune tab or with python -m xling.training.'
    """
    return f"{name} has no language-ID head, so only {detector_label(reference)} answers; {TRAIN_HINT}."
