"""Row-wise numpy helpers shared by the encoders, the heads and the metrics: unit-length rows, softmax.

Pure numpy, no xling import: the lowest layer of :mod:`xling.core`.

Example:
    >>> softmax(np.array([[0.0, 0.0]])).tolist()
    [[0.5, 0.5]]
"""

from __future__ import annotations

import numpy as np


def normalize_rows(vectors: np.ndarray) -> np.ndarray:
    """Return ``vectors`` as float32 with unit-length rows (zero rows stay zero).

    Example:
        >>> normalize_rows(np.array([[3.0, 4.0]])).tolist()
        [[0.6000000238418579, 0.800000011920929]]
    """
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, np.finfo(np.float32).tiny)


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise log-softmax of a 2-d array, shifted by each row's maximum so that it never overflows."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Row-wise softmax of ``logits / temperature`` in float64.

    >>> softmax(np.array([[0.0, 0.0]]), temperature=2.0).tolist()
    [[0.5, 0.5]]
    """
    return np.exp(log_softmax(np.asarray(logits, dtype=np.float64) / temperature))
