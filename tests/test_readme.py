"""The README's two set-up commands are the ones CI and users run."""

from __future__ import annotations

import re

from xling.config import REPO_ROOT


def _commands() -> list[str]:
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    return re.findall(r"```bash\n(pip install[^\n]*)\n```", readme)


def test_readme_has_exactly_two_setup_commands():
    commands = _commands()
    assert len(commands) == 2
    assert commands[0].startswith("pip install -r requirements.txt")
    assert "pytest" in commands[1]


def test_ci_runs_the_readme_test_command():
    ci = (REPO_ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert _commands()[1] in ci.splitlines()
    for variable in ("OMP_NUM_THREADS=1", "NUMBA_NUM_THREADS=1", "GRADIO_ANALYTICS_ENABLED=False",
                     "HF_HUB_OFFLINE=1", "HF_HUB_DISABLE_TELEMETRY=1"):  # fmt: skip
        assert variable in ci


def test_spaces_front_matter():
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    front = readme.split("---")[1]
    requirements = (REPO_ROOT / "requirements.txt").read_text()
    gradio_version = re.search(r"^gradio==([\d.]+)$", requirements, re.MULTILINE).group(1)
    assert "sdk: gradio" in front
    assert f"sdk_version: {gradio_version}" in front
    assert "app_file: app.py" in front
    assert 'python_version: "3.11"' in front
    assert "suggested_hardware: t4-small" in front  # a valid Spaces flavour, for the Fine-tune tab
    preload = re.search(r"^preload_from_hub:\n((?:  - .+\n)+)", front, re.MULTILINE).group(1)
    for entry in preload.splitlines():
        repo, *files = entry.removeprefix("  - ").split(" ")
        assert re.fullmatch(r"[\w.-]+/[\w.-]+", repo), entry
        assert not [f for f in ",".join(files).split(",") if f.endswith((".bin", ".pt", ".pkl", ".py"))], entry
    for section in ("### On Hugging Face Spaces", "### Running the training tab safely in public", "`XLING_WARM_UP`",
                    "`XLING_ADMIN_TOKEN`"):
        assert section in readme
