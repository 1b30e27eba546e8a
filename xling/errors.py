"""Errors that carry a message meant for a person: the CLI prints them and exits 2, the UI shows them."""

from __future__ import annotations


class XlingError(Exception):
    """Base class: something the user can fix (a bad file, an unknown model, a missing package)."""


class DataError(XlingError):
    """An input file or corpus is missing, empty or malformed; the message names the file and line."""


class ModelLoadError(XlingError):
    """A model, encoder or detector could not be found or loaded; the message says which and why."""
