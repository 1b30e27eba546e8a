"""Per-language adapters on a shared backbone (the seed's parameter sharing, MAD-X style).

Each language gets its own LoRA adapter (PEFT) in the encoder's attention; the backbone is shared
and, by default, frozen. One adapter is active at a time: :func:`use_adapter` switches, ``None``
turns them all off (the shared model alone). Adapters are saved apart from the backbone, in
``adapters/<lang>.safetensors`` with ``adapters/adapters.json``, so the folder still loads as a
plain Hugging Face model.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from xling.errors import ModelLoadError

ADAPTERS_DIR = "adapters"
ADAPTERS_MANIFEST = "adapters.json"


@dataclass(frozen=True)
class AdapterSpec:
    """LoRA settings shared by all language adapters."""

    rank: int = 8
    alpha: int = 16
    dropout: float = 0.0
    target_modules: tuple[str, ...] = ("query", "value")


def _encoder(model) -> nn.Module:
    return model.backbone.base_model


def _tuner_layers(model):
    from peft.tuners.tuners_utils import BaseTunerLayer

    return [m for m in _encoder(model).modules() if isinstance(m, BaseTunerLayer)]


def add_language_adapters(model, languages: Sequence[str], spec: AdapterSpec) -> list[str]:
    """Inject one LoRA adapter per language into the encoder; returns the languages added."""
    from peft import LoraConfig, inject_adapter_in_model

    existing = getattr(model, "adapter_languages", [])
    new = [lang for lang in languages if lang not in existing]
    config = LoraConfig(r=spec.rank, lora_alpha=spec.alpha, lora_dropout=spec.dropout,
                        target_modules=list(spec.target_modules))
    for lang in new:
        inject_adapter_in_model(config, _encoder(model), adapter_name=lang)
    model.adapter_languages = [*existing, *new]
    model.adapter_spec = spec
    use_adapter(model, None)
    return new


def use_adapter(model, language: str | None) -> None:
    """Activate one language's adapter, or none (``None``: the shared backbone alone).

    Which weights train is left as it was: PEFT would freeze the adapters it switches off, and a
    step that runs two languages' adapters (a pair) needs both to receive their gradients.
    """
    languages = getattr(model, "adapter_languages", [])
    if language is not None and language not in languages:
        raise KeyError(f"no adapter for {language!r}; adapters: {', '.join(languages) or 'none'}")
    for layer in _tuner_layers(model):
        trainable = [(param, param.requires_grad) for param in layer.parameters()]
        if language is None:
            layer.enable_adapters(False)
        else:
            layer.enable_adapters(True)
            layer.set_adapter(language)
        for param, flag in trainable:
            param.requires_grad_(flag)


def adapter_state(model, language: str) -> dict[str, torch.Tensor]:
    marks = (f".lora_A.{language}.", f".lora_B.{language}.")
    return {k: v.detach().float().cpu().contiguous() for k, v in _encoder(model).state_dict().items() if any(m in k for m in marks)}


def save_adapters(model, folder: str | Path) -> None:
    """Write every language's adapter under ``folder/adapters``."""
    from safetensors.torch import save_file

    target = Path(folder) / ADAPTERS_DIR
    target.mkdir(parents=True, exist_ok=True)
    for lang in model.adapter_languages:
        save_file(adapter_state(model, lang), str(target / f"{lang}.safetensors"))
    spec = asdict(model.adapter_spec)
    (target / ADAPTERS_MANIFEST).write_text(json.dumps({"languages": model.adapter_languages, **spec}, indent=1) + "\n")


def load_adapters(model, folder: str | Path) -> list[str]:
    """Load the adapters saved in ``folder/adapters`` (if any); returns their languages."""
    from safetensors.torch import load_file

    source = Path(folder) / ADAPTERS_DIR
    manifest_path = source / ADAPTERS_MANIFEST
    if not manifest_path.is_file():
        return []
    try:
        manifest = json.loads(manifest_path.read_text())
        languages = manifest.pop("languages")
        spec = AdapterSpec(**{**manifest, "target_modules": tuple(manifest["target_modules"])})
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise ModelLoadError(f"{manifest_path}: unreadable ({exc})") from None
    add_language_adapters(model, languages, spec)
    for lang in languages:
        try:
            weights = load_file(str(source / f"{lang}.safetensors"))
        except Exception as exc:  # missing or corrupt file: say which
            raise ModelLoadError(f"{source / (lang + '.safetensors')}: could not be read ({exc})") from None
        _encoder(model).load_state_dict(weights, strict=False)
    use_adapter(model, None)
    return languages


def backbone_state_without_adapters(backbone: nn.Module) -> dict[str, torch.Tensor]:
    """The backbone's weights under their plain names (adapter layers wrap the originals as
    ``base_layer``), without adapter weights: what a plain HF model expects."""
    state = {}
    for key, value in backbone.state_dict().items():
        if ".lora_" in key:
            continue
        state[key.replace(".base_layer.", ".")] = value
    return state
