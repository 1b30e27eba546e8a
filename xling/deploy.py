"""``xling deploy``: publish the app to a Hugging Face Space, uploading only what the Space needs.

Examples::

    python -m xling deploy --space USER/NAME --dry-run     # offline: the files, their sizes, what the Hub would refuse
    python -m xling deploy --space USER/NAME               # create the Space if needed and upload

What goes (:func:`plan_upload`): ``app.py``, ``requirements.txt``, ``README.md`` (its front matter is the
Space's configuration), ``.gitattributes``, ``xling/``, ``demo/``, ``configs/``, the files of
``checkpoints/`` that git tracks (never a run in progress or an intermediate checkpoint) and the
``docs/`` images the README shows. Nothing git ignores, and never tests, benchmarks or caches.

Which files go through the Hub's large-file storage is read from the ``.gitattributes`` that is
uploaded (its ``filter=lfs`` patterns), so the Space's git history agrees with how its files are
stored. The Hub refuses a regular file over 10 MB and binary files outside LFS; the plan reports those,
files over :data:`MAX_FILE_BYTES`, a Space over :data:`MAX_SPACE_BYTES`, a missing required file and a
README front matter that does not match ``requirements.txt``. The deploy never rewrites the README:
it is the Space's card as well as the repository's (``tests/test_readme.py`` guards its front matter).

The upload goes through ``huggingface_hub`` over HTTP (no git, no git-lfs): ``create_repo`` (a gradio
Space, kept if it exists), then ``upload_folder`` twice, ``.gitattributes`` first so that the Hub
stores the files after it as the attributes say. Files already on the Space and no longer planned
are left there. The token is the one ``hf auth login`` saved or ``HF_TOKEN``.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from xling.commands.args import add_json_flag
from xling.commands.output import format_table
from xling.config import REPO_ROOT
from xling.errors import XlingError

#: The Hub refuses regular (non-LFS) files above this size; the Hub says "10 MB", we read it as the
#: stricter 10**7 bytes.
MAX_REGULAR_BYTES = 10 * 1000**2
#: One file at most: LFS takes up to 50 GB, but a file this big has no place in a Space.
MAX_FILE_BYTES = 5 * 1000**3
#: The whole upload at most: our budget for a Space repository (a Space is rebuilt from it on every
#: restart; bigger models belong in a model repository, listed in the README's ``preload_from_hub``).
MAX_SPACE_BYTES = 1000**3
#: The README front matter's ``python_version`` (the version the project is tested on).
PYTHON_VERSION = "3.11"

#: Files the Space cannot start without.
REQUIRED_FILES = ("app.py", "requirements.txt", "README.md", ".gitattributes")
#: Folders uploaded whole (less what git ignores and caches).
SHIPPED_FOLDERS = ("xling", "demo", "configs")
#: Folders of which only git-tracked files go (a run writes here; only committed models are shipped).
TRACKED_ONLY_FOLDERS = ("checkpoints",)
#: A folder of which only the files the README links go (screenshots shown on the Space's page).
LINKED_ONLY_FOLDER = "docs"

_CACHE_PARTS = frozenset({"__pycache__", ".pytest_cache", ".ruff_cache", ".mypy_cache", ".ipynb_checkpoints"})
_CACHE_SUFFIXES = (".pyc", ".pyo")
_BINARY_SAMPLE = 8000  # what git reads to call a file binary (a NUL byte in it)
_NAME_PART = r"[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?"
_SPACE_ID = re.compile(rf"{_NAME_PART}/{_NAME_PART}")
_OFFLINE_VALUES = {"1", "ON", "YES", "TRUE"}  # what huggingface_hub reads as true


class DeployError(XlingError):
    """The upload cannot go ahead: the Hub would refuse it, there is no network or no token."""


@dataclass(frozen=True)
class PlannedFile:
    """One file of the upload: its path in the Space (POSIX, relative), size and storage."""

    path: str
    size: int
    lfs: bool


@dataclass(frozen=True)
class Problem:
    """Something the Hub would refuse; ``path`` is ``None`` for the upload as a whole."""

    path: str | None
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


@dataclass(frozen=True)
class DeployPlan:
    """What ``xling deploy`` uploads from ``root`` and what would stop it.

    Example:
        >>> plan = DeployPlan(Path("."), (PlannedFile("app.py", 400, False),), ())
        >>> plan.total_bytes, plan.ok, plan.allow_patterns
        (400, True, ['app.py'])
    """

    root: Path
    files: tuple[PlannedFile, ...]
    problems: tuple[Problem, ...]

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)

    @property
    def lfs_files(self) -> tuple[PlannedFile, ...]:
        return tuple(f for f in self.files if f.lfs)

    @property
    def allow_patterns(self) -> list[str]:
        """The planned paths as ``upload_folder`` patterns (each matches its own file only)."""
        return [glob.escape(f.path) for f in self.files]

    def to_dict(self) -> dict[str, Any]:
        return {
            "root": str(self.root),
            "files": [{"path": f.path, "size": f.size, "lfs": f.lfs} for f in self.files],
            "n_files": len(self.files),
            "total_bytes": self.total_bytes,
            "lfs_bytes": sum(f.size for f in self.lfs_files),
            "problems": [str(p) for p in self.problems],
        }


# --------------------------------------------------------------------------- planning


def plan_upload(root: Path | str = REPO_ROOT) -> DeployPlan:
    """Plan the upload of the git checkout at ``root``: which files go, their sizes and storage, problems.

    Args:
        root: the repository (a git checkout: what git tracks or would track is what can go).

    Returns:
        The plan; ``plan.problems`` lists everything the Hub would refuse (empty: the upload can go).

    Raises:
        DeployError: ``root`` is not a git checkout (or git is missing).
    """
    root = Path(root)
    tracked = set(_git_files(root, "--cached"))
    candidates = tracked | set(_git_files(root, "--others", "--exclude-standard"))
    readme = _read_text(root / "README.md")
    linked = _linked_files(readme or "")
    paths = sorted(p for p in candidates if _shipped(p, p in tracked, linked) and (root / p).is_file())

    lfs_rules = _lfs_rules(_read_text(root / ".gitattributes") or "")
    files: list[PlannedFile] = []
    problems: list[Problem] = []
    for path in paths:
        size = (root / path).stat().st_size
        lfs = _is_lfs(path, lfs_rules)
        files.append(PlannedFile(path, size, lfs))
        problems.extend(_file_problems(root, path, size, lfs))

    shipped = {f.path for f in files}
    problems.extend(Problem(name, "required file missing (or ignored by git)")
                    for name in REQUIRED_FILES if name not in shipped)
    if readme is not None:
        problems.extend(_front_matter_problems(readme, _read_text(root / "requirements.txt") or ""))
    total = sum(f.size for f in files)
    if total > MAX_SPACE_BYTES:
        problems.append(Problem(None, f"the upload is {format_size(total)}, over the {format_size(MAX_SPACE_BYTES)} "
                                "a Space should hold (publish big models as a model repository)"))
    return DeployPlan(root, tuple(files), tuple(problems))


def _shipped(path: str, tracked: bool, linked: set[str]) -> bool:
    """Whether ``path`` (POSIX, relative to the root) belongs to the Space's files."""
    parts = path.split("/")
    if _CACHE_PARTS.intersection(parts) or path.endswith(_CACHE_SUFFIXES):
        return False
    if len(parts) == 1:
        return path in REQUIRED_FILES
    top = parts[0]
    if top in SHIPPED_FOLDERS:
        return True
    if top in TRACKED_ONLY_FOLDERS:  # a hidden folder there (checkpoints/.runs/) is work in progress
        return tracked and not parts[1].startswith(".")
    return top == LINKED_ONLY_FOLDER and path in linked


def _file_problems(root: Path, path: str, size: int, lfs: bool) -> list[Problem]:
    if size > MAX_FILE_BYTES:
        return [Problem(path, f"{format_size(size)}, over the {format_size(MAX_FILE_BYTES)} one file may have")]
    if lfs:
        return []
    if size > MAX_REGULAR_BYTES:
        return [Problem(path, f"{format_size(size)} outside LFS: the Hub refuses regular files over "
                        f"{format_size(MAX_REGULAR_BYTES)}; add its pattern to .gitattributes")]
    with open(root / path, "rb") as file:
        if b"\0" in file.read(_BINARY_SAMPLE):
            return [Problem(path, "binary file outside LFS: the Hub refuses those; add its pattern to .gitattributes")]
    return []


def _front_matter_problems(readme: str, requirements: str) -> list[Problem]:
    """What keeps the README's YAML front matter from configuring a gradio Space like ``requirements.txt``."""
    import yaml

    match = re.match(r"---[ \t]*\r?\n(.*?)\r?\n---[ \t]*(\r?\n|$)", readme, re.DOTALL)
    if not match:
        return [Problem("README.md", "no Spaces front matter (a leading --- block with sdk: gradio, app_file: app.py)")]
    try:
        front = yaml.safe_load(match.group(1))
    except yaml.YAMLError as exc:
        return [Problem("README.md", f"front matter is not valid YAML: {' '.join(str(exc).split())}")]
    if not isinstance(front, dict):
        return [Problem("README.md", "front matter is not a YAML mapping")]
    pin = re.search(r"^gradio==([\w.]+)\s*$", requirements, re.MULTILINE)
    expected = {"sdk": "gradio", "app_file": "app.py", "python_version": PYTHON_VERSION,
                "sdk_version": pin.group(1) if pin else None}
    problems = [] if pin else [Problem("requirements.txt", "no gradio==VERSION pin for the front matter's sdk_version")]
    for key, value in expected.items():
        found = front.get(key)
        if value is not None and (found is None or str(found) != value):
            problems.append(Problem("README.md", f"front matter {key}: {found!r}, expected {value!r}"))
    return problems


def _linked_files(readme: str) -> set[str]:
    """Local paths the README links or shows (``[..](path)``, ``src="path"``), without ``./`` or anchors."""
    targets = re.findall(r"\]\(\s*<?([^)\s>]+)", readme) + re.findall(r"""src=["']([^"']+)""", readme)
    return {re.split(r"[#?]", t)[0].removeprefix("./") for t in targets if "://" not in t}


def _git_files(root: Path, *options: str) -> list[str]:
    try:
        result = subprocess.run(["git", "-C", str(root), "ls-files", "-z", *options],
                                capture_output=True, check=False, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DeployError(f"cannot run git to list the files to upload: {exc}") from None
    if result.returncode != 0:
        raise DeployError(f"{root} is not a git checkout: the deploy uploads the files git tracks "
                          f"({result.stderr.decode(errors='replace').strip() or 'git ls-files failed'})")
    return [p for p in result.stdout.decode("utf-8", errors="surrogateescape").split("\0") if p]


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


# --------------------------------------------------------------------------- .gitattributes


def _lfs_rules(attributes: str) -> list[tuple[re.Pattern[str], bool]]:
    """``(pattern, goes through LFS)`` for each line of a ``.gitattributes`` that sets or unsets ``filter``.

    Example:
        >>> rules = _lfs_rules("*.bin filter=lfs -text\\ndemo/big.bin -filter\\n")
        >>> _is_lfs("a/x.bin", rules), _is_lfs("demo/big.bin", rules)
        (True, False)
    """
    rules = []
    for line in attributes.splitlines():
        fields = line.split()
        if not fields or fields[0].startswith(("#", "[attr]")):
            continue
        settings = [f for f in fields[1:] if f in ("-filter", "!filter") or f.startswith("filter=")]
        if settings:
            rules.append((_pattern_regex(fields[0]), settings[-1] == "filter=lfs"))
    return rules


def _is_lfs(path: str, rules: list[tuple[re.Pattern[str], bool]]) -> bool:
    """Git's rule: the last line whose pattern matches decides."""
    verdict = False
    for pattern, lfs in rules:
        if pattern.fullmatch(path):
            verdict = lfs
    return verdict


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    """A ``.gitattributes`` pattern as a regex on a root-relative POSIX path: without a ``/`` it matches
    the file name at any depth; with one it is anchored at the root, ``**`` spanning folders."""
    if "/" not in pattern:
        return re.compile(r"(?:.*/)?" + _glob_regex(pattern))
    return re.compile(_glob_regex(pattern.lstrip("/")))


def _glob_regex(glob_pattern: str) -> str:
    out, i = [], 0
    while i < len(glob_pattern):
        if glob_pattern.startswith("**/", i):
            out.append(r"(?:.*/)?")
            i += 3
        elif glob_pattern.startswith("**", i):
            out.append(r".*")
            i += 2
        elif glob_pattern[i] == "*":
            out.append(r"[^/]*")
            i += 1
        elif glob_pattern[i] == "?":
            out.append(r"[^/]")
            i += 1
        elif glob_pattern[i] == "[" and "]" in glob_pattern[i + 2:]:
            end = glob_pattern.index("]", i + 2)
            body = glob_pattern[i + 1:end]
            out.append("[" + ("^" + body[1:] if body.startswith("!") else body).replace("\\", "\\\\") + "]")
            i = end + 1
        else:
            out.append(re.escape(glob_pattern[i]))
            i += 1
    return "".join(out)


# --------------------------------------------------------------------------- the command


def space_id(text: str) -> str:
    """An argparse ``type``: a Space id, ``USER/NAME`` by the Hub's naming rules.

    Letters, digits, ``-``, ``_`` and ``.`` in both parts, neither starting nor ending with ``-`` or ``.``;
    no ``--`` or ``..``; no ``.git`` ending; 96 characters at most.

    Example:
        >>> space_id("someone/xling")
        'someone/xling'
        >>> space_id("xling")
        Traceback (most recent call last):
        argparse.ArgumentTypeError: expected USER/NAME (a Hugging Face user or organisation, a Space name), got 'xling'
    """
    if not _SPACE_ID.fullmatch(text) or len(text) > 96 or "--" in text or ".." in text or text.endswith(".git"):
        raise argparse.ArgumentTypeError(
            f"expected USER/NAME (a Hugging Face user or organisation, a Space name), got {text!r}")
    return text


def add_command(commands: argparse._SubParsersAction) -> None:
    """Add ``deploy`` to the ``xling`` command table."""
    parser = commands.add_parser(
        "deploy",
        help="publish the app to a Hugging Face Space (--dry-run: list what would go, offline)",
        description="Uploads what the Space needs (app.py, requirements.txt, README.md, .gitattributes, xling/, "
        "demo/, configs/, git-tracked checkpoints/, the docs/ images the README shows) through "
        "huggingface_hub, large files through LFS as .gitattributes says. Exits 2 before uploading "
        "anything the Hub would refuse.",
    )
    parser.add_argument("--space", required=True, type=space_id, metavar="USER/NAME",
                        help="the Space (created as a gradio Space if it does not exist)")
    parser.add_argument("--dry-run", action="store_true",
                        help="list the files, their sizes and storage, and what the Hub would refuse; upload nothing")
    parser.add_argument("--root", type=Path, default=REPO_ROOT, metavar="DIR",
                        help="the checkout to publish (default: the one xling runs from)")
    add_json_flag(parser)
    parser.set_defaults(handler=_run_deploy)


def _run_deploy(args: argparse.Namespace, out: TextIO) -> int:
    plan = plan_upload(args.root)
    if args.json and args.dry_run:
        print(json.dumps({"space": args.space, **plan.to_dict()}, indent=2), file=out)
    elif args.dry_run:
        _print_plan(plan, args.space, out)
    if not plan.ok:
        raise DeployError(f"the Hub would refuse this upload ({len(plan.problems)} problem(s)): "
                          + "; ".join(str(p) for p in plan.problems))
    if args.dry_run:
        return 0
    url = upload(plan, args.space)
    if args.json:
        print(json.dumps({"space": args.space, "url": url, "n_files": len(plan.files),
                          "total_bytes": plan.total_bytes}, indent=2), file=out)
    else:
        print(f"uploaded {len(plan.files)} files ({format_size(plan.total_bytes)}) to {url}", file=out)
    return 0


def upload(plan: DeployPlan, space: str) -> str:
    """Create the gradio Space ``space`` if needed and upload ``plan``'s files; returns the commit's URL.

    Raises:
        DeployError: offline, no token, or the Hub refused (one line, no traceback).
    """
    if not plan.ok:
        raise DeployError(f"the Hub would refuse this upload: {plan.problems[0]}")
    if any(os.environ.get(name, "").upper() in _OFFLINE_VALUES for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")):
        raise DeployError("cannot upload offline (HF_HUB_OFFLINE or TRANSFORMERS_OFFLINE is set); "
                          "`--dry-run` checks the upload without the network")
    import huggingface_hub

    if huggingface_hub.get_token() is None:
        raise DeployError("no Hugging Face token: run `hf auth login` or set HF_TOKEN (a token with write access)")
    files = [f.path for f in plan.files]
    try:
        api = huggingface_hub.HfApi()
        api.create_repo(space, repo_type="space", space_sdk="gradio", exist_ok=True)
        # .gitattributes first: the Hub stores each later file as the Space's attributes say.
        api.upload_folder(repo_id=space, repo_type="space", folder_path=plan.root,
                          allow_patterns=[glob.escape(".gitattributes")], commit_message="Deploy xling: .gitattributes")
        commit = api.upload_folder(repo_id=space, repo_type="space", folder_path=plan.root,
                                   allow_patterns=[glob.escape(p) for p in files if p != ".gitattributes"],
                                   commit_message=f"Deploy xling ({len(files)} files)")
    except Exception as exc:  # the client's errors differ by version (HTTP, transport, offline): each is one line
        raise DeployError(f"upload to Space {space} failed: {_failure(exc)}") from None
    return str(getattr(commit, "commit_url", None) or f"https://huggingface.co/spaces/{space}")


def _failure(exc: Exception) -> str:
    """What went wrong, in one short line: the Hub's answer, or why it could not be reached."""
    from huggingface_hub.errors import HfHubHTTPError

    detail = " ".join(str(exc).split())[:300] or type(exc).__name__
    if isinstance(exc, HfHubHTTPError):
        return f"the Hub answered {detail}"
    return f"cannot reach the Hub ({type(exc).__name__}: {detail}); is the network up?"


def _print_plan(plan: DeployPlan, space: str, out: TextIO) -> None:
    notes: dict[str | None, str] = {}
    for problem in plan.problems:
        notes.setdefault(problem.path, problem.message)
    rows = [[f.path, format_size(f.size), "lfs" if f.lfs else "git", notes.get(f.path, "")] for f in plan.files]
    print(format_table(["file", "size", "storage", "problem"], rows), file=out)
    lfs_bytes = sum(f.size for f in plan.lfs_files)
    print(f"Space {space}: {len(plan.files)} files, {format_size(plan.total_bytes)}; "
          f"{len(plan.lfs_files)} through LFS ({format_size(lfs_bytes)}); "
          f"{len(plan.problems)} problem(s)", file=out)


def format_size(size: int) -> str:
    """Bytes as a short decimal size.

    Example:
        >>> format_size(512), format_size(2_138_734), format_size(47_349_500)
        ('512 B', '2.1 MB', '47.3 MB')
    """
    for unit, scale in (("GB", 1000**3), ("MB", 1000**2), ("KB", 1000)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} B"
