"""``xling deploy``: the dry run on this repository and on fake checkouts, ``--space`` checks, the offline path.

No test reaches the network: the upload's only test replaces ``HfApi`` or sets ``HF_HUB_OFFLINE``.
"""

from __future__ import annotations

import json
import socket
import subprocess
from pathlib import Path

import pytest

from xling import deploy
from xling.cli import main
from xling.config import REPO_ROOT
from xling.deploy import MAX_REGULAR_BYTES, plan_upload, space_id

SPACE = "someone/xling"
FRONT_MATTER = '---\nsdk: gradio\nsdk_version: 6.31.0\napp_file: app.py\npython_version: "3.11"\n---\n\n# demo\n'


def _one_line_error(err: str) -> str:
    lines = err.strip().splitlines()
    assert "Traceback" not in err
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    return lines[0]


def _fake_repo(root: Path, files: dict[str, bytes | str], *, commit: bool = True) -> Path:
    """A git checkout with a minimal Space (app.py, requirements.txt, README front matter, .gitattributes)."""
    base: dict[str, bytes | str] = {
        "app.py": "print('hi')\n",
        "requirements.txt": "gradio==6.31.0\n",
        "README.md": FRONT_MATTER,
        ".gitattributes": "*.safetensors filter=lfs diff=lfs merge=lfs -text\n",
    }
    for name, content in {**base, **files}.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            path.write_text(content, encoding="utf-8")
        else:
            path.write_bytes(content)
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    if commit:
        subprocess.run(["git", "-C", str(root), "add", "-A"], check=True)
    return root


# --------------------------------------------------------------------------- this repository


def test_dry_run_on_this_repository_passes(capsys):
    assert main(["deploy", "--space", SPACE, "--dry-run", "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    paths = {f["path"]: f for f in plan["files"]}
    assert plan["problems"] == []
    for required in ("app.py", "requirements.txt", "README.md", ".gitattributes", "xling/cli.py"):
        assert required in paths
    weights = [p for p in paths if p.startswith("checkpoints/") and p.endswith(".safetensors")]
    assert "checkpoints/xling-mini/model.safetensors" in weights
    assert all(paths[p]["lfs"] for p in weights)
    assert paths["demo/corpus/parallel.jsonl"]["lfs"]  # over 10 MB
    assert not [p for p in paths if p.startswith(("tests/", "benchmarks/", "test-output/", ".benchmarks/"))]
    assert not [p for p in paths if "__pycache__" in p or p.endswith(".pyc") or "cache" in p.split("/")[0]]
    assert all(f["size"] <= MAX_REGULAR_BYTES for f in plan["files"] if not f["lfs"])
    assert plan["total_bytes"] == sum(f["size"] for f in plan["files"])


def test_dry_run_table_lists_files_sizes_and_storage(capsys):
    assert main(["deploy", "--space", SPACE, "--dry-run"]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line.split() for line in out.splitlines()[1:-1]}
    assert rows["app.py"][-1] == "git"
    assert rows["checkpoints/xling-encoder/encoder.safetensors"][-1] == "lfs"
    assert out.splitlines()[-1].startswith(f"Space {SPACE}: ")
    assert out.splitlines()[-1].endswith("0 problem(s)")


def test_only_tracked_checkpoint_files_go():
    tracked = subprocess.run(["git", "-C", str(REPO_ROOT), "ls-files", "checkpoints"],
                             capture_output=True, text=True, check=True).stdout.split()
    planned = [f.path for f in plan_upload(REPO_ROOT).files if f.path.startswith("checkpoints/")]
    assert planned and set(planned) <= set(tracked)


def test_lfs_decisions_agree_with_git(tmp_path):
    """The plan reads the uploaded .gitattributes as git does (``git check-attr`` needs no git-lfs)."""
    plan = plan_upload(REPO_ROOT)
    # A clean checkout of this .gitattributes alone: no local info/attributes or global file interferes.
    probe = _fake_repo(tmp_path, {".gitattributes": (REPO_ROOT / ".gitattributes").read_text()}, commit=False)
    result = subprocess.run(["git", "-C", str(probe), "-c", "core.attributesFile=/dev/null", "check-attr", "--stdin",
                             "filter"], input="\n".join(f.path for f in plan.files), capture_output=True, text=True,
                            check=True)
    by_git = {line.split(": ")[0]: line.endswith(": lfs") for line in result.stdout.splitlines()}
    assert by_git == {f.path: f.lfs for f in plan.files}


# --------------------------------------------------------------------------- fake checkouts


def test_large_file_outside_lfs_fails_the_dry_run(tmp_path, capsys):
    root = _fake_repo(tmp_path, {"demo/big.txt": b"x" * (11 * 1000**2), "demo/weights.safetensors": b"\0" * 11_000_000})
    assert main(["deploy", "--space", SPACE, "--dry-run", "--root", str(root)]) == 2
    captured = capsys.readouterr()
    message = _one_line_error(captured.err)
    assert "demo/big.txt: 11.0 MB outside LFS" in message and "1 problem(s)" in message
    assert "safetensors" not in message  # matched by .gitattributes: goes through LFS
    assert "demo/big.txt" in captured.out and "outside LFS" in captured.out  # the table marks it


def test_binary_outside_lfs_missing_files_and_front_matter_are_problems(tmp_path):
    root = _fake_repo(tmp_path, {"README.md": "# no front matter\n", "xling/shot.bmp": b"BM\0\0",
                                 "xling/__init__.py": "", "xling/__pycache__/x.cpython-311.pyc": b"\0"})
    (root / ".gitattributes").unlink()
    problems = [str(p) for p in plan_upload(root).problems]
    assert "xling/shot.bmp: binary file outside LFS: the Hub refuses those; add its pattern to .gitattributes" \
        in problems
    assert ".gitattributes: required file missing (or ignored by git)" in problems
    assert any(p.startswith("README.md: no Spaces front matter") for p in problems)
    assert not [p for p in problems if "__pycache__" in p]


def test_front_matter_must_match_the_gradio_pin(tmp_path):
    root = _fake_repo(tmp_path, {"requirements.txt": "gradio==6.32.0\n"})
    assert [str(p) for p in plan_upload(root).problems] == [
        "README.md: front matter sdk_version: '6.31.0', expected '6.32.0'"]


def test_untracked_checkpoints_ignored_files_and_tests_stay_home(tmp_path):
    root = _fake_repo(tmp_path, {".gitignore": "test-output/\n", "checkpoints/m/model.safetensors": b"\0",
                                 "checkpoints/.runs/r/checkpoints/step-1/delta.safetensors": b"\0",
                                 "tests/test_x.py": "", "benchmarks/results.md": "", "docs/unlinked.png": b"\0"})
    for name in ("checkpoints/run/model.safetensors", "test-output/report.txt", "demo/new.jsonl"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("x")
    assert [f.path for f in plan_upload(root).files] == [
        ".gitattributes", "README.md", "app.py", "checkpoints/m/model.safetensors", "demo/new.jsonl",
        "requirements.txt"]


def test_the_readme_s_images_go(tmp_path):
    readme = FRONT_MATTER + "![a](docs/a.png) [b](./docs/b.png#x) <img src=\"docs/c.png\">\n"
    root = _fake_repo(tmp_path, {"README.md": readme, ".gitattributes": "*.png filter=lfs -text\n",
                                 **{f"docs/{n}.png": b"\0" for n in "abcd"}})
    shipped = {f.path: f.lfs for f in plan_upload(root).files if f.path.startswith("docs/")}
    assert shipped == {"docs/a.png": True, "docs/b.png": True, "docs/c.png": True}


def test_a_folder_that_is_not_a_checkout_is_a_one_line_error(tmp_path, capsys):
    assert main(["deploy", "--space", SPACE, "--dry-run", "--root", str(tmp_path)]) == 2
    assert "is not a git checkout" in _one_line_error(capsys.readouterr().err)


@pytest.mark.parametrize(("pattern", "path", "expected"), [
    ("*.bin", "a/b/c.bin", True), ("demo/**/*.jsonl", "demo/x.jsonl", True),
    ("demo/**/*.jsonl", "demo/a/b/x.jsonl", True),
    ("demo/**/*.jsonl", "other/demo/x.jsonl", False), ("/app.py", "app.py", True), ("*.tar.*", "x.tar.gz", True),
    ("saved_model/**/*", "saved_model/v/x.pb", True), ("*tfevents*", "runs/events.out.tfevents.1", True),
    ("a/*.txt", "a/b/c.txt", False), ("[!x]y", "zy", True),
])
def test_gitattributes_patterns(pattern, path, expected):
    assert deploy._is_lfs(path, deploy._lfs_rules(f"{pattern} filter=lfs -text")) is expected


def test_a_later_line_unsets_lfs():
    rules = deploy._lfs_rules("*.json filter=lfs\nconfig.json -filter\n")
    assert deploy._is_lfs("a/x.json", rules) and not deploy._is_lfs("a/config.json", rules)


# --------------------------------------------------------------------------- --space and the upload


@pytest.mark.parametrize("good", ["someone/xling", "Org-1/my_space.v2", "a/b"])
def test_space_ids_accepted(good):
    assert space_id(good) == good


@pytest.mark.parametrize("bad", ["xling", "a/b/c", "/xling", "someone/", "-a/b", "a/b-", "a/b--c", "a/b..c",
                                 "a/b.git", "a b/c", "a/ü", "a/" + "x" * 95])
def test_bad_space_ids_are_usage_errors(bad, capsys):
    assert main(["deploy", f"--space={bad}", "--dry-run"]) == 2  # "=": "-a/b" is not read as an option
    err = capsys.readouterr().err
    assert "usage:" in err and "--space: expected USER/NAME" in err


def test_offline_upload_is_a_one_line_error(monkeypatch, capsys):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert main(["deploy", "--space", SPACE]) == 2
    captured = capsys.readouterr()
    assert "cannot upload offline" in _one_line_error(captured.err)
    assert captured.out == ""


def test_an_unreachable_hub_is_a_one_line_error(monkeypatch, capsys):
    """The real client against a closed local port: its transport error becomes one line, no traceback."""
    import huggingface_hub

    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setattr(huggingface_hub, "get_token", lambda: "hf_test")
    monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", f"http://127.0.0.1:{_closed_port()}")
    assert main(["deploy", "--space", SPACE]) == 2
    message = _one_line_error(capsys.readouterr().err)
    assert message.startswith(f"error: upload to Space {SPACE} failed: cannot reach the Hub (")


def test_the_hub_s_offline_error_is_a_one_line_error(monkeypatch, capsys):
    import huggingface_hub
    from huggingface_hub.errors import OfflineModeIsEnabled

    calls = []

    class OfflineHub:
        def create_repo(self, repo_id, **kwargs):
            calls.append((repo_id, kwargs))
            raise OfflineModeIsEnabled("Cannot reach https://huggingface.co/api/repos/create: offline mode is enabled.")

        def upload_folder(self, **kwargs):
            raise AssertionError("no upload after create_repo failed")

    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setattr(huggingface_hub, "get_token", lambda: "hf_test")
    monkeypatch.setattr(huggingface_hub, "HfApi", OfflineHub)
    assert main(["deploy", "--space", SPACE]) == 2
    assert "offline mode is enabled" in _one_line_error(capsys.readouterr().err)
    assert calls == [(SPACE, {"repo_type": "space", "space_sdk": "gradio", "exist_ok": True})]


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # closed once the probe is: connecting is refused


def test_upload_sends_gitattributes_first_then_exactly_the_plan(monkeypatch, capsys):
    import huggingface_hub

    uploads = []

    class RecordingHub:
        def create_repo(self, repo_id, **kwargs):
            pass

        def upload_folder(self, **kwargs):
            uploads.append(kwargs)
            return type("Commit", (), {"commit_url": f"https://huggingface.co/spaces/{SPACE}/commit/abc"})()

    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setattr(huggingface_hub, "get_token", lambda: "hf_test")
    monkeypatch.setattr(huggingface_hub, "HfApi", RecordingHub)
    assert main(["deploy", "--space", SPACE]) == 0
    assert capsys.readouterr().out.strip().endswith(f"to https://huggingface.co/spaces/{SPACE}/commit/abc")
    planned = [f.path for f in plan_upload(REPO_ROOT).files]
    assert [u["allow_patterns"] for u in uploads] == [[".gitattributes"], [p for p in planned if p != ".gitattributes"]]
    assert all(u["repo_type"] == "space" and u["repo_id"] == SPACE for u in uploads)


def test_no_token_is_a_one_line_error(monkeypatch, capsys):
    import huggingface_hub

    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setattr(huggingface_hub, "get_token", lambda: None)
    assert main(["deploy", "--space", SPACE]) == 2
    assert "hf auth login" in _one_line_error(capsys.readouterr().err)
