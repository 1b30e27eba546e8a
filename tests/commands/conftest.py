"""The environment every command test runs in, and a way to run ``xling`` in process.

Commands build ``Services(AppConfig.from_env())``: each test gets the tiny checkpoints folder and a
cache folder of its own, and none of the caller's ``XLING_MLM``/``XLING_ENCODER``/``XLING_CORPUS``.
A module sets the defaults it wants on top (``monkeypatch.setenv("XLING_MLM", "tiny-xling")``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from xling.cli import main


@pytest.fixture(autouse=True)
def app_env(monkeypatch, app_checkpoints: Path, tmp_path_factory) -> None:
    monkeypatch.setenv("XLING_CHECKPOINTS", str(app_checkpoints))
    monkeypatch.setenv("XLING_CACHE", str(tmp_path_factory.mktemp("cli-cache")))
    for name in ("XLING_MLM", "XLING_ENCODER", "XLING_CORPUS"):
        monkeypatch.delenv(name, raising=False)


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    """``xling ARGV...`` in process: ``(exit status, stdout, stderr)``."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def user_error(capsys, *argv: str) -> str:
    """Run ``xling ARGV...``, check it failed as a user error (exit 2, nothing on stdout, one
    ``error: ...`` line on stderr, no traceback) and return that line."""
    code, out, err = run_cli(capsys, *argv)
    assert code == 2 and out == "", (code, out, err)
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]
