"""Pieces every tab shares."""

from __future__ import annotations

import os
import time

from xling.ui.components import DOWNLOAD_MAX_AGE_S, download_path


def test_download_path_is_new_each_time_and_clears_old_downloads(tmp_path):
    folder = tmp_path / "mined"
    first, second = download_path(folder, "pairs"), download_path(folder, "pairs")
    assert folder.is_dir() and first != second and first.parent == folder
    assert first.name.startswith("pairs-") and first.suffix == ".csv"
    old, recent = folder / "pairs-old.csv", folder / "pairs-recent.csv"
    for path in (old, recent):
        path.write_text("x", encoding="utf-8")
    stale = time.time() - DOWNLOAD_MAX_AGE_S - 60
    os.utime(old, (stale, stale))
    download_path(folder, "pairs")
    assert not old.exists() and recent.exists()
