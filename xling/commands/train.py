"""``xling train``: run, or resume, a training run (what the Fine-tune tab starts).

Usage::

    xling train --config FILE.yaml [--output-dir DIR] [--steps N] [--no-progress-bar]

The same command as ``python -m xling.training`` (:mod:`xling.training.command`): the same
arguments, run and exit status.

Example::

    $ python -m xling train --config configs/smoke.yaml --steps 20
"""

from __future__ import annotations

import argparse

from xling.training.command import EXIT_STATUS, add_arguments, run


def add_command(commands: argparse._SubParsersAction) -> None:
    """Add ``train`` to the ``xling`` sub-commands."""
    parser = commands.add_parser(
        "train",
        help="run, or resume, a training run from a YAML or JSON config",
        description="Run, or resume, a training run (the same as python -m xling.training).",
        epilog=EXIT_STATUS,
    )
    add_arguments(parser)
    parser.set_defaults(handler=run)
