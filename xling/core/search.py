"""Similarity search and margin-based bitext mining on arrays of sentence vectors.

Pure compute, arrays in and records out: :func:`build_index` (exact search below :data:`IVF_LIMIT`
rows: numpy, then FAISS flat; a FAISS inverted-file index above), :func:`search` (top-k by inner
product, with an optional row filter) and :func:`mine_bitext` (ratio-margin scoring of Artetxe &
Schwenk 2019, as in LASER). The jobs the app and the CLI run on a text collection (a query against a
corpus, two lists of sentences aligned) are in :mod:`xling.core.corpus_search`.

Vectors are expected L2-normalised (every :class:`~xling.core.encoders.Encoder` gives such rows),
so an inner product is a cosine. FAISS is imported only where an index needs it.

Example:
    >>> import numpy as np
    >>> vectors = np.array([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]], dtype=np.float32)
    >>> found = search(np.array([[0.0, 1.0]]), build_index(vectors), k=2)
    >>> found.row(0)
    [(2, 1.0), (1, 0.800000011920929)]
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

IndexKind = Literal["auto", "exact", "flat", "ivf", "hnsw"]
MiningMode = Literal["mutual", "forward", "threshold"]

INDEX_KINDS: tuple[str, ...] = ("auto", "exact", "flat", "ivf", "hnsw")
MINING_MODES: tuple[str, ...] = ("mutual", "forward", "threshold")
#: ``auto`` searches exactly with numpy below :data:`EXACT_LIMIT` rows, exactly with FAISS
#: (``flat``) below :data:`IVF_LIMIT`, and builds a FAISS inverted-file index (``ivf``) from there
#: on. Measured one query at a time on one thread (benchmarks/search_speed.py): FAISS flat takes
#: ~10 ms over 100k rows and ~80 ms over 1M; IVF (1,000 lists, nprobe 32) over 1M sentence vectors
#: (the harvested corpus through xling-encoder) ~4 ms at recall@10 0.99, built in ~20 s. On random
#: 512-d vectors no approximate index keeps its recall (no structure to exploit): see the benchmark.
EXACT_LIMIT = 100_000
IVF_LIMIT = 250_000
#: IVF settings: about sqrt(rows) lists, trained on :data:`IVF_TRAIN_PER_LIST` rows a list,
#: :data:`IVF_NPROBE` of them searched per query.
IVF_NPROBE = 32
IVF_TRAIN_PER_LIST = 64
#: HNSW settings (``hnsw`` only when asked for: its build takes ~40 min over 1M rows on one thread).
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 100
HNSW_EF_SEARCH = 128


# Query rows per matrix product, so that a chunk's score matrix stays near 64 MB.
_SCORE_BUDGET = 2**24
# A filter keeping less than this share of an HNSW index is searched exactly on the kept rows.
_MIN_FILTERED_SHARE = 0.05


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class Neighbours:
    """Top-k rows per query, best first; ``-1`` (score ``-inf``) pads rows with fewer candidates."""

    indices: np.ndarray
    scores: np.ndarray

    def row(self, query: int) -> list[tuple[int, float]]:
        """The ``(index, score)`` pairs found for one query, padding dropped."""
        return [(int(i), float(s)) for i, s in zip(self.indices[query], self.scores[query]) if i >= 0]


@dataclass(frozen=True, eq=False)
class SearchIndex:
    """Vectors ready to search.

    Args:
        vectors: ``(n, dim)`` float32 rows (kept for exact search and filtered fallbacks).
        kind: ``exact`` (numpy), ``flat`` (FAISS exact inner product), ``ivf`` or ``hnsw`` (FAISS
            approximate).
        faiss_index: the FAISS index for ``flat``, ``ivf`` and ``hnsw``.
        ef_search: HNSW candidate list size at query time (higher: better recall, slower).
        nprobe: IVF lists searched per query (higher: better recall, slower).
    """

    vectors: np.ndarray
    kind: str
    faiss_index: Any = None
    ef_search: int = HNSW_EF_SEARCH
    nprobe: int = IVF_NPROBE

    def __len__(self) -> int:
        return len(self.vectors)

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])


@dataclass(frozen=True)
class MinedPair:
    """A source sentence aligned with a target sentence.

    Args:
        source_index: position in the source list.
        target_index: position in the target list.
        margin: ratio margin (higher is surer; true translations usually score well above 1).
        cosine: plain cosine similarity.
        source_text: the source sentence (filled by :func:`mine_texts`).
        target_text: the target sentence (filled by :func:`mine_texts`).
    """

    source_index: int
    target_index: int
    margin: float
    cosine: float
    source_text: str | None = None
    target_text: str | None = None


# --------------------------------------------------------------------------- indexes and search


def auto_kind(rows: int, exact_limit: int = EXACT_LIMIT, ivf_limit: int = IVF_LIMIT) -> str:
    """What ``auto`` builds for ``rows`` vectors.

    >>> auto_kind(1_000), auto_kind(200_000), auto_kind(1_000_000)
    ('exact', 'flat', 'ivf')
    """
    return "exact" if rows < exact_limit else "flat" if rows < ivf_limit else "ivf"


def ivf_lists(rows: int) -> int:
    """How many inverted lists an IVF index over ``rows`` vectors gets: about ``sqrt(rows)``, and no
    more than leave 39 rows a list to train its k-means on (FAISS's own floor).

    >>> ivf_lists(1_000_000), ivf_lists(250_000), ivf_lists(100)
    (1000, 500, 2)
    """
    return max(1, min(round(math.sqrt(rows)), rows // 39))


def build_index(vectors: np.ndarray, kind: IndexKind | str = "auto", *, exact_limit: int = EXACT_LIMIT,
                ivf_limit: int = IVF_LIMIT, nprobe: int = IVF_NPROBE, hnsw_m: int = HNSW_M,
                ef_construction: int = HNSW_EF_CONSTRUCTION, ef_search: int = HNSW_EF_SEARCH) -> SearchIndex:
    """Make ``vectors`` searchable by inner product (cosine for unit rows).

    Args:
        vectors: ``(n, dim)`` rows.
        kind: ``exact`` (numpy matrix product), ``flat`` (FAISS exact), ``ivf`` (FAISS inverted
            file: k-means lists, only the ``nprobe`` nearest searched; approximate), ``hnsw`` (FAISS
            graph; approximate, slow to build) or ``auto``: ``exact`` below ``exact_limit`` rows,
            ``flat`` below ``ivf_limit``, else ``ivf``.
        exact_limit, ivf_limit: the ``auto`` switch points.
        nprobe: IVF lists searched per query.
        hnsw_m: HNSW links per node.
        ef_construction: HNSW build-time candidate list size.
        ef_search: HNSW query-time candidate list size.

    Returns:
        A :class:`SearchIndex`. Builds repeat: IVF trains on a fixed-seed sample, FAISS's HNSW draws
        levels from a fixed seed.

    Example:
        >>> build_index(np.ones((3, 4), dtype=np.float32)).kind
        'exact'
    """
    vectors = _as_matrix(vectors, "vectors")
    if kind not in INDEX_KINDS:
        raise ValueError(f"unknown index kind {kind!r}; use one of {', '.join(INDEX_KINDS)}")
    if kind == "auto":
        kind = auto_kind(len(vectors), exact_limit, ivf_limit)
    if kind == "exact":
        return SearchIndex(vectors=vectors, kind="exact")
    import faiss

    dim = vectors.shape[1]
    if kind == "flat":
        index = faiss.IndexFlatIP(dim)
    elif kind == "ivf":
        index = _trained_ivf(vectors)
    else:
        index = faiss.IndexHNSWFlat(dim, hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = ef_construction
        index.hnsw.efSearch = ef_search
    if len(vectors):
        index.add(vectors)
    return SearchIndex(vectors=vectors, kind=kind, faiss_index=index, ef_search=ef_search, nprobe=nprobe)


def _trained_ivf(vectors: np.ndarray) -> Any:
    """An empty FAISS ``IndexIVFFlat`` (inner product) whose lists are k-means centroids of a
    fixed-seed sample of ``vectors``."""
    import faiss

    dim, lists = vectors.shape[1], ivf_lists(len(vectors))
    index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, lists, faiss.METRIC_INNER_PRODUCT)
    index.cp.seed = 0
    sample = min(len(vectors), lists * IVF_TRAIN_PER_LIST)
    rows = np.sort(np.random.default_rng(0).choice(len(vectors), sample, replace=False))
    index.train(vectors[rows] if len(vectors) else np.zeros((1, dim), dtype=np.float32))
    return index


def search(query_vectors: np.ndarray, index: SearchIndex, k: int = 10,
           allowed_mask: np.ndarray | None = None) -> Neighbours:
    """Top-``k`` rows of ``index`` per query by inner product, best first.

    With ``allowed_mask`` only rows where it is true are returned. A FAISS index over-fetches and
    filters; when the filter keeps few rows (or over-fetching came up short) the kept rows are
    searched exactly instead, so a filter never loses hits that exist.

    Args:
        query_vectors: ``(q, dim)`` (or one ``(dim,)`` vector).
        index: from :func:`build_index`.
        k: rows per query.
        allowed_mask: ``(n,)`` booleans, or ``None`` for all rows.

    Returns:
        :class:`Neighbours` with ``(q, k)`` arrays, padded with ``-1`` where fewer rows qualify.

    Example:
        >>> index = build_index(np.eye(3, dtype=np.float32))
        >>> search(np.eye(3, dtype=np.float32)[:1], index, k=2, allowed_mask=np.array([False, True, True])).indices.tolist()
        [[1, 2]]
    """
    queries = _as_matrix(np.atleast_2d(query_vectors), "query vectors")
    if len(index) and queries.shape[1] != index.dim:
        raise ValueError(f"query vectors have {queries.shape[1]} dimensions, the index {index.dim}")
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    rows = None
    if allowed_mask is not None:
        mask = np.asarray(allowed_mask, dtype=bool)
        if mask.shape != (len(index),):
            raise ValueError(f"allowed_mask has shape {mask.shape}, expected ({len(index)},)")
        rows = np.flatnonzero(mask)
        if len(rows) == len(index):
            rows = None
    kept = len(index) if rows is None else len(rows)
    if kept == 0:
        return _empty(len(queries), k)
    if index.kind == "exact" or (rows is not None and kept < _MIN_FILTERED_SHARE * len(index)):
        return _exact(queries, index.vectors, k, rows)
    fetch = min(len(index), k if rows is None else max(2 * k, math.ceil(2 * k * len(index) / kept)))
    found = _faiss_search(index, queries, fetch)
    if rows is None:
        return _pad(found, k)
    keep = mask[np.maximum(found.indices, 0)] & (found.indices >= 0)
    indices = np.full((len(queries), k), -1, dtype=np.int64)
    scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
    for q in range(len(queries)):
        ids, sims = found.indices[q][keep[q]][:k], found.scores[q][keep[q]][:k]
        if len(ids) < min(k, kept):  # over-fetching came up short: search the kept rows exactly
            exact = _exact(queries[q : q + 1], index.vectors, k, rows)
            ids, sims = exact.indices[0], exact.scores[0]
        indices[q, : len(ids)], scores[q, : len(ids)] = ids, sims
    return Neighbours(indices=indices, scores=scores)


def _exact(queries: np.ndarray, vectors: np.ndarray, k: int, rows: np.ndarray | None) -> Neighbours:
    candidates = vectors if rows is None else vectors[rows]
    n = len(candidates)
    take = min(k, n)
    indices = np.full((len(queries), k), -1, dtype=np.int64)
    scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
    step = max(1, _SCORE_BUDGET // max(n, 1))
    for start in range(0, len(queries), step):
        sims = queries[start : start + step] @ candidates.T
        top = np.argpartition(-sims, take - 1, axis=1)[:, :take] if take < n else np.broadcast_to(np.arange(n), (len(sims), n))
        top_scores = np.take_along_axis(sims, top, axis=1)
        order = np.argsort(-top_scores, axis=1, kind="stable")
        top = np.take_along_axis(top, order, axis=1)
        chosen = top if rows is None else rows[top]
        indices[start : start + step, :take] = chosen
        scores[start : start + step, :take] = np.take_along_axis(top_scores, order, axis=1)
    return Neighbours(indices=indices, scores=scores)


def _faiss_search(index: SearchIndex, queries: np.ndarray, k: int) -> Neighbours:
    import faiss

    # Per-call parameters: the shared index is never mutated, so concurrent searches are safe.
    params = None
    if index.kind == "hnsw":
        params = faiss.SearchParametersHNSW(efSearch=max(index.ef_search, k))
    elif index.kind == "ivf":
        params = faiss.SearchParametersIVF(nprobe=min(index.nprobe, index.faiss_index.nlist))
    scores, indices = index.faiss_index.search(np.ascontiguousarray(queries), k, params=params)
    scores = np.where(indices >= 0, scores, -np.inf).astype(np.float32)
    return Neighbours(indices=indices.astype(np.int64), scores=scores)


def _pad(found: Neighbours, k: int) -> Neighbours:
    have = found.indices.shape[1]
    if have >= k:
        return Neighbours(found.indices[:, :k], found.scores[:, :k])
    padded = _empty(len(found.indices), k)
    padded.indices[:, :have], padded.scores[:, :have] = found.indices, found.scores
    return padded


def _empty(queries: int, k: int) -> Neighbours:
    return Neighbours(indices=np.full((queries, k), -1, dtype=np.int64),
                      scores=np.full((queries, k), -np.inf, dtype=np.float32))


def _as_matrix(vectors: np.ndarray, what: str) -> np.ndarray:
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if vectors.ndim != 2:
        raise ValueError(f"{what} must be a 2-D array, got shape {vectors.shape}")
    if not np.isfinite(vectors).all():
        raise ValueError(f"{what} contain NaN or infinite values")
    return vectors


# --------------------------------------------------------------------------- bitext mining


def margin_scores(source_vectors: np.ndarray, target_vectors: np.ndarray, k: int = 4) -> np.ndarray:
    """The full ratio-margin matrix (for small sets and for checking :func:`mine_bitext`).

    ``margin(x, y) = cos(x, y) / (sum_{z in NN_k(x)} cos(x, z) / 2k + sum_{z in NN_k(y)} cos(y, z) / 2k)``
    (Artetxe & Schwenk 2019), ``NN_k(x)``: the ``k`` targets nearest ``x``, ``NN_k(y)``: the ``k``
    sources nearest ``y`` (``k`` is cut to the other list's length).

    Returns:
        ``(len(source), len(target))`` float32.

    Example:
        >>> x = np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
        >>> margin_scores(x, x, k=1).round(2).tolist()
        [[1.0, 0.0], [0.0, 1.0]]
    """
    src, tgt = _as_matrix(source_vectors, "source vectors"), _as_matrix(target_vectors, "target vectors")
    sims = src @ tgt.T
    forward = -np.sort(-sims, axis=1)[:, : min(k, sims.shape[1])].mean(axis=1)
    backward = -np.sort(-sims, axis=0)[: min(k, sims.shape[0])].mean(axis=0)
    return (sims / _denominator(forward[:, None], backward[None, :])).astype(np.float32)


def mine_bitext(source_vectors: np.ndarray, target_vectors: np.ndarray, k: int = 4,
                mode: MiningMode | str = "mutual", threshold: float | None = None,
                index_kind: IndexKind | str = "auto") -> list[MinedPair]:
    """Align two lists of sentence vectors by ratio margin over ``k`` nearest neighbours (LASER).

    Candidates are each sentence's ``k`` nearest neighbours on the other side (found with
    :func:`build_index`, so large lists use FAISS); each candidate pair is scored with the margin
    of :func:`margin_scores`.

    Args:
        source_vectors: ``(n, dim)`` unit rows.
        target_vectors: ``(m, dim)`` unit rows.
        k: neighbourhood size for the margin and the candidates (4 in LASER).
        mode: ``mutual``: pairs that are each other's best (high precision, one-to-one);
            ``forward``: every source with its best target; ``threshold``: every candidate pair,
            either direction, scoring at least ``threshold`` (may be many-to-many).
        threshold: minimum margin; applies to every mode and is required by ``threshold``.
        index_kind: passed to :func:`build_index`.

    Returns:
        Pairs sorted by source index, then by margin (best first); texts are left ``None``.

    Example:
        >>> x = np.eye(3, dtype=np.float32)
        >>> [(p.source_index, p.target_index) for p in mine_bitext(x, x[[2, 0, 1]], k=2)]
        [(0, 1), (1, 2), (2, 0)]
    """
    src, tgt = _as_matrix(source_vectors, "source vectors"), _as_matrix(target_vectors, "target vectors")
    if mode not in MINING_MODES:
        raise ValueError(f"unknown mining mode {mode!r}; use one of {', '.join(MINING_MODES)}")
    if mode == "threshold" and threshold is None:
        raise ValueError("mode 'threshold' needs a threshold (a minimum margin such as 1.05)")
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if not len(src) or not len(tgt):
        return []
    if src.shape[1] != tgt.shape[1]:
        raise ValueError(f"source vectors have {src.shape[1]} dimensions, target vectors {tgt.shape[1]}")
    forward = search(src, build_index(tgt, index_kind), min(k, len(tgt)))
    backward = search(tgt, build_index(src, index_kind), min(k, len(src)))
    forward_mean = forward.scores.mean(axis=1)
    backward_mean = backward.scores.mean(axis=1)
    # Margins of every candidate, as (source, target) -> (margin, cosine) in both directions.
    fwd_margin = forward.scores / _denominator(forward_mean[:, None], backward_mean[forward.indices])
    bwd_margin = backward.scores / _denominator(backward_mean[:, None], forward_mean[backward.indices])
    best_target = forward.indices[np.arange(len(src)), fwd_margin.argmax(axis=1)]
    best_source = backward.indices[np.arange(len(tgt)), bwd_margin.argmax(axis=1)]

    found: dict[tuple[int, int], tuple[float, float]] = {}
    if mode in ("mutual", "forward"):
        best_cols = fwd_margin.argmax(axis=1)
        for i, (j, col) in enumerate(zip(best_target, best_cols)):
            if mode == "forward" or best_source[j] == i:
                found[(i, int(j))] = (float(fwd_margin[i, col]), float(forward.scores[i, col]))
    else:
        for i in range(len(src)):
            for col, j in enumerate(forward.indices[i]):
                found[(i, int(j))] = (float(fwd_margin[i, col]), float(forward.scores[i, col]))
        for j in range(len(tgt)):
            for col, i in enumerate(backward.indices[j]):
                found.setdefault((int(i), j), (float(bwd_margin[j, col]), float(backward.scores[j, col])))
    pairs = [MinedPair(i, j, margin, cosine) for (i, j), (margin, cosine) in found.items()
             if threshold is None or margin >= threshold]
    pairs.sort(key=lambda p: (p.source_index, -p.margin, p.target_index))
    return pairs


def _denominator(forward_mean: np.ndarray, backward_mean: np.ndarray) -> np.ndarray:
    # Ratio margins assume positive neighbourhood similarity; a non-positive mean would flip signs.
    return np.maximum((forward_mean + backward_mean) / 2.0, 1e-6)
