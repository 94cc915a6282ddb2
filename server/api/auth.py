"""API keys: Bearer header, or `?access_token=` where a browser cannot set headers."""

from __future__ import annotations

import hmac

from starlette.datastructures import Headers, QueryParams
from starlette.types import ASGIApp, Receive, Scope, Send

from vidpulse.server.api.problems import problem_response
from vidpulse.server.sessions.names import owner_of

OPEN_PATHS = frozenset({"/", "/healthz", "/readyz", "/openapi.json"})
OPEN_PREFIXES = ("/static/",)


def key_from(scope: Scope) -> str | None:
    auth = Headers(scope=scope).get("authorization", "")
    scheme, _, token = auth.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    # EventSource, browser WebSockets, <video> and <img> cannot set headers.
    if scope["type"] == "websocket" or scope.get("method") in ("GET", "HEAD"):
        return QueryParams(scope.get("query_string", b"").decode("latin-1")).get("access_token") or None
    return None


def key_is_valid(key: str, keys: tuple[str, ...]) -> bool:
    # Compare against every key, always, so timing says nothing about which or how many matched.
    matched = False
    for candidate in keys:
        matched |= hmac.compare_digest(key.encode(), candidate.encode())
    return matched


class AuthMiddleware:
    """Puts the caller's owner digest in `scope["state"]["owner"]`; refuses a missing or wrong key."""

    def __init__(self, app: ASGIApp, api_keys: tuple[str, ...]) -> None:
        self.app = app
        self.api_keys = api_keys

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        scope.setdefault("state", {})["owner"] = None
        path = scope["path"]
        if not self.api_keys or path in OPEN_PATHS or path.startswith(OPEN_PREFIXES):
            await self.app(scope, receive, send)
            return
        key = key_from(scope)
        if key is None or not key_is_valid(key, self.api_keys):
            detail = "An API key is required." if key is None else "The API key is not valid."
            if scope["type"] == "websocket":
                # Accept, then close with 4401: a refusal before the handshake reaches a browser
                # only as code 1006, which it cannot tell from a network failure.
                if (await receive())["type"] == "websocket.connect":
                    await send({"type": "websocket.accept"})
                    await send({"type": "websocket.close", "code": 4401, "reason": detail})
                return
            response = problem_response(401, detail, "unauthorized",
                                        headers={"WWW-Authenticate": 'Bearer realm="vidpulse"'})
            await response(scope, receive, send)
            return
        scope["state"]["owner"] = owner_of(key)
        await self.app(scope, receive, send)
