"""The error hierarchy and its one mapping to RFC 9457 problem documents."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from vidpulse.server.schemas import Problem

log = logging.getLogger("vidpulse.errors")

PROBLEM_TYPE_BASE = "https://vidpulse.dev/problems/"


class VidpulseError(Exception):
    """An error a client can act on. `slug` names the problem type; `detail` is one readable sentence."""

    status: int = 400
    slug: str = "bad-request"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra

    @property
    def headers(self) -> dict[str, str]:
        return {}


class BadRequest(VidpulseError):
    status, slug = 400, "bad-request"


class Unauthorized(VidpulseError):
    status, slug = 401, "unauthorized"

    @property
    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": 'Bearer realm="vidpulse"'}


class NotFound(VidpulseError):
    status, slug = 404, "not-found"


class Conflict(VidpulseError):
    status, slug = 409, "conflict"


class Gone(VidpulseError):
    status, slug = 410, "gone"


class PreconditionFailed(VidpulseError):
    status, slug = 412, "precondition-failed"

    def __init__(self, detail: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(detail)
        self._headers = dict(headers or {})

    @property
    def headers(self) -> dict[str, str]:
        return self._headers


class Locked(VidpulseError):
    status, slug = 423, "locked"

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": "1"}


class ChecksumMismatch(VidpulseError):
    """tus's checksum extension: the chunk does not match its Upload-Checksum (a status of tus's own)."""

    status, slug = 460, "checksum-mismatch"


class PayloadTooLarge(VidpulseError):
    status, slug = 413, "payload-too-large"


class UnsupportedMediaType(VidpulseError):
    status, slug = 415, "unsupported-media-type"


class Unprocessable(VidpulseError):
    status, slug = 422, "unprocessable"


class RangeNotSatisfiable(VidpulseError):
    status, slug = 416, "range-not-satisfiable"

    def __init__(self, detail: str, size: int) -> None:
        super().__init__(detail)
        self.size = size

    @property
    def headers(self) -> dict[str, str]:
        return {"Content-Range": f"bytes */{self.size}"}


class UpgradeRequired(VidpulseError):
    status, slug = 426, "upgrade-required"

    @property
    def headers(self) -> dict[str, str]:
        return {"Upgrade": "websocket", "Connection": "Upgrade"}


class TooManyRequests(VidpulseError):
    status, slug = 429, "queue-full"

    def __init__(self, detail: str, retry_after_s: int) -> None:
        super().__init__(detail, retry_after_s=retry_after_s)
        self.retry_after_s = retry_after_s

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after_s)}


class ServiceUnavailable(VidpulseError):
    status, slug = 503, "unavailable"

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": "5"}


class InsufficientStorage(VidpulseError):
    status, slug = 507, "insufficient-storage"


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
