"""What the sync and async clients share: URLs, headers, and the typed reading of answers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import httpx

from vidpulse import __version__
from vidpulse.processing.live.schema import LiveReport
from vidpulse.processing.schema import Report
from vidpulse.server.schemas import Session

from .errors import check

DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0)


def session_path(session_id: str, *rest: str) -> str:
    return "/".join(["/api/sessions", quote(session_id, safe=""), *(quote(part, safe="") for part in rest)])


def headers(api_key: str | None) -> dict[str, str]:
    base = {"user-agent": f"vidpulse-client/{__version__}"}
    return {**base, "authorization": f"Bearer {api_key}"} if api_key else base


def retry_body(options: dict[str, Any] | None) -> dict[str, Any]:
    """The retry request: new analysis options for the new attempt, or the session's own."""
    return {} if options is None else {"options": options}


def session(response: httpx.Response) -> Session:
    return Session.model_validate_json(check(response).content)


def report(response: httpx.Response) -> Report:
    """The report: a LiveReport (a Report with `incidents`) for a live session."""
    body: dict[str, Any] = check(response).json()
    return (LiveReport if "incidents" in body else Report).model_validate(body)


def live_body(url: str, options: Mapping[str, Any] | None) -> dict[str, Any]:
    """The request that follows a live source (docs/api.md, "Live sources")."""
    return {"url": url, "live": True, **({"options": dict(options)} if options is not None else {})}


def page(response: httpx.Response) -> tuple[list[Session], str | None]:
    body: dict[str, Any] = check(response).json()
    return [Session.model_validate(item) for item in body["items"]], body["next_cursor"]


def items(response: httpx.Response) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = check(response).json()["items"]
    return found
