"""Evaluators: records and a model in, a typed report out. No file I/O, no printing.

* :func:`evaluate_retrieval` -- bitext retrieval P@1 per language pair (XTREME / Tatoeba protocol).
* :func:`evaluate_langid` -- language identification accuracy and F1 per gold language.
* :func:`evaluate_mlm` -- masked-token top-1 / top-5 accuracy per language.

Each report has ``to_dict()`` giving plain JSON-ready values (the CLI prints it with ``--json``).

Example:
    >>> from xling.core.evaluation import evaluate_langid
    >>> class Always:
    ...     name = "always-de"
    ...     def detect(self, texts): return ["de"] * len(texts)
    ...     def predict(self, texts, k=5): return [[("de", 1.0)] for _ in texts]
    >>> evaluate_langid(["Hallo", "Hello"], ["de", "en"], Always()).mean_accuracy
    0.5
"""

from __future__ import annotations

import math
import sys
from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from xling.core.detectors import LanguageDetector, normalize_lang_code
from xling.core.encoders import Encoder
from xling.core.vectors import normalize_rows
from xling.errors import DataError

#: Longest input (in word pieces, special tokens included) the MLM evaluation feeds the model.
MLM_MAX_LENGTH = 128


class PairLike(Protocol):
    """Anything with the four fields of a translation pair (e.g. :class:`xling.data.eval_files.EvalPair`)."""

    @property
    def source_lang(self) -> str: ...
    @property
    def source(self) -> str: ...
    @property
    def target_lang(self) -> str: ...
    @property
    def target(self) -> str: ...


# --------------------------------------------------------------------------- retrieval


@dataclass(frozen=True)
class GroupRetrieval:
    """Retrieval score of one language pair.

    Args:
        p_at_1: fraction of sources whose nearest target is their own translation.
        n: number of sources (queries).
        n_targets: number of distinct candidate targets searched.
    """

    p_at_1: float
    n: int
    n_targets: int

    def to_dict(self) -> dict[str, Any]:
        return {"p_at_1": self.p_at_1, "n": self.n, "n_targets": self.n_targets}


@dataclass(frozen=True)
class RetrievalReport:
    """Bitext retrieval results.

    Args:
        per_group: score per ``"<source_lang>-<target_lang>"`` group, groups sorted by key.
        mean_p_at_1: unweighted mean of the groups' P@1.
    """

    per_group: Mapping[str, GroupRetrieval]
    mean_p_at_1: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``{"per_group": {"de-en": {"p_at_1", "n", "n_targets"}}, "mean_p_at_1"}``."""
        return {
            "per_group": {key: score.to_dict() for key, score in self.per_group.items()},
            "mean_p_at_1": self.mean_p_at_1,
        }


def evaluate_retrieval(
    pairs: Sequence[PairLike],
    encoder: Encoder,
    *,
    batch_size: int = 64,
    show_progress: bool = False,
) -> RetrievalReport:
    """Score how often each source's nearest target (by cosine) is its own translation.

    Pairs are grouped by ``(source_lang, target_lang)``. Within a group every source searches all
    the group's distinct target texts; it scores when the nearest one is its own target text.
    Each distinct text is encoded once, across all groups.

    Args:
        pairs: translation pairs (``source_lang``, ``source``, ``target_lang``, ``target``).
        encoder: any :class:`~xling.core.encoders.Encoder`.
        batch_size: encoding batch size.
        show_progress: show a progress bar on stderr while encoding.

    Returns:
        A :class:`RetrievalReport` with P@1 per group and their unweighted mean.

    Raises:
        DataError: ``pairs`` is empty.

    Example:
        >>> import numpy as np
        >>> from types import SimpleNamespace as P
        >>> class Lookup:
        ...     name = "lookup"
        ...     table = {"Haus": [1.0, 0.0], "house": [1.0, 0.0], "Katze": [0.0, 1.0], "cat": [0.0, 1.0]}
        ...     def encode(self, texts, batch_size=64, show_progress=False):
        ...         return np.array([self.table[t] for t in texts], dtype=np.float32)
        >>> pairs = [P(source_lang="de", source="Haus", target_lang="en", target="house"),
        ...          P(source_lang="de", source="Katze", target_lang="en", target="cat")]
        >>> evaluate_retrieval(pairs, Lookup()).mean_p_at_1
        1.0
    """
    if not pairs:
        raise DataError("no translation pairs to evaluate")
    texts = sorted({p.source for p in pairs} | {p.target for p in pairs})
    row_of = {text: row for row, text in enumerate(texts)}
    vectors = _encode_checked(encoder, texts, batch_size=batch_size, show_progress=show_progress)

    groups: dict[str, list[PairLike]] = defaultdict(list)
    for pair in pairs:
        groups[f"{pair.source_lang}-{pair.target_lang}"].append(pair)

    per_group: dict[str, GroupRetrieval] = {}
    for key in sorted(groups):
        group = groups[key]
        targets = list(dict.fromkeys(p.target for p in group))  # distinct, first-seen order
        column_of = {text: column for column, text in enumerate(targets)}
        sources = vectors[[row_of[p.source] for p in group]]
        candidates = vectors[[row_of[t] for t in targets]]
        nearest = _nearest(sources, candidates)
        gold = np.array([column_of[p.target] for p in group])
        per_group[key] = GroupRetrieval(
            p_at_1=float(np.mean(nearest == gold)), n=len(group), n_targets=len(targets)
        )
    mean = float(np.mean([score.p_at_1 for score in per_group.values()]))
    return RetrievalReport(per_group=per_group, mean_p_at_1=mean)


def _nearest(queries: np.ndarray, candidates: np.ndarray, chunk: int = 1024) -> np.ndarray:
    # Chunked so a large group never materialises its full similarity matrix; ties go to the first candidate.
    return np.concatenate(
        [np.argmax(queries[start : start + chunk] @ candidates.T, axis=1) for start in range(0, len(queries), chunk)]
    )


def _encode_checked(encoder: Encoder, texts: Sequence[str], *, batch_size: int, show_progress: bool) -> np.ndarray:
    vectors = np.asarray(encoder.encode(texts, batch_size=batch_size, show_progress=show_progress), dtype=np.float32)
    if vectors.ndim != 2 or vectors.shape[0] != len(texts):
        raise ValueError(
            f"encoder {getattr(encoder, 'name', encoder)!r} returned shape {vectors.shape} for {len(texts)} texts"
        )
    # Cosine needs unit rows; the contract promises them, but a cheap re-normalisation costs nothing.
    return normalize_rows(vectors)


# --------------------------------------------------------------------------- language id


@dataclass(frozen=True)
class LangIdScore:
    """Language-id score of one gold language.

    Args:
        accuracy: fraction of its texts detected as it (its recall).
        precision: fraction of texts detected as it that really are it (0 when none were).
        f1: harmonic mean of precision and accuracy (0 when both are 0).
        n: number of its texts.
    """

    accuracy: float
    precision: float
    f1: float
    n: int

    def to_dict(self) -> dict[str, Any]:
        return {"accuracy": self.accuracy, "precision": self.precision, "f1": self.f1, "n": self.n}


@dataclass(frozen=True)
class LangIdReport:
    """Language identification results over gold languages (codes normalised, sorted).

    Args:
        per_lang: score per gold language.
        mean_accuracy: unweighted mean of the languages' accuracies.
        macro_f1: unweighted mean of the languages' F1.
        confusions: ``(gold, predicted, count)`` for every wrong prediction, most frequent first.
    """

    per_lang: Mapping[str, LangIdScore]
    mean_accuracy: float
    macro_f1: float
    confusions: tuple[tuple[str, str, int], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``{"per_lang": {"de": {"accuracy", "precision", "f1", "n"}}, "mean_accuracy",
        "macro_f1", "confusions"}``."""
        return {
            "per_lang": {lang: score.to_dict() for lang, score in self.per_lang.items()},
            "mean_accuracy": self.mean_accuracy,
            "macro_f1": self.macro_f1,
            "confusions": [{"gold": g, "predicted": p, "count": c} for g, p, c in self.confusions],
        }


def score_langid(gold: Sequence[str], predicted: Sequence[str]) -> LangIdReport:
    """Score predicted language codes against gold ones (both normalised first).

    F1 is computed for each gold language (predictions of languages absent from the gold set only
    lower recall); ``macro_f1`` and ``mean_accuracy`` average over gold languages.

    Args:
        gold: the true code per text.
        predicted: the detected code per text.

    Returns:
        A :class:`LangIdReport`.

    Raises:
        DataError: the inputs are empty; ValueError: their lengths differ.

    Example:
        >>> report = score_langid(["de", "de", "en"], ["de", "en", "en"])
        >>> report.per_lang["en"].f1, report.macro_f1
        (0.6666666666666666, 0.6666666666666666)
    """
    if len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} gold labels but {len(predicted)} predictions")
    if not gold:
        raise DataError("no texts to evaluate")
    gold_codes = [normalize_lang_code(code) for code in gold]
    predicted_codes = [normalize_lang_code(code) for code in predicted]
    n_gold: dict[str, int] = defaultdict(int)
    n_predicted: dict[str, int] = defaultdict(int)
    n_correct: dict[str, int] = defaultdict(int)
    confusions: dict[tuple[str, str], int] = defaultdict(int)
    for g, p in zip(gold_codes, predicted_codes):
        n_gold[g] += 1
        n_predicted[p] += 1
        if g == p:
            n_correct[g] += 1
        else:
            confusions[(g, p)] += 1

    per_lang: dict[str, LangIdScore] = {}
    for lang in sorted(n_gold):
        recall = n_correct[lang] / n_gold[lang]
        precision = n_correct[lang] / n_predicted[lang] if n_predicted[lang] else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_lang[lang] = LangIdScore(accuracy=recall, precision=precision, f1=f1, n=n_gold[lang])
    ordered = sorted(confusions.items(), key=lambda item: (-item[1], item[0]))
    return LangIdReport(
        per_lang=per_lang,
        mean_accuracy=float(np.mean([s.accuracy for s in per_lang.values()])),
        macro_f1=float(np.mean([s.f1 for s in per_lang.values()])),
        confusions=tuple((g, p, count) for (g, p), count in ordered),
    )


def evaluate_langid(
    texts: Sequence[str],
    langs: Sequence[str],
    detector: LanguageDetector,
    *,
    batch_size: int = 256,
    show_progress: bool = False,
) -> LangIdReport:
    """Detect the language of each text and score it against ``langs``; see :func:`score_langid`.

    Args:
        texts: the texts.
        langs: the gold language code per text (any case / region suffix; normalised).
        detector: any :class:`~xling.core.detectors.LanguageDetector`.
        batch_size: texts per detector call (only matters for the progress bar).
        show_progress: show a progress bar on stderr.

    Returns:
        A :class:`LangIdReport`.

    Example:
        >>> class AlwaysGerman:
        ...     name = "always-de"
        ...     def detect(self, texts):
        ...         return ["de"] * len(texts)
        >>> report = evaluate_langid(["Das ist gut.", "Très bien."], ["de", "fr"], AlwaysGerman())
        >>> report.mean_accuracy, report.confusions
        (0.5, (('fr', 'de', 1),))
    """
    if len(texts) != len(langs):
        raise ValueError(f"{len(texts)} texts but {len(langs)} language labels")
    if not texts:
        raise DataError("no texts to evaluate")
    from tqdm.auto import tqdm

    predicted: list[str] = []
    with tqdm(total=len(texts), desc="detecting", unit="text", disable=not show_progress, file=sys.stderr) as bar:
        for start in range(0, len(texts), batch_size):
            batch = list(texts[start : start + batch_size])
            predicted.extend(detector.detect(batch))
            bar.update(len(batch))
    return score_langid(langs, predicted)


# --------------------------------------------------------------------------- masked LM


@dataclass(frozen=True)
class MlmScore:
    """Masked-token accuracy of one language.

    Args:
        top1: fraction of masked pieces predicted exactly (None when none were masked).
        top5: fraction whose original is among the 5 best predictions (None when none were masked).
        n_masked: number of masked pieces.
        n_texts: number of texts.
    """

    top1: float | None
    top5: float | None
    n_masked: int
    n_texts: int

    def to_dict(self) -> dict[str, Any]:
        return {"top1": self.top1, "top5": self.top5, "n_masked": self.n_masked, "n_texts": self.n_texts}


@dataclass(frozen=True)
class MlmReport:
    """Masked-LM results; overall scores are micro-averaged over all masked pieces.

    Args:
        per_lang: score per language (codes as given, sorted).
        top1: overall top-1 accuracy.
        top5: overall top-5 accuracy.
        n_masked: masked pieces in total.
        seed: the seed that chose the masked pieces.
        mask_prob: the fraction of maskable pieces masked per text.
    """

    per_lang: Mapping[str, MlmScore]
    top1: float
    top5: float
    n_masked: int
    seed: int
    mask_prob: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``{"per_lang": {"de": {"top1", "top5", "n_masked", "n_texts"}}, "top1", "top5", ...}``."""
        return {
            "per_lang": {lang: score.to_dict() for lang, score in self.per_lang.items()},
            "top1": self.top1,
            "top5": self.top5,
            "n_masked": self.n_masked,
            "seed": self.seed,
            "mask_prob": self.mask_prob,
        }


def choose_mask_positions(
    input_ids: Sequence[Sequence[int]],
    special_ids: Collection[int],
    *,
    seed: int = 0,
    mask_prob: float = 0.15,
) -> list[list[int]]:
    """Pick the positions to mask in each tokenised text, reproducibly.

    In each text, ``round(mask_prob * m)`` of its ``m`` non-special pieces are drawn without
    replacement (at least one when ``m > 0``) by one ``numpy`` generator seeded with ``seed``,
    visiting texts in order.

    Args:
        input_ids: token ids per text, special tokens included.
        special_ids: ids never masked ([CLS], [SEP], [PAD], [UNK], [MASK], ...).
        seed: the generator's seed.
        mask_prob: the fraction of non-special pieces to mask, in ``(0, 1]``.

    Returns:
        Sorted positions per text.

    Example:
        >>> choose_mask_positions([[101, 7, 8, 9, 102]], {101, 102}, seed=0, mask_prob=0.15)
        [[3]]
    """
    if not 0.0 < mask_prob <= 1.0:
        raise ValueError(f"mask_prob must be in (0, 1], got {mask_prob}")
    special = set(special_ids)
    rng = np.random.default_rng(seed)
    positions: list[list[int]] = []
    for ids in input_ids:
        candidates = [i for i, token in enumerate(ids) if token not in special]
        if not candidates:
            positions.append([])
            continue
        count = max(1, math.floor(mask_prob * len(candidates) + 0.5))
        chosen = rng.choice(len(candidates), size=count, replace=False)
        positions.append(sorted(candidates[i] for i in chosen))
    return positions


def _masked_logits(model: Any, input_ids: Any, attention: Any, where: tuple[Any, Any]) -> Any:
    """Logits at the masked positions only. A Hugging Face masked LM with a BERT- or RoBERTa-style
    head (``cls`` / ``lm_head``) runs its encoder, then its head on those rows: the vocabulary
    projection of every position would cost most of the time (e5-small's pruned 90k pieces: about
    9x the encoder's work for 15 % of the rows). Anything else is called whole."""
    from torch import nn

    from xling.core.model import mlm_head_of
    from xling.errors import ModelLoadError

    base = getattr(model, "base_model", None)
    try:
        head = mlm_head_of(model) if isinstance(model, nn.Module) else None
    except ModelLoadError:
        head = None
    if head is None or base is None or base is model:
        return model(input_ids=input_ids, attention_mask=attention).logits[where]
    hidden = base(input_ids=input_ids, attention_mask=attention).last_hidden_state
    return head(hidden[where])


def untargeted_ids(tokenizer: Any) -> set[int]:
    """Ids never chosen as a masked-LM target: the special tokens, and a bare word marker (``▁``
    alone, SentencePiece's piece for the space before a word it splits off), which says nothing
    of the word and would flatter a model that learned to guess it.

    Example:
        >>> class Tokenizer:
        ...     all_special_ids, unk_token_id = [0, 1, 2, 3, 250001], 3
        ...     def convert_tokens_to_ids(self, token):
        ...         return 6
        >>> sorted(untargeted_ids(Tokenizer()))
        [0, 1, 2, 3, 6, 250001]
    """
    ids = set(tokenizer.all_special_ids)
    marker = tokenizer.convert_tokens_to_ids("\u2581")
    if isinstance(marker, int) and marker != tokenizer.unk_token_id:
        ids.add(marker)
    return ids


def evaluate_mlm(
    texts: Sequence[str],
    langs: Sequence[str],
    model: Any,
    tokenizer: Any,
    seed: int = 0,
    mask_prob: float = 0.15,
    batch_size: int = 32,
    *,
    show_progress: bool = False,
) -> MlmReport:
    """Mask pieces of each text and score the model's predictions, per language and overall.

    Texts are tokenised (truncated to 128 pieces), positions chosen by
    :func:`choose_mask_positions` (never a special token or a bare word marker,
    :func:`untargeted_ids`) are all replaced by the mask token at once, and every masked
    position is predicted in one forward pass per batch (under ``torch.no_grad``, eval mode; the
    model's train/eval mode is restored afterwards).

    Args:
        texts: the texts.
        langs: the language of each text (reported as given).
        model: a ``transformers`` masked LM (anything callable as ``model(input_ids=...,
            attention_mask=...)`` returning ``.logits`` of shape ``(batch, length, vocab)``).
        tokenizer: its tokenizer; must have a mask token.
        seed: seed for choosing the masked positions.
        mask_prob: fraction of non-special pieces masked per text.
        batch_size: texts per forward pass.
        show_progress: show a progress bar on stderr.

    Returns:
        An :class:`MlmReport`.

    Raises:
        DataError: no texts, or no text has a piece that can be masked.
    """
    if len(texts) != len(langs):
        raise ValueError(f"{len(texts)} texts but {len(langs)} language labels")
    if not texts:
        raise DataError("no texts to evaluate")
    if tokenizer.mask_token_id is None:
        raise ValueError("the tokenizer has no mask token")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    import torch
    from tqdm.auto import tqdm

    # A model may know fewer positions than MLM_MAX_LENGTH (xling's small presets use 64).
    limit = min(MLM_MAX_LENGTH, getattr(getattr(model, "config", None), "max_position_embeddings", MLM_MAX_LENGTH))
    encoded = tokenizer(list(texts), truncation=True, max_length=limit, add_special_tokens=True)
    all_ids: list[list[int]] = [list(ids) for ids in encoded["input_ids"]]
    positions = choose_mask_positions(all_ids, untargeted_ids(tokenizer), seed=seed, mask_prob=mask_prob)
    if not any(positions):
        raise DataError("no text has a word piece that can be masked")

    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    device = getattr(model, "device", None) or torch.device("cpu")
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])  # masked, top-1 hits, top-5 hits
    n_texts: dict[str, int] = defaultdict(int)
    for lang in langs:
        n_texts[lang] += 1

    was_training = bool(getattr(model, "training", False))
    model.eval()
    try:
        with torch.no_grad(), tqdm(
            total=len(texts), desc="predicting", unit="text", disable=not show_progress, file=sys.stderr
        ) as bar:
            for start in range(0, len(texts), batch_size):
                rows = [i for i in range(start, min(start + batch_size, len(texts))) if positions[i]]
                bar.update(min(batch_size, len(texts) - start))
                if not rows:
                    continue
                width = max(len(all_ids[i]) for i in rows)
                input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
                attention = torch.zeros((len(rows), width), dtype=torch.long)
                gold: list[int] = []
                batch_index: list[int] = []
                position_index: list[int] = []
                for r, i in enumerate(rows):
                    ids = all_ids[i]
                    input_ids[r, : len(ids)] = torch.tensor(ids, dtype=torch.long)
                    attention[r, : len(ids)] = 1
                    for pos in positions[i]:
                        gold.append(ids[pos])
                        batch_index.append(r)
                        position_index.append(pos)
                        input_ids[r, pos] = tokenizer.mask_token_id
                where = (torch.tensor(batch_index), torch.tensor(position_index))
                masked_logits = _masked_logits(model, input_ids.to(device), attention.to(device), where).float().cpu()
                k = min(5, masked_logits.shape[-1])
                top = torch.topk(masked_logits, k=k, dim=-1).indices
                gold_t = torch.tensor(gold, dtype=torch.long)
                top1 = (top[:, 0] == gold_t).tolist()
                top5 = (top == gold_t[:, None]).any(dim=1).tolist()
                for j, r in enumerate(batch_index):
                    tally = counts[langs[rows[r]]]
                    tally[0] += 1
                    tally[1] += int(top1[j])
                    tally[2] += int(top5[j])
    finally:
        if was_training:
            model.train()

    per_lang = {
        lang: MlmScore(
            top1=counts[lang][1] / counts[lang][0] if counts[lang][0] else None,
            top5=counts[lang][2] / counts[lang][0] if counts[lang][0] else None,
            n_masked=counts[lang][0],
            n_texts=n_texts[lang],
        )
        for lang in sorted(n_texts)
    }
    total = sum(c[0] for c in counts.values())
    return MlmReport(
        per_lang=per_lang,
        top1=sum(c[1] for c in counts.values()) / total,
        top5=sum(c[2] for c in counts.values()) / total,
        n_masked=total,
        seed=seed,
        mask_prob=mask_prob,
    )
