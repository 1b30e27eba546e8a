"""The corpus tokenizer: every character covered, masks read like words."""

from __future__ import annotations

from tests.conftest import PARALLEL
from xling.training.tokenizer import train_tokenizer

TEXTS = [text for row in PARALLEL for text in row.values()] * 3


def test_every_corpus_character_is_covered_and_round_trips():
    tokenizer = train_tokenizer(TEXTS, vocab_size=300, max_length=64)
    for text in ("猫はソファで寝ています。", "Кошка спит на диване.", "Die Katze schläft auf dem Sofa."):
        ids = tokenizer(text)["input_ids"]
        assert tokenizer.unk_token_id not in ids
        assert tokenizer.decode(ids, skip_special_tokens=True) == text


def test_text_after_a_mask_gets_no_stray_word_marker():
    tokenizer = train_tokenizer(TEXTS, vocab_size=300, max_length=64)
    pieces = tokenizer.tokenize("Die Katze schläft auf dem [MASK].")
    after = pieces[[p.strip() for p in pieces].index(tokenizer.mask_token) + 1:]
    assert after == ["."]
