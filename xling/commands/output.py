"""What every ``xling`` command writes: aligned tables, one JSON object, short cells, progress on stderr.

Imports nothing from ``xling``, so every command (and :mod:`xling.deploy`) can use it without
importing :mod:`xling.cli`, and ``xling --help`` stays instant.

Example:
    >>> print(format_table(["lang", "P@1"], [["de", format_score(0.95)], ["fr", format_score(None)]]))
    lang     P@1
    de    0.9500
    fr         -
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from typing import Any, TextIO

# --------------------------------------------------------------------------- tables and JSON


def format_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Align ``rows`` under ``headers``: the first column left-aligned, the others right-aligned.

    Args:
        headers: column titles.
        rows: cells (anything ``str()`` can show), one sequence per row.

    Returns:
        The table as text, without a trailing newline.

    Example:
        >>> print(format_table(["pair", "P@1"], [["de-en", "0.9500"], ["mean", "0.9500"]]))
        pair      P@1
        de-en  0.9500
        mean   0.9500
    """
    cells = [[str(c) for c in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [
        "  ".join(
            cell.ljust(width) if column == 0 else cell.rjust(width)
            for column, (cell, width) in enumerate(zip(row, widths))
        )
        for row in cells
    ]
    return "\n".join(line.rstrip() for line in lines)


def print_json(payload: dict[str, Any], out: TextIO) -> int:
    """Print ``payload`` as one indented JSON object (non-ASCII text as is); returns exit status 0."""
    print(json.dumps(payload, indent=2, ensure_ascii=False), file=out)
    return 0


def format_score(value: float | None) -> str:
    """A score in a table: four decimals, ``-`` when there is none.

    Example:
        >>> format_score(0.5), format_score(None)
        ('0.5000', '-')
    """
    return "-" if value is None else f"{value:.4f}"


def shorten(text: str, width: int) -> str:
    """``text`` on one line (white space folded), cut to ``width`` characters with an ellipsis.

    Example:
        >>> shorten("Die Katze\\nschläft auf dem Sofa.", 12)
        'Die Katze s…'
    """
    line = " ".join(text.split())
    return line if len(line) <= width else line[: width - 1] + "…"


# --------------------------------------------------------------------------- progress


def progress_wanted() -> bool:
    """Whether to draw progress: bars are for people watching a terminal; logs and pipes stay clean."""
    return sys.stderr.isatty()


def count_progress(label: str) -> Callable[[int, int], None] | None:
    """A ``progress(done, total)`` that redraws ``label: done/total`` on stderr, or ``None`` when
    stderr is not a terminal (see :func:`progress_wanted`)."""
    if not progress_wanted():
        return None

    def report(done: int, total: int) -> None:
        print(f"\r{label}: {done:,}/{total:,}", end="\n" if done >= total else "", file=sys.stderr, flush=True)

    return report
