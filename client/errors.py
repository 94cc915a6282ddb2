"""The one error the client raises, carrying the server's RFC 9457 problem document."""

from __future__ import annotations

from typing import Any

import httpx


class VidpulseError(Exception):
    """A refusal or failure. `status` is the HTTP status (None when the server could not be
    reached); `problem` is the server's problem document (None when there was none)."""

    def __init__(self, message: str, status: int | None = None, problem: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.problem = problem

    @classmethod
    def from_response(cls, response: httpx.Response) -> VidpulseError:
        problem: dict[str, Any] | None = None
        try:
            body = response.json()
            if isinstance(body, dict) and "status" in body:
                problem = body
        except ValueError:
            pass
        detail = (problem or {}).get("detail") or response.reason_phrase or "error"
        return cls(f"{response.status_code}: {detail}", response.status_code, problem)


def check(response: httpx.Response) -> httpx.Response:
    """The response, or VidpulseError when it is not a success (its body must have been read)."""
    if response.is_success:
        return response
    raise VidpulseError.from_response(response)
