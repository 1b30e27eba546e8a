"""``xling harvest``: build the offline corpus from real human translations.

Usage::

    xling harvest [--out DIR] [--demo DIR | --no-demo] [--sources A,B,...] [--strict] [...]

The same command as ``python -m xling.data.harvest`` (:func:`xling.data.harvest.run`): the same
arguments, harvest and exit status (0, or 2 for a bad option, an empty harvest or, with
``--strict``, a missing source).

Example::

    $ python -m xling harvest --no-demo --sources debian-gettext,cldr
"""

from __future__ import annotations

import argparse

from xling.data.harvest import add_arguments, run


def add_command(commands: argparse._SubParsersAction) -> None:
    """Add ``harvest`` to the ``xling`` sub-commands."""
    parser = commands.add_parser(
        "harvest",
        help="build the offline corpus (software messages, translated manuals) and the demo subsets",
        description="Harvest the offline multilingual corpus from real human translations "
        "(the same as python -m xling.data.harvest).",
    )
    add_arguments(parser)
    parser.set_defaults(handler=run)
