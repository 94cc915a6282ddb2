"""Thin handlers: parse, call one thing, answer."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import TypeVar

from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, HTTPConnection, Request
from starlette.responses import Response
from starlette.routing import Route

from vidpulse.server.errors import BadRequest, PayloadTooLarge, Unprocessable, UnsupportedMediaType
from vidpulse.server.runtime import Runtime
from vidpulse.server.uploads.multipart import MultipartBody

Handler = Callable[[Request], Awaitable[Response]]
M = TypeVar("M", bound=BaseModel)


def runtime(conn: HTTPConnection) -> Runtime:
    return conn.state.runtime


def owner(conn: HTTPConnection) -> str | None:
    return getattr(conn.state, "owner", None)


def answer(model: BaseModel, status_code: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    """A JSON body from one of server/schemas.py's models, encoded by pydantic (no dict in between)."""
    return Response(model.model_dump_json(by_alias=True), status_code, headers, media_type="application/json")


class Resource(Route):
    """One Route per path, whatever its methods. Starlette answers a method a path lacks from the
    FIRST route whose path matches, so two Routes on one path sent a 405 with half the `Allow`; and
    every method (TRACE, OPTIONS, ...) must reach the same 405 problem document."""

    def __init__(self, path: str, **handlers: Handler) -> None:
        table = {method.upper(): handler for method, handler in handlers.items()}
        if "GET" in table:
            table.setdefault("HEAD", table["GET"])
        allow = ", ".join(sorted(table))

        async def dispatch(request: Request) -> Response:
            handler = table.get(request.method)
            if handler is None:
                raise HTTPException(405, headers={"Allow": allow})
            return await handler(request)

        super().__init__(path, dispatch, name="_".join(h.__name__ for h in handlers.values()), methods=list(table))
        self.allowed = frozenset(table)
        self.methods = None  # matches every method; `dispatch` refuses the others


def is_json(request: Request) -> bool:
    return request.headers.get("content-type", "").split(";")[0].strip().lower() == "application/json"


async def body_chunks(request: Request) -> AsyncIterator[bytes]:
    """The request body as it arrives; a client that goes away is a 400 for whoever reads it."""
    try:
        async for chunk in request.stream():
            yield chunk
    except ClientDisconnect as exc:
        raise BadRequest("The client went away before the upload finished.") from exc


def multipart_body(request: Request) -> MultipartBody:
    headers = request.headers
    return MultipartBody(headers.get("content-type"), headers.get("content-length"), body_chunks(request))


async def json_body(request: Request, model: type[M], shape: str) -> M | None:
    """A small JSON body as `model` (None when there is none); `shape` shows the expected object in the
    415 for anything but an object."""
    body = await small_body(request)
    if not body.strip():
        return None
    try:
        payload = json.loads(body)
    except ValueError as exc:
        raise Unprocessable("The body is not valid JSON.") from exc
    if not isinstance(payload, dict):
        raise UnsupportedMediaType(f"Send {shape} as a JSON object.")
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = ".".join(str(part) for part in error["loc"])
        raise Unprocessable(f"'{field}': {error['msg']}.", field=field) from exc


async def small_body(request: Request, limit: int = 64 * 1024) -> bytes:
    """A JSON request body, read whole but never past `limit`."""
    body = bytearray()
    async for chunk in body_chunks(request):
        body += chunk
        if len(body) > limit:
            raise PayloadTooLarge(f"A JSON request body is at most {limit // 1024} KB; upload videos as multipart "
                                  "or with tus.")
    return bytes(body)
