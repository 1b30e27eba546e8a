"""Load: concurrent gradio_client users against the real app on loopback, for a fixed time.

    OMP_NUM_THREADS=1 python -m benchmarks.load_test [--quick] [--users 50] [--seconds 120] [--markdown]

``python app.py`` runs in its own process on its embedded defaults (queue: ``max_size`` 64, each
event's ``concurrency_limit`` as the tabs set it) with a fresh cache, served as
:mod:`benchmarks.cold_start` serves it. First each endpoint is timed
alone, one request at a time (the baseline, after one warm-up call each, which also encodes the demo
corpus and compiles UMAP); then ``--users`` threads, each with its own ``gradio_client.Client``,
send requests back to back for ``--seconds``, each request drawn (fixed seed) from the mix
``/detect`` 40 %, ``/fill_mask`` 30 %, ``/search`` 20 %, ``/map`` 10 %. Reported per endpoint:
requests, errors, p50 / p95 latency under load and the ratio to the same endpoint alone; and the
app's resident memory before, half-way and after (bounded: the second half must not keep adding
what the first did; the queue refuses requests past 64 waiting, which count as errors here).
Target (issue 8): zero errors.

Only 127.0.0.1 is contacted; every loop stops by itself after ``--seconds`` (plus the requests in
flight, each bounded by ``REQUEST_TIMEOUT``).
"""

from __future__ import annotations

import argparse
import random
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, TimeoutError as FutureTimeout
from dataclasses import dataclass
from pathlib import Path

from benchmarks import common

REPO = Path(__file__).resolve().parent.parent
#: ``(endpoint, share of requests)``.
MIX = (("/detect", 0.4), ("/fill_mask", 0.3), ("/search", 0.2), ("/map", 0.1))
#: Seconds one request may take before it counts as an error.
REQUEST_TIMEOUT = 300
DETECT_TEXTS = ["Der Zug nach Berlin hat heute Verspätung.", "Le chat dort sur le canapé.",
                "Я пью кофе каждое утро.", "私は毎朝コーヒーを飲みます。", "The file could not be opened."]
FILL_TEXTS = ["Paris is the capital of [MASK].", "Der Hund [MASK] im Garten.", "Le chat dort sur le [MASK]."]
QUERIES = ["Open the file", "Where is the train station?", "Speichern unter", "Не удалось открыть файл"]


def say(message: str) -> None:
    print(f"load_test: {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Workload:
    """What the requests ask for: the models, and the map's projections and size."""

    masked_lm: str = "xling-mini"
    encoder: str = "xling-encoder"
    map_methods: tuple[str, ...] = ("pca", "umap")
    map_texts: int = 300


def request(client, endpoint: str, rng: random.Random, work: Workload = Workload()):
    """One request to ``endpoint`` with inputs a person might give."""
    if endpoint == "/detect":
        return client.predict(rng.choice(DETECT_TEXTS), work.masked_lm, api_name="/detect")
    if endpoint == "/fill_mask":
        return client.predict(rng.choice(FILL_TEXTS), work.masked_lm, 5, "sequential", "auto", "",
                              api_name="/fill_mask")
    if endpoint == "/search":
        return client.predict(rng.choice(QUERIES), work.encoder, 10, [], False, None, api_name="/search")
    return client.predict(["en", "de", "fr", "es"], work.map_texts, work.encoder, rng.choice(work.map_methods), 2,
                          api_name="/map")


def run_load(url: str, users: int, seconds: float, work: Workload = Workload(), seed: int = 0,
             on_request: Callable[[str, float, str | None], None] | None = None
             ) -> dict[str, tuple[list[float], list[str]]]:
    """``users`` threads, each its own client, requests back to back for ``seconds``.

    Returns ``{endpoint: (seconds per successful request, error messages)}``.
    """
    from gradio_client import Client

    endpoints, weights = zip(*MIX)
    out: dict[str, tuple[list[float], list[str]]] = {name: ([], []) for name in endpoints}
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def user(number: int) -> None:
        rng = random.Random(seed * 1000 + number)
        try:
            client = Client(url, verbose=False)
        except Exception as exc:  # the connection itself failed: one error for this user
            with lock:
                out["/detect"][1].append(f"user {number} could not connect: {exc}")
            return
        single = ThreadPoolExecutor(1)  # runs the request, so a hung one can be given up on
        try:
            while time.monotonic() < stop_at:
                endpoint = rng.choices(endpoints, weights)[0]
                start = time.perf_counter()
                error = None
                try:
                    single.submit(request, client, endpoint, rng, work).result(timeout=REQUEST_TIMEOUT)
                except FutureTimeout:
                    error = f"no answer in {REQUEST_TIMEOUT} s"
                except Exception as exc:  # any failure is what this test counts
                    error = f"{type(exc).__name__}: {str(exc)[:200]}"
                if error:  # when, in the run, and which user: an error at the very end is not one mid-run
                    error += f" (user {number}, {seconds - (stop_at - time.monotonic()):.1f} s in)"
                took = time.perf_counter() - start
                with lock:
                    (out[endpoint][1].append(error) if error else out[endpoint][0].append(took))
                if on_request:
                    on_request(endpoint, took, error)
        finally:
            single.shutdown(wait=False, cancel_futures=True)

    threads = [threading.Thread(target=user, args=(i,), daemon=True) for i in range(users)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(seconds + REQUEST_TIMEOUT + 60)
    return out


def alone(url: str, repeats: int) -> dict[str, list[float]]:
    """Each endpoint one request at a time: a warm-up call, then ``repeats`` timed ones."""
    from gradio_client import Client

    client = Client(url, verbose=False)
    rng = random.Random(1)
    times: dict[str, list[float]] = {}
    for endpoint, _ in MIX:
        say(f"{endpoint}: warm-up (the first search encodes the demo corpus)")
        request(client, endpoint, rng)
        times[endpoint] = common.timed(lambda endpoint=endpoint: request(client, endpoint, rng), repeats, warmup=0)
    return times


def run(quick: bool, users: int | None = None, seconds: float | None = None) -> list[common.Result]:
    common.one_thread()
    from benchmarks.app_memory import rss_mb
    from benchmarks.cold_start import serve

    users = users or (20 if quick else 50)
    seconds = seconds or (45 if quick else 120)
    results: list[common.Result] = []
    with serve(REPO / "app.py", env={"SPACE_ID": None}) as app:
        app.wait_for_page()
        url = app.url + "/"
        base = alone(url, 3 if quick else 5)
        before = rss_mb(app.process.pid)
        # Two halves: memory that kept growing in the second half would not be bounded.
        say(f"{users} users for {seconds:.0f} s, in two halves")
        first = run_load(url, users, seconds / 2)
        middle = rss_mb(app.process.pid)
        second = run_load(url, users, seconds / 2, seed=1)
        after = rss_mb(app.process.pid)
    loaded = {name: (first[name][0] + second[name][0], first[name][1] + second[name][1]) for name in first}
    total_errors = 0
    for endpoint, _ in MIX:
        times, errors = loaded[endpoint]
        total_errors += len(errors)
        base_p50 = common.median(base[endpoint]) * 1e3
        note = f"{len(times)} answered, {len(errors)} errors" + (f" (first: {errors[0]})" if errors else "")
        if times:
            for q in (50, 95):
                results.append(common.Result("load", f"{users} users, {endpoint}", f"ms / request (p{q})",
                                             common.percentile(times, q) * 1e3, base_p50, "the same, alone (p50)",
                                             lower_is_better=True, note=note))
        results.append(common.Result("load", f"{users} users, {endpoint}", "errors", len(errors),
                                     lower_is_better=True, absolute_target=0, note=note))
    results.append(common.Result("load", f"{users} users, all endpoints", "errors", total_errors,
                                 lower_is_better=True, absolute_target=0,
                                 note=f"{sum(len(t) for t, _ in loaded.values())} requests in {seconds:.0f} s"))
    for label, value in ((f"after {seconds / 2:.0f} s", middle), (f"after {seconds:.0f} s", after)):
        results.append(common.Result("load", f"{users} users", f"app RSS MB {label}", value, before,
                                     "before the load", lower_is_better=True,
                                     note="queue max_size 64; per-event concurrency limits as set by the tabs"))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--users", type=int)
    parser.add_argument("--seconds", type=float)
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    common.one_thread()
    print(common.format_results(run(args.quick, args.users, args.seconds), markdown=args.markdown))


if __name__ == "__main__":
    main()
