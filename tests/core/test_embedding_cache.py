"""The embedding cache: computed once per (encoder, collection), recomputed when damaged."""

from __future__ import annotations

import numpy as np

from xling.core.embedding_cache import cache_path, embed_collection, save_npy_atomic
from xling.data.texts import CorpusText, make_collection


class CountingEncoder:
    name = "counting"

    def __init__(self):
        self.calls = 0

    def encode(self, texts, batch_size=64, show_progress=False):
        self.calls += 1
        rng = np.random.default_rng(len(texts))
        vectors = rng.normal(size=(len(texts), 8)).astype(np.float32)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_second_call_reads_the_cache(tmp_path):
    collection = make_collection("c", [CorpusText(f"text {i}", "en") for i in range(700)])
    encoder, seen = CountingEncoder(), []
    first = embed_collection(encoder, collection, tmp_path, progress=lambda done, total: seen.append((done, total)))
    assert first.shape == (700, 8) and encoder.calls == 2 and seen == [(512, 700), (700, 700)]
    again = embed_collection(encoder, collection, tmp_path)
    assert encoder.calls == 2 and np.array_equal(first, again)


def test_other_content_or_encoder_gets_another_file(tmp_path, tiny_xling_dir):
    a = make_collection("a", [CorpusText("one")])
    b = make_collection("a", [CorpusText("two")])
    assert cache_path(tmp_path, "usem3", a) != cache_path(tmp_path, "usem3", b)
    assert cache_path(tmp_path, "usem3", a) != cache_path(tmp_path, "other", a)
    # The same folder named two ways shares a file; its raw MLM pool does not.
    relative = str(tiny_xling_dir.relative_to(tiny_xling_dir.parent.parent))
    import os
    cwd = os.getcwd()
    os.chdir(tiny_xling_dir.parent.parent)
    try:
        assert cache_path(tmp_path, relative, a) == cache_path(tmp_path, str(tiny_xling_dir), a)
        assert cache_path(tmp_path, "mlm:" + str(tiny_xling_dir), a) != cache_path(tmp_path, str(tiny_xling_dir), a)
    finally:
        os.chdir(cwd)


def test_damaged_cache_is_recomputed(tmp_path):
    collection = make_collection("c", [CorpusText("x"), CorpusText("y")])
    encoder = CountingEncoder()
    embed_collection(encoder, collection, tmp_path)
    cache_path(tmp_path, encoder.name, collection).write_bytes(b"not numpy")
    vectors = embed_collection(encoder, collection, tmp_path)
    assert vectors.shape == (2, 8) and encoder.calls == 2


def test_save_npy_atomic_replaces_the_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "deep" / "vectors.npy"
    assert save_npy_atomic(path, np.zeros((2, 3), dtype=np.float32)) == path
    save_npy_atomic(path, np.ones((4, 3), dtype=np.float32))
    assert np.array_equal(np.load(path), np.ones((4, 3), dtype=np.float32))
    assert [p.name for p in path.parent.iterdir()] == ["vectors.npy"]


class FolderEncoder(CountingEncoder):
    def __init__(self, folder):
        super().__init__()
        self.name = str(folder)


def test_shipped_vectors_answer_only_for_the_same_weights_and_texts(tmp_path, monkeypatch):
    """Vectors that ship with the demo are keyed by the weights' bytes and the texts' fingerprint:
    a copied folder (new path, new mtime) still matches; one changed byte, or other texts, do not."""
    import json

    from xling.core import embedding_cache
    from xling.core.embedding_cache import SHIPPED_INDEX, has_vectors, shipped_vectors, weights_digest, write_shipped

    folder = tmp_path / "enc"
    folder.mkdir()
    (folder / "encoder.safetensors").write_bytes(b"weights v1")
    (folder / "config.json").write_text("{}")
    collection = make_collection("c", [CorpusText(f"text {i}", "en") for i in range(5)])
    vectors = CountingEncoder().encode(["x"] * 5)
    shipped = tmp_path / "demo" / "vectors"
    write_shipped(shipped / "enc.i8.npz", vectors)
    (shipped / SHIPPED_INDEX).write_text(json.dumps([{"file": "enc.i8.npz", "weights": weights_digest(str(folder)),
                                                      "fingerprint": collection.fingerprint, "n": 5}]))
    monkeypatch.setattr(embedding_cache, "shipped_dir", lambda: shipped)

    copy = tmp_path / "elsewhere" / "enc"
    copy.parent.mkdir()
    import shutil

    shutil.copytree(folder, copy)
    encoder = FolderEncoder(copy)
    got = embed_collection(encoder, collection, tmp_path / "cache")
    assert encoder.calls == 0 and np.allclose(got, vectors, atol=1e-2) and got.dtype == np.float32
    assert has_vectors(str(copy), collection, tmp_path / "cache")
    other = make_collection("c", [CorpusText(f"text {i}", "en") for i in range(4)])
    assert shipped_vectors(str(copy), other) is None
    (copy / "encoder.safetensors").write_bytes(b"weights v2, retrained")
    assert shipped_vectors(str(copy), collection) is None and not has_vectors(str(copy), collection, None)
    assert shipped_vectors("usem3", collection) is None  # not a folder: never matched


def test_shipped_vectors_are_int8_with_a_scale_per_row_and_keep_cosines(tmp_path):
    from xling.core.embedding_cache import read_shipped, write_shipped

    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(300, 512)).astype(np.float32)
    vectors[:100, :8] *= 40  # rows with a few large components: each row gets its own scale
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    vectors[5] = 0.0  # an all-zero row survives
    path = write_shipped(tmp_path / "v.i8.npz", vectors)
    with np.load(path) as stored:
        assert stored["codes"].dtype == np.int8 and stored["scale"].shape == (300,)
    back = read_shipped(path)
    assert back.dtype == np.float32 and back.shape == vectors.shape and not back[5].any()
    keep = np.ones(300, dtype=bool)
    keep[5] = False
    cosines = np.einsum("ij,ij->i", back, vectors)
    assert cosines[100:].min() > 0.9999  # ordinary rows
    assert cosines[:100][keep[:100]].min() > 0.998  # rows dominated by a few components lose the most
    pairs = vectors[100:] @ vectors[100:150].T
    assert np.abs(back[100:] @ back[100:150].T - pairs).max() < 5e-3
    assert path.stat().st_size < vectors.astype(np.float16).nbytes * 0.55


def test_the_shipped_demo_vectors_match_the_demo_corpus_and_the_default_map(tmp_path, monkeypatch):
    """demo/vectors is rebuilt (python -m xling.core.demo_vectors) whenever the demo corpus, the
    default encoder or the default masked LM changes: a stale file would be skipped silently and the
    first search or map would be slow. The default map then loads no model and projects nothing."""
    from xling.core import projection
    from xling.core.embedding_cache import has_vectors
    from xling.core.services import Services

    monkeypatch.setenv("XLING_CACHE", str(tmp_path / "cache"))
    services = Services()
    collection = services.collection()
    names = projection.default_map_encoders(services)
    assert len(names) == 2
    for name in names:
        assert has_vectors(services.encoder_label(name), collection, None), "run: python -m xling.core.demo_vectors"

    def refuse(*args, **kwargs):
        raise AssertionError("the default map should not load a model or project: its files ship in demo/vectors")

    monkeypatch.setattr(projection, "project", refuse)
    monkeypatch.setattr(services, "encoder", refuse)
    result = projection.compute_map(services, collection, projection.default_languages(collection),
                                    projection.DEFAULT_MAP_TEXTS, names, "umap", 2, 0, projection.default_map_params())
    assert [view.coords.shape for view in result.views] == [(len(result.sample), 2)] * 2
    assert result.views[0].metrics.p_at_1 > 0.9 > result.views[1].metrics.p_at_1
