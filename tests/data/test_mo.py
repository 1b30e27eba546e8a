from __future__ import annotations

import pytest
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo

from xling.data.mo import read_mo
from xling.errors import DataError


def test_reads_singular_plural_and_context(tmp_path):
    catalog = Catalog(locale="de")
    catalog.add("Open", "Öffnen")
    catalog.add(("%d file", "%d files"), ("%d Datei", "%d Dateien"))
    catalog.add("Cancel", "Abbrechen", context="button")
    catalog.add("Empty", "")
    catalog.add("Fuzzy", "Flaum", flags=["fuzzy"])
    path = tmp_path / "x.mo"
    with path.open("wb") as handle:
        write_mo(handle, catalog)

    entries = {(e.context, e.msgid): e.msgstr for e in read_mo(path)}

    assert entries[("", "Open")] == "Öffnen"
    assert entries[("", "%d file")] == "%d Datei"
    assert entries[("button", "Cancel")] == "Abbrechen"
    assert ("", "Empty") not in entries
    assert ("", "Fuzzy") not in entries  # compiled catalogs leave fuzzy entries out
    assert ("", "") not in entries  # the header is not a message


def test_rejects_files_that_are_not_catalogs(tmp_path):
    path = tmp_path / "bad.mo"
    path.write_bytes(b"this is not a gettext catalog at all")
    with pytest.raises(DataError, match="not a gettext"):
        read_mo(path)
    path.write_bytes(b"\xde\x12\x04\x95" + b"\x00" * 8)
    with pytest.raises(DataError, match="too short"):
        read_mo(path)
