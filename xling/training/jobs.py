"""Job control: start, watch, stop and resume training runs as subprocesses of the same CLI users run.

The app never trains in its own process (the LLaMA-Factory pattern). :class:`JobManager` writes a
run's ``config.yaml``, starts ``python -m xling.training --config ... --no-progress-bar`` (through
``accelerate launch`` when several CUDA devices are visible) in its own process group, and from then
on only reads files. A run lives in ``<root>/<run_name>/``:

- ``config.yaml``: the :class:`~xling.training.config.TrainConfig` (its ``output_dir`` is the folder);
- ``progress.jsonl``: the events the engine's callback appends (the source of every figure here);
- ``job.json``: what this module launched: pid, process group, command, start time, state, and,
  once seen, the end time and exit code;
- ``log.txt``: the subprocess's stdout and stderr;
- ``STOP``: written to ask the run for a clean save and exit.

Everything is read back from disk, so a manager made after an app restart (or in another process)
sees the same runs, re-attaches to a running one and still enforces one run at a time. A run
started from a terminal with ``python -m xling.training`` is listed too (its pid comes from the
``start`` event). Process control is POSIX (process groups; ``/proc`` where there is one:
:mod:`xling.training.processes`). The file names are :mod:`xling.training.run_folder`'s; run names,
:class:`~xling.training.job_records.Job` and :class:`~xling.training.job_records.JobStatus` are
:mod:`xling.training.job_records`'.

A manager's ``start(TrainConfig.from_file("configs/smoke.yaml"))`` launches a run; its ``status``,
``stop``, ``resume`` and ``wait`` take the run's name (``"smoke"``).

Example:
    >>> import tempfile
    >>> manager = JobManager(Path(tempfile.mkdtemp()))
    >>> manager.list_runs()
    []
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from xling.training.config import TrainConfig, log_every_for
from xling.training.job_records import (Job, JobError, JobStatus, describe_status, is_valid_run_name, validate_run_name)
from xling.training.processes import (group_runs, is_own_group, kill_group, proc_cmdline, proc_stat, runs_config,
                                      send_signal, signal_name)
from xling.training.run_folder import (CONFIG_FILE, JOB_FILE, LOG_FILE, MANIFEST, METRICS_FILE, PROGRESS_FILE,
                                       ROW_META, STOP_FILE, TERMINAL, Progress, ProgressReader, as_int,
                                       checkpoint_step, is_number, latest_checkpoint, read_config, read_json,
                                       temporary_name, write_config)

LOCK_FILE = ".jobs.lock"

#: Lines of ``log.txt`` a failed run's status carries.
LOG_TAIL_LINES = 30

# What a start writes into a run's folder before its process exists (job.json comes after).
_BEFORE_LAUNCH = {CONFIG_FILE, LOG_FILE, STOP_FILE, temporary_name(CONFIG_FILE)}


# ---------------------------------------------------------------------------- the command


def visible_cuda_devices() -> int:
    """How many CUDA devices a run would see; 0 without torch or CUDA (torch is not required)."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and visible.strip() in {"", "-1"}:
        return 0
    if importlib.util.find_spec("torch") is None:
        return 0
    try:
        import torch

        return torch.cuda.device_count() if torch.cuda.is_available() else 0
    except Exception:  # a broken driver is "no GPU" for this decision; the run reports the real error
        return 0


def launch_processes(config: TrainConfig) -> int:
    """Processes a run starts: one per visible CUDA device when there are several and the run can use
    them (not on ``train.device: cpu``, not for adapter or zero-shot runs, which are one process)."""
    if config.train.device == "cpu" or config.adapters.enabled or config.task != "pretrain":
        return 1
    return max(1, visible_cuda_devices())


def preview_command(config_path: str | Path, *, processes: int | None = None,
                    python: str = sys.executable) -> list[str]:
    """The exact command that trains on ``config_path``.

    Args:
        config_path: the run's config file.
        processes: data-parallel processes; ``None`` takes the number of visible CUDA devices.
        python: the interpreter (the app's own by default, so the run sees the same packages).

    Example:
        >>> preview_command("checkpoints/r/config.yaml", processes=1, python="python")
        ['python', '-m', 'xling.training', '--config', 'checkpoints/r/config.yaml', '--no-progress-bar']
        >>> " ".join(preview_command("c.yaml", processes=2, python="python")[:7])
        'python -m accelerate.commands.launch --multi_gpu --num_processes 2 -m'
    """
    if processes is None:
        processes = visible_cuda_devices()
    engine = ["xling.training", "--config", str(config_path), "--no-progress-bar"]
    if processes > 1:
        # `python -m accelerate.commands.launch` is `accelerate launch`, with no reliance on PATH.
        return [python, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", str(processes),
                "-m", *engine]
    return [python, "-m", *engine]


def preview_command_line(config_path: str | Path, *, processes: int | None = None,
                         python: str = sys.executable) -> str:
    """:func:`preview_command` as one shell-quoted line, to show or paste into a terminal.

    Example:
        >>> preview_command_line("my runs/c.yaml", processes=1, python="python")
        "python -m xling.training --config 'my runs/c.yaml' --no-progress-bar"
    """
    return shlex.join(preview_command(config_path, processes=processes, python=python))


# ---------------------------------------------------------------------------- the manager


class JobManager:
    """Starts, watches, stops and resumes training runs under one checkpoints folder.

    A manager keeps no state that matters: it reads every answer from the run folders, so any
    number of managers (one per app process, or a new one after a restart) agree. The only thing
    it holds is the :class:`subprocess.Popen` of the runs it started itself, for their exit codes.

    Args:
        root: the checkpoints folder; a run lives in ``root/<run_name>/``.
        workdir: the subprocess's working directory (relative paths in a config, such as
            ``data.corpus: demo/corpus``, are read from there); default: the current directory.
        python: the interpreter that runs the engine; default: this one.
        max_running: runs allowed at once (one: a second start is refused with a message).
    """

    def __init__(self, root: str | Path, *, workdir: str | Path | None = None, python: str = sys.executable,
                 max_running: int = 1):
        if max_running < 1:
            raise JobError("max_running: must be >= 1")
        self.root = Path(root).absolute()
        self.workdir = Path(workdir).absolute() if workdir else Path.cwd()
        self.python = python
        self.max_running = max_running
        self._processes: dict[int, subprocess.Popen] = {}  # pid -> the Popen of runs started here
        self._readers: dict[Path, ProgressReader] = {}  # progress.jsonl -> what has been read of it
        self._readers_guard = threading.Lock()

    # ------------------------------------------------------------ commands

    def run_dir(self, run_name: str) -> Path:
        """The folder of a run (checked: a bad name raises :class:`JobError`)."""
        return self.root / validate_run_name(run_name)

    def command(self, config: TrainConfig) -> list[str]:
        """The command :meth:`start` would run for ``config``."""
        path = self.run_dir(config.run_name) / CONFIG_FILE
        return preview_command(path, processes=launch_processes(config), python=self.python)

    def preview(self, config: TrainConfig) -> str:
        """:meth:`command` as a shell-quoted line ("Preview command" in the tab)."""
        return shlex.join(self.command(config))

    # ------------------------------------------------------------ start

    def start(self, config: TrainConfig, *, resume: bool = False) -> Job:
        """Write ``config.yaml`` and launch the run; return at once.

        The run goes to ``root/<run_name>`` (the config's ``output_dir`` is set to that folder).

        Args:
            config: the run.
            resume: continue a run whose folder already holds checkpoints or a finished model
                (the engine resumes from its last checkpoint, with this config, e.g. more steps).

        Raises:
            JobError: a bad run name; another run still running; the folder already holds a
                stopped or finished run and ``resume`` is false.
        """
        name = validate_run_name(config.run_name)
        run_dir = self.root / name
        self.root.mkdir(parents=True, exist_ok=True)
        with self._lock():
            self._refuse_if_not_a_run(name, run_dir)
            self._refuse_if_busy(name)
            previous = self.status(name) if run_dir.is_dir() else None
            if previous is not None and not resume:
                if previous.has_model:
                    raise JobError(f"run '{name}' has already finished and holds a model ({run_dir}): choose "
                                   "another run name, or resume it with more steps")
                if previous.checkpoint is not None:
                    raise JobError(f"run '{name}' ({previous.state}) has a checkpoint at step "
                                   f"{previous.checkpoint_step}: resume it, or choose another run name")
            run_dir.mkdir(parents=True, exist_ok=True)
            fresh = previous is None or (previous.checkpoint is None and not previous.has_model)
            if fresh and not resume:  # nothing to continue: drop what an earlier, failed launch left
                for stale in (PROGRESS_FILE, LOG_FILE, METRICS_FILE, JOB_FILE, STOP_FILE):
                    (run_dir / stale).unlink(missing_ok=True)
            (run_dir / STOP_FILE).unlink(missing_ok=True)
            values = config.to_dict()
            values["output_dir"] = str(run_dir)
            config = TrainConfig.from_dict(values)
            write_config(run_dir, config)
            return self._launch(config, run_dir, resumed=resume)

    def resume(self, run_name: str, *, steps: int | None = None) -> Job:
        """Start a stopped or failed run again from its ``config.yaml``; the engine continues from
        the last checkpoint. ``steps`` raises ``train.steps`` to continue a finished run further.

        Raises:
            JobError: no such run; it is running; it finished all its steps and ``steps`` is not more.
        """
        run_dir = self.run_dir(run_name)
        self._refuse_if_not_a_run(run_name, run_dir)
        config = read_config(run_dir)
        if config is None:
            raise JobError(f"no run '{run_name}' to resume: its {CONFIG_FILE} is missing or invalid")
        if steps is not None:
            values = config.to_dict()
            values["train"]["steps"] = steps
            # As many progress lines as a new run of that length logs, not one per old interval.
            values["train"]["log_every"] = max(config.train.log_every, log_every_for(steps))
            config = TrainConfig.from_dict(values)
        current = self.status(run_name)
        if current.state == "running":
            raise JobError(f"run '{run_name}' is already running (step {current.step} of {current.max_steps})")
        if current.has_model and current.state == "finished" and config.train.steps <= current.step:
            raise JobError(f"run '{run_name}' already finished all {current.step} steps: give more steps to "
                           "continue it")
        return self.start(config, resume=True)

    def is_run(self, run_dir: Path) -> bool:
        """Whether a manager created ``run_dir``: it holds ``job.json``, or only what a start writes
        before its launch. A shipped or published model folder (or any folder made another way)
        is never one: no start, resume or stop writes into it."""
        if not run_dir.is_dir():
            return False
        if (run_dir / JOB_FILE).is_file():
            return True
        return all(entry.name in _BEFORE_LAUNCH for entry in run_dir.iterdir())

    def _refuse_if_not_a_run(self, name: str, run_dir: Path) -> None:
        if run_dir.exists() and not run_dir.is_dir():
            raise JobError(f"'{name}' is a file of the checkpoints folder, not a run: choose another run name")
        if run_dir.is_dir() and not self.is_run(run_dir):
            raise JobError(f"'{name}' is a model folder that no run of this app created (a shipped or published "
                           "model): runs never write into it. Choose another run name; to continue training it, "
                           "pick it as the base model")

    def _refuse_if_busy(self, name: str) -> None:
        running = self._running_runs(wait_s=10.0)
        same = [s for s in running if s.run_name == name]
        if same:
            raise JobError(f"run '{name}' is already running (step {same[0].step} of {same[0].max_steps})")
        if len(running) >= self.max_running:
            names = ", ".join(f"'{s.run_name}' (step {s.step} of {s.max_steps})" for s in running)
            limit = "one training run at a time" if self.max_running == 1 else f"{self.max_running} runs at a time"
            raise JobError(f"{names} is still running: {limit}. Stop it or wait for it to finish, then start again")

    def _running_runs(self, wait_s: float = 0.0) -> list[JobStatus]:
        """Runs whose process is alive; one that already wrote its last event gets ``wait_s`` to exit."""
        deadline = time.time() + wait_s
        while True:
            alive = [s for s in self.list_runs() if self._process_alive(s.run_dir)]
            if not any(s.state in TERMINAL for s in alive) or time.time() >= deadline:
                return alive
            time.sleep(0.1)

    def _launch(self, config: TrainConfig, run_dir: Path, *, resumed: bool) -> Job:
        command = self.command(config)
        progress = run_dir / PROGRESS_FILE
        offset = progress.stat().st_size if progress.exists() else 0
        env = dict(os.environ)  # OMP_NUM_THREADS, CUDA_VISIBLE_DEVICES, HF_* ... as the app has them
        env["PYTHONUNBUFFERED"] = "1"  # log.txt fills as the run prints
        package_root = str(Path(__file__).resolve().parents[2])  # `-m xling.training` from any workdir
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
        with (run_dir / LOG_FILE).open("ab") as log:
            stamp = time.strftime("%Y-%m-%d %H:%M:%S")
            log.write(f"=== {'resume' if resumed else 'start'} {stamp}: {shlex.join(command)}\n".encode())
            log.flush()
            try:
                process = subprocess.Popen(command, cwd=self.workdir, env=env, stdin=subprocess.DEVNULL,
                                           stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
            except OSError as exc:
                raise JobError(f"could not start {command[0]}: {exc}") from None
        self._processes[process.pid] = process
        stat = proc_stat(process.pid)
        job = Job(run_name=config.run_name, run_dir=run_dir, pid=process.pid, pgid=process.pid,
                  command=tuple(command), started=time.time(), resumed=resumed, progress_offset=offset,
                  proc_start=stat.start if stat else None)
        job.save()
        return job

    # ------------------------------------------------------------ stop

    def request_stop(self, run_name: str) -> None:
        """Ask a run for a clean save and exit (the ``STOP`` file); return at once."""
        run_dir = self.run_dir(run_name)
        if not run_dir.is_dir():
            raise JobError(f"no run '{run_name}' in the checkpoints folder")
        if not self.is_run(run_dir) and not self._process_alive(run_dir):
            raise JobError(f"'{run_name}' is not a run of this app and is not training: there is nothing to stop")
        (run_dir / STOP_FILE).touch()
        job = Job.load(run_dir)
        if job is not None and not job.stop_requested:
            dataclasses.replace(job, stop_requested=True).save()

    def stop(self, run_name: str, *, timeout: float = 120.0, grace: float = 10.0) -> JobStatus:
        """Stop a run and wait until none of its processes is left.

        First the ``STOP`` file (the engine saves a checkpoint and exits); after ``timeout`` seconds
        SIGTERM to the whole process group (the engine saves too), after ``grace`` more SIGKILL to
        the group. A run that is not running is left as it is.

        Returns:
            the run's status afterwards (``stopped``, or ``finished`` if it ended meanwhile).
        """
        run_dir = self.run_dir(run_name)
        status = self.status(run_name)
        job = Job.load(run_dir)
        # A group is signalled only when one of its processes is proven to be this run's engine
        # (job.json alone proves nothing: anyone who can write the folder can name any pid).
        own_group = job is not None and is_own_group(job.pgid) and group_runs(job.pgid, run_dir)
        pid = job.pid if job is not None else status.pid
        if status.state != "running" or pid is None:
            if own_group:  # stray children of a dead launcher
                kill_group(job.pgid, grace)
            return status
        self.request_stop(run_name)
        if not self._progress(run_dir / PROGRESS_FILE, job.progress_offset if job else 0).start:
            # The engine clears STOP when it starts; before that a signal is the only way in, and there
            # is nothing to save yet.
            send_signal(pid, job.pgid if own_group else None, signal.SIGTERM)
        if not self._wait_exit(pid, job, timeout):
            send_signal(pid, job.pgid if own_group else None, signal.SIGTERM)
            if not self._wait_exit(pid, job, grace):
                send_signal(pid, job.pgid if own_group else None, signal.SIGKILL)
                self._wait_exit(pid, job, grace)
        if own_group:
            kill_group(job.pgid, grace)  # whatever the launcher left behind
        (run_dir / STOP_FILE).unlink(missing_ok=True)
        return self.status(run_name)

    def _wait_exit(self, pid: int, job: Job | None, timeout: float) -> bool:
        process = self._processes.get(pid)
        if process is not None:
            try:
                process.wait(timeout=max(0.0, timeout))
                return True
            except subprocess.TimeoutExpired:
                return False
        deadline = time.time() + timeout
        while self._job_alive(job) if job is not None else self._pid_alive(pid, None):
            if time.time() >= deadline:
                return False
            time.sleep(0.1)
        return True

    # ------------------------------------------------------------ status

    def status(self, run_name: str) -> JobStatus:
        """Where ``run_name`` stands; a run with no folder is ``not started``."""
        run_dir = self.run_dir(run_name)
        job = Job.load(run_dir)
        progress = self._progress(run_dir / PROGRESS_FILE, job.progress_offset if job else None)
        checkpoint = latest_checkpoint(run_dir)
        has_model = (run_dir / MANIFEST).is_file() or (run_dir / METRICS_FILE).is_file()
        pid = job.pid if job else progress.start.get("pid")
        alive = self._process_alive(run_dir, job, progress)
        exit_code = self._exit_code(job)
        terminal = progress.end.get("event") if progress.end else None

        if job is None and not progress.events:
            state = "not started"
        elif terminal in TERMINAL:
            state = terminal
        elif alive:
            state = "running"
        elif job is not None and job.stop_requested:
            state = "stopped"  # ended by the stop's signal before it could write its last event
        else:
            state = "failed"  # crash, out of memory, kill -9: it died without a last event

        if job is not None and not alive and (job.state != state or job.exit_code != exit_code or job.ended is None):
            job = self._record_end(job, state, exit_code, (progress.end or {}).get("time"))

        last = progress.rows[-1] if progress.rows else {}
        step = max([as_int(last.get("step")), as_int(progress.start.get("step")), as_int((progress.end or {}).get("step"))])
        max_steps = last.get("max_steps") or progress.start.get("max_steps")
        if max_steps is None:  # nothing logged yet: the config says
            config = read_config(run_dir)
            max_steps = config.train.steps if config else None
        started = job.started if job else progress.start.get("time")
        ended = (job.ended if job else None) or ((progress.end or {}).get("time") if state != "running" else None)
        elapsed = None
        if started is not None:
            elapsed = round(max(0.0, (time.time() if state == "running" else (ended or time.time())) - started), 1)
        eta = None
        if state == "running" and last.get("eta_s") is not None:
            eta = round(max(0.0, float(last["eta_s"]) - (time.time() - float(last.get("time", time.time())))), 1)
        error = (progress.end or {}).get("error") if terminal == "failed" else None
        log_tail: tuple[str, ...] = ()
        if state == "failed":
            log_tail = tuple(read_log_tail(run_dir / LOG_FILE, LOG_TAIL_LINES))
            if error is None:
                error = next((line for line in reversed(log_tail) if line.startswith("error:")), None)
                if error is None and not alive and exit_code is not None and exit_code < 0:
                    error = f"killed by {signal_name(-exit_code)}"
                error = error or "the process ended without a final event (crash or out of memory)"
        metrics = read_json(run_dir / METRICS_FILE) if state == "finished" else None
        at_step = checkpoint_step(checkpoint) if checkpoint else None
        status = JobStatus(
            run_name=run_name, run_dir=run_dir, state=state, step=step,
            max_steps=int(max_steps) if max_steps is not None else None,
            losses={k: float(v) for k, v in last.items() if k not in ROW_META and is_number(v)},
            lr=_float(last.get("lr")), tokens_per_s=_float(last.get("tokens_per_s")),
            gpu_mem_gb=_float(progress.gpu_mem_gb), eta_s=eta, elapsed_s=elapsed, rows=tuple(progress.rows),
            metrics=metrics, headline=progress.headline if state == "finished" else {}, error=error,
            log_tail=log_tail, exit_code=exit_code, pid=pid, started=started,
            command=job.command if job else (), checkpoint=checkpoint, checkpoint_step=at_step,
            has_model=has_model, alive=alive,
        )
        return dataclasses.replace(status, message=describe_status(status, preparing=not progress.start))

    def wait(self, run_name: str, *, timeout: float | None = None, poll: float = 0.2) -> JobStatus:
        """Block until the run's process has exited (or ``timeout`` seconds passed); its status then.
        """
        deadline = None if timeout is None else time.time() + timeout
        while True:
            status = self.status(run_name)
            if not status.alive or (deadline is not None and time.time() >= deadline):
                return status
            time.sleep(poll)

    def list_runs(self) -> list[JobStatus]:
        """Every run folder under the root (one with a ``config.yaml``), newest first."""
        if not self.root.is_dir():
            return []
        found = []
        for folder in self.root.iterdir():
            if folder.is_dir() and (folder / CONFIG_FILE).is_file() and is_valid_run_name(folder.name):
                status = self.status(folder.name)
                newest = status.started or (folder / CONFIG_FILE).stat().st_mtime
                found.append((newest, status))
        return [status for _, status in sorted(found, key=lambda pair: pair[0], reverse=True)]

    def running(self) -> JobStatus | None:
        """The run in progress, if any (what a reloaded page re-attaches to)."""
        return next((s for s in self.list_runs() if s.state == "running"), None)

    # ------------------------------------------------------------ processes

    def _progress(self, path: Path, offset: int | None) -> Progress:
        """``path`` parsed up to its end, reading only what was appended since the last call."""
        with self._readers_guard:
            if not path.is_file():  # only real runs get a reader: any run name may be asked about
                self._readers.pop(path, None)
                return Progress()
            reader = self._readers.get(path)
            if reader is None or reader.offset != offset:
                reader = self._readers[path] = ProgressReader(path, offset)
            progress = reader.read()
            return dataclasses.replace(progress, rows=list(progress.rows))

    def _exit_code(self, job: Job | None) -> int | None:
        if job is None:
            return None
        process = self._processes.get(job.pid)
        if process is not None:
            code = process.poll()
            if code is not None:
                return code
        return job.exit_code

    def _process_alive(self, run_dir: Path, job: Job | None = None, progress: Progress | None = None) -> bool:
        job = job if job is not None else Job.load(run_dir)
        if job is not None:
            return self._job_alive(job)
        progress = progress or self._progress(run_dir / PROGRESS_FILE, None)
        pid = progress.start.get("pid")
        if not isinstance(pid, int) or progress.end:
            return False
        # A run started from a terminal: make sure the pid still belongs to the engine.
        cmdline = proc_cmdline(pid)
        return self._pid_alive(pid, None) and (cmdline is None or "xling.training" in cmdline)

    def _job_alive(self, job: Job) -> bool:
        """Whether ``job``'s process is alive *and* is the run's own engine: started when ``job.json``
        says (a recycled pid is someone else) and running ``xling.training`` on this run's config."""
        if job.pid in self._processes:
            return self._pid_alive(job.pid, None)
        if proc_stat(job.pid) is None and not Path("/proc").is_dir():
            return self._pid_alive(job.pid, None)  # no /proc to prove more with (not Linux)
        return (job.proc_start is not None and self._pid_alive(job.pid, job.proc_start)
                and runs_config(job.pid, job.run_dir))

    def _pid_alive(self, pid: int, proc_start: int | None) -> bool:
        process = self._processes.get(pid)
        if process is not None:
            return process.poll() is None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass  # it exists, under another user
        stat = proc_stat(pid)
        if stat is not None:
            if stat.state == "Z":  # ended, not yet reaped by its parent
                return False
            if proc_start is not None and stat.start != proc_start:
                return False  # the pid was recycled
        return True

    def _record_end(self, job: Job, state: str, exit_code: int | None, ended: float | None) -> Job:
        """Note in ``job.json`` how a launch ended, unless a start holds the lock (it is only a cache of
        what the files say; a start may be replacing this very ``job.json``)."""
        with self._lock(blocking=False) as locked:
            current = Job.load(job.run_dir)
            if not locked or current is None or (current.pid, current.started) != (job.pid, job.started):
                return job
            job = dataclasses.replace(current, state=state, exit_code=exit_code,
                                      ended=current.ended or ended or time.time())
            job.save()
        return job

    @contextlib.contextmanager
    def _lock(self, *, blocking: bool = True) -> Iterator[bool]:
        """Serialises starts across threads and processes sharing the root; yields whether it is held."""
        import fcntl

        if not self.root.is_dir():
            yield False
            return
        with (self.root / LOCK_FILE).open("a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX if blocking else fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


# ---------------------------------------------------------------------------- reading files


def read_log_tail(path: str | Path, lines: int = LOG_TAIL_LINES) -> list[str]:
    """The last ``lines`` lines of a log (progress-bar redraws collapsed to their last state)."""
    path = Path(path)
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 256 * 1024))
            text = handle.read().decode("utf-8", errors="replace")
    except OSError:
        return []
    out = [line.rstrip("\r").split("\r")[-1].rstrip() for line in text.splitlines()]
    return [line for line in out if line][-lines:]


def _float(value: Any) -> float | None:
    return float(value) if is_number(value) else None
