"""Collections of texts the app searches and maps: the demo corpus, or a file a user uploads.

A :class:`TextCollection` is an ordered tuple of :class:`CorpusText` (text, optional language,
optional translation group) with a content fingerprint, so that embeddings computed for it can be
cached on disk and found again (same encoder + same fingerprint = same vectors).

Uploads may be:

- ``.txt``: one text per line;
- ``.csv`` / ``.tsv``: a header row with a text column (``text``, ``sentence``, ``sentences`` or
  ``content``) and optional ``lang``/``language`` and ``group``/``id`` columns;
- ``.jsonl``: one object per line with the same keys.

Example:
    >>> from xling.data.texts import load_corpus_collection
    >>> texts = load_corpus_collection("demo/corpus", split="test")
    >>> texts.languages()[:3]
    ['af', 'ar', 'as']
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from xling.data.corpus import json_type, parse_jsonl
from xling.data.languages import is_language_code, normalise_language
from xling.errors import DataError

TEXT_COLUMNS = ("text", "sentence", "sentences", "content")
LANG_COLUMNS = ("lang", "language", "language_code")
GROUP_COLUMNS = ("group", "group_id", "id")
UPLOAD_SUFFIXES = (".txt", ".csv", ".tsv", ".jsonl")
#: Texts longer than this are cut (the models read 128 tokens at most anyway).
MAX_TEXT_CHARS = 2000

# What no reader sees and no model should read: lone UTF-16 surrogates (a JSON "\ud800" arrives as
# one, and cannot even be written as UTF-8), control characters other than tab and line breaks, and
# invisible format characters (zero-width space, word joiner, BOM, soft hyphen, direction marks and
# embeddings). Zero-width (non-)joiners stay: Persian, Hindi and emoji sequences need them.
_UNREADABLE = re.compile("[\ud800-\udfff\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"
                         "\u00ad\u061c\u180e\u200b\u200e\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff]")
# Byte-order marks, longest first (UTF-32's little-endian mark begins with UTF-16's).
_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF8, "utf-8-sig"),
         (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


def readable_text(text: str) -> str:
    """``text`` without what cannot be read or shown: lone surrogates, control characters (tabs and
    line breaks stay) and invisible format characters. Every text from outside (a form, an upload, a
    command line) passes here before a model or a writer sees it.

    >>> readable_text("Guten\\u200b Tag" + chr(0xD800) + "\\x00!")
    'Guten Tag!'
    """
    return _UNREADABLE.sub("", text)


@dataclass(frozen=True)
class CorpusText:
    """One text: ``lang`` and ``group`` (its translation group) are ``None`` when unknown."""

    text: str
    lang: str | None = None
    group: str | None = None


@dataclass(frozen=True)
class TextCollection:
    """An ordered, immutable set of texts with a name and a content fingerprint.

    Args:
        name: how the user knows it (``demo corpus (test split)``, an uploaded file's name).
        texts: the texts, in a stable order.
        fingerprint: a hash of every text, language and group; equal content, equal fingerprint.
    """

    name: str
    texts: tuple[CorpusText, ...]
    fingerprint: str

    def __len__(self) -> int:
        return len(self.texts)

    def languages(self) -> list[str]:
        """The known languages, sorted."""
        return sorted({t.lang for t in self.texts if t.lang})

    def has_groups(self) -> bool:
        return any(t.group for t in self.texts)

    def translations(self, index: int) -> list[int]:
        """Indices of the other texts in ``index``'s translation group (empty without a group)."""
        group = self.texts[index].group
        if not group:
            return []
        return [i for i, t in enumerate(self.texts) if t.group == group and i != index]


def make_collection(name: str, texts: Iterable[CorpusText]) -> TextCollection:
    """Build a collection, computing its fingerprint.

    >>> make_collection("x", [CorpusText("Hallo", "de")]).fingerprint[:8] == make_collection("y", [CorpusText("Hallo", "de")]).fingerprint[:8]
    True
    """
    rows = tuple(texts)
    digest = hashlib.sha1()
    for row in rows:
        digest.update(f"{row.text}\x1f{row.lang or ''}\x1f{row.group or ''}\x1e".encode())
    return TextCollection(name=name, texts=rows, fingerprint=digest.hexdigest()[:16])


def load_corpus_collection(folder: str | Path, split: str | None = "test",
                           languages: Sequence[str] | None = None) -> TextCollection:
    """The parallel segments of a corpus folder (``parallel.jsonl``) as a collection.

    Args:
        folder: a corpus folder (``demo/corpus`` or the harvested one).
        split: ``train``, ``dev``, ``test`` or ``None`` for all.
        languages: keep only these languages (``None``: all).
    """
    from xling.data.corpus import load_segments

    folder = Path(folder)
    segments = load_segments(folder, split=split)
    wanted = set(languages) if languages else None
    rows = [CorpusText(s.text, s.lang, s.group) for s in segments if wanted is None or s.lang in wanted]
    if not rows:
        raise DataError(f"{folder}: no parallel segments{f' in the {split} split' if split else ''}")
    label = f"{folder.name if folder.name != 'corpus' else folder.parent.name + ' corpus'}"
    return make_collection(f"{label} ({split or 'all'} split)", rows)


def read_text_file(path: str | Path, *, max_bytes: int = 50 * 2**20, max_texts: int = 200_000,
                   name: str | None = None) -> TextCollection:
    """Read an uploaded TXT, CSV, TSV or JSONL file.

    Args:
        path: the file.
        max_bytes: larger files are refused (a clear message, not a hang).
        max_texts: more texts than this are refused.
        name: the name shown to the user (defaults to the file name).

    Raises:
        DataError: missing, too large, binary or not UTF-8, empty, no text column, a broken line;
            the message names the file (and line) and what to change.
    """
    path = Path(path)
    label = name or path.name
    if not path.is_file():
        raise DataError(f"{label}: no such file")
    suffix = path.suffix.lower()
    if suffix not in UPLOAD_SUFFIXES:
        raise DataError(f"{label}: unsupported file type {suffix or '(none)'}; use one of {', '.join(UPLOAD_SUFFIXES)}")
    size = path.stat().st_size
    if size > max_bytes:
        raise DataError(f"{label}: {size / 2**20:.1f} MB is over the {max_bytes / 2**20:.0f} MB limit")
    content = decode_text(path.read_bytes(), label)
    if suffix == ".txt":
        rows = [CorpusText(_clip(line)) for line in (" ".join(readable_text(x).split()) for x in content.splitlines())
                if line]
    elif suffix == ".jsonl":
        rows = _read_jsonl(content, label)
    else:
        rows = _read_table(content, label, "\t" if suffix == ".tsv" else ",")
    if not rows:
        raise DataError(f"{label}: no texts found (the file is empty)")
    if len(rows) > max_texts:
        raise DataError(f"{label}: {len(rows):,} texts is over the limit of {max_texts:,}")
    return make_collection(label, rows)


def decode_text(raw: bytes, label: str) -> str:
    """An uploaded file's bytes as text: UTF-8, or UTF-16/UTF-32 when a byte-order mark says so
    (the mark is dropped); refused with a message when they look binary or are not UTF-8.

    Raises:
        DataError: naming ``label`` and what is wrong.
    """
    encoding = next((name for bom, name in _BOMS if raw.startswith(bom)), None)
    if encoding is None and b"\x00" in raw[:8192]:
        raise DataError(f"{label}: looks like a binary file, not text")
    try:
        return raw.decode(encoding or "utf-8-sig")
    except UnicodeDecodeError as exc:
        if encoding and encoding != "utf-8-sig":
            raise DataError(f"{label}: starts with a {encoding.upper()} byte-order mark but is not {encoding.upper()} "
                            f"text (invalid bytes at position {exc.start})") from None
        raise DataError(f"{label}: not UTF-8 text (invalid byte at position {exc.start}); save it as UTF-8") from None


def _clip(text: str) -> str:
    return text[:MAX_TEXT_CHARS]


def _lang(value: object, label: str, where: str) -> str | None:
    if value is None or str(value).strip() == "":
        return None
    code = normalise_language(str(value).strip())
    if code is None or not is_language_code(code):
        raise DataError(f"{label}:{where}: {value!r} is not a language code (use ISO 639-1 such as 'de')")
    return code


def _row(obj: dict, label: str, where: str, keys: dict[str, str | None]) -> CorpusText | None:
    value = obj.get(keys["text"])
    if value is not None and not isinstance(value, (str, int, float)):
        raise DataError(f"{label}:{where}: the {keys['text']!r} field holds {json_type(value)}, not text")
    text = " ".join(readable_text(str(value or "")).split())
    if not text:
        return None
    lang = _lang(obj.get(keys["lang"]), label, where) if keys["lang"] else None
    group = str(obj.get(keys["group"])).strip() or None if keys["group"] and obj.get(keys["group"]) is not None else None
    return CorpusText(_clip(text), lang, group)


def _pick(columns: Sequence[str], wanted: Sequence[str]) -> str | None:
    lowered = {c.strip().lower(): c for c in columns}
    return next((lowered[w] for w in wanted if w in lowered), None)


def _keys(columns: Sequence[str], label: str) -> dict[str, str | None]:
    text = _pick(columns, TEXT_COLUMNS)
    if text is None:
        shown = ", ".join(repr(c) for c in list(columns)[:8]) or "none"
        raise DataError(f"{label}: no text column (found {shown}); name one of {', '.join(TEXT_COLUMNS)}")
    return {"text": text, "lang": _pick(columns, LANG_COLUMNS), "group": _pick(columns, GROUP_COLUMNS)}


def _read_table(content: str, label: str, delimiter: str) -> list[CorpusText]:
    reader = csv.DictReader(io.StringIO(content), delimiter=delimiter)
    if not reader.fieldnames:
        return []
    keys = _keys(reader.fieldnames, label)
    rows = []
    try:
        for number, obj in enumerate(reader, start=2):
            row = _row(obj, label, str(number), keys)
            if row:
                rows.append(row)
    except csv.Error as exc:
        raise DataError(f"{label}:{reader.line_num}: broken {'TSV' if delimiter == chr(9) else 'CSV'} ({exc})") from None
    return rows


def _read_jsonl(content: str, label: str) -> list[CorpusText]:
    rows, keys, missing = [], None, []
    for number, obj in parse_jsonl(content.split("\n"), label):
        keys = keys or _keys(list(obj), label)
        if keys["text"] not in obj:
            missing.append((number, obj))
            continue
        row = _row(obj, label, str(number), keys)
        if row:
            rows.append(row)
    if missing:
        number, obj = missing[0]
        found = ", ".join(repr(k) for k in list(obj)[:8]) or "none"
        raise DataError(f"{label}: {len(missing):,} line{'s' * (len(missing) != 1)} without the {keys['text']!r} field "
                        f"of the first line (line {number} has {found}); use one field name on every line")
    return rows


#: How :func:`no_letters` names what a text holds instead of letters (by Unicode category).
_NON_LETTERS = (("emoji", ("So", "Sk")), ("digits", ("Nd", "Nl", "No")), ("punctuation", ("Pc", "Pd", "Ps", "Pe", "Pi", "Pf", "Po")),
                ("symbols", ("Sm", "Sc")), ("private-use characters", ("Co",)), ("unassigned code points", ("Cn",)),
                ("other marks", ("Mn", "Mc", "Me", "Cf", "Cs", "Cc")))


def no_letters(text: str) -> str | None:
    """``None`` when ``text`` has a letter of some script; otherwise what it holds instead, for a
    message (a language lives in letters: emoji, digits or symbols have none to detect).

    >>> no_letters("😀😀 42 !"), no_letters("Hallo 42")
    ('2 emoji, 2 digits, 1 punctuation', None)
    """
    counts: dict[str, int] = {}
    for char in text:
        category = unicodedata.category(char)
        if category[0] == "L":
            return None
        if category[0] != "Z":
            name = next((n for n, cats in _NON_LETTERS if category in cats), "other characters")
            counts[name] = counts.get(name, 0) + 1
    return ", ".join(f"{n:,} {name}" for name, _ in _NON_LETTERS + (("other characters", ()),)
                     if (n := counts.get(name)))
