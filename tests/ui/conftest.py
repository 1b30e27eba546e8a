"""Helpers for the UI tests: build a tab in its own Blocks, serve it on a free local port and talk to
it through ``gradio_client``, read the values that come back.

Test modules import the helpers (``from tests.ui.conftest import launch, output_value``), as
``tests/training`` imports ``tests.conftest``; gradio is imported inside them, so a module can still
``pytest.importorskip("gradio")`` first.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from benchmarks.cold_start import free_port


def build_tab(create: Callable[[Any], dict[str, Any]], services: Any) -> tuple[Any, dict[str, Any]]:
    """``create(services)`` inside a fresh ``gr.Blocks``; returns ``(demo, components)``."""
    import gradio as gr

    with gr.Blocks() as demo:
        components = create(services)
    return demo, components


@contextmanager
def launch(demo: Any, **options: Any) -> Iterator[Any]:
    """Queue ``demo`` as ``app.py`` does (``queue_options``) and launch it on a free local port
    without blocking; yield a ``gradio_client.Client`` for it, and close the server afterwards.
    ``options`` go to ``launch()`` (e.g. ``**launch_options(config)``: upload limit, allowed paths).

    Example:
        >>> with launch(build_tab(create_detect_tab, services)[0]) as client:   # doctest: +SKIP
        ...     client.predict("Hallo", "tiny-xling", api_name="/detect")
    """
    from gradio_client import Client

    from xling.ui.app import queue_options

    demo.queue(**queue_options()).launch(server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True,
                                         quiet=True, **options)
    try:
        yield Client(demo.local_url, verbose=False)
    finally:
        demo.close()


@contextmanager
def launch_tab(create: Callable[[Any], dict[str, Any]], services: Any) -> Iterator[tuple[Any, dict[str, Any], Any]]:
    """:func:`build_tab` then :func:`launch`: yield ``(demo, components, client)``.

    Example:
        >>> with launch_tab(create_map_tab, services) as (demo, components, client):   # doctest: +SKIP
        ...     client.predict(["de", "fr"], 200, "tiny-xling", "pca", 2, api_name="/map")
    """
    demo, components = build_tab(create, services)
    with launch(demo) as client:
        yield demo, components, client


def output_value(output: Any) -> Any:
    """An output's value, whether the handler returned a bare value or a component update (which
    arrives as ``{"__type__": "update", "value": ..., ...}``)."""
    if isinstance(output, dict) and output.get("__type__") == "update":
        return output.get("value")
    return output


def plot_figure(output: Any) -> dict[str, Any]:
    """The plotly figure (a dict with ``data`` and ``layout``) of a ``gr.Plot`` output."""
    figure = output_value(output)["plot"]
    return json.loads(figure) if isinstance(figure, str) else figure


class ServerLog:
    """What an in-process app writes to stderr and logs at WARNING or above (see :func:`captured_server_log`)."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        with self._lock:
            self.lines.append(text)
        return len(text)

    def flush(self) -> None:
        pass

    def text(self) -> str:
        with self._lock:
            return "".join(self.lines)


@contextmanager
def captured_server_log() -> Iterator[ServerLog]:
    """Collect the server's log while the block runs: gradio prints tracebacks to ``sys.stderr``
    (as it is when they happen) and xling logs through ``logging``; both land in the yielded log."""
    log = ServerLog()
    handler = logging.StreamHandler(log)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler.setLevel(logging.WARNING)
    logging.getLogger().addHandler(handler)
    stderr, sys.stderr = sys.stderr, log
    try:
        yield log
    finally:
        sys.stderr = stderr
        logging.getLogger().removeHandler(handler)
