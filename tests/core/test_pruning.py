from __future__ import annotations

import pytest
import torch

from xling.core.pruning import freeze_below, prune_masked_lm, prune_tokenizer, truncate_layers, used_piece_ids

TEXTS = [
    "Die Datei wurde nicht gefunden.",
    "Paris is the capital of France.",
    "東京は日本の首都です。",
    "Откройте файл ещё раз.",
    "Paris is the capital of France.",
]


@pytest.fixture(scope="module")
def e5(e5_cache):
    from xling.core.e5 import e5_masked_lm

    return e5_masked_lm(e5_cache)


def test_used_pieces_count_the_texts_and_keep_the_special_tokens(e5):
    _, tokenizer = e5
    kept = used_piece_ids(tokenizer, TEXTS)
    assert set(tokenizer.all_special_ids) <= set(kept.tolist())
    assert kept.tolist() == sorted(kept.tolist())
    twice = used_piece_ids(tokenizer, TEXTS, min_count=2)
    paris = tokenizer("Paris", add_special_tokens=False)["input_ids"]
    assert set(paris) <= set(twice.tolist()) and len(twice) < len(kept)
    with pytest.raises(ValueError, match="min_count"):
        used_piece_ids(tokenizer, TEXTS, min_count=0)


def test_a_pruned_model_cuts_the_corpus_into_the_same_pieces_and_predicts_the_same(e5_cache, tmp_path):
    from transformers import AutoModelForMaskedLM, AutoTokenizer, pipeline

    from xling.core.e5 import e5_masked_lm

    model, tokenizer = e5_masked_lm(e5_cache)  # its own copy: this test changes it
    model.eval()
    torch.manual_seed(0)
    with torch.no_grad():  # give the new head something to say, so the comparison means something
        model.lm_head.bias.normal_()
    sentence = "Paris is the capital of France."
    batch = tokenizer([sentence], return_tensors="pt")
    with torch.no_grad():
        full = model(**batch).logits[0]
    before = [tokenizer(t)["input_ids"] for t in TEXTS]

    model, small, kept = prune_masked_lm(model, tokenizer, TEXTS)
    assert len(small) == len(kept) == model.config.vocab_size < 1000
    assert [[int(kept[i]) for i in small(t)["input_ids"]] for t in TEXTS] == before
    assert small.mask_token_id == int((kept == tokenizer.mask_token_id).nonzero()[0][0])
    assert model.lm_head.decoder.weight is model.get_input_embeddings().weight  # still tied
    with torch.no_grad():
        pruned = model(**small([sentence], return_tensors="pt")).logits[0]
    assert torch.allclose(pruned, full[:, torch.from_numpy(kept)], atol=1e-4)  # the kept columns, unchanged

    truncate_layers(model, 8)
    assert model.config.num_hidden_layers == 8 and len(model.roberta.encoder.layer) == 8
    with pytest.raises(ValueError, match="keep"):
        truncate_layers(model, 9)
    model.save_pretrained(tmp_path)
    small.save_pretrained(tmp_path)
    again = AutoModelForMaskedLM.from_pretrained(tmp_path, trust_remote_code=False, use_safetensors=True)
    fill = pipeline("fill-mask", model=again, tokenizer=AutoTokenizer.from_pretrained(tmp_path))
    hits = fill(f"Paris is the {small.mask_token} of France.", top_k=3)
    assert len(hits) == 3 and all(0 <= h["token"] < len(small) for h in hits)


def test_only_unigram_tokenizers_are_pruned():
    from tokenizers import Tokenizer, models
    from transformers import PreTrainedTokenizerFast

    vocab = {"[PAD]": 0, "[UNK]": 1, "hallo": 2, "##s": 3}
    wordpiece = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(models.WordPiece(vocab, unk_token="[UNK]")),
                                        unk_token="[UNK]", pad_token="[PAD]")  # fmt: skip
    with pytest.raises(ValueError, match="Unigram"):
        prune_tokenizer(wordpiece, range(10))


def test_freeze_below_leaves_the_top_layers_and_the_head_trainable(e5_cache):
    from xling.core.e5 import e5_masked_lm

    model, _ = e5_masked_lm(e5_cache)
    trainable = freeze_below(model, 2)
    layers = model.roberta.encoder.layer
    assert not any(p.requires_grad for p in model.roberta.embeddings.parameters())
    assert not any(p.requires_grad for layer in layers[:-2] for p in layer.parameters())
    assert all(p.requires_grad for layer in layers[-2:] for p in layer.parameters())
    assert model.lm_head.dense.weight.requires_grad and model.lm_head.bias.requires_grad
    assert trainable == sum(p.numel() for p in model.parameters() if p.requires_grad)
    with pytest.raises(ValueError, match="trainable_layers"):
        freeze_below(model, 13)
