"""Thin handlers: parse, call one thing, answer."""

from __future__ import annotations

from starlette.requests import HTTPConnection

from ..runtime import Runtime


def runtime(conn: HTTPConnection) -> Runtime:
    return conn.state.runtime


def owner(conn: HTTPConnection) -> str | None:
    return getattr(conn.state, "owner", None)
