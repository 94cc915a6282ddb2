"""The error hierarchy: what a client can act on, with its HTTP status and problem type. Its one
mapping to RFC 9457 problem documents is server/api/problems.py."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


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
