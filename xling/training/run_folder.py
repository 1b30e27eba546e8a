"""A training run's folder on disk: its file names, and reading and writing them (no torch, no gradio).

A run lives in ``checkpoints/<run>/``; the engine (:mod:`xling.training.runner`), the job manager
(:mod:`xling.training.jobs`) and the fine-tune tab all read and write it through this module:

- ``config.yaml``: the run's :class:`~xling.training.config.TrainConfig` (written atomically);
- ``progress.jsonl``: the events the engine's callback appends (the only thing the UI reads of a
  run in progress; :class:`ProgressReader` parses it incrementally);
- ``checkpoints/step-NNNNNNN/``: checkpoints, each with ``trainer_state.pt`` (written as a
  ``.partial`` folder, then renamed); :func:`latest_checkpoint` is the newest complete one;
- ``STOP``: asks the run for a clean save and exit;
- ``metrics.json``: the end-of-run figures;
- ``job.json`` and ``log.txt``: what the job manager launched, and the process's output;
- the final model itself at the top of the folder (:func:`publish_model`), so a finished run
  loads like any model (:func:`holds_model`).

Example:
    >>> from pathlib import Path
    >>> checkpoint_name(15), checkpoint_step(Path("run/checkpoints/step-0000015"))
    ('step-0000015', 15)
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xling.core.model_folders import METRICS_FILE, MODEL_MANIFESTS
from xling.core.model_folders import XLING_MANIFEST as MANIFEST
from xling.core.model_folders import holds_model as folder_holds_model
from xling.errors import XlingError
from xling.training.config import TrainConfig

CONFIG_FILE = "config.yaml"
PROGRESS_FILE = "progress.jsonl"
CHECKPOINTS = "checkpoints"
STOP_FILE = "STOP"
TRAINER_STATE = "trainer_state.pt"
JOB_FILE = "job.json"
LOG_FILE = "log.txt"
#: An encoder run with several teachers: their dev scores and who teaches which language.
TEACHERS_FILE = "teachers.json"
#: ... and the non-anchor teachers' vectors, computed once (:class:`~xling.training.teachers.VectorCache`).
TEACHER_CACHE = "teacher-cache"
#: Keys of a progress row that are not loss components.
ROW_META = frozenset({"time", "step", "max_steps", "lr", "tokens_per_s", "elapsed_s", "eta_s", "gpu_mem_gb"})
#: The events that end a launch.
TERMINAL = frozenset({"finished", "stopped", "failed"})
#: Loss-curve points kept per run, whatever the file's length (older ones are thinned).
MAX_PROGRESS_ROWS = 4000
#: Longer lines are no progress event (a real one is well under 1 kB): skipped unread.
MAX_PROGRESS_LINE = 64 * 1024
_READ_CHUNK = 1 << 20
_CHECKPOINT = re.compile(r"step-\d+")


# ---------------------------------------------------------------------------- checkpoints


def checkpoint_name(step: int) -> str:
    """The folder name of the checkpoint at ``step`` (zero-padded, so names sort by step)."""
    return f"step-{step:07d}"


def checkpoint_step(checkpoint: Path) -> int:
    """The step of a checkpoint folder (``step-0000015`` -> 15)."""
    return int(checkpoint.name.split("-")[1])


def checkpoint_folders(run_dir: Path) -> list[Path]:
    """Every checkpoint folder of a run, complete or not (``.partial`` ones aside), oldest first."""
    folder = run_dir / CHECKPOINTS
    if not folder.is_dir():
        return []
    return sorted((p for p in folder.iterdir() if _CHECKPOINT.fullmatch(p.name)), key=lambda p: p.name)


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The newest complete checkpoint of a run (``.partial`` folders are ignored)."""
    done = [p for p in checkpoint_folders(run_dir) if (p / TRAINER_STATE).is_file()]
    return max(done, key=checkpoint_step, default=None)


def holds_model(run_dir: Path) -> bool:
    """A finished run left a model: an xling checkpoint or a saved encoder (``task: encoder``)."""
    return folder_holds_model(run_dir, MODEL_MANIFESTS)


def publish_model(checkpoint: Path, run_dir: Path, *, half: bool = False, model: Any = None,
                  manifest: str = MANIFEST) -> None:
    """Make the run folder itself the final model: its files are replaced one by one, with the
    manifest (``xling.json``) removed first and written last, so a half-copied folder never passes
    for a model. With ``half`` and the ``model`` (an :class:`~xling.core.model.XlingModel`), the
    published weights are saved in half precision."""
    (run_dir / manifest).unlink(missing_ok=True)
    source = checkpoint
    scratch = None
    if half and model is not None:
        scratch = run_dir / ".publish"
        shutil.rmtree(scratch, ignore_errors=True)
        model.save(scratch, half=True, extra=json.loads((checkpoint / manifest).read_text()))
        source = scratch
    for entry in sorted(source.iterdir()):
        if entry.name in {manifest, TRAINER_STATE}:
            continue
        target = run_dir / entry.name
        if entry.is_dir():
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(entry, target)
        else:
            tmp = run_dir / f".{entry.name}.tmp"
            shutil.copy2(entry, tmp)
            os.replace(tmp, target)
    shutil.copy2(source / manifest, run_dir / f".{manifest}.tmp")
    os.replace(run_dir / f".{manifest}.tmp", run_dir / manifest)
    if scratch is not None:
        shutil.rmtree(scratch, ignore_errors=True)


# ---------------------------------------------------------------------------- config and metrics


def temporary_name(name: str) -> str:
    """The hidden name :func:`write_atomic` writes ``name`` under before renaming it."""
    return f".{name}.tmp"


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to a hidden file beside ``path``, then rename it: a reader never sees half a file."""
    tmp = path.with_name(temporary_name(path.name))
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_config(run_dir: Path, config: TrainConfig) -> Path:
    """Write ``run_dir/config.yaml`` atomically; its path."""
    path = run_dir / CONFIG_FILE
    write_atomic(path, config.to_yaml())
    return path


def read_config(run_dir: Path) -> TrainConfig | None:
    """A run's ``config.yaml``; ``None`` when it is missing or invalid."""
    try:
        return TrainConfig.from_file(run_dir / CONFIG_FILE)
    except XlingError:
        return None


def write_metrics(run_dir: Path, metrics: dict[str, Any]) -> None:
    """Write a run's end-of-run ``metrics.json``."""
    (run_dir / METRICS_FILE).write_text(json.dumps(metrics, indent=1, ensure_ascii=False) + "\n")


def read_json(path: Path) -> dict[str, Any] | None:
    """A JSON object file; ``None`` when it is missing, unreadable or not an object."""
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def read_metrics(run_dir: Path) -> dict[str, Any] | None:
    """A run's ``metrics.json``; ``None`` before the run finished."""
    return read_json(run_dir / METRICS_FILE)


@dataclass(frozen=True)
class TrainingFigures:
    """How a run trained: the ``training`` entry of its ``metrics.json``, written by the engine and
    read by the fine-tune tab.

    Example:
        >>> TrainingFigures.measured(10, 4.0, 2000, "cpu", "fp32").to_dict()["tokens_per_s"]
        500.0
    """

    steps: int
    seconds: float
    tokens: int
    tokens_per_s: float
    device: str
    precision: str

    @classmethod
    def measured(cls, steps: int, seconds: float, tokens: int, device: object, precision: str) -> TrainingFigures:
        """The figures of ``steps`` steps over ``tokens`` tokens in ``seconds`` (rounded as written)."""
        return cls(steps, round(seconds, 1), tokens, round(tokens / max(seconds, 1e-9), 1), str(device), precision)

    @classmethod
    def of(cls, metrics: dict[str, Any] | None) -> TrainingFigures | None:
        """The figures in a run's metrics; ``None`` when they hold none (``?`` and 0 for missing values)."""
        values = (metrics or {}).get("training") or {}
        if not values:
            return None
        return cls(values.get("steps", 0), values.get("seconds", 0), values.get("tokens", 0),
                   values.get("tokens_per_s", 0), values.get("device", "?"), values.get("precision", "?"))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# ---------------------------------------------------------------------------- progress


@dataclass
class Progress:
    """What ``progress.jsonl`` says, parsed so far: the file is read once, then only what was
    appended (see :class:`ProgressReader`)."""

    events: int = 0
    rows: list[dict[str, Any]] = field(default_factory=list)  # thinned to at most MAX_PROGRESS_ROWS
    start: dict[str, Any] = field(default_factory=dict)  # the current launch's start event
    end: dict[str, Any] | None = None  # the current launch's last event, if written
    headline: dict[str, float] = field(default_factory=dict)
    gpu_mem_gb: float | None = None

    def add(self, event: dict[str, Any], current: bool) -> None:
        """Take one event; ``current``: it belongs to the launch being watched."""
        self.events += 1
        kind = event.get("event")
        if kind is None and "step" in event:
            self.rows.append(event)
            if len(self.rows) > MAX_PROGRESS_ROWS:  # keep every other row (and the newest): curves stay whole
                self.rows = self.rows[:-1:2] + self.rows[-1:]
            if event.get("gpu_mem_gb") is not None:
                self.gpu_mem_gb = event["gpu_mem_gb"]
        elif kind == "start":
            # A launch restarts from its checkpoint: rows an earlier launch logged past it are replaced.
            resumed_at = as_int(event.get("step"))
            self.rows = [row for row in self.rows if as_int(row.get("step")) <= resumed_at]
            if current:
                self.start, self.end = event, None
        elif kind == "metrics":
            self.headline = {k: v for k, v in event.items() if k not in {"event", "time"} and is_number(v)}
        elif kind in TERMINAL and current:
            self.end = event


class ProgressReader:
    """Reads a ``progress.jsonl`` incrementally: each call parses only the bytes appended since the
    last one, in bounded chunks, so a status poll costs the same on a run of 10 or 10 million lines
    and memory stays bounded. Events at or past ``offset`` belong to the current launch; with no
    offset (a run not started by a manager) the launch begins at the last ``start`` event."""

    def __init__(self, path: Path, offset: int | None):
        self.path, self.offset = path, offset
        self.identity: tuple[int, int] | None = None
        self.position = 0
        self.progress = Progress()

    def read(self) -> Progress:
        try:
            with self.path.open("rb") as handle:
                info = os.fstat(handle.fileno())
                if (info.st_dev, info.st_ino) != self.identity or info.st_size < self.position:
                    self.identity, self.position, self.progress = (info.st_dev, info.st_ino), 0, Progress()
                handle.seek(self.position)
                self._consume(handle)
        except OSError:
            return Progress()
        return self.progress

    def _consume(self, handle) -> None:
        pending, skipping = b"", False
        while chunk := handle.read(_READ_CHUNK):
            lines = (pending + chunk).split(b"\n")
            pending = lines.pop()  # an unfinished line: read again next time
            for raw in lines:
                at = self.position
                self.position += len(raw) + 1
                if skipping:
                    skipping = False  # the end of an over-long line
                elif len(raw) <= MAX_PROGRESS_LINE:
                    self._parse(raw, at)
            if len(pending) > MAX_PROGRESS_LINE:  # over-long: drop what was read, skip to its end
                self.position += len(pending)
                pending, skipping = b"", True
        if skipping:
            # Wait for the over-long line's end; its bytes so far are passed over for good.
            self.position += len(pending)

    def _parse(self, raw: bytes, at: int) -> None:
        try:
            event = json.loads(raw)
        except (ValueError, RecursionError):
            return  # not an event (a line of something else)
        if isinstance(event, dict):
            self.progress.add(event, self.offset is None or at >= self.offset)


def as_int(value: Any) -> int:
    """``value`` as an int, 0 when it is none."""
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def is_number(value: Any) -> bool:
    """A JSON number (not a boolean)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)
