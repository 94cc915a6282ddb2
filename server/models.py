"""Sessions, their states, and the events of their logs."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from enum import StrEnum
from functools import cached_property
from typing import Any, Literal

from pydantic import Field, TypeAdapter

from vidpulse.processing import AnalysisOptions
from vidpulse.processing.errors import AnalysisError
from vidpulse.processing.live.options import LiveOptions
from vidpulse.processing.progress import STAGES
from vidpulse.processing.schema import Closed, Timing, VideoInfo


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
    LEVELS = "levels"  # live sessions: once a second
    INCIDENT = "incident"  # live sessions: as each incident opens and closes
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL_EVENTS


TERMINAL_EVENTS = frozenset({EventType.SUCCEEDED, EventType.FAILED, EventType.CANCELLED, EventType.EXPIRED})
# A live session's log keeps these for LIVE_LOG_S only (a day of them would be a quarter of a million
# events); every other event stays for as long as the session.
EXPIRING_EVENTS = frozenset({EventType.PROGRESS, EventType.LEVELS})


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


# A session's parts (also wire models: server/schemas.py publishes them) ------------------------

Stage = StrEnum("Stage", {name.upper(): name for name in ("upload", *STAGES, "live")})  # type: ignore[misc]
Stage.__doc__ = ("The stages of a session, in order: upload (resumable uploads and URL ingest), then the analysis's; "
                 "a live session's analysis is one stage, live.")


def _failure_codes() -> tuple[str, ...]:
    """Every code a failed session can carry: the analysis errors' own, then the server's."""
    codes: list[str] = []
    pending: list[type[AnalysisError]] = [AnalysisError]
    while pending:
        cls = pending.pop(0)
        if cls.code not in codes and cls.code != "cancelled":
            codes.append(cls.code)
        pending += cls.__subclasses__()
    return (*codes, "worker_crashed", "timeout", "out_of_memory", "internal", "fetch_failed")


FAILURE_CODES = _failure_codes()


class Progress(Closed):
    attempt: int = Field(ge=1, description="the attempt this progress belongs to (see `started`)")
    fraction: float = Field(ge=0, le=1, description="across all stages of the attempt; never decreases within "
                                                    "it; 1.0 at the end")
    stage: Stage
    frame: int = Field(ge=0, description="frames done in the current stage")
    total_frames: int = Field(ge=0)
    fps: float = Field(ge=0, description="speed of the current stage")
    eta_s: float | None = Field(ge=0, description="null while unknown")


class UploadProgress(Closed):
    """Progress of a resumable upload or a URL ingest (state `uploading`)."""

    fraction: float = Field(ge=0, le=1, description="offset / length; 0 while the length is unknown")
    stage: Literal["upload"]
    offset: int = Field(ge=0, description="bytes received")
    length: int | None = Field(ge=1, description="null while unknown (URL ingest without Content-Length)")
    bytes_per_s: int | None = Field(ge=0, description="over the current chunk or download")
    eta_s: float | None = Field(ge=0, description="null while unknown")


class LiveProgress(Closed):
    """Progress of a live session (stage `live`): there is no fraction of a stream without an end."""

    attempt: int = Field(ge=1, description="the attempt this progress belongs to (see `started`)")
    stage: Literal["live"]
    media_s: float = Field(ge=0, description="the session's timeline analysed so far, seconds")
    fps: float = Field(ge=0, description="frames analysed a second, lately")
    lag_s: float = Field(ge=0, description="how far behind the source's newest media the analysis is, seconds")


class SessionError(Closed):
    code: str = Field(examples=list(FAILURE_CODES), description=(
        "stable and machine-readable: " + ", ".join(FAILURE_CODES) + " (and more may come)"))
    message: str = Field(description="one readable sentence")


class Summary(Closed):
    cuts: int = Field(ge=0)
    scenes: int = Field(ge=0)
    black_segments: int = Field(ge=0)
    frozen_segments: int = Field(ge=0)
    blurry_segments: int = Field(ge=0)
    artifacts: list[str]
    timing: Timing


Via = Literal["tus", "url"]


class StoredUpload(Closed):
    """How a resumable upload or a URL ingest stands, as stored (the document shows part of it)."""

    offset: int = Field(default=0, ge=0)
    length: int | None = None
    via: Via
    expires_at: str | None = None  # tus only, while unfinished
    metadata: str | None = None  # the tus Upload-Metadata header, as sent

    def advanced(self, **changes: Any) -> StoredUpload:
        return self.model_copy(update=changes)


class LiveSource(Closed):
    """Where a live session's media comes from, as stored (the document shows none of it: the URL may
    carry a token)."""

    url: str
    stop_requested: bool = False  # POST .../stop: the host running it ends it with a report


SessionKind = Literal["file", "live"]
AnyProgress = Progress | UploadProgress | LiveProgress
PROGRESS = TypeAdapter(AnyProgress)


# Fields of Session stored as JSON objects, and how each is read back.
_PARTS: dict[str, Callable[[Any], Any]] = {
    "video": VideoInfo.model_validate, "progress": PROGRESS.validate_python,
    "error": SessionError.model_validate, "summary": Summary.model_validate, "upload": StoredUpload.model_validate,
    "live": LiveSource.model_validate,
}
_TIMES = ("created_at", "started_at", "finished_at", "queued_at")


@dataclass
class Session:
    id: str
    filename: str
    owner: str | None = None
    options: AnalysisOptions = field(default_factory=AnalysisOptions)
    state: SessionState = SessionState.QUEUED
    created_at: datetime = field(default_factory=utcnow)
    started_at: datetime | None = None
    finished_at: datetime | None = None
    video: VideoInfo | None = None
    progress: AnyProgress | None = None
    error: SessionError | None = None
    summary: Summary | None = None
    last_event_id: str | None = None
    attempts: int = 0  # the number of the latest attempt; 0 until the first starts
    # The first attempt of the current run: 1, or the next attempt after a client's retry. Crashes count
    # towards the attempts limit within a run only.
    run_from: int = 1
    # Attempts of the current run that a stopping host handed back (jobs/dispatch.py): they do not
    # count towards the attempts limit either.
    interrupted: int = 0
    # The attempt whose artifacts are the session's (`artifacts/<n>/`, storage/base.py), set by the
    # fenced save of `succeeded`; None: none yet, or stored flat by a version without attempt folders.
    artifacts_attempt: int | None = None
    upload: StoredUpload | None = None  # a resumable upload or a URL ingest
    trace: str | None = None  # the W3C traceparent of the request that created it (server/ops/tracing.py)
    queued_at: datetime | None = None  # when the current job was queued
    kind: SessionKind = "file"
    live: LiveSource | None = None  # a live session's source

    @property
    def attempt(self) -> int:
        return self.attempts

    @property
    def run_attempts(self) -> int:
        """Attempts made in the current run."""
        return self.attempts - self.run_from + 1

    @property
    def counted_attempts(self) -> int:
        """Attempts of the current run that count towards the limit: all but those handed back."""
        return self.run_attempts - self.interrupted

    @property
    def via(self) -> str | None:
        """How the video arrives: "tus", "url", or None for one multipart POST."""
        return None if self.upload is None else self.upload.via

    def to_manifest(self) -> dict[str, Any]:
        raw: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self)}
        raw["state"] = self.state.value
        raw["options"] = self.options.to_dict()
        for key in _TIMES:
            raw[key] = isoformat(raw[key])
        for key in _PARTS:
            raw[key] = None if raw[key] is None else raw[key].model_dump(mode="json")
        return raw

    @classmethod
    def from_manifest(cls, raw: dict[str, Any]) -> Session:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in raw.items() if k in known}
        values["state"] = SessionState(values["state"])
        options = LiveOptions if values.get("kind") == "live" else AnalysisOptions
        values["options"] = options.from_mapping(values.get("options") or {})
        for key in _TIMES:
            values[key] = parse_time(values.get(key))
        for key, parse in _PARTS.items():
            if values.get(key) is not None:
                values[key] = parse(values[key])
        return cls(**values)
