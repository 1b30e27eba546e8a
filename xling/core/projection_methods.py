"""Projecting sentence vectors to 2-D or 3-D: UMAP, PCA or t-SNE, arrays in, arrays out, explicit ``seed``.

Pure compute for :mod:`xling.core.projection`'s map (which re-exports these names). umap is
imported where it is used (its first import costs seconds); :func:`warm_up_umap` compiles it ahead.

Example:
    >>> import numpy as np
    >>> vectors = np.random.default_rng(0).normal(size=(50, 8)).astype("float32")
    >>> project(vectors, "pca", dims=2, seed=0).shape
    (50, 2)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from xling.core.vectors import normalize_rows
from xling.errors import XlingError

#: Projection methods, as the UI and the CLI name them.
METHODS = ("umap", "pca", "tsne")
METHOD_LABELS = {"umap": "UMAP", "pca": "PCA", "tsne": "t-SNE"}
#: A map needs at least this many sentences (UMAP and t-SNE need neighbours).
MIN_MAP_TEXTS = 3
#: Defaults of the method parameters (``project(..., **params)``).
DEFAULT_PARAMS = {"umap": {"n_neighbors": 15, "min_dist": 0.1}, "pca": {}, "tsne": {"perplexity": 30.0}}


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
