"""Loading masked language models (BERT-style) safely: safetensors only, no remote code.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from xling.core.hf_loading import explain_load_failure, quiet_model_loading
from xling.core.model_folders import E5_SMALL, XLING_MANIFEST, holds_model, resolve_model_source
from xling.errors import ModelLoadError

_WHAT = "masked LM"


@dataclass(frozen=True)
class MaskedLM:
    """A loaded masked LM, with an xling checkpoint's heads when it has them.

    Args:
        name: the name it was loaded by.
        model: the ``transformers`` ``*ForMaskedLM`` model (eval mode).
        tokenizer: its tokenizer (it has a mask token).
        xling: the :class:`~xling.core.model.XlingModel` around ``model`` for an xling checkpoint
            (language-ID head, language embedding), else ``None``.
    """

    name: str
    model: Any
    tokenizer: Any
    xling: Any | None = None

    @property
    def languages(self) -> list[str]:
        """Languages the heads know (empty for a plain masked LM)."""
        return list(self.xling.languages) if self.xling is not None else []

    @property
    def has_language_head(self) -> bool:
        return self.xling is not None

    @property
    def has_language_embedding(self) -> bool:
        """Whether language-conditioned prediction is meaningful: the language vectors were trained."""
        return self.xling is not None and bool(getattr(self.xling, "lang_embedding_trained", False))


def load_masked_lm_bundle(name_or_path: str) -> MaskedLM:
    """Load a masked LM as :class:`MaskedLM`: an xling checkpoint with its heads, anything else
    through :func:`load_masked_lm`.

    Raises:
        ModelLoadError: as :func:`load_masked_lm`.
    """
    source = resolve_model_source(name_or_path, _WHAT)
    if source.kind == "folder" and holds_model(source.location, (XLING_MANIFEST,)):
        import torch

        from xling.core.model import XlingModel

        with quiet_model_loading():
            xling = XlingModel.load(source.location, device="cuda" if torch.cuda.is_available() else "cpu")
        return MaskedLM(name_or_path, xling.backbone, xling.tokenizer, xling)
    model, tokenizer = load_masked_lm(name_or_path)
    return MaskedLM(name_or_path, model, tokenizer, None)


def load_masked_lm(name_or_path: str) -> tuple[Any, Any]:
    """Load a masked LM and its tokenizer, in eval mode, on CUDA when available else CPU.

    Args:
        name_or_path: a local folder (``config.json``, ``model.safetensors``, tokenizer files) or a
            hub id. Pickle weights (``*.bin``) are refused and no remote code runs.

    Returns:
        ``(model, tokenizer)``: a ``transformers`` ``*ForMaskedLM`` model and its tokenizer.

    Raises:
        ModelLoadError: the folder is missing, has no or corrupt safetensors weights, is not a
            masked LM (wrong architecture, or weights without the masked-LM head), or its tokenizer
            has no mask token.
    """
    source = resolve_model_source(name_or_path, _WHAT)
    # An xling checkpoint folder is a plain HF masked LM too: it loads below like any other; one
    # stored as a delta of e5-small (checkpoints/xling-base) is rebuilt in the cache first.
    if source.kind == "folder":
        from xling.core.delta import materialise

        source = dataclasses.replace(source, location=str(materialise(source.location)))
    try:
        import torch
        from transformers import AutoModelForMaskedLM, AutoTokenizer
    except ImportError as exc:
        raise ModelLoadError(f"{_WHAT} {name_or_path!r} needs transformers and torch: {exc}") from exc

    try:
        with quiet_model_loading():
            model, info = AutoModelForMaskedLM.from_pretrained(
                source.location,
                trust_remote_code=False,
                use_safetensors=True,
                output_loading_info=True,
            )
    except ValueError as exc:
        if "Unrecognized configuration class" in str(exc):
            raise ModelLoadError(
                f"{name_or_path!r} is not a masked LM: transformers has no masked-LM head for its architecture"
            ) from exc
        raise explain_load_failure(source, _WHAT, exc) from exc
    except Exception as exc:  # OSError, SafetensorError, RuntimeError (size mismatch), ...
        raise explain_load_failure(source, _WHAT, exc) from exc

    missing = sorted(info.get("missing_keys") or ())
    if missing:
        # from_pretrained fills missing weights with random values; evaluating those would be meaningless.
        base = f"{getattr(model, 'base_model_prefix', '')}."
        head_missing = any(not key.startswith(base) for key in missing)
        reason = "has no trained masked-LM head" if head_missing else "has incomplete weights"
        shown = ", ".join(missing[:4]) + (", ..." if len(missing) > 4 else "")
        raise ModelLoadError(f"{_WHAT} {name_or_path!r} {reason} (missing: {shown})")

    try:
        with quiet_model_loading():
            tokenizer = AutoTokenizer.from_pretrained(source.location, trust_remote_code=False)
    except Exception as exc:
        raise ModelLoadError(
            f"{_WHAT} {name_or_path!r}: the tokenizer could not be loaded: {str(exc).strip().splitlines()[0]}"
        ) from exc
    if tokenizer.mask_token is None or tokenizer.mask_token_id is None:
        raise ModelLoadError(f"{_WHAT} {name_or_path!r}: its tokenizer has no mask token, so it cannot fill masks")
    if tokenizer.mask_token_id >= model.get_input_embeddings().num_embeddings:
        raise ModelLoadError(
            f"{_WHAT} {name_or_path!r}: the tokenizer's mask token id {tokenizer.mask_token_id} "
            f"is outside the model's vocabulary"
        )

    from xling.core.model import speed_up_vocab_projection

    speed_up_vocab_projection(model)
    model.to("cuda" if torch.cuda.is_available() else "cpu")
    model.eval()
    return model, tokenizer


def load_pretrained_masked_lm(name: str) -> tuple[Any, Any]:
    """``(masked LM, tokenizer)`` to build an :class:`XlingModel` on: ``e5-small`` (embedded,
    :func:`xling.core.e5.e5_masked_lm`), or a Hugging Face masked-LM folder or hub id (safetensors
    only, no remote code), e.g. the seed's ``google-bert/bert-base-multilingual-cased``."""
    if name == E5_SMALL:
        from xling.core.e5 import e5_masked_lm

        return e5_masked_lm()
    model, tokenizer = load_masked_lm(name)
    return model.train(), tokenizer
