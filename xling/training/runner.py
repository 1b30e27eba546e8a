"""The training entry point: one :func:`train` for the CLI (``python -m xling.training``) and the UI.

:func:`train` picks the engine of the config's task (:class:`~xling.training.engine.Engine`, or
:class:`~xling.training.encoder_run.EncoderRun` for ``task: encoder``; zero-shot transfer trains a
classifier here). A run lives in its folder (``checkpoints/<run>/``, laid out by
:mod:`xling.training.run_folder`): ``config.yaml``, ``progress.jsonl`` (the only thing the UI
reads), ``checkpoints/step-NNNNNNN/`` (written atomically: a ``.partial`` folder, then a rename; the
last ``keep_last`` kept), ``metrics.json`` at the end, and the final model itself at the top of the
folder, so the run folder loads like any model. Starting a run whose folder holds a checkpoint
resumes from the last one. A stop request (SIGTERM/SIGINT through
:class:`~xling.training.engine.RunControl`, or a ``STOP`` file in the run folder) saves a checkpoint
and ends the run cleanly.

``train(TrainConfig.from_file("configs/smoke.yaml"))`` runs the smoke config to the end; its result's
``state`` is then ``'finished'`` and ``result.run_dir`` loads as a model.
"""

from __future__ import annotations

import os
import traceback
from collections.abc import Sequence
from pathlib import Path

from xling.config import Paths
from xling.training.callbacks import Callback, ProgressWriter
from xling.training.config import TrainConfig
from xling.training.data import resolve_corpus
from xling.training.encoder_run import EncoderRun
from xling.training.engine import Engine, RunControl, RunResult, seed_everything
from xling.training.run_folder import PROGRESS_FILE, STOP_FILE, write_config, write_metrics

#: The engine of each task that trains a network (``zero_shot`` trains a classifier: :func:`_run_transfer`).
ENGINES: dict[str, type[Engine]] = {"pretrain": Engine, "encoder": EncoderRun}


def train(config: TrainConfig, callbacks: Sequence[Callback] = (), control: RunControl | None = None, *,
          paths: Paths) -> RunResult:
    """Run (or resume) a training run described by ``config``; see the module docstring.

    ``paths`` gives the checkpoints folder (a config without ``output_dir`` runs in
    ``<checkpoints>/<run_name>``) and the default corpus.
    """
    run_dir = config.run_dir_in(paths.checkpoints)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / STOP_FILE).unlink(missing_ok=True)
    write_config(run_dir, config)
    callbacks = [ProgressWriter(run_dir / PROGRESS_FILE), *callbacks]
    control = control or RunControl()
    try:
        if config.task == "zero_shot":
            return _run_transfer(config, run_dir, callbacks, paths)
        return ENGINES.get(config.task, Engine)(config, run_dir, callbacks, control, paths).run()
    except BaseException as exc:
        tail = traceback.format_exc().strip().splitlines()[-12:]
        error = out_of_memory_message(exc) or f"{type(exc).__name__}: {exc}"
        for callback in callbacks:
            callback.on_end({"event": "failed", "error": error, "traceback": tail})
        raise


def out_of_memory_message(exc: BaseException) -> str | None:
    """What a person reads when a run ran out of memory (CUDA or host); ``None`` for other errors."""
    if not isinstance(exc, MemoryError) and type(exc).__name__ != "OutOfMemoryError":
        return None
    where = "GPU" if "CUDA" in str(exc) or "cuda" in str(exc) else "host"
    detail = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
    return (f"out of {where} memory ({detail}): lower the batch size, the model size or the texts' "
            "length, then resume the run from its last checkpoint")


def _run_transfer(config: TrainConfig, run_dir: Path, callbacks: Sequence[Callback], paths: Paths) -> RunResult:
    """Objective 6: zero-shot transfer of a classifier trained on one language."""
    from xling.core.encoders import load_encoder
    from xling.data.corpus import load_task
    from xling.training.transfer import zero_shot_transfer

    settings = config.transfer
    seed_everything(config.train.seed)
    corpus = resolve_corpus(config.data.corpus, paths)
    rows = load_task(corpus, settings.task)
    encoder_name = settings.encoder or config.init.from_checkpoint
    encoder = load_encoder(encoder_name, paths)
    info = {"run_name": config.run_name, "task": "zero_shot", "step": 0, "max_steps": settings.epochs,
            "encoder": encoder_name, "corpus": str(corpus), "pid": os.getpid()}
    for callback in callbacks:
        callback.on_start(info)

    def on_epoch(epoch: int, loss: float) -> None:
        if epoch % max(1, config.train.log_every) == 0 or epoch == settings.epochs:
            for callback in callbacks:
                callback.on_log({"step": epoch, "max_steps": settings.epochs, "loss": round(loss, 5)})

    report = zero_shot_transfer(encoder, rows, settings.train_lang, task=settings.task, epochs=settings.epochs,
                                lr=settings.lr, seed=config.train.seed, max_train=settings.max_train, on_epoch=on_epoch)
    metrics = {"transfer": report.to_dict(), "encoder": encoder_name}
    write_metrics(run_dir, metrics)
    for callback in callbacks:
        callback.on_metrics({"source_accuracy": report.source_accuracy, "others_mean_accuracy": report.others_mean_accuracy,
                             "transfer_gap": report.transfer_gap})
        callback.on_end({"event": "finished", "step": settings.epochs})
    return RunResult("finished", settings.epochs, run_dir, metrics)


