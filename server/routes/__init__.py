"""Thin handlers: parse, call one thing, answer."""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel
from starlette.requests import HTTPConnection
from starlette.responses import Response

from ..runtime import Runtime


def runtime(conn: HTTPConnection) -> Runtime:
    return conn.state.runtime


def owner(conn: HTTPConnection) -> str | None:
    return getattr(conn.state, "owner", None)


def answer(model: BaseModel, status_code: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    """A JSON body from one of server/schemas.py's models, encoded by pydantic (no dict in between)."""
    return Response(model.model_dump_json(by_alias=True), status_code, headers, media_type="application/json")
