"""Processes of a training run (POSIX): process groups, and ``/proc`` where there is one.

What :class:`~xling.training.jobs.JobManager` needs to tell whether a pid is still a run's engine
(its start time and command line), to list a process group's live members and to signal or end
the group. Where there is no ``/proc`` (not Linux), a group is probed with signal 0 instead.

Example:
    >>> import os
    >>> proc_stat(os.getpid()).state in {"R", "S"}
    True
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from xling.training.run_folder import CONFIG_FILE


@dataclass(frozen=True)
class ProcStat:
    """A process's state letter, process group and start time, from ``/proc/<pid>/stat``."""

    state: str
    pgrp: int
    start: int  # clock ticks after boot


def proc_stat(pid: int) -> ProcStat | None:
    """A process's state, group and start time from ``/proc`` (``None`` where there is no ``/proc``)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()  # the name in parentheses may hold spaces
    try:
        return ProcStat(state=fields[0], pgrp=int(fields[2]), start=int(fields[19]))
    except (IndexError, ValueError):
        return None


def proc_cmdline(pid: int) -> str | None:
    """A process's command line, its arguments joined by spaces (``None`` without ``/proc``)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return None


def group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes of a process group."""
    proc = Path("/proc")
    if proc.is_dir():
        members = []
        for entry in proc.iterdir():
            if entry.name.isdigit():
                stat = proc_stat(int(entry.name))
                if stat is not None and stat.pgrp == pgid and stat.state != "Z":
                    members.append(int(entry.name))
        return members
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return []
    except PermissionError:
        pass
    return [pgid]


def runs_config(pid: int, run_dir: Path) -> bool:
    """Whether process ``pid`` runs the engine (``xling.training``) on ``run_dir``'s config."""
    cmdline = proc_cmdline(pid)
    return cmdline is not None and "xling.training" in cmdline and str(run_dir / CONFIG_FILE) in cmdline


def group_runs(pgid: int, run_dir: Path) -> bool:
    """Whether a live process of group ``pgid`` is ``run_dir``'s engine (only then is the group the run's)."""
    if not Path("/proc").is_dir():
        return bool(group_members(pgid))
    return any(runs_config(pid, run_dir) for pid in group_members(pgid))


def is_own_group(pgid: int | None) -> bool:
    """A group a manager created for a run (never this process's own group)."""
    return isinstance(pgid, int) and pgid > 1 and pgid != os.getpgrp()


def send_signal(pid: int, pgid: int | None, sig: signal.Signals) -> None:
    """Signal the whole group when the run has its own, else only the process."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if pgid is not None:
            os.killpg(pgid, sig)
        else:
            os.kill(pid, sig)


def kill_group(pgid: int, grace: float) -> None:
    """End every process left in a group: SIGTERM, then SIGKILL after ``grace`` seconds."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        if not group_members(pgid):
            return
        send_signal(pgid, pgid, sig)
        deadline = time.time() + wait
        while group_members(pgid) and time.time() < deadline:
            time.sleep(0.05)


def signal_name(number: int) -> str:
    """``SIGKILL`` for 9; ``signal N`` for a number with no name."""
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"
