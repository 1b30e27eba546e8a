"""Make a pretrained multilingual masked LM small enough to train and ship on a CPU.

multilingual-e5-small has 118 M parameters, 96 M of them its 250,002-piece embedding table: most
pieces are of scripts and languages a corpus never shows. Two cuts, each usable alone:

- :func:`prune_masked_lm` keeps only the pieces a set of texts uses (and the special tokens), in
  their original order, shrinking the embedding table, the tied MLM decoder and its bias, and the
  tokenizer (a Unigram tokenizer keeps its normaliser, pre-tokeniser and scores, so a text of the
  corpus is cut into the same pieces as before);
- :func:`truncate_layers` keeps the first ``k`` transformer layers: the last layers of a
  contrastively trained encoder have given up token identity for sentence meaning, and a masked
  LM reads better from a middle layer (the card of ``checkpoints/xling-base`` has the ablation).

The result is a plain Hugging Face masked LM and tokenizer: ``save_pretrained`` writes a folder
that ``AutoModelForMaskedLM`` and ``pipeline("fill-mask")`` load.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

#: Texts tokenised per call when counting pieces.
_COUNT_BATCH = 4096


def used_piece_ids(tokenizer: Any, texts: Iterable[str], min_count: int = 1) -> np.ndarray:
    """The ids (ascending) of the pieces that ``texts`` use at least ``min_count`` times, plus
    every special token.
    """
    if min_count < 1:
        raise ValueError(f"min_count must be >= 1, got {min_count}")
    counts = np.zeros(len(tokenizer), dtype=np.int64)
    batch: list[str] = []

    def flush() -> None:
        for ids in tokenizer(batch, add_special_tokens=False)["input_ids"]:
            np.add.at(counts, np.asarray(ids, dtype=np.int64), 1)
        batch.clear()

    for text in texts:
        batch.append(text)
        if len(batch) >= _COUNT_BATCH:
            flush()
    if batch:
        flush()
    keep = set(np.flatnonzero(counts >= min_count).tolist()) | set(tokenizer.all_special_ids)
    return np.asarray(sorted(keep), dtype=np.int64)


def prune_tokenizer(tokenizer: Any, kept_ids: Sequence[int]) -> Any:
    """A Unigram tokenizer that knows only ``kept_ids`` (new id ``i`` = old id ``kept_ids[i]``).

    Raises:
        ValueError: the tokenizer is not a fast Unigram tokenizer (XLM-R, e5, mT5 style), or a
            special token is not kept.
    """
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    kept = [int(i) for i in kept_ids]
    spec = json.loads(tokenizer.backend_tokenizer.to_str())
    model = spec.get("model", {})
    if model.get("type") != "Unigram":
        raise ValueError(f"only Unigram tokenizers can be pruned, not {model.get('type')!r}")
    new_id = {old: new for new, old in enumerate(kept)}
    missing = [t for t in tokenizer.all_special_ids if t not in new_id]
    if missing:
        raise ValueError(f"special token ids {missing} must be kept")
    vocab = model["vocab"]
    model["vocab"] = [vocab[old] for old in kept]
    if model.get("unk_id") is not None:
        model["unk_id"] = new_id[model["unk_id"]]
    for token in spec.get("added_tokens", []):
        token["id"] = new_id[token["id"]]
    _remap_post_processor(spec.get("post_processor"), new_id)
    backend = Tokenizer.from_str(json.dumps(spec, ensure_ascii=False))
    specials = {name: value for name, value in tokenizer.special_tokens_map.items() if isinstance(value, str)}
    return PreTrainedTokenizerFast(tokenizer_object=backend, model_max_length=tokenizer.model_max_length, **specials)


def _remap_post_processor(node: Any, new_id: dict[int, int]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "ids" and isinstance(value, list):
                node[key] = [new_id[int(i)] for i in value]
            elif key in ("cls", "sep") and isinstance(value, list) and len(value) == 2:  # RobertaProcessing
                node[key] = [value[0], new_id[int(value[1])]]
            else:
                _remap_post_processor(value, new_id)
    elif isinstance(node, list):
        for item in node:
            _remap_post_processor(item, new_id)


def prune_masked_lm(model: Any, tokenizer: Any, texts: Iterable[str], min_count: int = 1) -> tuple[Any, Any, np.ndarray]:
    """Keep the pieces ``texts`` use: ``(model, tokenizer, kept original ids)``, model in place.

    The input embeddings, the MLM decoder (tied to them again) and its bias keep their rows for
    the kept ids; ``config.vocab_size`` follows.
    """
    kept = used_piece_ids(tokenizer, texts, min_count)
    model, tokenizer = prune_masked_lm_to(model, tokenizer, kept)
    return model, tokenizer, kept


def prune_masked_lm_to(model: Any, tokenizer: Any, kept_ids: Sequence[int] | np.ndarray) -> tuple[Any, Any]:
    """Keep the pieces ``kept_ids`` (ascending original ids, special tokens among them): the
    model in place and a new tokenizer. :func:`prune_masked_lm` with the ids given."""
    import torch
    from torch import nn

    kept = np.asarray(kept_ids, dtype=np.int64)
    if len(kept) == 0 or np.any(np.diff(kept) <= 0):
        raise ValueError("kept_ids must be ascending and distinct")
    index = torch.from_numpy(kept)
    old = model.get_input_embeddings()
    embedding = nn.Embedding(len(kept), old.embedding_dim, padding_idx=None)
    with torch.no_grad():
        embedding.weight.copy_(old.weight[index])
    model.set_input_embeddings(embedding)
    output = model.get_output_embeddings()
    if output is not None:
        bias = getattr(output, "bias", None)
        decoder = nn.Linear(old.embedding_dim, len(kept), bias=bias is not None)
        with torch.no_grad():
            decoder.weight.copy_(embedding.weight)
            if bias is not None:
                decoder.bias.copy_(bias[index])
        model.set_output_embeddings(decoder)
        head = getattr(model, "lm_head", None)
        if head is not None and hasattr(head, "bias"):  # RoBERTa keeps the bias on the head too
            head.bias = decoder.bias
    model.config.vocab_size = len(kept)
    if getattr(model.config, "tie_word_embeddings", True):
        model.tie_weights()
    return model, prune_tokenizer(tokenizer, kept)


def truncate_layers(model: Any, keep: int) -> Any:
    """Keep the first ``keep`` transformer layers (in place); ``config.num_hidden_layers`` follows."""
    layers = model.base_model.encoder.layer
    if not 1 <= keep <= len(layers):
        raise ValueError(f"keep must be in 1..{len(layers)}, got {keep}")
    model.base_model.encoder.layer = layers[:keep]
    model.config.num_hidden_layers = keep
    return model


def freeze_below(model: Any, trainable_layers: int, train_embeddings: bool = False) -> int:
    """Freeze the embeddings (unless ``train_embeddings``) and all but the top ``trainable_layers``
    transformer layers of a HF masked LM; the MLM head stays trainable (a tied decoder follows the
    embeddings' setting, its bias does not). Returns the trainable parameter count."""
    layers = model.base_model.encoder.layer
    if not 0 <= trainable_layers <= len(layers):
        raise ValueError(f"trainable_layers must be in 0..{len(layers)}, got {trainable_layers}")
    for param in model.base_model.embeddings.parameters():
        param.requires_grad = train_embeddings
    for i, layer in enumerate(layers):
        for param in layer.parameters():
            param.requires_grad = i >= len(layers) - trainable_layers
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
