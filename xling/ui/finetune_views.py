"""What the fine-tune tab shows of a run, as values: tables, progress bar, stats, loss curves, results.

A :class:`~xling.training.job_records.JobStatus` (and the run's ``metrics.json``) in; DataFrames,
Markdown, HTML and plotly figures out. No widgets and no events here (those are
:mod:`xling.ui.finetune_tab`'s), so each view is tested without a browser.

Example:
    >>> metrics_frame({"transfer": {"train_lang": "en", "per_lang": {"en": {"accuracy": 0.9, "n": 10}}}}).shape
    (1, 4)
"""

from __future__ import annotations

import html
import time
from pathlib import Path
from typing import Any

import pandas as pd

from xling.config import Paths
from xling.core.encoders import USEM3
from xling.core.services import Services
from xling.core.usem3_torch import USEM3_TORCH
from xling.data.corpus import default_corpus
from xling.data.languages import language_label
from xling.data.texts import load_corpus_collection
from xling.errors import DataError
from xling.training.config import TrainConfig
from xling.training.job_records import JobStatus, format_duration
from xling.training.run_folder import TrainingFigures, holds_model

RUN_HEADERS = ["run", "state", "progress", "started", "status"]
LOSS_LABELS = {"loss": "total (weighted)", "mlm": "masked LM", "lid": "language ID", "cl": "contrastive (InfoNCE)",
               "teacher": "teacher-student"}
STATE_COLOURS = {"running": "#4f46e5", "finished": "#16a34a", "stopped": "#d97706", "failed": "#dc2626",
                 "not started": "#9ca3af"}


def runs_table(runs: list[JobStatus]) -> pd.DataFrame:
    rows = []
    for status in runs:
        done = f"{status.step}/{status.max_steps}" if status.max_steps else str(status.step)
        started = time.strftime("%Y-%m-%d %H:%M", time.localtime(status.started)) if status.started else ""
        rows.append([status.run_name, status.state, done, started, status.message])
    return pd.DataFrame(rows, columns=RUN_HEADERS)


def progress_html(status: JobStatus | None) -> str:
    """A bar coloured by state, with the run's name, state and step."""
    if status is None:
        fraction, colour, left, right = 0.0, STATE_COLOURS["not started"], "no run watched", ""
    else:
        fraction = 1.0 if status.state == "finished" else status.fraction
        colour = STATE_COLOURS.get(status.state, STATE_COLOURS["not started"])
        left = f"<b>{html.escape(status.run_name)}</b> · {html.escape(status.state)}"
        of = f" of {status.max_steps}" if status.max_steps else ""
        eta = f" · about {format_duration(status.eta_s)} left" if status.running and status.eta_s is not None else ""
        right = f"step {status.step}{of} · {fraction:.0%}{eta}"
    return (
        "<div style='margin:4px 0 2px 0'>"
        "<div style='display:flex;justify-content:space-between;font-size:0.92em;margin-bottom:4px'>"
        f"<span>{left}</span><span>{right}</span></div>"
        "<div style='height:12px;border-radius:6px;background:rgba(128,128,128,0.2);overflow:hidden'>"
        f"<div style='height:100%;width:{fraction * 100:.1f}%;background:{colour};transition:width 0.5s'></div>"
        "</div></div>"
    )


def stats_markdown(status: JobStatus) -> str:
    parts = [f"**{status.state}**: {status.message}"]
    figures = []
    if status.elapsed_s is not None:
        figures.append(f"elapsed {format_duration(status.elapsed_s)}")
    if status.tokens_per_s:
        figures.append(f"{status.tokens_per_s:,.0f} tokens/s")
    if status.lr is not None:
        figures.append(f"lr {status.lr:.2e}")
    if status.gpu_mem_gb is not None:
        figures.append(f"GPU memory {status.gpu_mem_gb:.2f} GB (peak)")
    if status.losses:
        figures.append("losses: " + ", ".join(f"{LOSS_LABELS.get(k, k)} {v:.3f}" for k, v in status.losses.items()))
    if figures:
        parts.append(" · ".join(figures))
    return "  \n".join(parts)


def log_label(status: JobStatus) -> str:
    return "Why it failed: the log's last lines" if status.state == "failed" else "Log (last lines)"


def loss_figure(rows: Any, log_scale: bool, run: str = "") -> Any:
    """Loss curves per component against the step (a plotly figure)."""
    import plotly.graph_objects as go

    figure = go.Figure()
    for key, label in LOSS_LABELS.items():
        points = [(row["step"], row[key]) for row in rows if isinstance(row.get(key), (int, float))]
        if points and not (log_scale and any(value <= 0 for _, value in points)):
            figure.add_trace(go.Scatter(x=[p[0] for p in points], y=[p[1] for p in points], mode="lines",
                                        name=label, line={"width": 2.5 if key == "loss" else 1.5}))
        elif points:  # a zero or negative value has no place on a log axis
            figure.add_trace(go.Scatter(x=[p[0] for p in points], y=[max(p[1], 1e-6) for p in points],
                                        mode="lines", name=label))
    figure.update_layout(
        height=320, template="plotly_white", margin={"l": 50, "r": 10, "t": 30, "b": 40},
        xaxis={"title": "step"}, yaxis={"title": "loss", "type": "log" if log_scale else "linear"},
        legend={"orientation": "h", "y": 1.12}, uirevision=run or "losses",
    )
    if not rows:
        figure.add_annotation(text="loss curves appear once a run logs its first steps", showarrow=False,
                              xref="paper", yref="paper", x=0.5, y=0.5, font={"color": "#777777"})
    return figure


def before_model(services: Services, config: TrainConfig | None) -> str:
    """The base the run continued (its name when it lies in ``checkpoints/``), else the app's default
    encoder; for an encoder run, the encoder it extended (usem3 or a saved encoder)."""
    base = (config.init.from_checkpoint or config.init.pretrained) if config is not None else None
    if config is not None and config.task == "encoder":
        base = None if config.encoder.student == USEM3_TORCH else config.encoder.student
        if base is None:
            return USEM3
    if base:
        path = Path(base)
        return path.name if path.parent.resolve() == services.checkpoints.resolve() else base
    return services.config.encoder


def before_role(services: Services, config: TrainConfig | None, before: str) -> str:
    """What the map's left side is to the run: its starting point (the base it continued, the
    pretrained model under its heads, the encoder it extended), or only a reference model (a run
    from scratch, or another model the user picked) — so a new model's weaker map does not read as
    "training made it worse"."""
    return "starting point" if before == before_model(services, config) and has_base(config) else "reference model"


def has_base(config: TrainConfig | None) -> bool:
    return config is not None and (config.task == "encoder" or bool(config.init.from_checkpoint or config.init.pretrained))


def short_name(services: Services, name: str) -> str:
    path = Path(name)
    return path.name if path.is_absolute() and path.parent == services.checkpoints else name


def map_collection(config: TrainConfig, paths: Paths):
    folder = Path(config.data.corpus) if config.data.corpus else default_corpus(paths)
    try:
        return load_corpus_collection(folder, split="test", languages=config.data.languages or None)
    except DataError:  # a small upload may hold no test split: map what there is
        return load_corpus_collection(folder, split=None, languages=config.data.languages or None)


def results_markdown(status: JobStatus, config: TrainConfig | None, before: str) -> str:
    metrics = status.metrics or {}
    lines = [f"**{status.run_name}** finished {status.step} steps."]
    training = TrainingFigures.of(metrics)
    if training is not None:
        lines.append(f"{training.seconds:,.0f} s on {training.device} ({training.precision}), "
                     f"{training.tokens_per_s:,.0f} tokens/s.")
    headline = status.headline
    names = {"langid_mean_accuracy": "language ID", "mlm_top1": "MLM top-1", "mlm_top5": "MLM top-5",
             "retrieval_mean_p_at_1": "retrieval P@1 (→ en)", "source_accuracy": "accuracy on the training language",
             "others_mean_accuracy": "mean accuracy of the other languages", "transfer_gap": "transfer gap"}
    shown = [f"{names.get(k, k)} **{v:.3f}**" for k, v in headline.items() if isinstance(v, (int, float))]
    if shown:
        lines.append("Means: " + " · ".join(shown) + ".")
    if holds_model(status.run_dir):
        if config and config.task == "encoder":
            why = " (the encoder it extends)"
        else:
            why = " (its starting point)" if has_base(config) else " (only a reference: the run began from scratch)"
        lines.append(f"The checkpoint **{status.run_name}** is now in every tab's model picker. The map below "
                     f"compares it with **{html.escape(before)}**{why}.")
    return " ".join(lines)


def metrics_frame(metrics: dict[str, Any]) -> pd.DataFrame:
    """Per-language rows of a run's ``metrics.json`` (pretraining, adapters, zero-shot transfer or an
    encoder run, whose retrieval is shown beside its teacher's on the same pairs)."""
    baseline = (metrics.get("baseline_retrieval") or {}).get("per_group")
    if baseline is not None:
        after = (metrics.get("retrieval") or {}).get("per_group", {})
        name = metrics.get("baseline", "teacher")
        rows = []
        for key, before in sorted(baseline.items(), key=lambda item: _by_name(item[0].split("-")[0])):
            now = after.get(key, {}).get("p_at_1")
            change = round(now - before["p_at_1"], 3) if isinstance(now, (int, float)) else None
            rows.append([language_label(key.split("-")[0]), _round(before["p_at_1"]), _round(now),
                         change, before.get("n")])
        return pd.DataFrame(rows, columns=["language", f"P@1 → en, {name}", "P@1 → en, this run", "change",
                                           "test pairs"])
    transfer = metrics.get("transfer")
    if transfer:
        rows = [[language_label(lang), round(v["accuracy"], 3), v["n"],
                 "trained on" if lang == transfer["train_lang"] else ""]
                for lang, v in sorted(transfer["per_lang"].items(), key=lambda item: _by_name(item[0]))]
        return pd.DataFrame(rows, columns=["language", "accuracy", "test examples", ""])
    langid = (metrics.get("langid") or {}).get("per_lang", {})
    mlm = (metrics.get("mlm") or {}).get("per_lang", {})
    retrieval = (metrics.get("retrieval") or {}).get("per_group", {})
    adapters = ((metrics.get("adapters") or {}).get("per_lang") or {})
    columns = ["language", "language ID", "MLM top-1", "MLM top-5", "retrieval P@1 (→ en)", "test texts"]
    if adapters:
        columns += ["MLM top-5, shared", "MLM top-5, adapter"]
    rows = []
    for lang in sorted(set(langid) | set(mlm) | set(adapters), key=_by_name):
        pair = retrieval.get(f"{lang}-en")
        row = [language_label(lang), _round(langid.get(lang, {}).get("accuracy")),
               _round(mlm.get(lang, {}).get("top1")), _round(mlm.get(lang, {}).get("top5")),
               _round(pair["p_at_1"]) if pair else None,
               langid.get(lang, {}).get("n") or mlm.get(lang, {}).get("n_texts")]
        if adapters:
            scores = adapters.get(lang, {})
            row += [_round(scores.get("shared_top5")), _round(scores.get("adapter_top5"))]
        rows.append(row)
    return pd.DataFrame(rows, columns=columns)


def _by_name(code: str) -> str:
    """Sort key: languages by their names, as the tables show them."""
    return language_label(code).casefold()


def _round(value: Any) -> float | None:
    return round(float(value), 3) if isinstance(value, (int, float)) else None
