"""Memory under hostile input: the app's RSS after a battery of hostile calls against its RSS after
the same number of ordinary ones (issue 14's target: within 300 MB).

The app is ``python app.py`` as a public deployment (``SPACE_ID`` set) on its embedded defaults, with
a checkpoints folder of its own holding the committed models (links) and one run whose
``progress.jsonl`` is 100 MB. Each round sends the same number of requests:

- ordinary: ``/detect`` of a sentence, ``/fill_mask`` of one mask, ``/detect_batch`` of a 3-line file,
  ``/run_status`` of a small run;
- hostile: 5 MB request bodies to ``/gradio_api/queue/join`` (refused unread), 10,000 emoji and lone
  surrogates to ``/detect``, a JSONL line nested 100,000 deep to ``/detect_batch``, ``/run_status`` of
  the 100 MB run.

Run: ``python -m benchmarks.hostile_memory [--quick]``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from benchmarks.app_memory import rss_mb
from benchmarks.cold_start import REPO, serve
from benchmarks.common import Result, format_results

TARGET_MB = 300


def _checkpoints(folder: Path) -> Path:
    root = folder / "checkpoints"
    root.mkdir()
    for model in (REPO / "checkpoints").iterdir():
        if model.is_dir():
            (root / model.name).symlink_to(model, target_is_directory=True)
    for name, rows in (("small", 20), ("big", 450_000)):
        run = root / name
        run.mkdir()
        shutil.copy(REPO / "configs" / "smoke.yaml", run / "config.yaml")
        (run / "job.json").write_text(json.dumps({"run_name": name, "run_dir": str(run), "pid": 1, "pgid": 1,
                                                  "command": [], "started": time.time(), "state": "finished"}))
        with (run / "progress.jsonl").open("w") as handle:
            handle.write('{"event": "start", "step": 0, "time": 1.0}\n')
            for step in range(1, rows + 1):
                handle.write(f'{{"step": {step}, "max_steps": {rows}, "loss": 1.5, "time": 1.0, "pad": "{"p" * 180}"}}\n')
    return root


def _raw_detect(url: str, body: bytes) -> None:
    import httpx

    answer = httpx.post(f"{url}/gradio_api/call/detect", content=body, headers={"content-type": "application/json"},
                        timeout=120)
    if answer.status_code == 200:
        event = answer.json()["event_id"]
        with httpx.stream("GET", f"{url}/gradio_api/call/detect/{event}", timeout=120) as stream:
            for line in stream.iter_lines():
                if line.startswith("event: ") and line[7:] in {"complete", "error"}:
                    break


def run(quick: bool = False) -> list[Result]:
    import httpx
    from gradio_client import Client, handle_file

    rounds = 3 if quick else 10
    with tempfile.TemporaryDirectory(prefix="xling-hostile-") as tmp:
        folder = Path(tmp)
        checkpoints = _checkpoints(folder)
        good = folder / "good.txt"
        good.write_text("Das ist ein Haus.\nThis is a house.\nC'est une maison.\n", encoding="utf-8")
        deep = folder / "deep.jsonl"
        deep.write_text('{"text": ' + "[" * 100_000 + "]" * 100_000 + "}\n", encoding="utf-8")
        env = {"SPACE_ID": "bench/hostile", "XLING_CHECKPOINTS": str(checkpoints), "XLING_WARM_UP": "0"}
        with serve(REPO / "app.py", env=env) as app:
            app.wait_for_page()
            client = Client(app.url, verbose=False)

            def ordinary() -> None:
                client.predict("Das ist ein kleines Haus am See.", "xling-mini", api_name="/detect")
                client.predict("Paris is the capital of [MASK].", "xling-mini", 5, "sequential", "auto", "",
                               api_name="/fill_mask")
                client.predict(handle_file(str(good)), "xling-mini", api_name="/detect_batch")
                client.predict("small", False, api_name="/run_status")

            def hostile() -> None:
                big = b'{"data": ["' + b"x" * (5 * 2**20) + b'"], "fn_index": 0, "session_hash": "s"}'
                httpx.post(f"{app.url}/gradio_api/queue/join", content=big,
                           headers={"content-type": "application/json"}, timeout=60)
                _raw_detect(app.url, ('{"data": ["' + "😀" * 10_000 + '", "xling-mini"]}').encode())
                _raw_detect(app.url, b'{"data": ["\\ud800\\udc00\\udfff x", "xling-mini"]}')
                try:
                    client.predict(handle_file(str(deep)), "xling-mini", api_name="/detect_batch")
                except Exception:  # noqa: BLE001 - refused, as it should be
                    pass
                client.predict("big", False, api_name="/run_status")

            ordinary()  # models loaded before the first reading
            for _ in range(rounds):
                ordinary()
            after_ordinary = rss_mb(app.process.pid)
            started = time.perf_counter()
            for _ in range(rounds):
                hostile()
            hostile_s = time.perf_counter() - started
            after_hostile = rss_mb(app.process.pid)
            for _ in range(rounds):
                ordinary()
            after_more = rss_mb(app.process.pid)
            log = app.log.read_text(errors="replace")
    extra = after_hostile - after_ordinary
    return [Result("hostile-memory", f"{rounds} rounds of hostile calls (5 per round)", "MB RSS added",
                   xling=round(extra, 1), baseline=round(after_ordinary, 1),
                   baseline_name="RSS after as many ordinary calls", absolute_target=TARGET_MB,
                   note=f"hostile rounds {hostile_s:.1f} s; RSS after more ordinary calls {after_more:.0f} MB; "
                        f"tracebacks in the server log: {log.count('Traceback')}")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 rounds instead of 10")
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    print(format_results(run(quick=args.quick)))


if __name__ == "__main__":
    main()
