"""A real browser: Playwright drives Debian's Chromium through every tab of the real app.

``python app.py`` runs in a subprocess on its embedded defaults (xling-base beside xling-mini, xling-encoder,
fastText, the demo corpus), with a fresh cache and a checkpoints folder of its own (the shipped
checkpoints linked in, so a training run writes nowhere in the repository). The test uses each tab
once as a person would (type, click, read the answer) and saves a screenshot of each under
``test-output/browser/`` (``XLING_TEST_OUTPUT`` moves it).

It needs the ``playwright`` package and Chromium at ``/usr/bin/chromium`` (``.ci/run`` installs
both); without them it is skipped locally and fails under CI (``CI`` set), so CI never silently
skips it.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from xling.config import REPO_ROOT

CHROMIUM = Path(os.environ.get("XLING_CHROMIUM", "/usr/bin/chromium"))
OUTPUT = Path(os.environ.get("XLING_TEST_OUTPUT", REPO_ROOT / "test-output")) / "browser"
#: Seconds: the page must answer within this after ``python app.py`` starts.
START_TIMEOUT = 120
#: Seconds for a tab's answer: the first search encodes the demo corpus, the first map compiles UMAP.
ANSWER_TIMEOUT = 240


def _browser_or_skip():
    missing = []
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing.append("the playwright package")
        sync_playwright = None
    if not CHROMIUM.is_file():
        missing.append(f"Chromium at {CHROMIUM}")
    if missing:
        message = f"no real browser: {' and '.join(missing)} missing (.ci/run installs them)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return sync_playwright


@pytest.fixture(scope="module")
def app_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``python app.py`` (as benchmarks/cold_start.py serves it: its own process group, a fresh cache)
    with a checkpoints folder of its own; its URL once the page answers 200. Stopped afterwards."""
    from benchmarks.cold_start import serve

    checkpoints = tmp_path_factory.mktemp("browser-app") / "checkpoints"
    checkpoints.mkdir()
    for shipped in (REPO_ROOT / "checkpoints").iterdir():
        if shipped.is_dir():
            (checkpoints / shipped.name).symlink_to(shipped)
    with serve(REPO_ROOT / "app.py", env={"XLING_CHECKPOINTS": str(checkpoints), "SPACE_ID": None}) as server:
        try:
            server.wait_for_page(START_TIMEOUT)
        except RuntimeError as exc:
            pytest.fail(str(exc))
        yield server.url + "/"
        log = server.log_tail(20_000)
    assert "Traceback" not in log, log[-3000:]


@pytest.fixture(scope="module")
def page(app_url: str):
    sync_playwright = _browser_or_skip()
    if OUTPUT.exists():
        shutil.rmtree(OUTPUT)
    OUTPUT.mkdir(parents=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                             args=["--no-sandbox", "--disable-dev-shm-usage"])
        try:
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            page = context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.set_default_timeout(ANSWER_TIMEOUT * 1000)
            page.goto(app_url, wait_until="load")  # gradio keeps a connection open: never "networkidle"
            page.get_by_role("tab", name="Language detection").wait_for(timeout=60_000)
            yield page
            assert not errors, f"JavaScript errors on the page: {errors}"
        finally:
            browser.close()


def open_tab(page, name: str) -> None:
    page.get_by_role("tab", name=name).click()
    page.wait_for_timeout(500)


def textbox(page, label: str):
    """The visible text field whose label is exactly ``label``."""
    title = page.get_by_test_id("block-info").get_by_text(label, exact=True)
    return page.locator("label").filter(has=title).locator("textarea, input").filter(visible=True).first


def body_text(page) -> str:
    return page.locator("body").inner_text()


def wait_for_text(page, wanted: str, timeout_s: float = ANSWER_TIMEOUT) -> str:
    deadline = time.monotonic() + timeout_s
    while True:
        text = body_text(page)
        if wanted in text:
            return text
        if time.monotonic() > deadline:
            raise AssertionError(f"the page never showed {wanted!r}; it shows:\n{text[-2000:]}")
        page.wait_for_timeout(500)


def click_and_read(page, button, wanted: str, timeout_s: float = ANSWER_TIMEOUT) -> str:
    """Click ``button``, then wait until the page shows ``wanted``, which it did not show before;
    return the lines that appeared."""
    before = body_text(page)
    assert wanted not in before, f"{wanted!r} is on the page before the click"
    button.click()
    after = wait_for_text(page, wanted, timeout_s)
    old = set(before.splitlines())
    return "\n".join(line for line in after.splitlines() if line not in old)


def screenshot(page, name: str) -> Path:
    path = OUTPUT / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000  # a real picture, not an empty page
    return path


def test_a_person_uses_every_tab(page):
    try:
        use_every_tab(page)
    except BaseException:
        page.screenshot(path=str(OUTPUT / "failure.png"), full_page=True)  # what the page showed then
        raise


def use_every_tab(page) -> None:
    # Language detection: type a German sentence, read the verdict.
    open_tab(page, "Language detection")
    textbox(page, "Text").fill("Der Zug nach Berlin hat heute leider eine Stunde Verspätung.")
    shown = click_and_read(page, page.get_by_role("button", name="Detect language"), "German (de)")
    assert "Both say German (de)" in shown
    screenshot(page, "1-detect")

    # Masked prediction: the example sentence as it stands, then Predict; both models' candidates appear.
    open_tab(page, "Masked prediction")
    assert "[MASK]" in textbox(page, "Text").input_value()
    shown = click_and_read(page, page.get_by_role("button", name="Predict"), "mask 1")
    assert "xling-base · 1 mask" in shown and "xling-mini · 1 mask" in shown and "detected nl" in shown
    screenshot(page, "2-fill-mask")

    # Cross-lingual search: an English query finds texts of other languages.
    open_tab(page, "Cross-lingual search")
    textbox(page, "Query").fill("The file could not be opened.")
    shown = click_and_read(page, page.get_by_role("button", name="Search", exact=True), "scores are cosines")
    languages = set(re.findall(r"^[^\n]* \(([a-z]{2,3})\)$", shown, flags=re.MULTILINE))  # "Finnish (fi)"
    assert len(languages - {"en"}) >= 3, shown[:1500]  # hits in other languages than the query's
    screenshot(page, "3-search")

    # Embedding map: draw the default map; its metrics and plotly's points appear.
    open_tab(page, "Embedding map")
    shown = click_and_read(page, page.get_by_role("button", name="Draw map"), "cross-lingual P@1")
    assert page.locator(".js-plotly-plot").filter(visible=True).count() >= 1, shown[:1500]
    page.wait_for_timeout(1000)
    screenshot(page, "4-map")

    # Fine-tune: a 2-step run of the first preset; the runs table says it finished.
    open_tab(page, "Fine-tune")
    page.locator("#xling-ft-steps input").fill("2")
    textbox(page, "Run name").fill("browser-run")
    click_and_read(page, page.locator("#xling-ft-start"), "Started browser-run")
    wait_for_text(page, "browser-run finished 2 steps")  # the results note, with the metrics table below it
    assert "Metrics per language" in body_text(page)
    screenshot(page, "5-finetune")


#: Draws each character on a canvas in the page's own font stack and compares it with characters no
#: font has (private-use code points: Chromium draws the same empty box, .notdef, for each). A
#: character whose drawing equals that box has no glyph in any installed font the browser found.
_MISSING_GLYPHS_JS = """(chars) => {
  const font = getComputedStyle(document.body).fontFamily;
  const canvas = document.createElement('canvas');
  canvas.width = 72; canvas.height = 72;
  const ctx = canvas.getContext('2d', {willReadFrequently: true});
  const draw = (ch) => {
    ctx.clearRect(0, 0, 72, 72);
    ctx.font = `44px ${font}`;
    ctx.textBaseline = 'middle';
    ctx.fillText(ch, 10, 36);
    const data = ctx.getImageData(0, 0, 72, 72).data;
    const alpha = new Uint8Array(data.length / 4);
    for (let i = 0; i < alpha.length; i++) alpha[i] = data[4 * i + 3];
    return alpha;
  };
  const same = (a, b) => a.every((v, i) => v === b[i]);
  const boxes = ['\\uE000', '\\uF8FE', '\\u{10FFFD}'].map(draw);
  const blank = draw(' ');
  const controlsAgree = same(boxes[0], boxes[1]) && same(boxes[0], boxes[2]) && !same(boxes[0], blank);
  const missing = chars.filter((ch) => { const d = draw(ch); return boxes.some((b) => same(b, d)) || same(d, blank); });
  return {font, controlsAgree, missing};
}"""


def _letters_by_script() -> dict[str, dict]:
    """Every distinct letter of the demo test split, by Unicode script (the first word of a
    character's name: LATIN, TAMIL, CJK...), with one sentence of that script and its language."""
    import unicodedata

    from xling.config import Paths
    from xling.data.texts import load_corpus_collection

    scripts: dict[str, dict] = {}
    for text in load_corpus_collection(Paths.from_env().demo_corpus, split="test").texts:
        for ch in text.text:
            if not unicodedata.category(ch).startswith("L"):
                continue
            # ª and º are named FEMININE/MASCULINE ORDINAL INDICATOR; KATAKANA-HIRAGANA is Japanese
            script = "LATIN" if ch < "\u0250" else unicodedata.name(ch, "UNKNOWN").split()[0].split("-")[0]
            entry = scripts.setdefault(script, {"letters": set(), "sample": None})
            entry["letters"].add(ch)
            if entry["sample"] is None and 20 <= len(text.text) <= 90:
                entry["sample"] = (text.lang, text.text)
    return scripts


def test_every_script_of_the_corpus_has_glyphs_in_the_browser(page):
    """With the fonts the README names (.ci/run installs them), Chromium draws every letter of the
    demo corpus; a screenshot shows one sentence per script (test-output/browser/scripts.png)."""
    scripts = _letters_by_script()
    assert len(scripts) >= 15, sorted(scripts)  # Latin, Cyrillic, Greek, Arabic, Devanagari, Tamil, CJK...
    chars = sorted(set().union(*(entry["letters"] for entry in scripts.values())))
    found = page.evaluate(_MISSING_GLYPHS_JS, chars)
    assert found["controlsAgree"], f"the no-glyph box could not be told apart under {found['font']!r}"
    missing = {script: "".join(sorted(entry["letters"] & set(found["missing"])))
               for script, entry in scripts.items() if entry["letters"] & set(found["missing"])}
    assert not missing, f"no glyph in any installed font for: {missing} (font stack {found['font']!r})"

    rows = [[f"{script.title()} ({entry['sample'][0]}): ", entry["sample"][1]]
            for script, entry in sorted(scripts.items()) if entry["sample"]]
    page.evaluate("""(rows) => { const box = document.createElement('div'); box.id = 'xling-script-sheet';
        box.style.cssText = 'font-size:22px;line-height:1.6;padding:16px;background:#fff;color:#111';
        for (const [label, text] of rows) {
          const line = box.appendChild(document.createElement('div'));
          line.appendChild(document.createElement('b')).textContent = label;
          line.appendChild(document.createTextNode(text));
        }
        document.body.prepend(box); }""", rows)
    try:
        path = OUTPUT / "scripts.png"
        page.locator("#xling-script-sheet").screenshot(path=str(path))
        assert path.stat().st_size > 10_000
    finally:
        page.evaluate("() => document.getElementById('xling-script-sheet').remove()")
