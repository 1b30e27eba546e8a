"""Limits on what the app's HTTP server reads: a request body larger than any page sends is refused
before it is read, so a stranger cannot fill the server's memory with a few large POSTs.

Example:
    >>> from starlette.middleware import Middleware
    >>> Middleware(BodyLimit, max_bytes=2 * 2**20)        # doctest: +ELLIPSIS
    Middleware(BodyLimit, max_bytes=2097152)
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

log = logging.getLogger("xling.ui")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Awaitable[None]]

#: A page's requests carry text and settings (a 100,000-character text is ~0.4 MB of JSON).
MAX_REQUEST_BYTES = 2 * 2**20
#: Uploads have their own limit (``launch(max_file_size=...)``), checked by gradio as they stream in.
UPLOAD_PATHS = ("/gradio_api/upload",)


class BodyLimit:
    """ASGI middleware: a request whose body is over ``max_bytes`` gets ``413`` (by its
    ``Content-Length`` before anything is read, or as soon as a chunked body passes the limit);
    paths under ``exempt`` (uploads) are left to their own limit.

    Args:
        app: the wrapped application.
        max_bytes: the largest body accepted.
        exempt: path prefixes not checked.
    """

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_REQUEST_BYTES, exempt: tuple[str, ...] = UPLOAD_PATHS):
        self.app, self.max_bytes, self.exempt = app, max_bytes, exempt

    async def __call__(self, scope: Scope, receive: Callable[[], Awaitable[Message]],
                       send: Callable[[Message], Awaitable[None]]) -> None:
        if scope["type"] != "http" or any(scope.get("path", "").endswith(p) for p in self.exempt):
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            await self._refuse(scope, send)
            return
        # No length given (a chunked body): read it here, up to the limit, then hand it on.
        messages, seen = [], 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                await self._refuse(scope, send)
                return
            if not message.get("more_body", False):
                break
        replay = iter(messages)

        async def replayed() -> Message:
            return next(replay, None) or await receive()

        await self.app(scope, replayed, send)

    async def _refuse(self, scope: Scope, send: Callable[[Message], Awaitable[None]]) -> None:
        log.warning("refused a request: %s %s: body over %d bytes", scope.get("method"), scope.get("path"),
                    self.max_bytes)
        body = json.dumps({"detail": f"request body over the {self.max_bytes // 2**20} MB limit"}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
