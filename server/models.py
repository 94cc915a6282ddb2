"""Sessions, their states, and the events of their logs."""

from __future__ import annotations

import json
import secrets
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from functools import cached_property
from typing import Any


class SessionState(StrEnum):
    UPLOADING = "uploading"  # resumable uploads and URL ingest only, until the last byte is in
    QUEUED = "queued"
    RUNNING = "running"
    CANCELLING = "cancelling"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in FINISHED_STATES


FINISHED_STATES = frozenset({SessionState.SUCCEEDED, SessionState.FAILED, SessionState.CANCELLED})
# States in which a session must have a job (queued, or taken by a worker); reconciliation looks
# for sessions in these states that have none.
JOB_STATES = frozenset({SessionState.QUEUED, SessionState.RUNNING, SessionState.CANCELLING})


class EventType(StrEnum):
    SNAPSHOT = "snapshot"
    QUEUED = "queued"
    STARTED = "started"
    STAGE = "stage"
    PROGRESS = "progress"
    SCENE = "scene"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL_EVENTS


TERMINAL_EVENTS = frozenset({EventType.SUCCEEDED, EventType.FAILED, EventType.CANCELLED, EventType.EXPIRED})


def utcnow() -> datetime:
    return datetime.now(UTC)


def isoformat(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value.replace("Z", "+00:00"))


def new_session_id() -> str:
    return "s_" + secrets.token_hex(16)


def event_order(event_id: str) -> tuple[int, int]:
    """Sort key of an event id: "17" (memory log) or "1732440000000-3" (Redis stream)."""
    major, _, minor = event_id.partition("-")
    return int(major), int(minor or 0)


@dataclass(frozen=True)
class Event:
    id: str | None
    session: str
    type: EventType
    ts: str
    data: dict[str, Any]

    @classmethod
    def create(cls, event_id: str | None, session: str, type: EventType, data: dict[str, Any]) -> Event:
        return cls(event_id, session, type, isoformat(utcnow()) or "", data)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "session": self.session, "type": self.type.value, "ts": self.ts,
                "data": self.data}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Event:
        return cls(raw["id"], raw["session"], EventType(raw["type"]), raw["ts"], raw["data"])

    # Encoded once per event and shared by every subscriber: fan-out must not re-encode.
    @cached_property
    def json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"))

    @cached_property
    def sse(self) -> bytes:
        head = f"id: {self.id}\r\n" if self.id is not None else ""
        return f"{head}event: {self.type.value}\r\ndata: {self.json}\r\n\r\n".encode()


@dataclass
class Session:
    id: str
    filename: str
    owner: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    state: SessionState = SessionState.QUEUED
    created_at: datetime = field(default_factory=utcnow)
    started_at: datetime | None = None
    finished_at: datetime | None = None
    video: dict[str, Any] | None = None
    progress: dict[str, Any] | None = None
    error: dict[str, str] | None = None
    summary: dict[str, Any] | None = None
    last_event_id: str | None = None
    attempts: int = 0
    # Resumable upload or URL ingest: {"offset", "length", "expires_at" (tus only), "via": "tus" | "url"}.
    upload: dict[str, Any] | None = None

    @property
    def via(self) -> str | None:
        """How the video arrives: "tus", "url", or None for one multipart POST."""
        return None if self.upload is None else self.upload.get("via")

    def to_manifest(self) -> dict[str, Any]:
        raw = asdict(self)
        raw["state"] = self.state.value
        for key in ("created_at", "started_at", "finished_at"):
            raw[key] = isoformat(getattr(self, key))
        return raw

    @classmethod
    def from_manifest(cls, raw: dict[str, Any]) -> Session:
        raw = dict(raw)
        raw["state"] = SessionState(raw["state"])
        for key in ("created_at", "started_at", "finished_at"):
            raw[key] = parse_time(raw.get(key))
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in raw.items() if k in known})
