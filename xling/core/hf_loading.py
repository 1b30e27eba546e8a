"""Loading Hugging Face models quietly, and saying in one line why a load failed.

Shared by every loader of :mod:`xling.core` (encoders, masked LMs, checkpoints, e5's conversion).
Imports no heavy library at import time: ``transformers`` and ``huggingface_hub`` are imported
where they are used.

Example:
    >>> with quiet_model_loading():
    ...     pass
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path

from xling.core.model_folders import ModelSource
from xling.errors import ModelLoadError

# Loggers whose warnings (load reports, revision notes) would bury our own one-line errors.
_NOISY_LOGGERS = ("transformers", "sentence_transformers", "huggingface_hub")


def hub_is_offline() -> bool:
    """True when huggingface_hub runs offline (``HF_HUB_OFFLINE`` or ``TRANSFORMERS_OFFLINE`` set)."""
    try:
        from huggingface_hub import is_offline_mode
    except ImportError:
        return False
    return bool(is_offline_mode())


def explain_load_failure(source: ModelSource, what: str, exc: BaseException) -> ModelLoadError:
    """Turn a library exception raised while loading ``source`` into a readable ModelLoadError.

    Args:
        source: where the model was looked for.
        what: what is being loaded, for messages (``"encoder"``, ``"masked LM"``).
        exc: the exception raised by transformers / sentence-transformers / safetensors.

    Returns:
        The error to raise (``raise explain_load_failure(...) from exc``).

    Example:
        >>> src = ModelSource("org/model", "hub", "org/model")
        >>> "org/model" in str(explain_load_failure(src, "encoder", OSError("no network")))
        True
    """
    detail = first_line(exc)
    if source.kind == "hub":
        if hub_is_offline() or "connect" in detail.lower() or "offline" in detail.lower():
            return ModelLoadError(
                f"{what} {source.name!r} is not a local folder, and it is not in the Hugging Face cache while "
                f"the hub is offline (HF_HUB_OFFLINE); pass a folder that holds the model"
            )
        return ModelLoadError(f"{what} {source.name!r} could not be loaded from the Hugging Face hub: {detail}")

    folder = Path(source.location)
    if not (folder / "config.json").is_file():
        return ModelLoadError(f"{what} folder {source.name!r} holds no model: config.json is missing")
    has_safetensors = any(folder.glob("*.safetensors"))
    if not has_safetensors and any(folder.glob("*.bin")):
        return ModelLoadError(
            f"{what} folder {source.name!r} only has pickle weights (*.bin); xling loads safetensors only "
            f"(re-save the model with save_pretrained(..., safe_serialization=True))"
        )
    if not has_safetensors:
        return ModelLoadError(f"{what} folder {source.name!r} holds no weights (model.safetensors is missing)")
    if type(exc).__name__ == "SafetensorError" or "deserializ" in detail.lower():
        return ModelLoadError(f"{what} folder {source.name!r}: the weights could not be read (corrupt file?): {detail}")
    return ModelLoadError(f"{what} folder {source.name!r} could not be loaded: {type(exc).__name__}: {detail}")


@contextlib.contextmanager
def quiet_model_loading() -> Iterator[None]:
    """Silence load reports, revision notes and the weight-loading bar of the HF libraries, then restore them.

    Example:
        >>> with quiet_model_loading():
        ...     pass
    """
    loggers = [logging.getLogger(name) for name in _NOISY_LOGGERS]
    levels = [logger.level for logger in loggers]
    bars_were_on = None
    try:  # every caller is about to load a transformers model, so importing it here costs nothing extra
        from transformers.utils import logging as hf_logging
    except ImportError:
        hf_logging = None
    if hf_logging is not None:
        bars_were_on = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)
        if bars_were_on:
            from transformers.utils import logging as hf_logging

            hf_logging.enable_progress_bar()


def first_line(exc: BaseException) -> str:
    """The first line of ``exc``'s message (its type's name when it has none).

    >>> first_line(ValueError("bad\\nmore"))
    'bad'
    """
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]
