"""How a sentence-vector space is organised: by meaning (cross-lingual P@1) or by language (silhouette).

Pure compute on arrays for the map (:mod:`xling.core.projection` re-exports these names): the two
numbers shown above a map (:class:`SpaceMetrics`) and the cosine neighbours of one point.

Example:
    >>> import numpy as np
    >>> nearest_neighbours(np.eye(3, dtype=np.float32), 0, k=1)
    [(1, 0.0)]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from xling.core.vectors import normalize_rows
from xling.errors import XlingError

from xling.core.projection_methods import MIN_MAP_TEXTS


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
