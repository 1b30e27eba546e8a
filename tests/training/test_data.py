from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.conftest import PARALLEL
from xling.training.data import TrainingData, temperature_weights


@pytest.fixture(scope="module")
def data(tiny_xling_dir):
    from xling.core.model import XlingModel

    model = XlingModel.load(tiny_xling_dir)
    texts = {lang: [row[lang] for row in PARALLEL] for lang in model.languages}
    texts["de"] = texts["de"] * 10  # German has ten times the data
    return TrainingData(model.languages, texts, [dict(row) for row in PARALLEL], model.tokenizer, alpha=0.3)


def test_temperature_weights():
    assert np.allclose(temperature_weights([100, 100], 0.3), [0.5, 0.5])
    p = temperature_weights([1000, 10], 0.3)
    assert 0.5 < p[0] < 1000 / 1010  # flattened, not proportional
    assert np.allclose(temperature_weights([1000, 10], 0.0), [0.5, 0.5])
    assert np.allclose(temperature_weights([1000, 10], 1.0), [1000 / 1010, 10 / 1010])
    assert temperature_weights([5, 0], 0.5)[1] == 0


def test_mlm_batch_packs_one_language_per_row_and_masks_about_15_percent(data):
    rng = np.random.default_rng(0)
    batch = data.mlm_batch(rng, batch_size=64, max_length=32, mask_prob=0.15)
    tok = data.tokenizer
    assert batch.input_ids.shape == (64, 32)  # packed: every row full
    assert bool(batch.attention_mask.all())
    assert bool((batch.input_ids[:, 0] == tok.cls_token_id).all())
    share = batch.mlm_positions.sum().item() / batch.input_ids.numel()
    assert 0.08 < share < 0.2
    assert len(batch.targets) == int(batch.mlm_positions.sum())
    masked = batch.input_ids[batch.mlm_positions]
    assert (masked == tok.mask_token_id).float().mean() > 0.6  # 80 % become [MASK]
    assert not batch.mlm_positions[:, 0].any()  # [CLS] is never a target
    # German is sampled more than the others, but far less than 10x more (alpha = 0.3).
    counts = torch.bincount(batch.lang_ids, minlength=len(data.languages))
    assert counts[data.languages.index("de")] > 0


def test_pair_batch_pairs_two_languages_of_distinct_groups(data):
    batch = data.pair_batch(np.random.default_rng(1), batch_size=4, max_length=32)
    assert batch.a_ids.shape[0] == batch.b_ids.shape[0] == len(batch.source_texts) <= 4
    assert bool((batch.a_langs != batch.b_langs).all())
    assert len(set(batch.source_texts)) == len(batch.source_texts)


def test_whole_word_masking_masks_every_piece_of_a_word_together(data):
    from xling.training.data import word_starts

    whole = TrainingData(data.languages, {lang: [r[lang] for r in PARALLEL] for lang in data.languages},
                         [dict(r) for r in PARALLEL], data.tokenizer, alpha=0.3, whole_words=True)  # fmt: skip
    starts = word_starts(data.tokenizer)
    assert starts[data.tokenizer.cls_token_id] and not starts.all()  # ## pieces continue a word
    batch = whole.mlm_batch(np.random.default_rng(1), batch_size=64, max_length=32, mask_prob=0.15)
    original = batch.input_ids.clone()
    original[batch.mlm_positions] = batch.targets
    multi_piece = 0
    for row in range(original.shape[0]):
        ids, chosen = original[row].tolist(), batch.mlm_positions[row].tolist()
        for i in range(1, len(ids)):
            if not starts[ids[i]]:  # a continuation is masked exactly when the piece before it is
                assert chosen[i] == chosen[i - 1], (row, i)
                multi_piece += chosen[i]
    assert multi_piece > 0  # the check saw masked words of several pieces
    share = batch.mlm_positions.sum().item() / batch.input_ids.numel()
    assert 0.08 < share < 0.3
