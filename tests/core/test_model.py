from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from xling.core.model import HEADS, MANIFEST, XlingModel, speed_up_vocab_projection
from xling.errors import ModelLoadError


@pytest.fixture(scope="module")
def model(tiny_xling_dir):
    return XlingModel.load(tiny_xling_dir)


def test_folder_layout(tiny_xling_dir):
    names = {p.name for p in tiny_xling_dir.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", MANIFEST, HEADS, "modules.json"} <= names
    assert not any(name.endswith((".bin", ".pt", ".pkl")) for name in names)  # safetensors only
    manifest = json.loads((tiny_xling_dir / MANIFEST).read_text())
    assert manifest["languages"] == ["de", "en", "es", "fr", "ja", "ru", "zh"]


def test_language_id_never_reads_the_language_embedding(model):
    """The seed's bug: its classifier read states with the gold language added. Here the LID
    logits must not change whatever language vector the MLM head is given."""
    batch = model.tokenize(["Die Katze schläft auf dem Sofa."])
    positions = batch["attention_mask"].bool()
    with torch.no_grad():
        plain = model(**batch, want_lid=True, mlm_positions=positions)
        as_de = model(**batch, want_lid=True, mlm_positions=positions, lang_ids=model.language_ids(["de"]))
        as_ja = model(**batch, want_lid=True, mlm_positions=positions, lang_ids=model.language_ids(["ja"]))
    assert torch.equal(plain.lid_logits, as_de.lid_logits) and torch.equal(as_de.lid_logits, as_ja.lid_logits)
    # ...while the language vector does condition the masked-LM prediction.
    assert not torch.allclose(as_de.mlm_logits, as_ja.mlm_logits)
    unknown = model(**batch, mlm_positions=positions, lang_ids=torch.tensor([-1]))
    assert torch.allclose(unknown.mlm_logits, plain.mlm_logits)


def test_embed_and_predict(model):
    vectors = model.embed(["Hallo Welt", "Hello world", "你好"])
    assert vectors.shape == (3, 24) and np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    hits = model.predict_languages(["Bonjour"], k=3)[0]
    assert len(hits) == 3 and hits[0][1] >= hits[1][1] >= hits[2][1]


def test_batches_sorted_by_length_keep_the_callers_order(model):
    texts = ["Ein sehr langer deutscher Satz über den Zug nach Berlin und zurück.", "Hi", "你好世界", "Bonjour à tous"]
    together = model.language_probabilities(texts, batch_size=2)
    alone = np.concatenate([model.language_probabilities([t]) for t in texts])
    assert np.allclose(together, alone, atol=1e-5)
    assert np.allclose(model.embed(texts, batch_size=3), np.concatenate([model.embed([t]) for t in texts]), atol=1e-5)
    assert model.embed([]).shape == (0, 24)


def test_inference_reads_at_most_the_first_pieces_of_a_long_text(model, monkeypatch):
    from xling.core import model as model_module

    long = " ".join(["Bahnhof"] * 400)
    assert model.tokenize([long])["input_ids"].shape[1] <= model_module.INFERENCE_MAX_LENGTH
    monkeypatch.setattr(model_module, "INFERENCE_MAX_LENGTH", 8)
    cut = model.tokenize([long, "Hi"])
    assert cut["input_ids"].shape == (2, 8) and int(cut["attention_mask"][1].sum()) < 8
    head = model.tokenizer.convert_tokens_to_string(model.tokenizer.convert_ids_to_tokens(cut["input_ids"][0][1:-1]))
    assert np.allclose(model.language_probabilities([long]), model.language_probabilities([head]), atol=1e-5)


def test_vocab_projection_fast_path_gives_the_same_logits_and_follows_training(tiny_xling_dir):
    model = XlingModel.load(tiny_xling_dir)
    decoder = model.mlm_head.predictions.decoder
    assert type(decoder).__name__ == "_VocabProjection" and not speed_up_vocab_projection(model.backbone)
    assert decoder.weight is model.backbone.get_input_embeddings().weight  # still tied
    states = torch.randn(3, 5, decoder.in_features)
    plain = torch.nn.functional.linear(states, decoder.weight, decoder.bias)
    with torch.no_grad():
        assert torch.allclose(decoder(states), plain, atol=1e-5)
    assert decoder(states).requires_grad  # training takes the plain path, gradients flow
    with torch.no_grad():
        decoder.weight.add_(1.0)  # a training step changes the weight: the cached copy follows
        assert torch.allclose(decoder(states), torch.nn.functional.linear(states, decoder.weight, decoder.bias), atol=1e-4)
    assert set(model.state_dict()) == set(XlingModel.load(tiny_xling_dir).state_dict())


def test_round_trip_and_hf_loaders(tiny_xling_dir, model, tmp_path):
    from sentence_transformers import SentenceTransformer
    from transformers import pipeline

    copy = XlingModel.load(model.save(tmp_path / "copy"))
    assert np.allclose(copy.embed(["Der Zug"]), model.embed(["Der Zug"]), atol=1e-6)
    st = SentenceTransformer(str(tiny_xling_dir), device="cpu")
    assert np.allclose(st.encode(["Der Zug"]), model.embed(["Der Zug"]), atol=1e-5)
    fill = pipeline("fill-mask", model=str(tiny_xling_dir))
    assert len(fill("Die Katze [MASK] auf dem Sofa.", top_k=3)) == 3


def test_mask_token_takes_the_space_before_it(model):
    tokenizer = model.tokenizer
    ids = tokenizer("Die Katze [MASK] auf dem Sofa.")["input_ids"]
    at = ids.index(tokenizer.mask_token_id)
    assert tokenizer.convert_ids_to_tokens(ids[at - 1]) != "▁"  # no lone word mark before the mask


def test_half_precision_save_loads_as_fp32(model, tmp_path):
    from safetensors import safe_open
    from transformers import AutoModelForMaskedLM

    folder = model.save(tmp_path / "half", half=True)
    with safe_open(str(folder / "model.safetensors"), "pt") as weights:
        assert weights.get_tensor(next(iter(weights.keys()))).dtype == torch.float16
    loaded = XlingModel.load(folder)
    assert next(loaded.backbone.parameters()).dtype == torch.float32
    assert next(AutoModelForMaskedLM.from_pretrained(folder).parameters()).dtype == torch.float32
    assert np.allclose(loaded.embed(["Hallo"]), model.embed(["Hallo"]), atol=1e-2)


def test_add_languages_keeps_known_rows(model):
    before = model.lid_head[2].weight.detach().clone()
    clone = XlingModel(model.backbone, model.tokenizer, list(model.languages), model.sentence_dim)
    clone.load_state_dict(model.state_dict())
    added = clone.add_languages(["de", "sv", "uk"])
    assert added == ["sv", "uk"] and clone.languages[-2:] == ["sv", "uk"]
    assert torch.equal(clone.lid_head[2].weight[: len(before)], before)
    assert clone.language_probabilities(["Hej"]).shape == (1, len(before) + 2)


def test_missing_files_give_clear_errors(tmp_path, tiny_xling_dir):
    with pytest.raises(ModelLoadError, match="not an xling checkpoint"):
        XlingModel.load(tmp_path)
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(tiny_xling_dir, broken)
    (broken / "model.safetensors").write_bytes(b"garbage")
    with pytest.raises(ModelLoadError, match="could not be loaded"):
        XlingModel.load(broken)


def test_trained_language_vectors_flag_round_trips(tiny_xling_dir, tmp_path):
    model = XlingModel.load(tiny_xling_dir)
    assert model.lang_embedding_trained is False
    model.lang_embedding_trained = True
    assert XlingModel.load(model.save(tmp_path / "flagged")).lang_embedding_trained is True


def test_the_language_id_temperature_divides_the_logits_and_round_trips(tiny_xling_dir, tmp_path):
    from xling.core.calibration import softmax, write_temperature

    model = XlingModel.load(tiny_xling_dir)
    texts = ["Guten Morgen, wie geht es dir?", "Good morning, how are you?"]
    logits = model.language_logits(texts)
    assert model.lid_temperature == 1.0
    np.testing.assert_allclose(model.language_probabilities(texts), softmax(logits), atol=1e-5)
    folder = model.save(tmp_path / "calibrated")
    write_temperature(folder, 4.0)
    warm = XlingModel.load(folder)
    assert warm.lid_temperature == 4.0
    np.testing.assert_allclose(warm.language_probabilities(texts), softmax(logits, 4.0), atol=1e-5)
    assert [r[0][0] for r in warm.predict_languages(texts, k=1)] == [r[0][0] for r in model.predict_languages(texts, k=1)]
