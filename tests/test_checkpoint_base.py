"""checkpoints/xling-base: a delta of e5-small that every loader takes once materialised, with a
language-ID head that knows its languages and language vectors that steer prediction."""

from __future__ import annotations

import json

import pytest

from xling.config import REPO_ROOT

BASE = REPO_ROOT / "checkpoints" / "xling-base"
pytestmark = pytest.mark.skipif(not (BASE / "xling.json").exists(), reason="checkpoints/xling-base not trained yet")


@pytest.fixture(scope="module")
def folder():
    from xling.core.delta import materialise

    return materialise(BASE)


def test_size_files_and_calibration():
    from xling.core.delta import is_delta

    size = sum(p.stat().st_size for p in BASE.rglob("*") if p.is_file())
    assert size <= 100 * 2**20 and is_delta(BASE)
    names = {p.name for p in BASE.iterdir()}
    assert {"README.md", "config.json", "delta.safetensors", "heads.safetensors", "xling.json", "tokenizer.json"} <= names
    assert not list(BASE.rglob("*.bin")) and not list(BASE.rglob("*.pt"))
    manifest = json.loads((BASE / "xling.json").read_text())
    assert len(manifest["languages"]) >= 60 and manifest["lang_embedding_trained"]
    assert 0.3 < manifest["lid_temperature"] < 3.0


def test_transformers_loads_the_rebuilt_folder(folder):
    from transformers import AutoModelForMaskedLM, pipeline

    model = AutoModelForMaskedLM.from_pretrained(folder, trust_remote_code=False)
    assert model.config.num_hidden_layers == 8
    fill = pipeline("fill-mask", model=str(folder))
    hits = fill(f"Die Datei wurde nicht {fill.tokenizer.mask_token}.", top_k=5)
    assert len(hits) == 5 and all(0 <= h["score"] <= 1 for h in hits)


def test_language_id_on_clear_sentences():
    from xling.core.detectors import load_detector

    detector = load_detector(str(BASE))
    texts = {
        "de": "Die Datei konnte nicht gespeichert werden, weil der Datenträger voll ist.",
        "fr": "Le fichier n'a pas pu être enregistré car le disque est plein.",
        "ru": "Не удалось сохранить файл, так как диск заполнен.",
        "ja": "ディスクがいっぱいのため、ファイルを保存できませんでした。",
        "el": "Δεν ήταν δυνατή η αποθήκευση του αρχείου επειδή ο δίσκος είναι γεμάτος.",
        "ko": "디스크가 가득 차서 파일을 저장할 수 없습니다.",
        "hi": "डिस्क भर जाने के कारण फ़ाइल सहेजी नहीं जा सकी।",
        "fi": "Tiedostoa ei voitu tallentaa, koska levy on täynnä.",
    }
    assert detector.detect(list(texts.values())) == list(texts)


def test_language_vectors_condition_prediction():
    import torch

    from xling.core.model import XlingModel

    model = XlingModel.load(BASE)
    batch = model.tokenize([f"Die Datei wurde nicht {model.tokenizer.mask_token}."])
    positions = batch["input_ids"] == model.tokenizer.mask_token_id
    assert int(positions.sum()) == 1
    with torch.inference_mode():
        german = model(**batch, mlm_positions=positions, lang_ids=model.language_ids(["de"])).mlm_logits
        japanese = model(**batch, mlm_positions=positions, lang_ids=model.language_ids(["ja"])).mlm_logits
    assert not torch.allclose(german, japanese)
