"""Pieces every tab shares."""

from __future__ import annotations

import os
import time

from xling.ui.components import DOWNLOAD_MAX_AGE_S, download_path


def test_download_path_is_new_each_time_and_clears_old_downloads(tmp_path):
    folder = tmp_path / "mined"
    first, second = download_path(folder, "pairs"), download_path(folder, "pairs")
    assert folder.is_dir() and first != second and first.parent == folder
    assert first.name.startswith("pairs-") and first.suffix == ".csv"
    old, recent = folder / "pairs-old.csv", folder / "pairs-recent.csv"
    for path in (old, recent):
        path.write_text("x", encoding="utf-8")
    stale = time.time() - DOWNLOAD_MAX_AGE_S - 60
    os.utime(old, (stale, stale))
    download_path(folder, "pairs")
    assert not old.exists() and recent.exists()


def _counting_work(steps: list[int], n: int = 40):
    def work(step):
        for i in range(n):
            time.sleep(0.02)
            steps.append(i)
            step(i, n)
        return "done"

    return work


def test_in_steps_runs_a_job_to_its_result_reporting_each_step():
    from xling.ui.components import in_steps

    steps, reported = [], []
    runner = in_steps(_counting_work(steps), "idle", report=lambda done, total: reported.append(done), slice_s=0.1)
    idles = 0
    while True:
        try:
            assert next(runner) == "idle"
            idles += 1
        except StopIteration as stop:
            assert stop.value == "done"
            break
    assert steps == list(range(40)) and reported == list(range(40)) and idles >= 2


def test_in_steps_works_only_inside_next_and_stops_when_closed():
    from xling.ui.components import in_steps

    steps = []
    runner = in_steps(_counting_work(steps), "idle", slice_s=0.1)
    next(runner)
    paused_at = len(steps)
    time.sleep(0.4)
    assert len(steps) == paused_at < 40, "the job ran while nobody asked for the next step"
    runner.close()  # what a client that went away leads to
    time.sleep(0.3)
    assert len(steps) == paused_at


def test_in_steps_hands_the_jobs_error_to_the_handler():
    import pytest

    from xling.errors import DataError
    from xling.ui.components import in_steps

    def work(step):
        raise DataError("bad file")

    with pytest.raises(DataError, match="bad file"):
        list(in_steps(work, "idle"))


def test_in_steps_ends_a_job_nobody_advances_any_more(monkeypatch):
    from xling.ui import components

    monkeypatch.setattr(components, "ABANDONED_S", 0.3)
    steps = []
    runner = components.in_steps(_counting_work(steps), "idle", slice_s=0.1)
    next(runner)  # then never advanced, never closed
    time.sleep(1.0)
    paused_at = len(steps)
    time.sleep(0.3)
    assert len(steps) == paused_at < 40
    import threading

    assert not any(t.name == "xling-job" and t.is_alive() for t in threading.enumerate()), "the worker still waits"
    del runner
