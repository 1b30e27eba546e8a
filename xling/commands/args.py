"""What every ``xling`` command reads: argument types, ``--json`` and ``--corpus``, the app's services.

What the commands write (tables, JSON, progress) is :mod:`xling.commands.output`.

Nothing heavy is imported here (``xling --help`` stays instant); :func:`app_services` imports the
services when a command runs.

Example:
    >>> import argparse
    >>> parser = argparse.ArgumentParser(prog="demo")
    >>> _ = parser.add_argument("--top-k", type=int_in_range(1, 100), default=5)
    >>> add_json_flag(parser)
    >>> parser.parse_args(["--top-k", "3", "--json"])
    Namespace(top_k=3, json=True)
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from xling.core.services import Services

#: ``--corpus demo`` (or no ``--corpus``): the configured corpus, the demo corpus's test split by default.
DEMO = "demo"


# --------------------------------------------------------------------------- argument types


def int_in_range(lo: int, hi: int | None = None, *, hint: str = "") -> Callable[[str], int]:
    """An argparse ``type`` for a whole number from ``lo`` to ``hi`` (no upper bound when ``None``).

    Args:
        lo: the smallest value accepted.
        hi: the largest value accepted, or ``None``.
        hint: said after each error, in brackets (``1 = the first word``).

    Returns:
        A function turning the argument's text into an ``int``; it raises
        ``argparse.ArgumentTypeError`` with a message argparse prints after the option's name.

    Example:
        >>> top_k = int_in_range(1, 100)
        >>> top_k("7")
        7
        >>> top_k("0")
        Traceback (most recent call last):
        argparse.ArgumentTypeError: must be between 1 and 100, got 0
    """
    bounds = f"at least {lo}" if hi is None else f"between {lo} and {hi}"
    suffix = f" ({hint})" if hint else ""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}{suffix}") from None
        if value < lo or (hi is not None and value > hi):
            raise argparse.ArgumentTypeError(f"must be {bounds}, got {value}{suffix}")
        return value

    return parse


#: An argparse ``type``: a whole number of at least 1 (a batch size, a top-k).
positive_int = int_in_range(1)


def probability(text: str) -> float:
    """An argparse ``type``: a number in (0, 1].

    Example:
        >>> probability("0.15")
        0.15
    """
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be in (0, 1], got {value}")
    return value


# --------------------------------------------------------------------------- shared options and services


def add_json_flag(parser: argparse._ActionsContainer) -> None:
    """Add ``--json`` (print one JSON object instead of a table) to a parser or an argument group."""
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")


def add_corpus_option(parser: argparse.ArgumentParser) -> None:
    """Add ``--corpus demo|FOLDER|FILE``; :func:`corpus_source` turns its value into what
    ``Services.collection`` takes."""
    parser.add_argument("--corpus", default=DEMO, metavar="demo|FOLDER|FILE",
                        help=f"'{DEMO}' (the demo corpus's test split, default), a corpus folder, or a "
                        "TXT/CSV/TSV/JSONL file")


def corpus_source(value: str) -> str | None:
    """``None`` (the configured corpus) for ``demo``, else the folder or file as given.

    Example:
        >>> corpus_source("demo"), corpus_source("texts.csv")
        (None, 'texts.csv')
    """
    return None if value == DEMO else value


def app_services() -> Services:
    """The app's services as the environment configures them (``XLING_MLM``, ``XLING_ENCODER``,
    ``XLING_CORPUS``, ``XLING_CACHE``, ...): the same models, corpus and caches as the app."""
    from xling.config import AppConfig
    from xling.core.services import Services

    return Services(AppConfig.from_env())
