"""Job control with real subprocesses: the smoke preset on the demo corpus, a few dozen steps.

One run (``life``) goes through a whole life in a module-scoped fixture: start, a refused second
start, progress while running, stop mid-way, resume, finish. The tests then check what was seen.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from xling.config import REPO_ROOT
from xling.training import jobs, processes, run_folder
from xling.training.config import TrainConfig
from xling.training.job_records import Job, JobError, JobStatus, validate_run_name
from xling.training.jobs import JobManager

SMOKE = REPO_ROOT / "configs" / "smoke.yaml"
STEPS = 60  # ~45 ms a step on one CPU thread: the run stays up long enough to be stopped


def _config(name: str, **train) -> TrainConfig:
    values = TrainConfig.from_file(SMOKE).to_dict()
    values["run_name"] = name
    values["data"].update(corpus=str(REPO_ROOT / "demo" / "corpus"), max_texts_per_lang=300, eval_texts_per_lang=20)
    values["train"].update(train)
    return TrainConfig.from_dict(values)


def _wait(manager: JobManager, name: str, until: Callable[[JobStatus], bool], timeout: float = 120) -> JobStatus:
    deadline = time.time() + timeout
    while True:
        status = manager.status(name)
        if until(status):
            return status
        if time.time() > deadline:
            tail = "\n".join(jobs.read_log_tail(status.run_dir / "log.txt"))
            raise AssertionError(f"{name}: {status.message}\n{tail}")
        time.sleep(0.1)


@dataclass
class Life:
    root: Path
    first: Job
    refused: str
    refused_after_restart: str
    running: JobStatus
    reattached_running: JobStatus
    stopped: JobStatus
    group_left: list[int]
    group_signal_error: type[BaseException] | None
    second: Job
    finished: JobStatus


@pytest.fixture(scope="module")
def life(tmp_path_factory) -> Life:
    root = tmp_path_factory.mktemp("jobs") / "checkpoints"
    manager = JobManager(root, workdir=REPO_ROOT)
    first = manager.start(_config("life", steps=STEPS, log_every=1, save_every=0))
    with pytest.raises(JobError) as refused:
        manager.start(_config("other", steps=5))
    with pytest.raises(JobError) as refused_after_restart:
        JobManager(root).start(_config("other", steps=5))
    running = _wait(manager, "life", lambda s: s.state != "running" or s.step >= 3)
    reattached = JobManager(root).status("life")
    stopped = manager.stop("life", timeout=60)
    try:
        os.killpg(first.pgid, 0)
        group_signal_error = None
    except ProcessLookupError as exc:
        group_signal_error = type(exc)
    group_left = processes.group_members(first.pgid)
    second = manager.resume("life")
    finished = manager.wait("life", timeout=120)
    return Life(root, first, str(refused.value), str(refused_after_restart.value), running, reattached, stopped,
                group_left, group_signal_error, second, finished)


def test_start_launches_the_cli_in_its_own_process_group(life):
    job = life.first
    assert job.pgid == job.pid and job.state == "running" and not job.resumed
    assert list(job.command) == [sys.executable, "-m", "xling.training", "--config",
                                 str(life.root / "life" / "config.yaml"), "--no-progress-bar"]
    written = TrainConfig.from_file(life.root / "life" / "config.yaml")
    assert written.run_dir_in(life.root) == life.root / "life" and written.train.steps == STEPS
    on_disk = json.loads((life.root / "life" / "job.json").read_text())
    assert on_disk["pgid"] == on_disk["pid"] and on_disk["command_line"].endswith("--no-progress-bar")


def test_progress_arrives_while_running(life):
    status = life.running
    assert status.state == "running" and 3 <= status.step < STEPS and status.max_steps == STEPS
    assert {"loss", "mlm", "lid", "cl"} <= set(status.losses)
    assert status.lr and status.tokens_per_s and status.eta_s is not None and status.elapsed_s > 0
    assert [row["step"] for row in status.rows][:3] == [1, 2, 3]
    assert status.message.startswith("running: step")
    assert status.gpu_mem_gb is None  # CPU run: the rows carry no GPU memory
    # A manager made after an "app restart" sees the same live run from the files alone.
    assert life.reattached_running.state == "running" and life.reattached_running.pid == life.first.pid


def test_a_second_start_is_refused_while_one_runs(life):
    for message in (life.refused, life.refused_after_restart):
        assert "'life'" in message and "one training run at a time" in message


def test_stop_saves_and_leaves_no_process_of_the_group(life):
    stopped = life.stopped
    assert stopped.state == "stopped" and stopped.exit_code == 0
    assert 3 <= stopped.step < STEPS and stopped.checkpoint_step == stopped.step
    assert f"stopped at step {stopped.step} of {STEPS}" in stopped.message and stopped.can_resume
    assert life.group_left == [] and life.group_signal_error is ProcessLookupError
    assert not (life.root / "life" / "STOP").exists()


def test_resume_finishes_at_the_full_step_count(life):
    assert life.second.resumed and life.second.pid != life.first.pid
    done = life.finished
    assert done.state == "finished" and done.step == STEPS and done.exit_code == 0 and not done.alive, done.message
    assert [row["step"] for row in done.rows] == list(range(1, STEPS + 1))  # one curve across both launches
    assert {"langid", "mlm", "retrieval", "training"} <= set(done.metrics)
    assert 0 <= done.headline["langid_mean_accuracy"] <= 1
    assert done.has_model and (done.run_dir / "xling.json").is_file() and done.log_tail == ()
    log = (done.run_dir / "log.txt").read_text()
    assert "=== start" in log and "=== resume" in log and f"finished at step {STEPS}" in log


def test_a_finished_run_is_not_started_over(life):
    manager = JobManager(life.root)
    with pytest.raises(JobError, match="already finished"):
        manager.start(_config("life", steps=STEPS))
    with pytest.raises(JobError, match=f"already finished all {STEPS} steps"):
        manager.resume("life")


def test_a_fresh_manager_lists_the_runs_newest_first(life):
    older = life.root / "older"
    older.mkdir()
    (older / "config.yaml").write_text(_config("older").to_yaml())
    os.utime(older / "config.yaml", (1_000_000, 1_000_000))
    (life.root / "not-a-run").mkdir()  # no config.yaml: not listed
    runs = JobManager(life.root).list_runs()
    assert [(s.run_name, s.state) for s in runs] == [("life", "finished"), ("older", "not started")]
    again = runs[0]
    assert (again.step, again.rows, again.metrics, again.exit_code) == (
        life.finished.step, life.finished.rows, life.finished.metrics, 0)
    assert JobManager(life.root).running() is None


def test_a_run_with_bad_data_fails_with_its_log_tail(tmp_path):
    empty = tmp_path / "empty-corpus"
    empty.mkdir()
    values = _config("bad-data", steps=5).to_dict()
    values["data"]["corpus"] = str(empty)
    manager = JobManager(tmp_path / "checkpoints")
    manager.start(TrainConfig.from_dict(values))
    status = manager.wait("bad-data", timeout=60)
    assert status.state == "failed" and status.exit_code == 2
    assert "not a corpus folder" in status.error and "exit code 2" in status.message
    assert any("not a corpus folder" in line for line in status.log_tail) and len(status.log_tail) <= 30
    assert JobManager(tmp_path / "checkpoints").status("bad-data").state == "failed"  # re-attached: same verdict
    # Nothing was saved, so the same name may start again (e.g. with the data fixed).
    assert status.checkpoint is None and not status.has_model


def test_a_crash_without_a_last_event_is_failed_with_the_signal(tmp_path):
    """A process killed outright (out of memory, kill -9) never writes its last event."""
    fake_python = tmp_path / "python"
    fake_python.write_text("#!/bin/sh\necho 'loading a model far too big'\nkill -9 $$\n")
    fake_python.chmod(0o755)
    manager = JobManager(tmp_path / "checkpoints", python=str(fake_python))
    manager.start(_config("crash", steps=5))
    status = manager.wait("crash", timeout=30)
    assert status.state == "failed" and status.exit_code == -signal.SIGKILL
    assert status.error == "killed by SIGKILL" and "loading a model far too big" in status.log_tail
    assert json.loads((tmp_path / "checkpoints" / "crash" / "job.json").read_text())["exit_code"] == -9


def _adopt(root: Path, name: str, script: str) -> tuple[subprocess.Popen, Job]:
    """A process group that a manager in an earlier app process started: only job.json tells of it."""
    run_dir = root / name
    run_dir.mkdir(parents=True)
    (run_dir / "config.yaml").write_text(_config(name).to_yaml())
    # The engine's arguments after the script ($0, $1, ...): its command line names the run's config.
    command = ("sh", "-c", script, "xling.training", "--config", str(run_dir / "config.yaml"))
    process = subprocess.Popen(command, start_new_session=True)
    job = Job(run_name=name, run_dir=run_dir, pid=process.pid, pgid=process.pid, command=command,
              started=time.time(), proc_start=processes.proc_stat(process.pid).start)
    job.save()
    return process, job


def test_stop_kills_a_group_that_ignores_stop_and_sigterm(tmp_path):
    process, job = _adopt(tmp_path, "stubborn", "trap '' TERM; sleep 60 & sleep 60 & wait")
    try:
        manager = JobManager(tmp_path)
        time.sleep(0.2)  # let sh start its children
        assert len(processes.group_members(job.pgid)) == 3 and manager.status("stubborn").state == "running"
        with pytest.raises(JobError, match="'stubborn'"):
            manager.start(_config("next", steps=5))
        started = time.time()
        status = manager.stop("stubborn", timeout=0.5, grace=0.5)
        assert time.time() - started < 10
        assert processes.group_members(job.pgid) == []
        assert status.state == "stopped" and "no checkpoint yet" in status.message
    finally:
        process.kill()
        process.wait()


def test_a_process_that_died_is_failed_after_a_restart(tmp_path):
    process, job = _adopt(tmp_path, "gone", "while :; do sleep 0.1; done")
    try:
        assert JobManager(tmp_path).status("gone").state == "running"
        process.send_signal(signal.SIGKILL)
        time.sleep(0.2)  # a zombie until reaped: still not alive
        status = JobManager(tmp_path).status("gone")
        assert status.state == "failed" and status.exit_code is None  # not its parent: no exit code to read
        assert "without a final event" in status.error
        assert json.loads((job.run_dir / "job.json").read_text())["state"] == "failed"
    finally:
        process.kill()
        process.wait()


@pytest.mark.parametrize("proc_start", ["none", "real"])
def test_a_job_file_naming_another_process_is_not_trusted(tmp_path, proc_start):
    """job.json is a file anyone who can write the folder can forge: a live pid it names counts only
    when its start time and command line prove it is the run's engine; it is never signalled."""
    other = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        run_dir = tmp_path / "forged"
        run_dir.mkdir()
        (run_dir / "config.yaml").write_text(_config("forged").to_yaml())
        start = processes.proc_stat(other.pid).start if proc_start == "real" else None
        Job(run_name="forged", run_dir=run_dir, pid=other.pid, pgid=other.pid, command=("sleep", "60"),
            started=time.time(), proc_start=start).save()
        manager = JobManager(tmp_path)
        assert manager.status("forged").state != "running" and manager.running() is None
        manager.stop("forged", timeout=0.5, grace=0.5)
        time.sleep(0.2)
        assert other.poll() is None  # not signalled
        job = manager.start(_config("next", steps=2))  # not blocked by it
        assert manager.wait("next", timeout=120).state == "finished", job
    finally:
        other.kill()
        other.wait()


def test_folders_no_run_created_are_never_started_resumed_or_stopped_into(tmp_path):
    """A shipped model (config.yaml and progress.jsonl, but no job.json) and a plain file of the
    checkpoints folder: every write is refused with a message and the folder is unchanged."""
    shipped = tmp_path / "xling-encoder"
    shipped.mkdir()
    (shipped / "config.yaml").write_text(_config("xling-encoder").to_yaml())
    (shipped / "progress.jsonl").write_text('{"event": "start", "step": 0}\n{"event": "finished", "step": 8000}\n')
    (tmp_path / "README.md").write_text("# checkpoints\n")
    before = {p.name: p.read_bytes() for p in shipped.iterdir()}
    manager = JobManager(tmp_path)
    with pytest.raises(JobError, match="no run of this app created"):
        manager.resume("xling-encoder", steps=8001)
    with pytest.raises(JobError, match="no run of this app created"):
        manager.start(_config("xling-encoder", steps=5))
    with pytest.raises(JobError, match="not a run of this app"):
        manager.request_stop("xling-encoder")
    with pytest.raises(JobError, match="is a file of the checkpoints folder"):
        manager.start(_config("README.md", steps=5))
    assert {p.name: p.read_bytes() for p in shipped.iterdir()} == before


def test_a_huge_progress_file_is_read_once_in_bounded_memory(tmp_path):
    """A 100 MB progress.jsonl: the first status reads it in chunks, keeps at most MAX_PROGRESS_ROWS
    rows, and later polls read only what was appended."""
    run_dir = tmp_path / "big"
    run_dir.mkdir()
    (run_dir / "config.yaml").write_text(_config("big", steps=10**7).to_yaml())
    row = '{"step": %d, "max_steps": 10000000, "loss": 1.5, "time": 1.0, "padding": "%s"}\n'
    with (run_dir / "progress.jsonl").open("w") as handle:
        handle.write('{"event": "start", "step": 0, "time": 1.0}\n')
        handle.write("x" * (2 * run_folder.MAX_PROGRESS_LINE) + "\n")  # an over-long line: skipped
        for step in range(1, 400_001):
            handle.write(row % (step, "p" * 180))
    assert (run_dir / "progress.jsonl").stat().st_size > 90 * 2**20
    manager = JobManager(tmp_path)
    status = manager.status("big")
    assert status.step == 400_000 and len(status.rows) <= run_folder.MAX_PROGRESS_ROWS
    assert status.rows[-1]["step"] == 400_000 and status.rows[0]["step"] == 1
    with (run_dir / "progress.jsonl").open("a") as handle:
        handle.write(row % (400_001, ""))
    started = time.perf_counter()
    assert manager.status("big").step == 400_001
    assert time.perf_counter() - started < 0.5  # the appended line only, not 100 MB again


def test_resuming_with_more_steps_logs_in_proportion(tmp_path):
    from xling.training.config import log_every_for

    manager = JobManager(tmp_path)
    manager.start(_config("short", steps=4, log_every=1))
    assert manager.wait("short", timeout=120).state == "finished"
    manager.resume("short", steps=400)
    config = run_folder.read_config(tmp_path / "short")
    manager.stop("short")
    assert config.train.steps == 400 and config.train.log_every == log_every_for(400) == 2


@pytest.mark.parametrize("name", ["", "a/b", "../up", "a..b", "x;rm -rf", "$(id)", "a b", "é", "-rf", ".hidden",
                                  "x" * 65, "run`id`", "a\\b"])
def test_bad_run_names_are_refused(name, tmp_path):
    with pytest.raises(JobError, match="run name"):
        validate_run_name(name)
    with pytest.raises(JobError, match="run name"):
        JobManager(tmp_path).status(name)


def test_good_run_names_pass():
    for name in ("smoke", "smoke-2", "mlm_lid.v3", "A1", "x" * 64):
        assert validate_run_name(name) == name


def test_preview_command(tmp_path):
    manager = JobManager(tmp_path / "my runs", python="python")
    config = _config("p1", device="cpu")
    assert manager.preview(config) == (f"python -m xling.training --config '{tmp_path}/my runs/p1/config.yaml' "
                                       "--no-progress-bar")
    assert jobs.launch_processes(config) == 1
    assert jobs.preview_command("c.yaml", processes=4, python="py") == [
        "py", "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "4",
        "-m", "xling.training", "--config", "c.yaml", "--no-progress-bar"]
    assert jobs.preview_command_line("c.yaml", processes=1, python="py") == (
        "py -m xling.training --config c.yaml --no-progress-bar")


def test_job_control_and_the_run_folder_import_no_torch():
    code = "import sys, xling.training.jobs, xling.training.run_folder; print(sorted({'torch', 'gradio'} & set(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT, timeout=60)
    assert done.stdout.strip() == "[]", done.stderr


def test_asking_about_runs_that_do_not_exist_keeps_nothing(tmp_path):
    """A stranger may ask /run_status about any valid name: only runs with a progress file are
    remembered by the manager's incremental readers."""
    manager = JobManager(tmp_path)
    for i in range(200):
        assert manager.status(f"nothing-{i}").state == "not started"
    assert manager._readers == {}
