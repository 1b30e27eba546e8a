"""Placeholder: replaced by the search command."""

from __future__ import annotations

import argparse


def add_command(commands: argparse._SubParsersAction) -> None:
    pass
