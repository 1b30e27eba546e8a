"""Train xling's multilingual tokenizer on the corpus (Unigram, Hugging Face format).

Every character seen at least ``min_char_count`` times joins the initial alphabet, so CJK and the
other scripts of the corpus are covered whatever the vocabulary budget; the rest of the budget
goes to frequent pieces. NFKC normalisation, SentencePiece-style ``▁`` word marks (works for
languages written without spaces), BERT special tokens.

Example:
    >>> tok = train_tokenizer(["Hallo Welt", "Bonjour le monde", "你好世界"] * 50, vocab_size=200)
    >>> tok.mask_token
    '[MASK]'
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


def train_tokenizer(
    texts: Sequence[str],
    vocab_size: int = 24000,
    min_char_count: int = 2,
    max_length: int = 128,
):
    """Train a Unigram tokenizer and wrap it as a ``PreTrainedTokenizerFast``.

    Args:
        texts: training texts (all languages mixed).
        vocab_size: the vocabulary size, special tokens and alphabet included (<= 32k for xling).
        min_char_count: characters seen fewer times map to ``[UNK]``.
        max_length: the ``model_max_length`` stored with the tokenizer.

    Returns:
        A ``transformers.PreTrainedTokenizerFast`` with ``[CLS] text [SEP]`` templates.
    """
    from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    alphabet = character_alphabet(texts, min_char_count)
    if len(alphabet) + len(SPECIAL_TOKENS) >= vocab_size:
        raise ValueError(
            f"vocab_size {vocab_size} leaves no room beyond the {len(alphabet)} characters of the corpus"
        )
    tokenizer = Tokenizer(models.Unigram())
    tokenizer.normalizer = normalizers.NFKC()
    # "first", not "always": text right after a special token ("[MASK].") must not get a word-start
    # marker of its own, or every mask before punctuation reads as "[MASK] ▁ .".
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first")
    tokenizer.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="first")
    trainer = trainers.UnigramTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        unk_token="[UNK]",
        initial_alphabet=alphabet,
        max_piece_length=12,
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer, length=len(texts))
    # lstrip: "ein [MASK]" masks the word piece "▁Haus" as in training, not "▁" then "[MASK]".
    tokenizer.add_special_tokens([AddedToken("[MASK]", lstrip=True, special=True, normalized=False)])
    cls_id, sep_id = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=max_length,
    )


def character_alphabet(texts: Iterable[str], min_count: int = 2) -> list[str]:
    """The NFKC-normalised characters seen at least ``min_count`` times (spaces excluded)."""
    counts: Counter = Counter()
    for text in texts:
        counts.update(unicodedata.normalize("NFKC", text))
    return sorted(ch for ch, n in counts.items() if n >= min_count and not ch.isspace())
