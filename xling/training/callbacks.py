"""Callbacks observe a run; they never change it (a stop goes through the run's control flags).

:class:`ProgressWriter` appends one JSON object a line to ``progress.jsonl``: the only channel
the UI reads. Kinds of line: ``{"event": "start", ...}``, a log line per ``log_every`` steps
(``step``, each loss component, ``lr``, ``tokens_per_s``, ``eta_s``), ``{"event": "checkpoint"}``,
``{"event": "metrics"}``, and one closing ``{"event": "finished" | "stopped" | "failed"}``.

Example:
    >>> import tempfile
    >>> writer = ProgressWriter(Path(tempfile.mkdtemp()) / "progress.jsonl")
    >>> writer.on_checkpoint({"step": 10})
    >>> json.loads(writer.path.read_text())["event"]
    'checkpoint'
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any


class Callback:
    """Hooks a run calls; each gets plain dicts (JSON-able)."""

    def on_start(self, info: dict[str, Any]) -> None: ...
    def on_log(self, logs: dict[str, Any]) -> None: ...
    def on_checkpoint(self, info: dict[str, Any]) -> None: ...
    def on_metrics(self, metrics: dict[str, Any]) -> None: ...
    def on_end(self, info: dict[str, Any]) -> None: ...


class ProgressWriter(Callback):
    """Appends events to ``progress.jsonl``, flushed per line so a reader sees them at once."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def _write(self, record: dict[str, Any]) -> None:
        record = {"time": round(time.time(), 3), **record}
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")

    def on_start(self, info):
        self._write({"event": "start", **info})

    def on_log(self, logs):
        self._write(logs)

    def on_checkpoint(self, info):
        self._write({"event": "checkpoint", **info})

    def on_metrics(self, metrics):
        self._write({"event": "metrics", **metrics})

    def on_end(self, info):
        self._write(info)


class TqdmProgress(Callback):
    """A terminal progress bar (stderr), with the latest losses as its postfix."""

    def __init__(self):
        self._bar = None

    def on_start(self, info):
        from tqdm.auto import tqdm

        self._bar = tqdm(total=info["max_steps"], initial=info.get("step", 0), desc=info.get("run_name"), unit="step")

    def on_log(self, logs):
        if self._bar is not None:
            self._bar.update(logs["step"] - self._bar.n)
            self._bar.set_postfix({k: logs[k] for k in ("loss", "mlm", "lid", "cl", "teacher") if k in logs})

    def on_end(self, info):
        if self._bar is not None:
            self._bar.close()
