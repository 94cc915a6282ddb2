"""Request context: a request id on every log line of a request, and one access line at its end."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vidpulse.server.logs import request_id_var, session_id_var

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
access_log = logging.getLogger("vidpulse.access")

RequestObserver = Callable[[Scope, int, float], None]


class RequestContextMiddleware:
    """A request id per request (the caller's X-Request-ID when it is sane), echoed in the
    response, on every log line of the request, and in one access line when it ends; `observe`
    gets the status and duration too (metrics). One wrapper around `send` serves both, since
    every SSE event passes through it."""

    def __init__(self, app: ASGIApp, observe: RequestObserver) -> None:
        self.app = app
        self.observe = observe

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        given = Headers(scope=scope).get("x-request-id", "")
        request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex[:16]
        request_id_var.set(request_id)
        session_id_var.set(None)
        started = time.perf_counter()
        status = 0

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            self.observe(scope, status, seconds)
            access_log.info("%s %s %s", scope.get("method", "WS"), scope["path"], status or "-",
                            extra={"status": status, "duration_ms": round(seconds * 1000, 1)})
