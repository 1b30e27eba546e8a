"""Read compiled gettext catalogs (``.mo``) without installing anything.

The format is small and documented (GNU gettext manual, "The Format of GNU MO Files"): a header,
two tables of (length, offset) pairs for the original and translated strings, then the strings.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from pathlib import Path

from xling.errors import DataError

_MAGIC_LE = 0x950412DE
_MAGIC_BE = 0xDE120495
_CHARSET = re.compile(r"charset=\s*([\w.-]+)", re.IGNORECASE)


@dataclass(frozen=True)
class MoEntry:
    """One translated message. Plural entries keep their singular forms only.

    Args:
        msgid: the source (English) string.
        msgstr: its translation.
        context: the ``msgctxt`` disambiguator, or ``""``.
    """

    msgid: str
    msgstr: str
    context: str = ""


def read_mo(path: str | Path) -> list[MoEntry]:
    """Parse a ``.mo`` file into entries, skipping the header and empty translations.

    Raises:
        DataError: the file is not a gettext catalog or is truncated.
    """
    data = Path(path).read_bytes()
    if len(data) < 28:
        raise DataError(f"{path}: too short to be a gettext .mo catalog")
    magic = struct.unpack("<I", data[:4])[0]
    if magic == _MAGIC_LE:
        order = "<"
    elif magic == _MAGIC_BE:
        order = ">"
    else:
        raise DataError(f"{path}: not a gettext .mo catalog (bad magic number)")
    _, count, orig_at, trans_at = struct.unpack(order + "4I", data[4:20])

    def string_at(table: int, index: int) -> bytes:
        length, offset = struct.unpack(order + "2I", data[table + 8 * index : table + 8 * index + 8])
        if offset + length > len(data):
            raise DataError(f"{path}: truncated .mo catalog")
        return data[offset : offset + length]

    try:
        raw = [(string_at(orig_at, i), string_at(trans_at, i)) for i in range(count)]
    except struct.error as exc:
        raise DataError(f"{path}: truncated .mo catalog") from exc

    charset = "utf-8"
    for original, translated in raw:
        if original == b"":
            match = _CHARSET.search(translated.decode("ascii", "replace"))
            if match and match.group(1).upper() != "CHARSET":  # "CHARSET" is the template default
                charset = match.group(1)
    entries = []
    for original, translated in raw:
        if original == b"" or translated == b"":
            continue
        msgid = _decode(original, charset)
        msgstr = _decode(translated, charset)
        context = ""
        if "\x04" in msgid:
            context, msgid = msgid.split("\x04", 1)
        # Plurals are NUL-joined forms; the first of each side is the singular.
        msgid = msgid.split("\x00", 1)[0]
        msgstr = msgstr.split("\x00", 1)[0]
        if msgstr:
            entries.append(MoEntry(msgid=msgid, msgstr=msgstr, context=context))
    return entries


def _decode(raw: bytes, charset: str) -> str:
    try:
        return raw.decode(charset)
    except (LookupError, UnicodeDecodeError):
        return raw.decode("utf-8", "replace")
