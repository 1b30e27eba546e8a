"""The committed default checkpoint loads with every loader and does its jobs."""

from __future__ import annotations

import json

import pytest

from xling.config import REPO_ROOT

MINI = REPO_ROOT / "checkpoints" / "xling-mini"
pytestmark = pytest.mark.skipif(not (MINI / "xling.json").exists(), reason="checkpoints/xling-mini not trained yet")


def test_size_and_files():
    size = sum(p.stat().st_size for p in MINI.rglob("*") if p.is_file())
    assert size <= 60 * 2**20
    names = {p.name for p in MINI.iterdir()}
    assert {"README.md", "metrics.json", "config.json", "model.safetensors", "heads.safetensors", "xling.json"} <= names
    assert not list(MINI.rglob("*.bin")) and not list(MINI.rglob("*.pt"))
    assert len(json.loads((MINI / "xling.json").read_text())["languages"]) >= 25


def test_fill_mask_pipeline():
    from transformers import pipeline

    fill = pipeline("fill-mask", model=str(MINI))
    hits = fill("Die Datei konnte nicht [MASK] werden.", top_k=5)
    assert len(hits) == 5 and all(0 <= h["score"] <= 1 for h in hits)


#: One clear sentence per language (the same message): every committed detector gets them right.
CLEAR_SENTENCES = {
    "de": "Die Datei konnte nicht gespeichert werden, weil der Datenträger voll ist.",
    "fr": "Le fichier n'a pas pu être enregistré car le disque est plein.",
    "ru": "Не удалось сохранить файл, так как диск заполнен.",
    "ja": "ディスクがいっぱいのため、ファイルを保存できませんでした。",
    "el": "Δεν ήταν δυνατή η αποθήκευση του αρχείου επειδή ο δίσκος είναι γεμάτος.",
}


def assert_detects(folder, texts: dict[str, str]) -> None:
    """The checkpoint's language-ID head names each text's language (``{lang: text}``)."""
    from xling.core.detectors import load_detector

    assert load_detector(str(folder)).detect(list(texts.values())) == list(texts)


def assert_language_vectors_condition_prediction(model, text: str) -> None:
    """``text`` has one mask; its logits differ between German and Japanese language vectors."""
    import torch

    batch = model.tokenize([text])
    positions = batch["input_ids"] == model.tokenizer.mask_token_id
    assert int(positions.sum()) == 1
    with torch.inference_mode():
        german = model(**batch, mlm_positions=positions, lang_ids=model.language_ids(["de"])).mlm_logits
        japanese = model(**batch, mlm_positions=positions, lang_ids=model.language_ids(["ja"])).mlm_logits
    assert not torch.allclose(german, japanese)


def test_language_id_on_clear_sentences():
    assert_detects(MINI, CLEAR_SENTENCES)


def test_translations_are_nearest_neighbours():
    from xling.config import Paths
    from xling.core.encoders import load_encoder

    encoder = load_encoder(str(MINI), Paths.from_env())
    english = ["Open file", "Save as", "Print preview", "Delete the selected files"]
    german = ["Datei öffnen", "Speichern unter", "Druckvorschau", "Die ausgewählten Dateien löschen"]
    similarity = encoder.encode(german) @ encoder.encode(english).T
    assert (similarity.argmax(axis=1) == range(len(english))).mean() >= 0.75


def test_language_vectors_are_trained_and_condition_prediction():
    from xling.core.model import XlingModel

    model = XlingModel.load(MINI)
    assert model.lang_embedding_trained
    assert_language_vectors_condition_prediction(model, "Die Datei wurde nicht [MASK].")
    # The text after the mask gets no word-start marker of its own.
    assert model.tokenizer.tokenize("nicht [MASK].")[-1] == "."
