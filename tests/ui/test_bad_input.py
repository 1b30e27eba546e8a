"""Bad input, one test per kind, through the whole app's HTTP API as a page or a script sends it:
each gets a clear message (or, for an over-long text, an answer with a notice), never a stack
trace, and the app answers a good request right after.

One app serves the module (tiny models, the app's own queue settings); its checkpoints folder also
holds a copy of the tiny xling checkpoint with its weights missing and one with them corrupt.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

gr = pytest.importorskip("gradio")
gradio_client = pytest.importorskip("gradio_client")

from gradio_client import handle_file  # noqa: E402

from tests.conftest import services_with  # noqa: E402
from tests.ui.conftest import captured_server_log, launch  # noqa: E402
from tests.ui.test_finetune_tab import _form  # noqa: E402

LONG = "Das ist ein ganz normaler Satz. " * 3200  # ~100,000 characters
FILL = ("tiny-xling", 5, "sequential", "auto", "")
MAP_REST = ("tiny-xling", "pca", 2, "", 0, True, None, 15, 30)


@pytest.fixture(scope="module")
def server_log():
    with captured_server_log() as log:
        yield log


@pytest.fixture(scope="module")
def client(tiny_xling_dir, tmp_path_factory, server_log):
    from xling.ui.app import build_app, launch_options

    services = services_with(tmp_path_factory.mktemp("bad-input"), dict.fromkeys(
        ("tiny-xling", "no-weights", "corrupt-weights"), tiny_xling_dir), warm_up=False)
    (services.checkpoints / "no-weights" / "model.safetensors").unlink()
    (services.checkpoints / "corrupt-weights" / "model.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{not json")
    with launch(build_app(services=services), **launch_options(services.config)) as client:
        yield client


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("bad-files")
    made = {
        "binary.txt": b"\x00\x01\x02\xff\xfe binary \x00" * 50,
        "latin1.txt": "café au lait\n".encode("latin-1"),
        "empty.txt": b"",
        "wrong-columns.csv": b"title,lang\nHallo,de\n",
        "broken.jsonl": b'{"text": "Hallo", "lang": "de"}\n{"text": broken\n{"text": "Bonjour", "lang": "fr"}\n',
    }
    for name, data in made.items():
        (folder / name).write_bytes(data)
    return {name: folder / name for name in made}


def refused(client, api_name: str, *args: Any, **kwargs: Any) -> str:
    """The message a bad request gets; the app then still answers a good one."""
    with pytest.raises(gradio_client.exceptions.AppError) as error:
        client.predict(*args, api_name=api_name, **kwargs)
    message = str(error.value)
    assert "Traceback" not in message and "Something went wrong" not in message, message
    still_serving(client)
    return message


def still_serving(client) -> None:
    verdict, *_ = client.predict("Der Hund spielt im Garten.", "tiny-xling", api_name="/detect")
    assert "German" in verdict


@pytest.mark.parametrize("text", ["", "   \n\t  "])
def test_empty_and_whitespace_text(client, text):
    assert "the text is empty" in refused(client, "/detect", text, "tiny-xling")
    assert "the text is empty" in refused(client, "/fill_mask", text, *FILL)
    assert "the query is empty" in refused(client, "/search", text, "tiny-xling", 5, [], False, None)
    assert "the source list is empty" in refused(client, "/mine", text, "Hallo", "tiny-xling", 4, "mutual", 0, None, None)


def test_a_100000_character_text_is_cut_with_a_notice_not_a_hang(client):
    started = time.monotonic()
    verdict, *_ = client.predict(LONG, "tiny-xling", api_name="/detect")
    assert "cut to its first" in verdict
    summary, *_ = client.predict(LONG + " [MASK].", *FILL, api_name="/fill_mask")
    assert "the model reads at most" in summary and "around the masks" in summary
    summary, _ = client.predict(LONG, "tiny-xling", 5, [], False, None, api_name="/search")
    assert "the query was cut to its first 2,000 of" in summary
    assert time.monotonic() - started < 120


def test_masks_none_twenty_too_many_or_only_one(client):
    assert "the text has no mask" in refused(client, "/fill_mask", "Das ist ein Satz.", *FILL)
    assert "21 masks; 20 at most" in refused(client, "/fill_mask", " ".join(["[MASK]"] * 21), *FILL)
    summary, *_ = client.predict(" ".join(["[MASK]"] * 20), *FILL, api_name="/fill_mask")
    assert "20 masks" in summary
    summary, *_ = client.predict("[MASK]", *FILL, api_name="/fill_mask")
    assert "1 mask" in summary


def test_unknown_or_unsupported_language_codes(client):
    assert "not one of this model's 7 languages" in refused(client, "/fill_mask", "Das [MASK].", "tiny-xling", 5,
                                                            "sequential", "xx", "")
    assert "has no texts in xx" in refused(client, "/search", "Hallo", "tiny-xling", 5, ["xx"], False, None)
    assert "0 sentences in xx" in refused(client, "/map", ["xx"], 100, *MAP_REST)
    # gradio checks a choice against the list before the handler runs
    assert "'xx'" in refused(client, "/start_run", **_form("bad-lang", 5, languages=["de", "xx"]), admin_token="")


@pytest.mark.parametrize(("name", "message"), [
    ("binary.txt", "looks like a binary file, not text"),
    ("latin1.txt", "not UTF-8 text"),
    ("empty.txt", "no texts found (the file is empty)"),
    ("wrong-columns.csv", "no text column (found 'title', 'lang')"),
    ("broken.jsonl", "broken.jsonl:2: not valid JSON"),
])
def test_bad_uploads(client, files, name, message):
    upload = handle_file(str(files[name]))
    assert message in refused(client, "/detect_batch", upload, "tiny-xling")
    assert message in refused(client, "/search", "Hallo", "tiny-xling", 5, [], False, upload)
    assert message in refused(client, "/map", ["de"], 100, *MAP_REST[:-3], upload, 15, 30)


def test_an_upload_over_the_size_limit(client, tmp_path):
    import httpx

    big = tmp_path / "big.txt"
    with big.open("wb") as handle:  # 60 MB, over the app's 50 MB (a 1 GB file meets the same check)
        handle.truncate(60 * 2**20)
    with big.open("rb") as handle:
        answer = httpx.post(f"{client.src}gradio_api/upload", files={"files": ("big.txt", handle)}, timeout=120)
    assert answer.status_code == 413 and "maximum allowed size" in answer.text
    still_serving(client)


def test_hub_ids_that_do_not_exist_or_are_not_masked_lms(client):
    message = refused(client, "/fill_mask", "Das [MASK].", "no-such-org/no-such-model", 5, "sequential", "auto", "")
    assert "not in the Hugging Face cache while the hub is offline" in message
    assert "no such folder" in refused(client, "/fill_mask", "Das [MASK].", "/nowhere/model", 5, "sequential", "auto", "")
    assert "not a local folder" in refused(client, "/search", "Hallo", "no-such-org/no-such-model", 5, [], False, None)


@pytest.mark.parametrize("name", ["no-weights", "corrupt-weights"])
def test_a_checkpoint_with_missing_or_corrupt_weights(client, name):
    message = refused(client, "/fill_mask", "Das [MASK].", name, 5, "sequential", "auto", "")
    assert name in message and "could not be loaded" in message


@pytest.mark.parametrize("run_name", ["../up", "a/b", "x;rm -rf", "$(id)", "run`id`"])
def test_run_names_with_paths_or_shell_characters(client, run_name):
    message = refused(client, "/start_run", **_form(run_name, 5), admin_token="")
    assert "run name" in message


@pytest.mark.parametrize(("field", "value", "message"), [
    ("lr", -0.01, "Value -0.01 is less than minimum value"), ("steps", 0, "Value 0 is less than minimum value 1"),
    ("batch_size", 0, "Value 0 is less than minimum value 1"),
])
def test_hyperparameters_out_of_range(client, field, value, message):
    """The form's number fields carry their ranges: gradio refuses an out-of-range value before the
    run is planned (the page's inputs do not even accept one)."""
    form = _form("bad-hyper", 5) | {field: value}
    assert message in refused(client, "/start_run", **form, admin_token="")


def test_the_server_log_of_this_module_holds_no_traceback(client, server_log):
    """Last in the module: every bad request above is at most a warning line in the server's log."""
    still_serving(client)
    log = server_log.text()
    assert "Traceback" not in log, log[log.index("Traceback") - 500:][:3000]
