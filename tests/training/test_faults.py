"""Faults in real training subprocesses: a kill -9 in the middle of writing a checkpoint, an
out-of-memory error mid-run, and a browser that goes away while its run trains.

Faults are injected into the child process only, without hooks in xling's code: a
``sitecustomize.py`` on the child's ``PYTHONPATH`` (Python imports it at start-up) wraps one method
when ``XLING_TEST_FAULT`` says so.
"""

from __future__ import annotations

import signal
import textwrap
import time

import pytest

from tests.training.test_jobs import _config
from tests.ui.test_finetune_tab import _start
from xling.training.jobs import JobManager
from xling.training.run_folder import CHECKPOINTS, latest_checkpoint

HOOK = textwrap.dedent('''
    import os

    _fault = os.environ.get("XLING_TEST_FAULT", "")
    if _fault:
        _kind, _, _when = _fault.partition(":")
        _count = [0]
        if _kind == "kill-in-checkpoint":  # SIGKILL once the model files of checkpoint N are written
            import signal

            from xling.training import engine

            _save_model = engine.Engine._save_model

            def _killing_save(self, folder, extra):
                _save_model(self, folder, extra)
                _count[0] += 1
                if _count[0] == int(_when):
                    os.kill(os.getpid(), signal.SIGKILL)

            engine.Engine._save_model = _killing_save
        elif _kind == "oom-at-step":  # the Nth optimiser step runs out of memory
            import torch

            _step = torch.optim.AdamW.step

            def _oom_step(self, *args, **kwargs):
                _count[0] += 1
                if _count[0] == int(_when):
                    raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (injected)")
                return _step(self, *args, **kwargs)

            torch.optim.AdamW.step = _oom_step
''')


@pytest.fixture
def fault(tmp_path, monkeypatch):
    """``fault("kill-in-checkpoint:2")`` arms a fault for the runs started after it."""
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(HOOK)
    monkeypatch.setenv("PYTHONPATH", str(hooks))

    def arm(spec: str | None) -> None:
        if spec is None:
            monkeypatch.delenv("XLING_TEST_FAULT", raising=False)
        else:
            monkeypatch.setenv("XLING_TEST_FAULT", spec)

    return arm


@pytest.fixture
def app(tmp_path, tiny_xling_dir):
    """The whole app on tiny models with a checkpoints folder of its own: ``(client, checkpoints)``."""
    pytest.importorskip("gradio")
    from tests.conftest import services_with
    from tests.ui.conftest import launch
    from xling.ui.app import build_app

    services = services_with(tmp_path, {"tiny-xling": tiny_xling_dir}, warm_up=False)
    with launch(build_app(services=services)) as client:
        yield client, services.checkpoints


def test_kill_9_while_a_checkpoint_is_written_keeps_the_previous_one_and_resume_works(tmp_path, fault):
    from xling.core.model import XlingModel

    manager = JobManager(tmp_path / "checkpoints")
    fault("kill-in-checkpoint:2")  # checkpoint 1 (step 10) completes; checkpoint 2 (step 20) is cut short
    manager.start(_config("killed", steps=30, save_every=10, log_every=1))
    status = manager.wait("killed", timeout=180)
    assert status.state == "failed" and status.exit_code == -signal.SIGKILL and status.error == "killed by SIGKILL"
    run_dir = tmp_path / "checkpoints" / "killed"
    partial = run_dir / CHECKPOINTS / "step-0000020.partial"
    assert partial.is_dir() and (partial / "model.safetensors").is_file()  # the write it died in
    previous = latest_checkpoint(run_dir)
    assert previous is not None and previous.name == "step-0000010"
    XlingModel.load(previous)  # the previous checkpoint still loads

    fault(None)
    manager.resume("killed")
    finished = manager.wait("killed", timeout=180)
    assert finished.state == "finished" and finished.step == 30 and finished.has_model
    assert not partial.exists()  # redone and renamed on the way
    XlingModel.load(run_dir)


def test_out_of_memory_mid_run_fails_the_run_with_its_log_tail_and_the_app_serves_on(app, fault):
    client, root = app
    fault("oom-at-step:5")
    _start(client, "oom", 30)
    manager = JobManager(root)
    status = manager.wait("oom", timeout=180)
    assert status.state == "failed"
    assert "out of GPU memory" in status.error and "lower the batch size" in status.error  # and what to do
    assert any(line.startswith("error: out of GPU memory") for line in status.log_tail)  # the CLI's message (exit 3)
    assert not any(line.startswith("Traceback") for line in status.log_tail)  # a message, not a stack trace
    assert 4 <= status.step < 30
    # The page watching it shows why it failed; the app answers the next request.
    _, stats, _, log, *_ = client.predict("oom", False, api_name="/run_status")
    assert "**failed**" in str(stats) and "out of GPU memory" in str(log)
    verdict, *_ = client.predict("Der Hund spielt im Garten.", "tiny-xling", api_name="/detect")
    assert "German" in verdict


def test_a_browser_that_goes_away_does_not_stop_its_run(app):
    from gradio_client import Client

    first, root = app
    _start(first, "orphan", 40)
    url = first.src
    first.close()  # the page that started it is gone
    manager = JobManager(root)
    deadline = time.time() + 180
    while manager.status("orphan").state == "running" and time.time() < deadline:
        time.sleep(0.5)
    assert manager.status("orphan").state == "finished"
    later = Client(url, verbose=False)  # someone opens the page again: the run is there, finished
    _, stats, *_ = later.predict("orphan", False, api_name="/run_status")
    assert "**finished**" in str(stats)
    assert (root / "orphan" / "model.safetensors").is_file()
