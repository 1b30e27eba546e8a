"""The corpus on disk: typed records, JSONL reading and writing, and split assignment.

A corpus folder (the full one in the cache, or ``demo/corpus``) holds:

- ``parallel.jsonl``: :class:`Segment` rows, one per (translation group, language);
- ``mono.jsonl``: :class:`MonoDocument` rows, monolingual prose;
- ``tasks/<name>.jsonl``: :class:`LabelledText` rows for zero-shot transfer;
- ``eval/<split>_pairs.jsonl`` and ``eval/<split>_texts.jsonl``: ready inputs for ``xling eval``;
- ``stats.json``: counts per language and split.

Example:
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> write_jsonl(folder / PARALLEL_FILE, [Segment(group="g1", lang="de", text="Speichern", source="django",
    ...                                              domain="admin", licence="BSD-3-Clause", split="test")])
    1
    >>> is_corpus(folder), [s.text for s in load_segments(folder, split="test")]
    (True, ['Speichern'])
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from xling.config import Paths
from xling.errors import DataError

SPLITS = ("train", "dev", "test")
#: A corpus folder's files (see the module docstring); a folder holding ``parallel.jsonl`` is a corpus.
PARALLEL_FILE = "parallel.jsonl"
MONO_FILE = "mono.jsonl"
STATS_FILE = "stats.json"
TASKS_FOLDER = "tasks"
EVAL_FOLDER = "eval"
#: Field metadata: a record field written only when it differs from its default.
OPTIONAL = "xling_optional"


#: Sources of running prose (manuals, help pages); every other source is short UI strings and names.
PROSE_SOURCES = frozenset({"libreoffice-help", "gnome-user-docs", "installation-guide"})
#: What the eval files' ``domain`` field holds: how the eval CLI splits its figures.
PROSE, UI = "prose", "ui"


def text_domain(source: str) -> str:
    """``prose`` for a manual or help source, ``ui`` for software strings and names.

    >>> text_domain("libreoffice-help"), text_domain("debian-gettext")
    ('prose', 'ui')
    """
    return PROSE if source in PROSE_SOURCES else UI


@dataclass(frozen=True)
class Segment:
    """One language's text in a translation group (all texts of a group translate each other).

    Args:
        group: translation-group id; splits never cut a group.
        lang: ISO 639-1 code where one exists.
        text: the cleaned text.
        source: ``debian-gettext``, ``django``, ``pycountry``, ``cldr``, or a prose source
            (:data:`PROSE_SOURCES`).
        domain: gettext domain, Django app, ISO standard or CLDR category of the chosen text;
            for prose, the page it comes from (``text/shared/01/01020000.xhp``).
        licence: the licence of the chosen text.
        split: ``train``, ``dev`` or ``test``.
        package, version: the Debian package the text was read from and its version, where
            the source records them (prose does); left out of the file when empty.
    """

    group: str
    lang: str
    text: str
    source: str
    domain: str
    licence: str
    split: str
    package: str = field(default="", metadata={OPTIONAL: True})
    version: str = field(default="", metadata={OPTIONAL: True})


@dataclass(frozen=True)
class MonoDocument:
    """One monolingual document (a fortune) with its split."""

    doc: str
    lang: str
    text: str
    source: str
    domain: str
    licence: str
    split: str


@dataclass(frozen=True)
class LabelledText:
    """One example of a labelled task; ``group`` ties translations of one example together."""

    group: str
    lang: str
    text: str
    label: str
    split: str


Record = TypeVar("Record", Segment, MonoDocument, LabelledText)


def split_of(key: str, dev_fraction: float = 0.05, test_fraction: float = 0.05) -> str:
    """Assign a split from a stable hash of ``key``: the same group lands in the same split on
    every harvest, whatever else the harvest found.

    >>> split_of("g-example") in SPLITS
    True
    """
    digest = hashlib.sha1(key.encode("utf-8")).digest()
    position = int.from_bytes(digest[:8], "big") / 2**64
    if position < test_fraction:
        return "test"
    if position < test_fraction + dev_fraction:
        return "dev"
    return "train"


def stable_id(prefix: str, *parts: str) -> str:
    """A short id that depends only on ``parts`` (``g3f2a…`` for a group)."""
    return prefix + hashlib.sha1("\x04".join(parts).encode("utf-8")).hexdigest()[:12]


def write_jsonl(path: str | Path, rows: Iterable[object]) -> int:
    """Write dataclass records or dicts as JSON lines, atomically; returns the row count."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    count = 0
    with tmp.open("w", encoding="utf-8") as handle:
        for row in rows:
            data = _as_dict(row) if dataclasses.is_dataclass(row) else row
            handle.write(json.dumps(data, ensure_ascii=False) + "\n")
            count += 1
    os.replace(tmp, path)
    return count


def _as_dict(row: object) -> dict:
    data = dataclasses.asdict(row)
    for item in dataclasses.fields(row):
        if item.metadata.get(OPTIONAL) and data[item.name] == item.default:
            del data[item.name]
    return data


def iter_jsonl(path: str | Path) -> Iterator[tuple[int, dict]]:
    """Yield ``(line number, object)`` from a UTF-8 JSONL file; blank lines are skipped.

    Raises:
        DataError: the file is missing, or a line is not UTF-8, not JSON, or not an object;
            the message names the file and line.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file")
    if not path.is_file():
        raise DataError(f"{path}: not a file")
    with path.open("rb") as handle:
        yield from parse_jsonl(_utf8_lines(handle, path), str(path))


def parse_jsonl(lines: Iterable[str], label: str) -> Iterator[tuple[int, dict]]:
    """Yield ``(line number, object)`` for each non-blank line of JSON Lines text.

    Args:
        lines: the lines (split on ``\n`` only: JSON strings may hold U+2028 and other breaks).
        label: the file's name in error messages.

    Raises:
        DataError: a line is not JSON, or not an object; the message names ``label`` and the line.

    Example:
        >>> list(parse_jsonl(['{"text": "Hallo"}', "", '{"text": "Hi"}'], "t.jsonl"))
        [(1, {'text': 'Hallo'}), (3, {'text': 'Hi'})]
    """
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line:
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{label}:{number}: not valid JSON ({exc.msg} at column {exc.colno})") from exc
        except RecursionError:
            raise DataError(f"{label}:{number}: JSON nested too deeply to read") from None
        except ValueError as exc:  # e.g. an integer of more digits than Python converts
            raise DataError(f"{label}:{number}: not usable JSON ({str(exc).split(';')[0]})") from None
        if not isinstance(row, dict):
            raise DataError(f"{label}:{number}: expected a JSON object, got {json_type(row)}")
        yield number, row


def _utf8_lines(handle: Iterable[bytes], path: Path) -> Iterator[str]:
    for number, raw in enumerate(handle, start=1):
        try:
            # utf-8-sig on every line is harmless and strips a BOM some editors put on line 1.
            yield raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise DataError(f"{path}:{number}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc


def json_type(value: object) -> str:
    """How a JSON value's type reads in an error message (``an array``, ``null``)."""
    if value is None:
        return "null"
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", int: "a number"}
    return names.get(type(value), "a number" if isinstance(value, float) else type(value).__name__)


def _load(path: Path, record: type[Record], split: str | None) -> list[Record]:
    names = [f.name for f in dataclasses.fields(record) if not f.metadata.get(OPTIONAL)]
    optional = [f.name for f in dataclasses.fields(record) if f.metadata.get(OPTIONAL)]
    rows = []
    for number, row in iter_jsonl(path):
        try:
            item = record(**{name: row[name] for name in names}, **{name: row[name] for name in optional if name in row})
        except KeyError as exc:
            raise DataError(f"{path}:{number}: missing field {exc}") from None
        if split is None or item.split == split:
            rows.append(item)
    return rows


def is_corpus(folder: str | Path) -> bool:
    """Whether ``folder`` is a corpus folder (it holds ``parallel.jsonl``)."""
    return (Path(folder) / PARALLEL_FILE).is_file()


def default_corpus(paths: Paths) -> Path:
    """The corpus read when none is named: the harvested one (``paths.corpus_cache``) when it
    exists, else the demo corpus.

    Example:
        >>> import tempfile
        >>> paths = Paths(cache=Path(tempfile.mkdtemp()), demo=Path("demo"), checkpoints=Path("checkpoints"))
        >>> default_corpus(paths).as_posix()  # no harvested corpus in this cache
        'demo/corpus'
    """
    return paths.corpus_cache if is_corpus(paths.corpus_cache) else paths.demo_corpus


def task_file(name: str) -> str:
    """Where a labelled task lies in a corpus folder (``tasks/<name>.jsonl``)."""
    return f"{TASKS_FOLDER}/{name}.jsonl"


def load_segments(folder: str | Path, split: str | None = None) -> list[Segment]:
    """The parallel segments of a corpus folder, optionally of one split."""
    return _load(Path(folder) / PARALLEL_FILE, Segment, split)


def load_documents(folder: str | Path, split: str | None = None) -> list[MonoDocument]:
    """The monolingual documents of a corpus folder, optionally of one split."""
    return _load(Path(folder) / MONO_FILE, MonoDocument, split)


def load_task(folder: str | Path, name: str, split: str | None = None) -> list[LabelledText]:
    """A labelled task (``uidomain`` or ``cldr_entity``) of a corpus folder."""
    return _load(Path(folder) / task_file(name), LabelledText, split)
