"""Job control's records and words: run names, :class:`Job` (``job.json``), :class:`JobStatus`.

No process or file of a run is touched here but ``job.json`` (:meth:`Job.save`, :meth:`Job.load`):
:class:`~xling.training.jobs.JobManager` reads the run folder and fills these records; the
fine-tune tab shows them.

Example:
    >>> validate_run_name("smoke-2"), format_duration(720)
    ('smoke-2', '12 min')
"""

from __future__ import annotations

import dataclasses
import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xling.errors import XlingError
from xling.training.run_folder import JOB_FILE, write_atomic

#: Every state a run can be in.
STATES = ("running", "finished", "stopped", "failed", "not started")
MAX_RUN_NAME = 64


class JobError(XlingError):
    """A run cannot be started, stopped or resumed; the message says why and what to do."""


def validate_run_name(name: str) -> str:
    """Return ``name`` if it is a safe run folder name, else raise :class:`JobError`.

    Allowed: 1-64 letters, digits, ``.``, ``_`` or ``-``, starting with a letter or digit, without
    ``..``: no slashes, spaces or shell characters, so the name is always one plain folder.

    Example:
        >>> validate_run_name("smoke-2")
        'smoke-2'
        >>> validate_run_name("../etc")
        Traceback (most recent call last):
        ...
        xling.training.job_records.JobError: run name '../etc': '/' is not allowed; use letters, digits, '.', '_' or '-'
    """
    if not isinstance(name, str) or not name:
        raise JobError("run name: give a name (letters, digits, '.', '_' or '-')")
    if len(name) > MAX_RUN_NAME:
        raise JobError(f"run name '{name[:20]}...': at most {MAX_RUN_NAME} characters (it has {len(name)})")
    bad = sorted(set(re.sub(r"[A-Za-z0-9._-]", "", name)), key=name.index)
    if bad:
        shown = " ".join(repr(c) for c in bad[:5])
        raise JobError(f"run name {name!r}: {shown} {'is' if len(bad) == 1 else 'are'} not allowed; "
                       "use letters, digits, '.', '_' or '-'")
    if ".." in name:
        raise JobError(f"run name {name!r}: '..' is not allowed")
    if not name[0].isalnum():
        raise JobError(f"run name {name!r}: must start with a letter or digit")
    return name


@dataclass(frozen=True)
class Job:
    """A launched run, as written to ``job.json``.

    Args:
        run_name, run_dir: the run and its folder.
        pid: the launched process (the ``accelerate`` launcher for data-parallel runs).
        pgid: its process group (its own: ``pgid == pid``); stop ends the whole group.
        command: the command line, as a list.
        started: launch time (Unix seconds).
        state: ``running`` at launch; the final state once a manager has seen the process end.
        resumed: whether this launch continued an earlier one.
        progress_offset: the size of ``progress.jsonl`` at launch: events from this launch follow it.
        proc_start: the process's start time in clock ticks since boot (Linux), so a recycled pid
            is never taken for the run.
        stop_requested: a stop was asked for (a process that then dies without a last event was stopped).
        ended, exit_code: when the process ended and its exit status, once known (negative: the
            signal that ended it).
    """

    run_name: str
    run_dir: Path
    pid: int
    pgid: int
    command: tuple[str, ...]
    started: float
    state: str = "running"
    resumed: bool = False
    progress_offset: int = 0
    proc_start: int | None = None
    stop_requested: bool = False
    ended: float | None = None
    exit_code: int | None = None

    @property
    def command_line(self) -> str:
        return shlex.join(self.command)

    def save(self) -> None:
        """Write ``job.json`` atomically."""
        values = dataclasses.asdict(self)
        values["run_dir"] = str(self.run_dir)
        values["command"] = list(self.command)
        values["command_line"] = self.command_line
        write_atomic(self.run_dir / JOB_FILE, json.dumps(values, indent=1) + "\n")

    @classmethod
    def load(cls, run_dir: Path) -> Job | None:
        """Read ``run_dir/job.json``; ``None`` when there is none or it is unreadable."""
        try:
            values = json.loads((run_dir / JOB_FILE).read_text(encoding="utf-8"))
            known = {f.name for f in dataclasses.fields(cls)}
            values = {k: v for k, v in values.items() if k in known}
            values["run_dir"] = run_dir
            values["command"] = tuple(values.get("command") or ())
            return cls(**values)
        except (OSError, ValueError, TypeError):
            return None


@dataclass(frozen=True)
class JobStatus:
    """Where a run stands, read from its folder: what the fine-tune tab shows.

    Args:
        run_name, run_dir: the run and its folder.
        state: one of :data:`STATES`.
        message: one line for a person ("stopped at step 15 of 80; resume continues from step 15").
        step, max_steps: progress of the current (or last) launch.
        losses: the latest value of each loss component (``mlm``, ``lid``, ``cl``, ``teacher``)
            and their weighted sum ``loss``.
        lr, tokens_per_s, gpu_mem_gb: from the latest progress row (``gpu_mem_gb`` on CUDA only).
        eta_s: seconds left, while running.
        elapsed_s: wall time of the current launch (so far, or until it ended).
        rows: every progress row, one per logged step (a resumed run's rows continue the earlier
            ones; rows a crashed launch logged past the step it was resumed from are dropped).
        metrics: ``metrics.json`` of a finished run.
        headline: the run's headline metrics (``langid_mean_accuracy``, ``mlm_top5``, ...).
        error: what ended a failed run, when known.
        log_tail: the last lines of ``log.txt`` of a failed run.
        exit_code: the process's exit status when known (0 finished/stopped, 2 bad config or data,
            1 crash, negative: killed by that signal).
        pid, started, command: of the current (or last) launch.
        checkpoint: the newest complete checkpoint (what resume continues from).
        checkpoint_step: its step.
        has_model: the run folder holds a finished model (it loads like any checkpoint).
        alive: the run's process still exists (one that wrote its last event takes a moment to exit).
    """

    run_name: str
    run_dir: Path
    state: str
    message: str = ""
    step: int = 0
    max_steps: int | None = None
    losses: dict[str, float] = field(default_factory=dict)
    lr: float | None = None
    tokens_per_s: float | None = None
    gpu_mem_gb: float | None = None
    eta_s: float | None = None
    elapsed_s: float | None = None
    rows: tuple[dict[str, Any], ...] = ()
    metrics: dict[str, Any] | None = None
    headline: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    log_tail: tuple[str, ...] = ()
    exit_code: int | None = None
    pid: int | None = None
    started: float | None = None
    command: tuple[str, ...] = ()
    checkpoint: Path | None = None
    checkpoint_step: int | None = None
    has_model: bool = False
    alive: bool = False

    @property
    def running(self) -> bool:
        return self.state == "running"

    @property
    def fraction(self) -> float:
        """Share of the steps done, in [0, 1]."""
        return min(1.0, self.step / self.max_steps) if self.max_steps else 0.0

    @property
    def can_resume(self) -> bool:
        """A stopped or failed run that a new launch can continue (or restart)."""
        return self.state in {"stopped", "failed"}


def describe_status(status: JobStatus, *, preparing: bool = False) -> str:
    """The one line a person reads of a status: ``stopped at step 15 of 80; resume continues from step 15``."""
    of = f" of {status.max_steps}" if status.max_steps else ""
    if status.state == "running" and preparing:
        return f"running: preparing (reading the data, building the model), step {status.step}{of}"
    if status.state == "running":
        eta = f", about {format_duration(status.eta_s)} left" if status.eta_s is not None else ""
        return f"running: step {status.step}{of}{eta}"
    if status.state == "finished":
        return f"finished {status.step} steps"
    if status.state == "stopped":
        where = (f"; resume continues from step {status.checkpoint_step}" if status.checkpoint_step is not None
                 else "; no checkpoint yet: resume starts it again")
        return f"stopped at step {status.step}{of}{where}"
    if status.state == "failed":
        code = f" (exit code {status.exit_code})" if status.exit_code is not None else ""
        return f"failed at step {status.step}{of}{code}: {status.error}"
    return "not started"


def format_duration(seconds: float | None) -> str:
    """``45 s``, ``12 min``, ``2.3 h``.

    >>> format_duration(45), format_duration(720), format_duration(8280)
    ('45 s', '12 min', '2.3 h')
    """
    seconds = int(seconds or 0)
    if seconds < 90:
        return f"{seconds} s"
    if seconds < 5400:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"


def is_valid_run_name(name: str) -> bool:
    """Whether :func:`validate_run_name` accepts ``name``."""
    try:
        validate_run_name(name)
    except JobError:
        return False
    return True
