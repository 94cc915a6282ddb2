"""The error hierarchy's one mapping to RFC 9457 problem documents (server/errors.py)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from vidpulse.server.errors import VidpulseError
from vidpulse.server.schemas import Problem

log = logging.getLogger("vidpulse.errors")

PROBLEM_TYPE_BASE = "https://vidpulse.dev/problems/"


# Statuses that http.HTTPStatus does not know.
_TITLES = {460: "Checksum Mismatch"}


def problem(status: int, detail: str, slug: str | None = None, **extra: Any) -> dict[str, Any]:
    title = _TITLES.get(status) or HTTPStatus(status).phrase
    return Problem(type=PROBLEM_TYPE_BASE + (slug or title.lower().replace(" ", "-")), title=title, status=status,
                   detail=detail, **extra).model_dump(mode="json", exclude_unset=True)


def problem_response(status: int, detail: str, slug: str | None = None,
                     headers: Mapping[str, str] | None = None, **extra: Any) -> Response:
    return JSONResponse(problem(status, detail, slug, **extra), status_code=status, headers=headers,
                        media_type="application/problem+json")


async def handle_vidpulse_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, VidpulseError)
    return problem_response(exc.status, exc.detail, exc.slug, exc.headers, **exc.extra)


async def handle_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    detail = exc.detail if exc.detail != HTTPStatus(exc.status_code).phrase else _default_detail(request, exc)
    return problem_response(exc.status_code, detail, headers=exc.headers)


async def handle_unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return problem_response(500, "The server hit an unexpected error; it has been logged.")


def _default_detail(request: Request, exc: HTTPException) -> str:
    if exc.status_code == 404:
        return f"Nothing is at {request.url.path}."
    if exc.status_code == 405:
        return f"{request.method} is not allowed on {request.url.path}."
    return HTTPStatus(exc.status_code).description or HTTPStatus(exc.status_code).phrase


EXCEPTION_HANDLERS = {
    VidpulseError: handle_vidpulse_error,
    HTTPException: handle_http_exception,
    Exception: handle_unexpected,
}
