"""The seed's losses, as pure functions of model outputs.

Example:
    >>> import torch
    >>> a = torch.nn.functional.normalize(torch.randn(4, 8), dim=-1)
    >>> float(info_nce(a, a, temperature=0.05)) < float(info_nce(a, a.roll(1, 0), temperature=0.05))
    True
"""

from __future__ import annotations

import torch
from torch.nn import functional as F


def mlm_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy over the masked positions only (``logits``: ``(n_masked, vocab)``)."""
    return F.cross_entropy(logits.float(), targets)


def lid_loss(logits: torch.Tensor, lang_ids: torch.Tensor) -> torch.Tensor:
    """Language-identification cross-entropy."""
    return F.cross_entropy(logits.float(), lang_ids)


def info_nce(a: torch.Tensor, b: torch.Tensor, temperature: float) -> torch.Tensor:
    """Symmetric InfoNCE with in-batch negatives: row i of ``a`` and ``b`` translate each other.

    Both inputs are L2-normalised ``(batch, dim)``.
    """
    logits = a.float() @ b.float().T / temperature
    labels = torch.arange(len(a), device=a.device)
    return (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2


def teacher_student_loss(student_a: torch.Tensor, student_b: torch.Tensor, teacher_a: torch.Tensor) -> torch.Tensor:
    """Multilingual knowledge distillation: the student's vectors of a sentence and of its
    translation both match the frozen teacher's vector of the sentence (squared distance per
    vector, which for unit vectors is ``2 - 2·cos``)."""
    teacher_a = teacher_a.to(student_a.dtype)
    return ((student_a - teacher_a) ** 2).sum(-1).mean() + ((student_b - teacher_a) ** 2).sum(-1).mean()
