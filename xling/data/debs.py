"""Debian packages fetched and unpacked without installing them (``apt-get download``, ``dpkg-deb``).

The translated manuals (:mod:`xling.data.prose`, :mod:`xling.data.mallard`) come as Debian
packages: :func:`download_packages` fetches the ``.deb`` files into a cache folder,
:func:`deb_field` reads a control field and :func:`extract_package` unpacks one; nothing is
installed and nothing needs root.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path

from xling.data.sources import SourceUnavailable
from xling.errors import DataError


def download_packages(names: Iterable[str], dest: Path) -> list[Path]:
    """Download Debian packages (``.deb`` files, not installed) into ``dest``; returns their paths.

    A package with a ``<name>_*.deb`` already in ``dest`` is not fetched again.

    Raises:
        SourceUnavailable: ``apt-get`` is missing or could not fetch a package; the message
            says which and what to try.
    """
    names = list(dict.fromkeys(names))
    dest.mkdir(parents=True, exist_ok=True)
    missing = [name for name in names if _cached_deb(name, dest) is None]
    if missing:
        try:
            result = subprocess.run(
                ["apt-get", "download", *missing], cwd=dest, capture_output=True, text=True, check=False
            )
        except OSError as exc:
            raise SourceUnavailable(f"apt-get is not available ({exc}); download {' '.join(missing)} by hand") from exc
        if result.returncode != 0:
            detail = " ".join(result.stderr.strip().splitlines()[-2:]) or f"exit status {result.returncode}"
            raise SourceUnavailable(
                f"apt-get download {' '.join(missing)} failed: {detail} (run apt-get update first?)"
            )
    debs = []
    for name in names:
        deb = _cached_deb(name, dest)
        if deb is None:
            raise SourceUnavailable(f"apt-get download {name} left no {name}_*.deb in {dest}")
        debs.append(deb)
    return debs


def _cached_deb(name: str, dest: Path) -> Path | None:
    found = sorted(dest.glob(f"{name}_*.deb"))
    return found[-1] if found else None


def deb_field(deb: Path, field: str) -> str:
    """One control field of a ``.deb`` (``Version``, ``Package``), via ``dpkg-deb -f``."""
    try:
        result = subprocess.run(["dpkg-deb", "-f", str(deb), field], capture_output=True, text=True, check=False)
    except OSError as exc:
        raise SourceUnavailable(f"dpkg-deb is not available ({exc}); apt-get install dpkg") from exc
    if result.returncode != 0:
        raise DataError(f"{deb}: not a readable Debian package ({result.stderr.strip()})")
    return result.stdout.strip()


def extract_package(deb: Path, dest: Path) -> Path:
    """Unpack a ``.deb`` with ``dpkg-deb -x`` into ``dest/<package>/`` (nothing is installed).

    The tree is unpacked next to its final place and moved there whole, with a marker holding
    the version; a tree of the same version already there is reused.

    Raises:
        DataError: the file is not a Debian package or could not be unpacked.
        SourceUnavailable: ``dpkg-deb`` is missing.
    """
    package, version = deb_field(deb, "Package"), deb_field(deb, "Version")
    target = dest / package
    marker = target / ".xling-extracted"
    if marker.is_file() and marker.read_text(encoding="utf-8").strip() == version:
        return target
    dest.mkdir(parents=True, exist_ok=True)
    partial = dest / f".{package}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    result = subprocess.run(["dpkg-deb", "-x", str(deb), str(partial)], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        shutil.rmtree(partial, ignore_errors=True)
        raise DataError(f"{deb}: dpkg-deb -x failed ({result.stderr.strip()})")
    (partial / marker.name).write_text(version + "\n", encoding="utf-8")
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)
    return target
