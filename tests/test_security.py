"""Security: what xling loads, what its server hands out, and what it never shows.

- every model or tokenizer load passes ``trust_remote_code=False`` and asks for safetensors, every
  ``torch.load`` has ``weights_only=True``, every ``np.load`` ``allow_pickle=False``, nothing imports
  ``pickle``, hub downloads fetch only weights/config/tokenizer files (read from the source: a new
  call site that forgets one fails here);
- a public deployment refuses model names written as paths; hub ids are checked before any load;
- the server hands out no file outside its own folders, refuses an upload over the size limit or of
  another type than .txt, .csv, .tsv, .jsonl, and refuses a file path a client makes up instead of
  uploading;
- the admin token never reaches the page, a log or a run folder.
"""

from __future__ import annotations

import ast
import csv
import json
import urllib.error
import urllib.request
from dataclasses import replace
from pathlib import Path

import pytest

from xling.config import REPO_ROOT, AppConfig, Paths
from xling.errors import ModelLoadError

SOURCES = sorted((REPO_ROOT / "xling").rglob("*.py")) + [REPO_ROOT / "app.py"]


def _calls(name: str):
    """``(file, line, call)`` for every call of a function or method called ``name`` in xling."""
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call):
                func = node.func
                called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
                if called == name:
                    yield path.relative_to(REPO_ROOT), node.lineno, node


def _keyword(call: ast.Call, name: str):
    for keyword in call.keywords:
        if keyword.arg == name:
            return keyword.value.value if isinstance(keyword.value, ast.Constant) else keyword.value
    return None


def test_models_and_tokenizers_load_without_remote_code():
    sites = [(f, line, call) for f, line, call in _calls("from_pretrained")
             if not (isinstance(call.func, ast.Attribute) and isinstance(call.func.value, ast.Attribute)
                     and call.func.value.attr == "Embedding")]  # nn.Embedding.from_pretrained takes a tensor
    sites += [(f, line, call) for f, line, call in _calls("SentenceTransformer") if call.args]
    assert len(sites) >= 5
    bad = [f"{f}:{line}" for f, line, call in sites if _keyword(call, "trust_remote_code") is not False]
    assert bad == [], f"loads without trust_remote_code=False: {bad}"


def test_weights_load_as_safetensors_and_never_unpickle():
    models = [(f, line, call) for f, line, call in _calls("from_pretrained")
              if isinstance(call.func, ast.Attribute) and getattr(call.func.value, "id", "").startswith("AutoModel")]
    assert models and all(_keyword(call, "use_safetensors") is True for _, _, call in models)
    torch_loads = list(_calls("load"))
    for f, line, call in torch_loads:
        owner = getattr(call.func, "value", None)
        if getattr(owner, "id", None) == "torch":
            assert _keyword(call, "weights_only") is True, f"{f}:{line}: torch.load without weights_only=True"
        if getattr(owner, "id", None) == "np":
            assert _keyword(call, "allow_pickle") is False, f"{f}:{line}: np.load without allow_pickle=False"
    for path in SOURCES:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import | ast.ImportFrom)
                    for alias in node.names} | {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        assert not imported & {"pickle", "cPickle", "dill", "joblib"}, path
    for f, line, call in _calls("snapshot_download"):
        assert _keyword(call, "allow_patterns") is not None, f"{f}:{line}: downloads every file of a repo"


def test_pickle_weights_are_refused(tmp_path):
    from xling.core.masked_lm import load_masked_lm

    folder = tmp_path / "pickled"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "bert"}))
    (folder / "pytorch_model.bin").write_bytes(b"\x80\x04not really a pickle")
    with pytest.raises(ModelLoadError, match="safetensors"):
        load_masked_lm(str(folder))


@pytest.mark.parametrize("name", ["/etc", "../xling", "~/models", "a/b/c", "checkpoints/xling-mini", "x\\y"])
def test_a_public_deployment_loads_no_model_by_path(name, tmp_path):
    from xling.core.services import Services

    paths = Paths(cache=tmp_path, demo=REPO_ROOT / "demo", checkpoints=REPO_ROOT / "checkpoints")
    public = Services(AppConfig(paths=paths, public=True))
    with pytest.raises(ModelLoadError, match="public deployment loads models by the names"):
        public.resolve(name)
    assert public.resolve("xling-mini").endswith("xling-mini") and public.resolve("org/model") == "org/model"
    if Path(name).expanduser().exists():  # the same name is a path on a private (local) app
        assert Services(AppConfig(paths=paths)).resolve(name) == name


@pytest.mark.parametrize("name", ["org/name/extra", "bad id!", "-leading", "org/", "a" * 3 + "/../b"])
def test_malformed_hub_ids_are_refused_before_any_download(name, monkeypatch):
    from xling.core.encoders import resolve_model_source

    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    with pytest.raises(ModelLoadError):
        resolve_model_source(name, "model")


# --------------------------------------------------------------------------- the server


@pytest.fixture(scope="module")
def served(tiny_services):
    """The whole app as ``python app.py`` launches it (its queue and launch options), upload limit 1 MB."""
    gr = pytest.importorskip("gradio")
    from tests.ui.conftest import launch
    from xling.ui.app import build_app, launch_options

    config = replace(tiny_services.config, max_upload_mb=1)
    demo = build_app(services=tiny_services)
    options = launch_options(config)
    assert options["allowed_paths"] == [str(config.paths.cache / "app")]  # nothing else of the disk
    with launch(demo, **options):
        yield demo, gr


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


@pytest.mark.parametrize("target", ["/etc/passwd", str(REPO_ROOT / "app.py"), str(REPO_ROOT / "checkpoints" / "xling-mini" / "config.json")])
def test_the_server_hands_out_no_file_outside_its_folders(served, target):
    demo, _ = served
    assert _status(f"{demo.local_url}gradio_api/file={target}") in (403, 404)


def test_uploads_over_the_limit_or_of_other_types_are_refused(served, tmp_path):
    import httpx
    from gradio_client import Client, handle_file

    demo, _ = served
    client = Client(demo.local_url, verbose=False)
    big = tmp_path / "big.txt"
    big.write_text("Das ist ein Satz.\n" * 120_000)  # ~2 MB, over the 1 MB limit
    with pytest.raises(Exception, match="exceeds the maximum file size"):
        client.predict(handle_file(str(big)), "tiny-xling", api_name="/detect_batch")
    # A client that skips that check meets the server's.
    raw = httpx.post(f"{demo.local_url}gradio_api/upload", files={"files": ("big.txt", big.read_bytes())}, timeout=60)
    assert raw.status_code == 413
    for name in ("texts.pdf", "run.sh", "page.html"):  # only .txt, .csv, .tsv, .jsonl are taken
        other = tmp_path / name
        other.write_text("Das ist ein Satz.\n")
        with pytest.raises(Exception, match="Invalid file type"):
            client.predict(handle_file(str(other)), "tiny-xling", api_name="/detect_batch")
    small = tmp_path / "small.txt"
    small.write_text("Das ist ein Satz.\nThis is a sentence.\n")
    summary, *_ = client.predict(handle_file(str(small)), "tiny-xling", api_name="/detect_batch")
    assert "2 texts" in summary  # the app still serves after the refusals


def _raw_call(url: str, api_name: str, data: list) -> str:
    """Call an endpoint with raw HTTP, as a hostile client would (gradio_client would upload a
    local file it is given; this sends the path itself). Returns the event stream's text."""
    import httpx

    started = httpx.post(f"{url}gradio_api/call/{api_name}", json={"data": data}, timeout=60)
    assert started.status_code == 200, started.text
    return httpx.get(f"{url}gradio_api/call/{api_name}/{started.json()['event_id']}", timeout=120).text


def test_a_file_path_a_client_makes_up_is_never_read(served, tmp_path):
    """A path sent where an upload goes is refused by the server unless gradio received that file
    as an upload: no endpoint reads a file of the server's disk for a stranger."""
    demo, _ = served
    secret = tmp_path / "secret.txt"
    secret.write_text("a line nobody may read\n")
    made_up = {"path": str(secret), "meta": {"_type": "gradio.FileData"}, "orig_name": "secret.txt"}
    calls = {
        "detect_batch": [made_up, "tiny-xling", "fasttext"],
        "search": ["Hallo", "tiny-xling", 5, [], False, made_up],
        "map": [["de", "en"], 50, "tiny-xling", "pca", 2, "", 0, True, made_up, 15, 30],
        "mine": ["", "", "tiny-xling", 4, "mutual", 0, made_up, made_up],
    }
    import httpx

    from tests.conftest import PARALLEL

    texts = tmp_path / "texts.csv"
    with texts.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([("text", "lang"), *((row[lang], lang) for row in PARALLEL for lang in ("de", "en"))])
    with texts.open("rb") as handle:
        stored = httpx.post(f"{demo.local_url}gradio_api/upload", files={"files": ("texts.csv", handle)},
                               timeout=60).json()[0]
    real = {**made_up, "path": stored, "orig_name": "texts.csv"}
    for api_name, data in calls.items():
        events = _raw_call(demo.local_url, api_name, data)
        assert "event: error" in events and "nobody may read" not in events, (api_name, events[:300])
        # The same call with the file really uploaded is answered: the path alone was refused.
        events = _raw_call(demo.local_url, api_name, [real if value is made_up else value for value in data])
        assert "event: complete" in events, (api_name, events[:300])


def test_the_admin_token_never_reaches_the_page_or_a_log(tiny_services, tmp_path, caplog):
    pytest.importorskip("gradio")
    from tests.ui.conftest import launch
    from xling.core.services import Services
    from xling.ui.app import build_app

    token = "tok-7f3a9c-never-show"
    config = replace(tiny_services.config, public=True, admin_token=token)
    assert token not in repr(config)
    services = Services(config)
    with launch(build_app(services=services)) as client:
        with urllib.request.urlopen(f"{client.src}config", timeout=30) as response:
            page_config = response.read().decode()
        with urllib.request.urlopen(client.src, timeout=30) as response:
            page = response.read().decode()
    assert token not in page_config and token not in page
    assert token not in caplog.text
