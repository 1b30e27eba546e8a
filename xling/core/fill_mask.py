"""Masked-token prediction: fill ``[MASK]``, ``<mask>`` or ``___`` in a text with a masked LM.

Every mask spelling becomes the model's own mask token (BERT ``[MASK]``, RoBERTa ``<mask>``).
Several masks are filled either **sequentially** (left to right, one forward pass per mask, each
mask sees the tokens chosen for the earlier ones) or **independently** (one forward pass; what
``pipeline("fill-mask")`` and the Hugging Face widget do). For one mask both give exactly the
pipeline's top-k.

A word of an unmasked sentence can be masked instead (``word=``, as LIT's token masking), and
then the result says where the original word ranked. An xling checkpoint whose language vectors
were trained predicts conditioned on a language (given, or detected); for any other model the
result says that the prediction is unconditioned.

The text is tokenised once; a text longer than the model reads is cut to a window around the
masks, and the result says so.

Example:
    >>> normalize_masks("Ich ___ nach <mask>.", "[MASK]")
    ('Ich [MASK] nach [MASK].', 2)
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from xling.errors import DataError

#: More masks than this in one text are refused (each sequential mask costs a forward pass).
MAX_MASKS = 20
#: The language choice that means "detect it from the text".
AUTO = "auto"
#: How a user may write a mask; each becomes the model's own mask token.
MASK_SPELLINGS = ("[MASK]", "<mask>", "___")

# Scripts written without spaces: every character is a word for the word picker.
_NO_SPACE = "\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_WORD = re.compile(rf"[{_NO_SPACE}]|[^\W_{_NO_SPACE}]+(?:['’\-][^\W_{_NO_SPACE}]+)*")


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class Candidate:
    """One proposed token for a mask.

    Args:
        token: the text it puts into the sentence (``""`` for a bare word-start piece ``▁``).
        piece: the vocabulary entry as the tokenizer spells it (``▁Haus``, ``##en``, ``Ġworld``).
        token_id: its id in the vocabulary.
        probability: softmax over the whole vocabulary at the mask.
        joins_previous: a word-continuation piece or punctuation: written without a space before it.
    """

    token: str
    piece: str
    token_id: int
    probability: float
    joins_previous: bool = False

    @property
    def label(self) -> str:
        """What a table or chart shows: the text, or the piece when the text is empty."""
        return self.token if self.token.strip() else self.piece


@dataclass(frozen=True)
class OriginalWord:
    """The word that a picked-word mask replaced, and how the model scored it.

    Args:
        word: the word as written.
        pieces: the tokens the model reads it as, in context.
        probability: the model's probability of it at the mask; ``None`` when it is more than one
            token (one mask predicts one token, so it cannot be produced).
        rank: 1 = the model's first choice; ``None`` as ``probability``.
    """

    word: str
    pieces: list[str]
    probability: float | None = None
    rank: int | None = None


@dataclass(frozen=True)
class MaskPrediction:
    """The top-k for one mask.

    Args:
        position: which mask of the text (0 = the first).
        token_index: its index in the model's input ids.
        candidates: best first.
        original: for a mask made from a picked word, that word and its score.
    """

    position: int
    token_index: int
    candidates: list[Candidate]
    original: OriginalWord | None = None

    @property
    def best(self) -> Candidate:
        return self.candidates[0]


@dataclass(frozen=True)
class LanguageGuess:
    """A detected language: code, probability and which detector said so."""

    code: str
    probability: float
    source: str


@dataclass(frozen=True)
class FillResult:
    """Everything one fill gives.

    Args:
        model: the model's name.
        text: the input with every mask in the model's own mask token.
        masks: one prediction per mask the model read (all of them unless the text was cut).
        filled_text: ``text`` with each predicted mask replaced by its best candidate.
        segments: ``filled_text`` in pieces, ``(text, mask number)`` for an inserted candidate and
            ``(text, None)`` between them (for highlighting).
        sequential: whether masks were filled left to right, each seeing the earlier choices.
        language_used: the language the prediction was conditioned on; ``None``: unconditioned.
        detected: the detected language (``language="auto"``), shown even when not used.
        notes: sentences a person should read (unconditioned, truncated, unknown language, ...).
        n_masks: masks in the text (more than ``len(masks)`` when some were cut off).
        n_tokens: the text's length in tokens, special tokens included.
        max_tokens: the most tokens the model reads.
    """

    model: str
    text: str
    masks: list[MaskPrediction]
    filled_text: str
    sequential: bool
    segments: list[tuple[str, int | None]] = field(default_factory=list)
    language_used: str | None = None
    detected: LanguageGuess | None = None
    notes: list[str] = field(default_factory=list)
    n_masks: int = 0
    n_tokens: int = 0
    max_tokens: int = 0

    @property
    def note(self) -> str:
        return " ".join(self.notes)

    @property
    def truncated(self) -> bool:
        return self.n_tokens > self.max_tokens

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (what ``xling fill-mask --json`` prints)."""
        data = asdict(self)
        data["truncated"] = self.truncated
        return data


# --------------------------------------------------------------------------- text helpers


def mask_pattern(mask_token: str = "[MASK]") -> re.Pattern[str]:
    """The regular expression matching every mask spelling (``[MASK]``, ``<mask>``, 3+ underscores,
    and ``mask_token`` itself), case-insensitive for the bracketed forms."""
    spellings = sorted({re.escape(mask_token), r"\[mask\]", r"<mask>"}, key=len, reverse=True)
    return re.compile("|".join(spellings) + r"|_{3,}", re.IGNORECASE)


def normalize_masks(text: str, mask_token: str = "[MASK]") -> tuple[str, int]:
    """Write every mask spelling as the model's mask token.

    Args:
        text: a text with ``[MASK]``, ``<mask>`` or ``___`` (three or more underscores).
        mask_token: the model's mask token (``tokenizer.mask_token``).

    Returns:
        ``(text, number of masks)``.

    Example:
        >>> normalize_masks("The ____ sat on the <mask>.", "<mask>")
        ('The <mask> sat on the <mask>.', 2)
    """
    return mask_pattern(mask_token).subn(mask_token, text)


def word_spans(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` of each word of ``text``, masks left out. Letters and digits (with inner
    apostrophes and hyphens) make a word; in scripts written without spaces (Chinese, Japanese,
    Thai, ...) each character is one.

    Example:
        >>> text = "Ich trinke [MASK] Kaffee, l'eau 猫が"
        >>> [text[a:b] for a, b in word_spans(text)]
        ['Ich', 'trinke', 'Kaffee', "l'eau", '猫', 'が']
    """
    masks = [m.span() for m in mask_pattern().finditer(text)]
    spans, j = [], 0
    # Words and masks both come in text order: one pass, not every mask for every word (a pasted
    # text with thousands of masks stays instant).
    for word in _WORD.finditer(text):
        start, end = word.span()
        while j < len(masks) and masks[j][1] <= start:
            j += 1
        if j < len(masks) and masks[j][0] < end:
            continue  # inside a mask ("MASK" of "[MASK]")
        spans.append((start, end))
    return spans


def list_words(text: str) -> list[str]:
    """The words :func:`mask_word` can mask, in order (see :func:`word_spans`).

    Example:
        >>> list_words("Paris is the capital of [MASK].")
        ['Paris', 'is', 'the', 'capital', 'of']
    """
    return [text[start:end] for start, end in word_spans(text)]


def mask_word(text: str, index: int, mask_token: str = "[MASK]") -> str:
    """Replace the ``index``-th word (0-based, counting words, not masks) by a mask.

    Raises:
        DataError: there is no such word.

    Example:
        >>> mask_word("Paris is the capital of France.", 5)
        'Paris is the capital of [MASK].'
    """
    spans = word_spans(text)
    if not 0 <= index < len(spans):
        raise DataError(f"no word {index + 1} to mask: the text has {len(spans)} word{'s' * (len(spans) != 1)}")
    start, end = spans[index]
    return text[:start] + mask_token + text[end:]


# --------------------------------------------------------------------------- prediction


def fill_masks(
    bundle: Any,
    text: str,
    k: int = 5,
    *,
    sequential: bool = True,
    language: str | None = None,
    detector: Any | None = None,
    word: int | None = None,
) -> FillResult:
    """Predict the top-``k`` tokens for every mask of ``text``.

    Args:
        bundle: a :class:`~xling.core.masked_lm.MaskedLM`.
        text: a text with one to :data:`MAX_MASKS` masks (``[MASK]``, ``<mask>``, ``___``), or
            with none when ``word`` is given.
        k: candidates per mask.
        sequential: fill masks left to right, each conditioned on the best choices before it
            (one forward pass per mask); ``False``: all at once, independently (one pass).
        language: ``None``/``"auto"``: the detected language; or a code of ``bundle.languages``.
            Conditioning happens only when ``bundle.has_language_embedding``; otherwise the
            result's notes say the prediction is unconditioned.
        detector: a language detector (``.predict(texts, k)``) for ``"auto"`` when the model has
            no language-ID head of its own (e.g. ``services.reference_detector()``).
        word: also mask this word of the text (0-based, see :func:`list_words`) and report where
            the original word ranks.

    Returns:
        A :class:`FillResult`.

    Raises:
        DataError: empty text, no mask, more than :data:`MAX_MASKS` masks, ``k < 1``, no such
            word, or a language the model does not know.
    """
    import torch

    tokenizer = bundle.tokenizer
    mask_token, mask_id = tokenizer.mask_token, tokenizer.mask_token_id
    if not isinstance(text, str) or not text.strip():
        raise DataError("the text is empty: write a sentence with [MASK] where a word should be predicted")
    if int(k) < 1:
        raise DataError(f"top-k must be at least 1, got {k}")

    original: tuple[int, str, tuple[int, int]] | None = None  # (mask position, word, span in the unmasked text)
    if word is not None:
        spans = word_spans(text)
        masked = mask_word(text, int(word), mask_token)
        start, end = spans[int(word)]
        original = (len(mask_pattern(mask_token).findall(text[:start])), text[start:end], (start, end))
        unmasked, text = text, masked

    normalized, n_masks = normalize_masks(text, mask_token)
    if n_masks == 0:
        raise DataError("the text has no mask: write [MASK], <mask> or ___ where a word should be "
                        "predicted, or pick a word to mask")
    if n_masks > MAX_MASKS:
        raise DataError(f"the text has {n_masks} masks; {MAX_MASKS} at most, please")

    ids = tokenizer(normalized, truncation=False)["input_ids"]
    if sum(1 for i in ids if i == mask_id) != n_masks:
        raise DataError(f"the tokenizer does not read {mask_token} as one token here; "
                        "put spaces around the masks")
    limit = max_input_length(bundle)
    ids, dropped, notes = _fit(ids, limit, mask_id, set(tokenizer.all_special_ids) - {mask_id})
    n_tokens = len(ids) + dropped

    without_masks = " ".join(mask_pattern(mask_token).sub(" ", normalized).split())
    requested = _requested_language(bundle, language)
    detected = None
    if requested is None and without_masks and not bundle.has_language_head and detector is not None:
        detected = _detect_with(detector, without_masks)
    # An xling model's own head reads the first forward pass instead (the language vector is added
    # after the encoder), so detecting costs no pass of its own.
    head_detects = requested is None and bool(without_masks) and bundle.has_language_head
    language_used, language_notes = (None, []) if head_detects else \
        _conditioning(bundle, requested, detected)

    device = next(bundle.model.parameters()).device
    marker = _word_marker(tokenizer)
    target = _word_pieces(tokenizer, unmasked, original[2]) if original is not None else None
    predictions: list[MaskPrediction] = []
    with torch.inference_mode():
        input_ids = torch.tensor([ids], device=device)
        attention = torch.ones_like(input_ids)
        positions = (input_ids[0] == mask_id).nonzero().flatten().tolist()
        steps = [[p] for p in positions] if sequential else [positions]
        for step_number, step in enumerate(steps):
            if bundle.xling is None:
                logits = bundle.model(input_ids=input_ids, attention_mask=attention).logits[0, step]
            else:
                out = bundle.xling(input_ids, attention, want_lid=head_detects and step_number == 0)
                if out.lid_logits is not None:
                    detected = _head_guess(bundle, out.lid_logits[0])
                    language_used, language_notes = _conditioning(bundle, None, detected)
                lang_ids = bundle.xling.language_ids([language_used]) if language_used else None
                wanted = torch.zeros_like(input_ids, dtype=torch.bool)
                wanted[0, step] = True
                logits = bundle.xling.mlm_logits(out.hidden, wanted, lang_ids)
            for position, probs in zip(step, logits.float().softmax(-1)):
                values, indices = probs.topk(min(int(k), probs.shape[-1]))
                number = len(predictions)
                scored = None
                if original is not None and number == original[0]:
                    scored = _score_original(original[1], target, probs, tokenizer)
                candidates = [_candidate(tokenizer, int(i), float(v), marker) for v, i in zip(values, indices)]
                predictions.append(MaskPrediction(number, position, candidates, scored))
                # Sequential: later masks see this mask's best choice.
                input_ids[0, position] = candidates[0].token_id

    notes = language_notes + notes
    bare = next((c.piece for p in predictions for c in p.candidates if not c.token), None)
    if bare:
        notes.append(f"{bare!r} alone is the word-start marker: the model expects a new word there but "
                     "this token adds no letters.")
    if len(predictions) < n_masks:
        notes.append(f"{n_masks - len(predictions)} mask(s) fell outside that window and were not predicted.")
    chosen = [p.best for p in predictions] + [None] * (n_masks - len(predictions))
    segments = fill_segments(normalized, mask_token, chosen)
    return FillResult(
        model=bundle.name,
        text=normalized,
        masks=predictions,
        segments=segments,
        filled_text="".join(piece for piece, _ in segments),
        sequential=bool(sequential),
        language_used=language_used,
        detected=detected,
        notes=notes,
        n_masks=n_masks,
        n_tokens=n_tokens,
        max_tokens=limit,
    )


def max_input_length(bundle: Any) -> int:
    """The most tokens ``bundle``'s model reads at once (tokenizer and position embeddings agree)."""
    limits = [getattr(bundle.tokenizer, "model_max_length", None),
              getattr(bundle.model.config, "max_position_embeddings", None)]
    if getattr(bundle.model.config, "model_type", "") in {"roberta", "xlm-roberta", "camembert"}:
        limits[1] = limits[1] - 2 if limits[1] else None  # positions start after the padding index
    found = [int(n) for n in limits if isinstance(n, int) and 0 < n < 1_000_000]
    return min(found) if found else 512


def _fit(ids: list[int], limit: int, mask_id: int, specials: set[int]) -> tuple[list[int], int, list[str]]:
    """Cut ``ids`` to ``limit`` tokens: keep the leading and trailing special tokens and a window
    of the text around the masks. Returns the ids, how many tokens were dropped, and a note."""
    if len(ids) <= limit:
        return ids, 0, []
    head = 0
    while head < len(ids) and ids[head] in specials:
        head += 1
    tail = len(ids)
    while tail > head and ids[tail - 1] in specials:
        tail -= 1
    body, room = ids[head:tail], limit - head - (len(ids) - tail)
    masks = [i for i, t in enumerate(body) if t == mask_id]
    first, last = masks[0], masks[-1]
    if last - first < room:  # all masks fit: centre the window on them
        start = min(max(0, (first + last) // 2 - room // 2), len(body) - room)
    else:  # keep some context before the first mask, drop the masks that do not fit
        start = max(0, first - room // 8)
    window = body[start : start + room]
    note = (f"The text is {len(ids)} tokens long and the model reads at most {limit}: "
            f"it saw tokens {start + 1}–{start + len(window)} of the text (around the masks).")
    return ids[:head] + window + ids[tail:], len(ids) - limit, [note]


def _requested_language(bundle: Any, language: str | None) -> str | None:
    """The language code asked for (``None``: ``"auto"``, detect it).

    Raises:
        DataError: a code the model does not know.
    """
    from xling.core.detectors import normalize_lang_code

    requested = (language or AUTO).strip()
    if requested.lower() == AUTO:
        return None
    code, known = normalize_lang_code(requested), bundle.languages
    if known and code not in known:
        shown = ", ".join(known[:12]) + (", ..." if len(known) > 12 else "")
        raise DataError(f"language {requested!r} is not one of this model's {len(known)} languages ({shown})")
    return code


def _detect_with(detector: Any, text: str) -> LanguageGuess | None:
    """An outside detector's best guess for ``text`` (a model without a language-ID head)."""
    guesses = detector.predict([text], k=1)[0]
    if not guesses:
        return None
    return LanguageGuess(guesses[0][0], float(guesses[0][1]), getattr(detector, "name", "detector"))


def _head_guess(bundle: Any, lid_logits: Any) -> LanguageGuess:
    """The language-ID head's best guess from its logits for one text."""
    probs = (lid_logits.float() / bundle.xling.lid_temperature).softmax(-1)
    best = int(probs.argmax())
    return LanguageGuess(bundle.languages[best], float(probs[best]), "the model's language-ID head")


def _conditioning(bundle: Any, requested: str | None, detected: LanguageGuess | None) -> tuple[str | None, list[str]]:
    """The language to condition on (``None``: unconditioned) and notes for the user."""
    wanted = requested if requested is not None else (detected.code if detected else None)
    if bundle.xling is None:
        return None, ["This model has no language vectors: prediction is not conditioned on a language."]
    if not bundle.has_language_embedding:
        return None, ["This model's language vectors were not trained, so prediction is not "
                      "conditioned on a language."]
    if wanted is None:
        return None, ["No language could be detected from a text without words: prediction is not "
                      "conditioned on a language."]
    if wanted not in bundle.languages:
        return None, [f"The detected language {wanted!r} is not one the model knows: prediction is "
                      "not conditioned on a language."]
    return wanted, []


def _word_marker(tokenizer: Any) -> str | None:
    """``▁`` (SentencePiece) or ``Ġ`` (byte-level BPE) when word-start pieces carry a marker;
    ``None`` when continuation pieces do instead (WordPiece ``##``)."""
    pieces = tokenizer.tokenize("a b")
    last = pieces[-1] if pieces else ""
    return next((m for m in ("▁", "Ġ") if last.startswith(m)), None)


def _candidate(tokenizer: Any, token_id: int, probability: float, marker: str | None) -> Candidate:
    piece = tokenizer.convert_ids_to_tokens(token_id)
    if token_id in tokenizer.all_special_ids:
        return Candidate(piece, piece, token_id, probability)
    text = tokenizer.decode([token_id])
    if marker is None:
        joins = piece.startswith("##")
        text = piece[2:] if joins else text.strip()
    else:
        joins = not piece.startswith(marker)
        text = text.strip()
    if text and all(unicodedata.category(ch).startswith("P") for ch in text):
        joins = True  # "of ." reads "of."
    return Candidate(text, piece, token_id, probability, joins)


def _word_pieces(tokenizer: Any, text: str, span: tuple[int, int]) -> list[int]:
    """Token ids that cover ``text[span]`` when the whole text is tokenised (in context)."""
    start, end = span
    try:
        encoding = tokenizer(text, return_offsets_mapping=True, add_special_tokens=False)
    except (NotImplementedError, ValueError):  # a slow tokenizer: the word on its own
        return tokenizer(text[start:end], add_special_tokens=False)["input_ids"]
    return [i for i, (a, b) in zip(encoding["input_ids"], encoding["offset_mapping"]) if a < end and start < b]


def _score_original(word: str, pieces: list[int] | None, probs: Any, tokenizer: Any) -> OriginalWord:
    names = tokenizer.convert_ids_to_tokens(pieces or [])
    if not pieces or len(pieces) != 1:
        return OriginalWord(word, names)
    p = probs[pieces[0]]
    return OriginalWord(word, names, float(p), int((probs > p).sum()) + 1)


def fill_segments(text: str, mask_token: str, chosen: Sequence[Candidate | None]) -> list[tuple[str, int | None]]:
    """Split ``text`` into ``(piece of text, mask number or None)``: each mask replaced by its
    candidate's text (``None``: left as the mask token); spacing follows the candidate (a
    continuation piece or punctuation joins the word before it).

    Example:
        >>> word = Candidate("Welt", "▁Welt", 7, 0.5)
        >>> fill_segments("Hallo [MASK]!", "[MASK]", [word])
        [('Hallo ', None), ('Welt', 0), ('!', None)]
    """
    parts = text.split(mask_token)
    segments: list[tuple[str, int | None]] = [(parts[0], None)]
    for number, (candidate, part) in enumerate(zip(chosen, parts[1:])):
        before = segments[-1][0] if segments[-1][1] is None else ""
        if candidate is None:
            inserted = mask_token
        elif candidate.joins_previous:
            inserted = candidate.token
            if segments[-1][1] is None:
                segments[-1] = (before.rstrip(), None)
        else:
            # A word after a letter with no space in between ("of[MASK]") still needs one.
            glue = " " if before and candidate.token and before[-1].isalnum() else ""
            inserted = glue + candidate.token
        segments.append((inserted, number))
        segments.append((part, None))
    return [(piece, number) for piece, number in segments if piece or number is not None]


def run_fill_mask(services: Any, text: str, model: str | None = None, k: int = 5, *, sequential: bool = True,
                  language: str | None = AUTO, word: int | None = None) -> FillResult:
    """:func:`fill_masks` with a model from ``services`` (the app's tab and the CLI call this).

    Args:
        services: a :class:`~xling.core.services.Services`.
        model: a masked LM name (``None``: the configured default).
        text, k, sequential, language, word: as :func:`fill_masks`.

    Returns:
        A :class:`FillResult`.
    """
    bundle = services.masked_lm(model)
    auto = (language or AUTO).strip().lower() == AUTO
    # fastText says which language a plain model's text is in (shown only: it has no language vectors).
    detector = services.reference_detector() if auto and not bundle.has_language_head else None
    result = fill_masks(bundle, text, k, sequential=sequential, language=language, detector=detector, word=word)
    # Shown by the name the user chose ("xling-mini"), not the folder it resolved to.
    return replace(result, model=(model or services.config.masked_lm).strip())
