"""Readers for the JSONL files users evaluate on, with errors that name the file and line.

Two shapes, one JSON object per line (blank lines skipped, other fields ignored; an optional
``domain``, e.g. ``prose`` or ``ui``, makes the eval CLI report each domain on its own too):

* pairs: ``{"source_lang": "de", "source": "Hallo", "target_lang": "en", "target": "Hello"}``
* texts: ``{"text": "Hallo Welt", "lang": "de"}``

Example:
    >>> import json, tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "texts.jsonl"
    >>> _ = path.write_text(json.dumps({"text": "Hallo", "lang": "de"}) + "\\n", encoding="utf-8")
    >>> read_texts(path)
    [EvalText(text='Hallo', lang='de', domain=None)]
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xling.data.corpus import iter_jsonl, json_type
from xling.errors import DataError

PAIR_FIELDS = ("source_lang", "source", "target_lang", "target")
TEXT_FIELDS = ("text", "lang")


@dataclass(frozen=True)
class EvalPair:
    """One translation pair to evaluate retrieval on.

    Args:
        source_lang: language code of ``source``.
        source: the text that searches.
        target_lang: language code of ``target``.
        target: its translation, to be found among the group's targets.
        domain: what kind of text it is (``prose``, ``ui``), when the file says; the eval CLI then
            reports each domain on its own too.
    """

    source_lang: str
    source: str
    target_lang: str
    target: str
    domain: str | None = None


@dataclass(frozen=True)
class EvalText:
    """One text with its language, to evaluate language id or a masked LM on.

    Args:
        text: the text.
        lang: its language code.
        domain: what kind of text it is, when the file says (see :class:`EvalPair`).
    """

    text: str
    lang: str
    domain: str | None = None


def read_pairs(path: str | Path) -> list[EvalPair]:
    """Read translation pairs from a JSONL file.

    Args:
        path: a UTF-8 JSONL file; each object needs non-empty string fields ``source_lang``,
            ``source``, ``target_lang`` and ``target``.

    Returns:
        The pairs, in file order (language codes stripped of surrounding spaces).

    Raises:
        DataError: the file is missing or empty, or a line is not a JSON object with those fields.

    Example:
        >>> read_pairs("demo/corpus/eval/test_pairs.jsonl")[0]
        EvalPair(source_lang='as', source="...", target_lang='en', target='The Menu key launches ...', domain='prose')
    """
    return [
        EvalPair(
            source_lang=fields["source_lang"].strip(),
            source=fields["source"],
            target_lang=fields["target_lang"].strip(),
            target=fields["target"],
            domain=fields.get("domain"),
        )
        for fields in _read_records(Path(path), PAIR_FIELDS)
    ]


def read_texts(path: str | Path) -> list[EvalText]:
    """Read texts with their language from a JSONL file.

    Args:
        path: a UTF-8 JSONL file; each object needs non-empty string fields ``text`` and ``lang``.

    Returns:
        The texts, in file order (language codes stripped of surrounding spaces).

    Raises:
        DataError: the file is missing or empty, or a line is not a JSON object with those fields.

    Example:
        >>> [t.lang for t in read_texts("demo/corpus/eval/test_texts.jsonl")][:3]
        ['de', 'el', 'en']
    """
    return [
        EvalText(text=fields["text"], lang=fields["lang"].strip(), domain=fields.get("domain"))
        for fields in _read_records(Path(path), TEXT_FIELDS)
    ]


def _read_records(path: Path, required: tuple[str, ...]) -> list[dict[str, str]]:
    records = [_check_fields(path, number, obj, required) for number, obj in iter_jsonl(path)]
    if not records:
        raise DataError(f"{path}: no records (the file is empty or has only blank lines)")
    return records


def _check_fields(path: Path, number: int, obj: dict[str, Any], required: tuple[str, ...]) -> dict[str, str]:
    for field in required:
        if field not in obj:
            raise DataError(f"{path}:{number}: missing field {field!r} (each line needs {', '.join(required)})")
        value = obj[field]
        if not isinstance(value, str):
            raise DataError(f"{path}:{number}: field {field!r} must be a string, got {json_type(value)}")
        if not value.strip():
            raise DataError(f"{path}:{number}: field {field!r} is empty")
    domain = obj.get("domain")
    if domain is not None and (not isinstance(domain, str) or not domain.strip()):
        raise DataError(f"{path}:{number}: field 'domain' must be a non-empty string when given")
    return {field: obj[field] for field in required} | ({"domain": domain.strip()} if domain else {})
