"""Turn a UI string into plain text: no placeholders, accelerators, markup or control characters.

Example:
    >>> clean_text("_Open %s in a new <b>window</b>…")
    'Open in a new window…'
    >>> clean_text("%d") is None
    True
"""

from __future__ import annotations

import html
import re
import unicodedata

#: Segments shorter than this (after cleaning) are dropped.
MIN_CHARS = 2
#: Longer segments are mostly option tables from ``--help`` texts, not prose.
MAX_CHARS = 400

_PRINTF = re.compile(
    r"%(?:\([^)]*\)|\d+\$)?[-+ #0']*(?:\d+|\*)?(?:\.(?:\d+|\*))?"
    r"(?:hh|h|ll|l|L|q|j|z|t|I64|I32)?[diouxXeEfFgGaAcspn]"
    r"|%\d+|%<PRI\w+>|\$\{\w+\}"
)
_BRACES = re.compile(r"\{[\w.\[\]]*(?:![rsa])?(?::[^{}]*)?\}")
_MARKUP = re.compile(r"</?[A-Za-z][^<>]*>")
_PAREN_ACCEL = re.compile(r"\s*[(（]\s*[_&~][^\W_]\s*[)）]")
_EMPTY_QUOTES = re.compile(r"''|\"\"|‘\s*’|“\s*”|„\s*“|«\s*»|「\s*」|『\s*』|‹\s*›|`\s*'|\(\s*\)|\[\s*\]")
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([,.;:!?…、。，：；！？)])")
_SPACES = re.compile(r"\s+")


def clean_text(text: str) -> str | None:
    """Return the cleaned segment, or ``None`` when nothing worth keeping is left."""
    text = text.replace("%%", "\x00pct\x00")
    text = _PRINTF.sub(" ", text)
    text = _BRACES.sub(" ", text)
    text = _MARKUP.sub(" ", text)
    text = html.unescape(text)
    text = _PAREN_ACCEL.sub("", text)
    text = _strip_accelerator(text, "_")
    text = _strip_accelerator(text, "&")
    text = text.replace("\x00pct\x00", "%")
    text = "".join(" " if unicodedata.category(ch)[0] == "C" else ch for ch in text)
    text = _EMPTY_QUOTES.sub(" ", text)
    text = _SPACES.sub(" ", text)
    text = _SPACE_BEFORE_PUNCT.sub(r"\1", text).strip()
    text = text.strip(" ,;-")
    if not MIN_CHARS <= len(text) <= MAX_CHARS or not _mostly_letters(text):
        return None
    return text


def _strip_accelerator(text: str, mark: str) -> str:
    # One mark before a letter is an accelerator ("_Open", "&File"); several are identifiers
    # such as LC_ALL_VALUE, which are left alone.
    if text.count(mark) == 1:
        return re.sub(re.escape(mark) + r"(?=[^\W_])", "", text)
    return text


def _mostly_letters(text: str) -> bool:
    visible = [ch for ch in text if not ch.isspace()]
    letters = sum(ch.isalpha() for ch in visible)
    return letters >= 2 and letters >= 0.5 * len(visible)
