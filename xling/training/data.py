"""Training batches from a corpus folder: balanced language sampling, packing, masking, pairs.

- Languages are drawn with ``p_l ∝ n_l^α`` (temperature sampling: α = 1 follows the data, α = 0
  is uniform), so small languages are seen far more often than their share of the data.
- Masked-LM rows are packed: texts of one language are joined with ``[SEP]`` until the row is
  full. UI strings are short; packing wastes no compute on padding, and every row keeps one
  language label for the language-ID loss.
- Pair batches hold two translations of one group in two languages, for the contrastive and
  teacher-student losses, and as short single texts for the language-ID loss.

``TrainingData.from_corpus(Path("demo/corpus"), tokenizer, languages=(), alpha=0.3)`` reads a corpus folder
with a model's tokenizer; its ``mlm_batch(rng, batch_size=8, max_length=64, mask_prob=0.15)`` draws a batch.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from xling.config import Paths
from xling.data.corpus import MONO_FILE, PARALLEL_FILE, default_corpus, is_corpus, load_documents, load_segments
from xling.errors import DataError


def resolve_corpus(corpus: str | None, paths: Paths) -> Path:
    """The corpus folder a run reads: the one named, else the harvested cache, else the demo
    (:func:`xling.data.corpus.default_corpus` of ``paths``)."""
    if corpus:
        folder = Path(corpus)
        if not is_corpus(folder):
            raise DataError(f"{folder}: not a corpus folder (no {PARALLEL_FILE}); build one with python -m xling.data.harvest")
        return folder
    folder = default_corpus(paths)
    if not is_corpus(folder):
        raise DataError("no corpus found: run python -m xling.data.harvest")
    return folder


def temperature_weights(counts: Sequence[int], alpha: float) -> np.ndarray:
    """Sampling probabilities ``p_l ∝ n_l^α`` over languages (zero counts get zero).

    >>> temperature_weights([900, 100], 0.5).round(2).tolist()
    [0.75, 0.25]
    """
    counts = np.asarray(counts, dtype=np.float64)
    weights = np.where(counts > 0, counts**alpha, 0.0)
    if weights.sum() == 0:
        raise DataError("no training texts in any language")
    return weights / weights.sum()


@dataclass
class MlmBatch:
    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    mlm_positions: torch.Tensor  # bool (batch, seq)
    targets: torch.Tensor  # (n_masked,) original ids at the masked positions, row-major
    lang_ids: torch.Tensor  # (batch,)

    def to(self, device) -> MlmBatch:
        return MlmBatch(*(t.to(device) for t in (self.input_ids, self.attention_mask, self.mlm_positions, self.targets, self.lang_ids)))


@dataclass
class PairBatch:
    """Two sides of translation pairs; ``source_texts`` feed a teacher."""

    a_ids: torch.Tensor
    a_mask: torch.Tensor
    b_ids: torch.Tensor
    b_mask: torch.Tensor
    a_langs: torch.Tensor
    b_langs: torch.Tensor
    source_texts: list[str]

    def to(self, device) -> PairBatch:
        tensors = (self.a_ids, self.a_mask, self.b_ids, self.b_mask, self.a_langs, self.b_langs)
        return PairBatch(*(t.to(device) for t in tensors), self.source_texts)


@dataclass(frozen=True)
class TextPair:
    a_lang: str
    a_text: str
    b_lang: str
    b_text: str


class PairSampler:
    """Translation pairs as texts, for any model's tokenizer.

    Args:
        languages: the languages pairs may use.
        groups: translation groups as ``{lang: text}`` (groups with fewer than two of
            ``languages`` are dropped).
        alpha: the sampling temperature exponent over languages (by their number of groups).
    """

    def __init__(self, languages: Sequence[str], groups: list[dict[str, str]], alpha: float):
        self.languages = list(languages)
        wanted = set(self.languages)
        self.alpha = alpha
        self.groups = [g for g in groups if sum(lang in wanted for lang in g) >= 2]
        by_lang: dict[str, list[int]] = defaultdict(list)
        for index, group in enumerate(self.groups):
            for lang in group:
                if lang in wanted:
                    by_lang[lang].append(index)
        self.groups_by_lang = {lang: np.asarray(idx) for lang, idx in by_lang.items()}
        self.pair_langs = [l for l in self.languages if l in self.groups_by_lang]
        self.pair_weights = (
            temperature_weights([len(self.groups_by_lang[l]) for l in self.pair_langs], alpha) if self.pair_langs else None
        )

    @property
    def n_texts(self) -> int:
        return sum(len(v) for v in self.groups_by_lang.values())

    def draw(self, rng: np.random.Generator, batch_size: int, language: str | None = None,
             partner: str | None = None) -> list[TextPair]:
        """Pairs of distinct groups: a language drawn by temperature, one of its groups, a partner language.
        ``language`` and ``partner`` fix either side (with only ``partner`` fixed, every other
        language is drawn, paired with ``partner``).

        Four times the batch is drawn, sorted by length, and a random window of ``batch_size``
        kept: pairs of similar length pad little (UI strings run from one word to a paragraph).
        """
        if not self.pair_langs:
            raise DataError("no translation pairs in the training languages")
        wanted = set(self.languages)
        candidates: dict[int, tuple[str, str]] = {}
        if language is not None:
            drawn = np.full(batch_size * 4, self.pair_langs.index(language))
        elif partner is not None:
            sources = [i for i, lang in enumerate(self.pair_langs) if lang != partner]
            if not sources:
                raise DataError(f"no language to pair with {partner}")
            weights = self.pair_weights[sources] / self.pair_weights[sources].sum()
            drawn = np.asarray(sources)[rng.choice(len(sources), size=batch_size * 4, p=weights)]
        else:
            drawn = rng.choice(len(self.pair_langs), size=batch_size * 4, p=self.pair_weights)
        for lang_i in drawn:
            lang = self.pair_langs[lang_i]
            pool = self.groups_by_lang[lang]
            index = int(pool[rng.integers(len(pool))])
            if index in candidates:  # in-batch negatives must not be translations of the positive
                continue
            partners = [l for l in self.groups[index] if l != lang and l in wanted]
            if partner is not None:
                if partner not in partners:
                    continue
                partners = [partner]
            candidates[index] = (lang, partners[rng.integers(len(partners))])
        if not candidates:
            raise DataError(f"no translation pairs {language}-{partner} in the training data")
        by_length = sorted(candidates.items(), key=lambda item: len(self.groups[item[0]][item[1][0]]))
        start = int(rng.integers(max(1, len(by_length) - batch_size + 1)))
        return [TextPair(lang, self.groups[index][lang], partner_lang, self.groups[index][partner_lang])
                for index, (lang, partner_lang) in by_length[start : start + batch_size]]


class TrainingData:
    """Tokenised training texts per language and translation groups, with batch samplers.

    Args:
        languages: label order (the model's language list).
        texts: per language, the masked-LM texts (parallel segments and monolingual documents).
        groups: translation groups as ``{lang: text}``.
        tokenizer: the model's tokenizer.
        alpha: the sampling temperature exponent.
    """

    def __init__(self, languages: Sequence[str], texts: dict[str, list[str]], groups: list[dict[str, str]], tokenizer,
                 alpha: float, whole_words: bool = False):
        self.whole_words = whole_words
        self._word_starts = word_starts(tokenizer) if whole_words else None
        self.languages = list(languages)
        self.tokenizer = tokenizer
        self.lang_index = {lang: i for i, lang in enumerate(self.languages)}
        self.mlm_ids = {lang: _encode(tokenizer, texts.get(lang, [])) for lang in self.languages}
        self.mlm_weights = temperature_weights([len(self.mlm_ids[l]) for l in self.languages], alpha)
        self.pairs = PairSampler(self.languages, groups, alpha)
        self.groups, self.pair_langs = self.pairs.groups, self.pairs.pair_langs
        self._special = {tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id}

    @classmethod
    def from_corpus(cls, folder: Path, tokenizer, languages: Sequence[str], alpha: float, use_mono: bool = True) -> TrainingData:
        texts, groups, found = read_training_texts(folder, languages, use_mono)
        return cls(found, texts, groups, tokenizer, alpha)

    @property
    def n_texts(self) -> int:
        return sum(len(v) for v in self.mlm_ids.values())

    def piece_log_frequencies(self, vocab_size: int) -> np.ndarray:
        """Log frequency of each piece as masked-LM batches draw them: each language's own piece
        frequencies, mixed by its sampling weight (``p_v = sum_l w_l c_lv / N_l``), floored at a
        tenth of one occurrence in the whole training text so an unseen piece is unlikely, not
        impossible. One value per vocabulary id (``vocab_size`` of them).
        """
        mixed, total = np.zeros(vocab_size, dtype=np.float64), 0
        for lang, weight in zip(self.languages, self.mlm_weights):
            rows = self.mlm_ids[lang]
            if not rows or weight == 0:
                continue
            counts = np.bincount(np.fromiter((i for row in rows for i in row), dtype=np.int64), minlength=vocab_size)
            mixed += weight * counts[:vocab_size] / max(1, counts.sum())
            total += int(counts.sum())
        return np.log(mixed + 0.1 / max(1, total))

    def mlm_batch(
        self, rng: np.random.Generator, batch_size: int, max_length: int, mask_prob: float, language: str | None = None
    ) -> MlmBatch:
        """Packed same-language rows, 15 % of pieces masked (80 % [MASK], 10 % random, 10 % kept).

        ``language`` fixes every row's language (adapter training); otherwise each row draws one.
        With ``whole_words``, words are drawn instead of pieces (each with ``mask_prob``) and every
        piece of a drawn word is masked: predicting ``▁Paris`` then cannot lean on ``is`` of ``Par|is``.
        """
        tok = self.tokenizer
        rows, langs = [], []
        if language is not None:
            drawn = np.full(batch_size, self.lang_index[language])
        else:
            drawn = rng.choice(len(self.languages), size=batch_size, p=self.mlm_weights)
        for lang_i in drawn:
            pool = self.mlm_ids[self.languages[lang_i]]
            body: list[int] = []
            while len(body) < max_length - 2:
                body += pool[rng.integers(len(pool))] + [tok.sep_token_id]
            body = body[: max_length - 2]  # may end "[SEP] [SEP]": harmless, and rows stay full
            rows.append([tok.cls_token_id, *body, tok.sep_token_id])
            langs.append(lang_i)
        input_ids, attention = _pad(rows, tok.pad_token_id)
        maskable = attention.bool() & ~torch.isin(input_ids, torch.tensor(sorted(self._special)))
        if self._word_starts is None:
            words = torch.arange(input_ids.shape[1]).expand_as(input_ids)  # every piece its own word
            chosen = torch.from_numpy(rng.random(input_ids.shape) < mask_prob) & maskable
        else:  # a word runs from a piece that starts one (or a special token) to the next start
            starts = torch.from_numpy(self._word_starts)[input_ids] | ~maskable
            words = torch.cumsum(starts.long(), dim=1)
            drawn_words = torch.from_numpy(rng.random((input_ids.shape[0], input_ids.shape[1] + 1)) < mask_prob)
            chosen = torch.gather(drawn_words, 1, words) & maskable
        # Every row predicts at least one piece (one whole word).
        for row in range(len(rows)):
            if not chosen[row].any():
                candidates = maskable[row].nonzero().flatten()
                word = words[row, candidates[rng.integers(len(candidates))]]
                chosen[row] = (words[row] == word) & maskable[row]
        targets = input_ids[chosen].clone()
        corrupted = input_ids.clone()
        draw = torch.from_numpy(rng.random(input_ids.shape))
        corrupted[chosen & (draw < 0.8)] = tok.mask_token_id
        random_slots = chosen & (draw >= 0.8) & (draw < 0.9)
        corrupted[random_slots] = torch.from_numpy(rng.integers(0, len(tok), size=int(random_slots.sum())))
        return MlmBatch(corrupted, attention, chosen, targets, torch.tensor(langs))

    def pair_batch(
        self, rng: np.random.Generator, batch_size: int, max_length: int,
        language: str | None = None, partner: str | None = None,
    ) -> PairBatch:
        """Tokenised translation pairs (see :meth:`PairSampler.draw`); adapter training fixes both
        sides (a language and English)."""
        chosen = self.pairs.draw(rng, batch_size, language, partner)
        a_rows = [pair.a_text for pair in chosen]
        b_rows = [pair.b_text for pair in chosen]
        a = self.tokenizer(a_rows, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
        b = self.tokenizer(b_rows, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
        return PairBatch(
            a["input_ids"], a["attention_mask"], b["input_ids"], b["attention_mask"],
            torch.tensor([self.lang_index[pair.a_lang] for pair in chosen]),
            torch.tensor([self.lang_index[pair.b_lang] for pair in chosen]),
            a_rows,
        )


def word_starts(tokenizer) -> np.ndarray:
    """Per vocabulary id, whether its piece starts a word: SentencePiece's ``▁`` prefix (XLM-R,
    e5), or any WordPiece piece but a ``##`` continuation (BERT). Special tokens count as starts.

    Example:
        >>> class Pieces(list):  # a tokenizer's vocabulary, as word_starts reads it
        ...     all_special_ids = [0]
        ...     def convert_ids_to_tokens(self, ids):
        ...         return [self[i] for i in ids]
        >>> word_starts(Pieces(["<s>", "▁Par", "is", "▁is"])).tolist()
        [True, True, False, True]
        >>> word_starts(Pieces(["[CLS]", "Par", "##is", "is"])).tolist()
        [True, True, False, True]
    """
    pieces = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
    sentencepiece = any(piece and piece.startswith("\u2581") for piece in pieces[:2000])
    special = set(tokenizer.all_special_ids)
    out = np.zeros(len(pieces), dtype=bool)
    for i, piece in enumerate(pieces):
        if i in special or not piece:
            out[i] = True
        elif sentencepiece:
            out[i] = piece.startswith("\u2581")
        else:
            out[i] = not piece.startswith("##")
    return out


def read_training_texts(
    folder: Path, languages: Sequence[str], use_mono: bool, max_per_lang: int = 0
) -> tuple[dict[str, list[str]], list[dict[str, str]], list[str]]:
    """Train-split texts per language, translation groups, and the languages found (sorted).

    With ``max_per_lang``, each language keeps its first texts in file order (sorted by group id,
    a stable sample); the groups keep only the texts kept.
    """
    wanted = set(languages)
    texts: dict[str, list[str]] = defaultdict(list)
    groups: dict[str, dict[str, str]] = defaultdict(dict)
    for seg in load_segments(folder, split="train"):
        if (wanted and seg.lang not in wanted) or (max_per_lang and len(texts[seg.lang]) >= max_per_lang):
            continue
        texts[seg.lang].append(seg.text)
        groups[seg.group][seg.lang] = seg.text
    if use_mono and (folder / MONO_FILE).is_file():
        for doc in load_documents(folder, split="train"):
            if (not wanted or doc.lang in wanted) and not (max_per_lang and len(texts[doc.lang]) >= 2 * max_per_lang):
                texts[doc.lang].append(doc.text)
    missing = sorted(wanted - set(texts))
    if missing:
        raise DataError(f"{folder}: no training texts for {', '.join(missing)}")
    if not texts:
        raise DataError(f"{folder}: no training texts")
    return dict(texts), list(groups.values()), sorted(texts)


def _encode(tokenizer, texts: list[str]) -> list[list[int]]:
    if not texts:
        return []
    return tokenizer(texts, add_special_tokens=False, truncation=True, max_length=512)["input_ids"]


def _pad(rows: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = torch.tensor(row)
        mask[i, : len(row)] = 1
    return ids, mask
