"""The wire formats of the API as pydantic models: the one source of /openapi.json's schemas.

Imports pydantic and vidpulse.processing.schema only (never starlette), so a client can import it
cheaply. Every model here is a component of /openapi.json under its class name.

How to add...
- a field to a document: add it to the model (with a `description`; a default if older producers
  or stored manifests lack it). The server builds these models, so it must then produce it.
- an event type: add it to `EventType` (server/models.py) and its data model to `EVENT_DATA` below;
  the `XxxEvent` component and the `Event` union follow.
- a WebSocket op: a model with `op: Literal[...]` added to `WsClientMessage`, and `op_<name>` in
  server/api/ws.py.
- a problem extension member: a field of `Problem`.
- an operation: a row in server/api/openapi.py's `OPERATIONS`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, RootModel, WithJsonSchema, create_model

from vidpulse.processing.live.schema import Incident, LiveOptionsModel, LiveReport
from vidpulse.processing.schema import Artifact, Closed, Options, Report, Scene, Timing, VideoInfo
from vidpulse.server import models
from vidpulse.server.models import (
    EventType,
    LiveProgress,
    Progress,
    SessionError,
    SessionState,
    Stage,
    StoredUpload,
    Summary,
    UploadProgress,
    isoformat,
)

__all__ = ["EVENT_DATA", "Artifact", "Event", "Options", "Report", "Session", "Timing", "VideoInfo"]

Timestamp = Annotated[str, WithJsonSchema({"type": "string", "format": "date-time"})]
Link = Annotated[str, WithJsonSchema({"type": "string", "format": "uri-reference"})]

# Sessions ---------------------------------------------------------------------------------------

class ProgressData(RootModel[Progress | UploadProgress | LiveProgress]):
    """A `progress` event's data: the analysis's, an upload's (stage `upload`), or a live session's
    (stage `live`)."""


class Upload(Closed):
    """A resumable upload (tus) or a URL ingest; null for a multipart upload."""

    offset: int = Field(ge=0, description="bytes received and kept")
    length: int | None = Field(ge=1, description="null while unknown (URL ingest)")
    expires_at: Timestamp | None = Field(description=(
        "tus, while unfinished: the upload is removed then (UPLOAD_TTL_S after its last byte)"))

    @classmethod
    def of(cls, stored: StoredUpload | None) -> Upload | None:
        if stored is None:
            return None
        expires = stored.expires_at if stored.via == "tus" else None  # a fetch does not expire
        return cls(offset=stored.offset, length=stored.length, expires_at=expires)


def _with_callback(name: str, base: type[BaseModel], doc: str) -> type[BaseModel]:
    return create_model(name, __base__=base, __doc__=doc, callback_url=(str | None, Field(
        default=None, json_schema_extra={"format": "uri"}, description=(
            "also POST this session's webhook here (needs WEBHOOK_SECRET on the server; a private or loopback "
            "address is a 422 unless ALLOW_PRIVATE_URLS=1)"))))


UploadOptions = _with_callback("UploadOptions", Options, (
    "The options of an upload (multipart field, tus metadata or URL ingest): the analysis options, and where to "
    "send this session's webhook."))
IngestOptions = _with_callback("IngestOptions", LiveOptionsModel, (
    "The options of a URL ingest: the analysis options, where to send this session's webhook, and for a live "
    "source (`live: true`) only, `max_duration_s`, `reconnect_s`, `incident_min_s` and `notify_incidents`."))


class IngestRequest(Closed):
    """`POST /api/sessions` with JSON: the server downloads the video from `url`, or follows it live."""

    url: str = Field(min_length=1, description=(
        "http or https (with `live`: an HLS playlist, or an rtmp:// or rtsp:// stream); refused (422, "
        "`field: url`) when it resolves to a loopback, private, link-local or otherwise non-public address, "
        "unless ALLOW_PRIVATE_URLS=1"))
    live: bool = Field(default=False, description=(
        "follow `url` as a live source (a session of kind `live`) instead of downloading a file"))
    options: IngestOptions | None = Field(default=None, description=(  # type: ignore[valid-type]
        "the analysis options, `callback_url` for this session's webhook, and a live session's own"))


class SessionLinks(Closed):
    self: Link
    events: Link
    results: Link
    cancel: Link
    files: Link = Field(description="append an artifact name")
    upload: Link | None = Field(default=None, description="tus: the upload's URL; null otherwise")

    @classmethod
    def of(cls, session_id: str, tus: bool = False) -> SessionLinks:
        base = f"/api/sessions/{session_id}"
        return cls(self=base, events=f"{base}/events", results=f"{base}/results", cancel=f"{base}/cancel",
                   files=f"{base}/files/", upload=f"/api/uploads/{session_id}" if tus else None)


class Session(Closed):
    """A session: one uploaded video and its processing."""

    id: str = Field(pattern=r"^s_[0-9a-f]{32}$", description="unguessable (128 random bits)")
    state: SessionState
    created_at: Timestamp
    started_at: Timestamp | None
    finished_at: Timestamp | None
    kind: Literal["file", "live"] = Field(default="file", description=(
        "`live`: a live source followed until it ends or is stopped; `file`: everything else"))
    filename: str = Field(description="the uploaded file's name, made safe (a live source: its URL's last part)")
    video: VideoInfo | None
    progress: Progress | UploadProgress | LiveProgress | None = Field(description=(
        "the latest progress (1.0 at the end of a succeeded run); an upload's while `uploading`; a live "
        "session's (stage `live`) while it runs"))
    queue_position: int | None = Field(ge=1, description="1 is next; null unless the session is queued")
    error: SessionError | None
    attempt: int = Field(default=0, ge=0, description=(
        "the number of the latest attempt (see `started`); 0 until the first starts"))
    last_event_id: str | None = Field(description="the newest event of the log that this document reflects")
    upload: Upload | None = Field(description="a resumable upload or URL ingest; null for a multipart upload")
    links: SessionLinks

    @classmethod
    def of(cls, session: models.Session, queue_position: int | None = None) -> Session:
        """The document of a stored session: every field of this model that the stored session also
        has is copied, so a new field is added here and to models.Session, nowhere else."""
        stored = {name: getattr(session, name) for name in cls.model_fields if hasattr(session, name)}
        for name in ("created_at", "started_at", "finished_at"):
            stored[name] = isoformat(stored[name])
        # The stored upload also keeps how it arrives and its tus metadata: not for the document.
        stored["upload"] = Upload.of(session.upload)
        links = SessionLinks.of(session.id, tus=session.via == "tus")
        return cls.model_validate({**stored, "queue_position": queue_position, "links": links})


class SessionList(Closed):
    items: list[Session] = Field(description="newest first; at most `limit`")
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page")


# Events -----------------------------------------------------------------------------------------

class QueuedData(Closed):
    position: int | None = Field(ge=1, description="1 is next")


class StartedData(Closed):
    attempt: int = Field(ge=1, description="above 1 after a worker died")


class StageData(Closed):
    stage: Stage
    attempt: int = Field(ge=0, description="the attempt this stage belongs to; 0 for `upload`, before any")


class SceneData(Scene):
    """A `scene` event's data: the scene as the report will list it, and its attempt."""

    attempt: int = Field(ge=1)


class Snapshot(Session):
    """The data of the `snapshot` that opens every stream: what a client that joins late needs to draw
    the session as it is, the session document and the scenes found so far."""

    # A default, so that a client reading an older server's snapshot (the bare document) still parses it.
    scenes: list[SceneData] = Field(default_factory=list, description=(
        "the current attempt's `scene` events up to `last_event_id`, each as its event's data, oldest first; "
        "later scenes arrive as events"))
class LevelsData(Closed):
    """A live session's levels over one second of its timeline."""

    t_s: float = Field(ge=0, description="the second's start on the session's timeline")
    brightness: float = Field(ge=0, le=1, description="mean luma over the second: 0 video black, 1 video white")
    motion: float = Field(ge=0, le=1, description="mean share of pixels that changed between frames")
    loudness_momentary_lufs: float | None = Field(description="EBU R128 momentary (400 ms); null without sound "
                                                              "or below -70")
    loudness_short_term_lufs: float | None = Field(description="EBU R128 short-term (3 s); null without sound "
                                                               "or below -70")


class IncidentData(Incident):
    """An `incident` event's data: the incident as it stands, sent when it opens and again when it closes."""

    state: Literal["open", "closed"]


class RetryRequest(Closed):
    """`POST /api/sessions/{id}/retry`: optionally, new analysis options for the new attempt."""

    options: LiveOptionsModel | None = Field(default=None, description=(  # type: ignore[valid-type]
        "the analysis options of the new attempt (a re-analysis; a live session's own options too); the "
        "session's own when absent"))


class SucceededData(Closed):
    summary: Summary
    results: Link
    files: dict[str, Link] = Field(description="artifact name to its URL")


class Empty(Closed):
    pass


# One row per event type: its `data`. Adding an event type is a row here (and the EventType member).
EVENT_DATA: dict[EventType, type[BaseModel]] = {
    EventType.SNAPSHOT: Snapshot,
    EventType.QUEUED: QueuedData,
    EventType.STARTED: StartedData,
    EventType.STAGE: StageData,
    EventType.PROGRESS: ProgressData,
    EventType.SCENE: SceneData,  # as the report will list it, sent as soon as the scene closes
    EventType.LEVELS: LevelsData,
    EventType.INCIDENT: IncidentData,
    EventType.SUCCEEDED: SucceededData,
    EventType.FAILED: SessionError,
    EventType.CANCELLED: Empty,
    EventType.EXPIRED: Empty,
}
assert set(EVENT_DATA) == set(EventType), "every event type needs a data model"


def _event_model(event_type: EventType, data: type[BaseModel]) -> type[BaseModel]:
    id_type: Any = None if event_type is EventType.SNAPSHOT else str
    doc = "terminal: the stream closes after it" if event_type.terminal else event_type.value
    tag: Any = Literal[event_type.value]
    return create_model(
        event_type.value.capitalize() + "Event", __base__=Closed, __doc__=doc,
        id=(id_type, Field(description="opaque, ordered within a session; null on the snapshot")),
        session=(str, ...), type=(tag, ...), ts=(Timestamp, ...), data=(data, ...))


EVENT_MODELS = {event_type: _event_model(event_type, data) for event_type, data in EVENT_DATA.items()}


_EventUnion = Annotated[Union[tuple(EVENT_MODELS.values())], Field(discriminator="type")]  # type: ignore[valid-type]  # noqa: UP007


class Event(RootModel[_EventUnion]):  # type: ignore[valid-type]
    """One JSON shape on SSE (each `data:` line) and WebSocket; the terminal types end the stream."""


# WebSocket --------------------------------------------------------------------------------------

class WsOp(BaseModel):
    # Unknown members are ignored, so a newer client's extra hints never break an older server.
    model_config = ConfigDict(extra="ignore", frozen=True)

    session: str = Field(min_length=1)


class WsSubscribe(WsOp):
    op: Literal["subscribe"]
    after: str | None = Field(default=None,
                              description="replay the log after this event id (as Last-Event-ID)")


class WsUnsubscribe(WsOp):
    op: Literal["unsubscribe"]


class WsCancel(WsOp):
    op: Literal["cancel"]


WS_OPS = ("subscribe", "unsubscribe", "cancel")


class WsClientMessage(RootModel[Annotated[WsSubscribe | WsUnsubscribe | WsCancel, Field(discriminator="op")]]):
    """What a client sends on /api/ws."""


# ws.py's own codes; the slugs of the problem types (server/errors.py) come on top.
WS_ERROR_CODES = ("bad_message", "unknown_op", "too_large", "too_many")


class WsErrorData(Closed):
    code: str = Field(examples=list(WS_ERROR_CODES), description=(
        ", ".join(WS_ERROR_CODES) + ", or the slug of a problem type (not-found, conflict, ...)"))
    message: str
    op: str | None


class WsError(Closed):
    """The answer to a bad message; the socket and its other subscriptions stay open."""

    id: None
    session: str | None
    type: Literal["error"]
    ts: Timestamp
    data: WsErrorData


class WsServerMessage(RootModel[Event | WsError]):
    """What the server sends on /api/ws: events exactly as on SSE, or an error."""


# Problems and operations ------------------------------------------------------------------------

class Problem(Closed):
    """RFC 9457 problem details."""

    type: str = Field(json_schema_extra={"format": "uri"})
    title: str
    status: int = Field(ge=400, le=599)
    detail: str = Field(description="one readable sentence; never a stack trace")
    field: str | None = Field(default=None, description=(
        "the offending input, e.g. file, limit, cursor, options.width, range"))
    code: str | None = Field(default=None, description="e.g. undecodable, probe_timeout, too_large")
    state: SessionState | None = Field(default=None, description="on a 409: the session's state")
    retry_after_s: int | None = Field(default=None, ge=1, description="on a 429, as Retry-After")
    offset: int | None = Field(default=None, ge=0, description="on a tus 409: the upload's offset")


class Health(Closed):
    status: Literal["ok"]


class BackendHealth(Closed):
    name: Literal["memory", "redis"]
    ok: bool


class StorageHealth(Closed):
    name: Literal["local", "s3"]
    ok: bool


class WorkerHealth(Closed):
    alive: int = Field(ge=0)
    configured: int = Field(ge=0)


class Readiness(Closed):
    backend: BackendHealth
    storage: StorageHealth
    workers: WorkerHealth
    queued: int | None = Field(ge=0, description="null while the backend does not answer")
    tasks_down: list[str] = Field(description="required background loops that died and wait to be started "
                                              "again (503 meanwhile)")
    ready: bool


# Webhooks (server/notify/webhooks.py) -----------------------------------------------------------------

class WebhookType(StrEnum):
    SUCCEEDED = "session.succeeded"
    FAILED = "session.failed"
    CANCELLED = "session.cancelled"
    INCIDENT_OPENED = "session.incident.opened"  # a live session's, with the option notify_incidents
    INCIDENT_CLOSED = "session.incident.closed"


class WebhookTarget(StrEnum):
    """Which setting named the URL; listings show this, never the URL (it may carry a token)."""

    WEBHOOK_URL = "webhook_url"
    CALLBACK_URL = "callback_url"


EndedType = Literal[WebhookType.SUCCEEDED, WebhookType.FAILED, WebhookType.CANCELLED]
IncidentType = Literal[WebhookType.INCIDENT_OPENED, WebhookType.INCIDENT_CLOSED]


class DeliveryState(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    GAVE_UP = "gave_up"
    # Never sent, so never listed: recorded by a job attempt whose terminal save was then refused.
    SUPERSEDED = "superseded"


class WebhookPayload(Closed):
    """The body of a webhook, signed as Standard Webhooks defines (see the `webhooks` section)."""

    type: EndedType
    timestamp: Timestamp
    data: Session = Field(description="the session document when it ended")


class IncidentNotice(Closed):
    session: str = Field(description="the session's id")
    incident: IncidentData = Field(description="the incident as it stands, as the `incident` event has it")


class IncidentWebhookPayload(Closed):
    """The body of a live session's incident webhook (option `notify_incidents`), signed as the others:
    one when the incident opens, one when it closes, each under a `webhook-id` of its own."""

    type: IncidentType
    timestamp: Timestamp
    data: IncidentNotice


class WebhookAttempt(Closed):
    webhook_id: str = Field(description="the `webhook-id` header: the same on every attempt of a delivery")
    type: WebhookType
    target: WebhookTarget
    attempt: int = Field(ge=1)
    at: Timestamp
    status_code: int | None = Field(description="null when there was no answer (`error` says why)")
    error: str | None
    duration_ms: int = Field(ge=0)
    delivery_state: DeliveryState = Field(description="where the delivery stands now")
    next_attempt_at: Timestamp | None = Field(description="on the latest attempt of a pending delivery")


class WebhookAttemptList(Closed):
    items: list[WebhookAttempt] = Field(description="oldest first")


# Every component of /openapi.json: adding a model to the document is adding it here.
COMPONENTS: tuple[type[BaseModel], ...] = (
    Session, SessionList, Event, *EVENT_MODELS.values(), Report, LiveReport, Options, UploadOptions, IngestRequest,
    Problem,
    Health, Readiness, WsClientMessage, WsServerMessage, WebhookPayload, IncidentWebhookPayload, WebhookAttemptList,
)

