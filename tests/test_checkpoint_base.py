"""checkpoints/xling-base: a delta of e5-small that every loader takes once materialised, with a
language-ID head that knows its languages and language vectors that steer prediction."""

from __future__ import annotations

import json

import pytest

from tests.test_checkpoints import CLEAR_SENTENCES, assert_detects, assert_language_vectors_condition_prediction
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
    assert_detects(BASE, {**CLEAR_SENTENCES,
                          "ko": "디스크가 가득 차서 파일을 저장할 수 없습니다.",
                          "hi": "डिस्क भर जाने के कारण फ़ाइल सहेजी नहीं जा सकी।",
                          "fi": "Tiedostoa ei voitu tallentaa, koska levy on täynnä."})


def test_language_vectors_condition_prediction():
    from xling.core.model import XlingModel

    model = XlingModel.load(BASE)
    assert_language_vectors_condition_prediction(model, f"Die Datei wurde nicht {model.tokenizer.mask_token}.")
