from __future__ import annotations

import shutil

import pytest

from xling.core.masked_lm import load_masked_lm
from xling.errors import ModelLoadError


def test_loads_tiny_bert_in_eval_mode(tiny_mlm_dir):
    model, tokenizer = load_masked_lm(str(tiny_mlm_dir))
    assert type(model).__name__ == "BertForMaskedLM"
    assert not model.training
    assert tokenizer.mask_token == "[MASK]"
    assert tokenizer.mask_token_id < model.get_input_embeddings().num_embeddings


def test_missing_folder(tmp_path):
    with pytest.raises(ModelLoadError, match="no such folder"):
        load_masked_lm(str(tmp_path / "nope" / "model"))


def test_missing_weights(tiny_mlm_dir, tmp_path):
    folder = tmp_path / "no-weights"
    shutil.copytree(tiny_mlm_dir, folder)
    (folder / "model.safetensors").unlink()
    with pytest.raises(ModelLoadError, match="no weights"):
        load_masked_lm(str(folder))


def test_corrupt_weights(tiny_mlm_dir, tmp_path):
    folder = tmp_path / "corrupt"
    shutil.copytree(tiny_mlm_dir, folder)
    (folder / "model.safetensors").write_bytes(b"not a safetensors file at all")
    with pytest.raises(ModelLoadError, match="could not be read"):
        load_masked_lm(str(folder))


def test_architecture_without_masked_lm_head(tmp_path):
    from transformers import GPT2Config

    GPT2Config(n_layer=1, n_embd=8, n_head=2, vocab_size=50).save_pretrained(tmp_path)
    with pytest.raises(ModelLoadError, match="not a masked LM"):
        load_masked_lm(str(tmp_path))


def test_encoder_weights_without_the_head_are_refused(tiny_st_dir):
    # A sentence-transformers folder holds a BertModel: from_pretrained would invent a random head.
    with pytest.raises(ModelLoadError, match="no trained masked-LM head"):
        load_masked_lm(str(tiny_st_dir))


def test_tokenizer_without_mask_token(tiny_mlm_dir, tmp_path):
    from transformers import AutoTokenizer

    folder = tmp_path / "no-mask"
    shutil.copytree(tiny_mlm_dir, folder)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    tokenizer.mask_token = None
    tokenizer.save_pretrained(folder)
    with pytest.raises(ModelLoadError, match="no mask token"):
        load_masked_lm(str(folder))


def test_offline_hub_id(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelLoadError, match="offline"):
        load_masked_lm("xling-test-org/not-a-model")


def test_xling_checkpoint_loads_as_a_plain_masked_lm(tiny_xling_dir):
    model, tokenizer = load_masked_lm(str(tiny_xling_dir))
    assert type(model).__name__ == "BertForMaskedLM"
    assert tokenizer.mask_token == "[MASK]"
