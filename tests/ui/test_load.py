"""Load, short: concurrent gradio_client users mixing /detect, /fill_mask, /search and /map against
the app (tiny models, the app's own queue settings) for a few seconds: every endpoint answers and
no request fails. The full version (50 users, the real models, latencies) is benchmarks/load_test.py."""

from __future__ import annotations

import pytest

gr = pytest.importorskip("gradio")
pytest.importorskip("gradio_client")

from benchmarks.load_test import MIX, Workload, run_load  # noqa: E402
from tests.ui.conftest import captured_server_log, launch  # noqa: E402


def test_concurrent_users_all_get_answers(tiny_services):
    from xling.ui.app import build_app

    answered = []
    with captured_server_log() as log, launch(build_app(services=tiny_services)) as client:
        out = run_load(client.src, users=12, seconds=12, work=Workload("tiny-xling", "tiny-xling", ("pca",), 60),
                       on_request=lambda endpoint, took, error: answered.append(endpoint))
    errors = [error for _, errs in out.values() for error in errs]
    assert errors == []
    assert {endpoint for endpoint, _ in MIX} == {endpoint for endpoint, (times, _) in out.items() if times}
    assert len(answered) >= 24  # 12 users kept busy, not one request each
    assert "Traceback" not in log.text()  # the server's log of the whole run
