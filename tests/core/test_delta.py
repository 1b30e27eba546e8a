from __future__ import annotations

import json

import pytest
import torch

from xling.core.delta import DELTA_MANIFEST, DELTA_WEIGHTS, is_delta, materialise, save_delta

TEXTS = ["Die Datei wurde nicht gefunden.", "Paris is the capital of France.", "Das Haus ist groß."]


@pytest.fixture
def full_folder(e5_cache, tmp_path, monkeypatch):
    """A cut e5-small (pruned vocabulary, 2 layers) with its top layer and heads changed, saved whole."""
    monkeypatch.setenv("XLING_CACHE", str(e5_cache))
    from xling.core.e5 import e5_masked_lm
    from xling.core.model import XlingModel
    from xling.core.pruning import freeze_below, prune_masked_lm, truncate_layers

    backbone, tokenizer = e5_masked_lm()
    backbone, tokenizer, _ = prune_masked_lm(backbone, tokenizer, TEXTS)
    truncate_layers(backbone, 2)
    freeze_below(backbone, 1)
    torch.manual_seed(0)
    with torch.no_grad():
        for param in backbone.parameters():
            if param.requires_grad:
                param.add_(0.01 * torch.randn_like(param))  # "training"
    model = XlingModel(backbone, tokenizer, ["de", "en"])
    return model.save(tmp_path / "full")


def test_a_delta_stores_only_what_training_changed_and_rebuilds_the_same_model(full_folder, e5_cache, tmp_path):
    from transformers import AutoModelForMaskedLM, AutoTokenizer, pipeline

    from xling.core.masked_lm import load_masked_lm
    from xling.core.model import XlingModel

    out = save_delta(full_folder, tmp_path / "xling-base")
    assert is_delta(out) and not is_delta(full_folder) and not (out / "model.safetensors").exists()
    manifest = json.loads((out / DELTA_MANIFEST).read_text())
    assert manifest["layers"] == 2 and manifest["base"] == "e5-small"
    assert any(n.startswith("roberta.encoder.layer.1.") for n in manifest["stored"])
    assert not any(n.startswith(("roberta.encoder.layer.0.", "roberta.embeddings.")) for n in manifest["stored"])
    assert (out / DELTA_WEIGHTS).stat().st_size < 0.6 * (full_folder / "model.safetensors").stat().st_size

    rebuilt = materialise(out)
    assert rebuilt.parent == e5_cache / "models" and (rebuilt / "model.safetensors").is_file()
    stamp = (rebuilt / "model.safetensors").stat().st_mtime_ns
    assert materialise(out) == rebuilt and (rebuilt / "model.safetensors").stat().st_mtime_ns == stamp  # reused
    assert materialise(full_folder) == full_folder  # a plain folder is itself

    original, again = XlingModel.load(full_folder), XlingModel.load(out)  # through the rebuilt folder
    batch = original.tokenize(TEXTS)
    with torch.no_grad():
        a = original(**batch, mlm_positions=batch["attention_mask"].bool(), want_lid=True)
        b = again(**batch, mlm_positions=batch["attention_mask"].bool(), want_lid=True)
    assert torch.allclose(a.mlm_logits, b.mlm_logits, atol=1e-5) and torch.allclose(a.lid_logits, b.lid_logits)

    model, tokenizer = load_masked_lm(str(out))
    assert model.config.num_hidden_layers == 2 and len(tokenizer) == again.backbone.config.vocab_size
    plain = AutoModelForMaskedLM.from_pretrained(rebuilt, trust_remote_code=False, use_safetensors=True)
    fill = pipeline("fill-mask", model=plain, tokenizer=AutoTokenizer.from_pretrained(rebuilt))
    assert len(fill("Die Datei wurde nicht <mask>.", top_k=2)) == 2


def test_a_delta_of_another_model_is_refused(full_folder, tmp_path):
    from safetensors.torch import load_file, save_file

    from xling.errors import ModelLoadError

    weights = load_file(str(full_folder / "model.safetensors"))
    weights["roberta.encoder.layer.1.output.dense.weight"] = torch.zeros(3, 3)
    save_file(weights, str(full_folder / "model.safetensors"))
    with pytest.raises(ModelLoadError, match="output.dense.weight"):
        save_delta(full_folder, tmp_path / "bad")
