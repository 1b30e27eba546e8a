"""Placeholder: replaced by the search tab."""

from __future__ import annotations

import gradio as gr

from xling.core.services import Services


def create_search_tab(services: Services) -> dict[str, gr.components.Component]:
    return {"note": gr.Markdown("coming")}
