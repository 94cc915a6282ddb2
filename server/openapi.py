"""The OpenAPI 3.1 document of the whole service, built from the code's own enums, options and limits.

`openapi_document(settings)` answers a fresh dict; `GET /openapi.json` serves it (encoded once per
distinct Settings). OpenAPI has no WebSocket operation: `/api/ws` is described as the upgrading GET,
with the message schemas in an `x-websocket` extension.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from vidpulse import __version__
from vidpulse.processing.options import AnalysisOptions
from vidpulse.processing.progress import STAGES

from .config import Settings
from .errors import PROBLEM_TYPE_BASE, VidpulseError
from .models import EventType, SessionState
from .routes import runtime
from .routes.sessions import MAX_PAGE
from .routes.stream import RETRY_MS
from .routes.ws import CLOSE_TOO_SLOW, MAX_MESSAGE_BYTES, MAX_SUBSCRIPTIONS

Schema = dict[str, Any]

# The codes a failed session (`error.code`, the `failed` event) carries today; clients must accept others.
FAILURE_CODES = ("undecodable", "worker_crashed", "timeout", "out_of_memory", "internal")
# WebSocket error codes of ws.py itself; the slugs of VidpulseError subclasses are added to them.
WS_ERROR_CODES = ("bad_message", "unknown_op", "too_large", "too_many")
DEFAULT_PAGE = 50


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: Schema) -> Schema:
    """`schema` or null (OpenAPI 3.1 has no `nullable`)."""
    if "$ref" in schema:
        return {"anyOf": [schema, {"type": "null"}]}
    kind = schema["type"]
    return {**schema, "type": [*(kind if isinstance(kind, list) else [kind]), "null"]}


def obj(properties: dict[str, Schema], required: list[str] | None = None, *, closed: bool = True,
        description: str | None = None) -> Schema:
    """An object schema; every property is required unless `required` says otherwise."""
    schema: Schema = {"type": "object", "properties": properties,
                      "required": list(properties) if required is None else required}
    if closed:
        schema["additionalProperties"] = False
    if description:
        schema["description"] = description
    return schema


def problem_slugs() -> list[str]:
    """The `slug` of VidpulseError and of every subclass, however deep."""
    slugs: set[str] = set()
    pending: list[type[VidpulseError]] = [VidpulseError]
    while pending:
        cls = pending.pop()
        slugs.add(cls.slug)
        pending += cls.__subclasses__()
    return sorted(slugs)


# Schemas ---------------------------------------------------------------------------------------

def options_schema() -> Schema:
    """`AnalysisOptions`, generated from its dataclass fields and their `range` metadata."""
    properties: dict[str, Schema] = {}
    for f in dataclasses.fields(AnalysisOptions):
        kind = str(f.type)
        base = kind.replace("| None", "").strip()
        json_type = {"bool": "boolean", "int": "integer", "float": "number"}[base]
        prop: Schema = {"type": [json_type, "null"] if "None" in kind else json_type, "default": f.default}
        if "range" in f.metadata:
            lo, hi = f.metadata["range"]
            prop["minimum"] = lo
            if hi != math.inf:
                prop["maximum"] = hi
        doc = f.metadata.get("doc")
        if doc:
            prop["description"] = doc
        properties[f.name] = prop
    properties["render"]["description"] = "also write annotated.mp4 (boxes, scene number and timecode drawn in)"
    # end_s > start_s >= 0: JSON Schema cannot compare two fields, but it can say end_s > 0.
    properties["end_s"]["exclusiveMinimum"] = properties["end_s"].pop("minimum")
    properties["end_s"]["description"] += "; must be greater than start_s (null: to the end)"
    properties["max_frames"]["description"] += " (null: no limit)"
    return obj(properties, [], description=(
        "Analysis options, sent as a JSON object in the `options` form field. Every field is optional; an "
        "unknown field, a wrong type or a value out of range is a 422 whose `field` is `options.NAME`. "
        "Integer options refuse fractional JSON numbers such as 320.0."))


def video_schema() -> Schema:
    return obj({
        "width": {"type": "integer", "minimum": 1, "description": "display width, after rotation"},
        "height": {"type": "integer", "minimum": 1, "description": "display height, after rotation"},
        "fps": {"type": "number", "exclusiveMinimum": 0},
        "frames": {"type": "integer", "minimum": 0,
                   "description": "the container's count when it has one, else duration x fps"},
        "duration_s": {"type": "number", "minimum": 0},
        "codec": {"type": "string", "examples": ["h264"]},
        "container": {"type": "string", "examples": ["mov,mp4,m4a,3gp,3g2,mj2"]},
        "rotation": {"type": "integer", "enum": [0, 90, 180, 270], "description": "clockwise degrees"},
    }, description="What the video is, from its header (probed at upload).")


def progress_properties() -> dict[str, Schema]:
    return {
        "fraction": {"type": "number", "minimum": 0, "maximum": 1,
                     "description": "across all stages; never decreases; 1.0 at the end"},
        "stage": {"$ref": "#/components/schemas/Stage"},
        "frame": {"type": "integer", "minimum": 0, "description": "frames done in the current stage"},
        "total_frames": {"type": "integer", "minimum": 1},
        "fps": {"type": "number", "minimum": 0, "description": "speed of the current stage"},
        "eta_s": {"type": ["number", "null"], "minimum": 0, "description": "null while unknown"},
    }


def session_schema() -> Schema:
    link = {"type": "string", "format": "uri-reference"}
    return obj({
        "id": {"type": "string", "pattern": "^s_[0-9a-f]{32}$", "description": "unguessable (128 random bits)"},
        "state": ref("SessionState"),
        "created_at": {"type": "string", "format": "date-time"},
        "started_at": {"type": ["string", "null"], "format": "date-time"},
        "finished_at": {"type": ["string", "null"], "format": "date-time"},
        "filename": {"type": "string", "description": "the uploaded file's name, made safe"},
        "video": nullable(ref("VideoInfo")),
        "progress": nullable(ref("SessionProgress")),
        "queue_position": {"type": ["integer", "null"], "minimum": 1,
                           "description": "1 is next; null unless the session is queued"},
        "error": nullable(ref("SessionError")),
        "last_event_id": {"type": ["string", "null"],
                          "description": "the newest event of the log that this document reflects"},
        "links": obj({"self": link, "events": link, "results": link, "cancel": link,
                      "files": {**link, "description": "append an artifact name"}}),
    }, description="A session: one uploaded video and its processing.")


def report_schema() -> Schema:
    """The body of `GET .../results` and `POST /analyze/video` (report.json, schema 1)."""
    time_s = {"type": "number", "minimum": 0}
    unit = {"type": "number", "minimum": 0, "maximum": 1}
    span = obj({"start_s": time_s, "end_s": {**time_s, "description": "exclusive"}})
    return obj({
        "schema": {"type": "integer", "const": 1, "description": "version of this report format"},
        "video": ref("VideoInfo"),
        "analysed": obj({
            "start_frame": {"type": "integer", "minimum": 0},
            "end_frame": {"type": "integer", "minimum": 0, "description": "inclusive"},
            "frames": {"type": "integer", "minimum": 1},
            "start_s": time_s,
            "end_s": {**time_s, "description": "exclusive"},
        }, description="the span that was analysed (options start_s, end_s, max_frames)"),
        "options": {**ref("Options"), "description": "the options of the run, defaults filled in"},
        "cuts": {"type": "array", "items": obj({
            "frame": {"type": "integer", "minimum": 1, "description": "first frame of the new scene"},
            "time_s": time_s,
            "kind": {"type": "string", "enum": ["hard", "fade"], "description": "fade: to or from black, or a "
                                                                                "cross-dissolve"},
            "score": {"type": "number", "minimum": 0},
        })},
        "scenes": {"type": "array", "minItems": 1, "items": obj({
            "index": {"type": "integer", "minimum": 0},
            "start_frame": {"type": "integer", "minimum": 0},
            "end_frame": {"type": "integer", "minimum": 0, "description": "inclusive"},
            "start_s": time_s,
            "end_s": {**time_s, "description": "exclusive"},
            "thumbnail": {"type": ["string", "null"], "pattern": "^scene-[0-9]{3,}\\.jpg$",
                          "description": "an artifact name"},
        })},
        "motion": obj({
            "mean": {**unit, "description": "mean share of pixels that changed between frames"},
            "segments": {"type": "array", "items": obj({
                "start_s": time_s,
                "end_s": {**time_s, "description": "exclusive"},
                "peak": unit,
                "box": {"type": "array", "items": unit,
                        "minItems": 4, "maxItems": 4,
                        "description": "union of the moving regions: x, y, width, height as fractions"},
            })},
        }),
        "quality": obj({
            "black": {"type": "array", "items": span},
            "frozen": {"type": "array", "items": span},
            "blurry": {"type": "array", "items": span},
            "brightness": obj({"mean": unit, "min": unit, "max": unit},
                              description="of the per-frame mean luma: 0 video black, 1 video white"),
        }),
        "artifacts": {"type": "array", "items": ref("Artifact")},
        "timing": ref("Timing"),
    }, description="report.json: times in seconds, frames 0-based, segment ends exclusive.")


def event_schemas() -> dict[str, Schema]:
    """The envelope, one schema per event type, and the `Event` union with its discriminator."""
    data: dict[EventType, Schema] = {
        EventType.SNAPSHOT: ref("Session"),
        EventType.QUEUED: obj({"position": {"type": ["integer", "null"], "minimum": 1}}),
        EventType.STARTED: obj({"attempt": {"type": "integer", "minimum": 1,
                                            "description": "above 1 after a worker died (redis backend)"}}),
        EventType.STAGE: obj({"stage": ref("Stage")}),
        EventType.PROGRESS: ref("Progress"),
        EventType.SUCCEEDED: obj({
            "summary": ref("Summary"),
            "results": {"type": "string", "format": "uri-reference"},
            "files": {"type": "object", "additionalProperties": {"type": "string", "format": "uri-reference"},
                      "description": "artifact name to its URL"},
        }),
        EventType.FAILED: ref("SessionError"),
        EventType.CANCELLED: obj({}),
        EventType.EXPIRED: obj({}),
    }
    assert set(data) == set(EventType), "every event type needs a data schema"
    schemas: dict[str, Schema] = {
        "EventEnvelope": obj({
            "id": {"type": ["string", "null"], "description": "opaque, ordered within a session; null on snapshot "
                                                             "and on WebSocket errors"},
            "session": {"type": "string"},
            "type": {"type": "string", "enum": [t.value for t in EventType]},
            "ts": {"type": "string", "format": "date-time"},
            "data": {"type": "object"},
        }, description="One JSON shape on SSE and WebSocket."),
    }
    mapping: dict[str, str] = {}
    for event_type, data_schema in data.items():
        name = event_type.value.capitalize() + "Event"
        id_schema: Schema = {"type": "null"} if event_type is EventType.SNAPSHOT else {"type": "string"}
        schemas[name] = {
            "allOf": [ref("EventEnvelope")],
            "properties": {"id": id_schema, "type": {"const": event_type.value}, "data": data_schema},
            "description": "terminal: the stream closes after it" if event_type.terminal else event_type.value,
        }
        mapping[event_type.value] = f"#/components/schemas/{name}"
    schemas["Event"] = {
        "oneOf": [{"$ref": target} for target in mapping.values()],
        "discriminator": {"propertyName": "type", "mapping": mapping},
        "description": ", ".join(t.value for t in EventType if t.terminal) + " are terminal.",
    }
    return schemas


def ws_schemas() -> dict[str, Schema]:
    session = {"type": "string", "minLength": 1}
    ops = {
        "WsSubscribe": obj({"op": {"const": "subscribe"}, "session": session,
                            "after": {"type": ["string", "null"],
                                      "description": "replay the log after this event id (as Last-Event-ID)"}},
                           ["op", "session"], closed=False),
        "WsUnsubscribe": obj({"op": {"const": "unsubscribe"}, "session": session}, closed=False),
        "WsCancel": obj({"op": {"const": "cancel"}, "session": session}, closed=False),
    }
    return {
        **ops,
        "WsClientMessage": {
            "oneOf": [ref(name) for name in ops],
            "discriminator": {"propertyName": "op",
                              "mapping": {name[2:].lower(): f"#/components/schemas/{name}" for name in ops}},
        },
        "WsError": obj({
            "id": {"type": "null"},
            "session": {"type": ["string", "null"]},
            "type": {"const": "error"},
            "ts": {"type": "string", "format": "date-time"},
            "data": obj({
                "code": {"type": "string", "enum": sorted({*WS_ERROR_CODES, *problem_slugs()})},
                "message": {"type": "string"},
                "op": {"type": ["string", "null"]},
            }),
        }, description="The answer to a bad message; the socket and its other subscriptions stay open."),
        "WsServerMessage": {"anyOf": [ref("Event"), ref("WsError")]},
    }


def component_schemas() -> dict[str, Schema]:
    return {
        "SessionState": {"type": "string", "enum": [s.value for s in SessionState],
                         "description": "queued → running → succeeded | failed | cancelled; cancelling sits "
                                        "between running and cancelled while the worker stops."},
        "Stage": {"type": "string", "enum": list(STAGES)},
        "Session": session_schema(),
        "SessionList": obj({
            "items": {"type": "array", "items": ref("Session"), "maxItems": MAX_PAGE},
            "next_cursor": {"type": ["string", "null"], "description": "pass as ?cursor= for the next page"},
        }),
        "VideoInfo": video_schema(),
        "Progress": obj(progress_properties()),
        "SessionProgress": obj(progress_properties(), ["stage"], description=(
            "The latest progress; between a stage change and the first progress report of that stage it may "
            "hold `stage` alone.")),
        "SessionError": obj({
            "code": {"type": "string", "examples": list(FAILURE_CODES),
                     "description": "stable and machine-readable: " + ", ".join(FAILURE_CODES) + " (and more "
                                    "may come)"},
            "message": {"type": "string", "description": "one readable sentence"},
        }),
        "Summary": obj({
            "cuts": {"type": "integer", "minimum": 0},
            "scenes": {"type": "integer", "minimum": 0},
            "black_segments": {"type": "integer", "minimum": 0},
            "frozen_segments": {"type": "integer", "minimum": 0},
            "blurry_segments": {"type": "integer", "minimum": 0},
            "artifacts": {"type": "array", "items": {"type": "string"}},
            "timing": ref("Timing"),
        }),
        "Artifact": obj({"name": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]*$"},
                         "type": {"type": "string", "description": "media type",
                                  "examples": ["application/json", "text/csv", "image/jpeg", "image/png", "video/mp4"]},
                         "bytes": {"type": "integer", "minimum": 0}}),
        "Timing": obj({"wall_s": {"type": "number", "minimum": 0}, "fps": {"type": "number", "minimum": 0}}),
        "Options": options_schema(),
        "Report": report_schema(),
        "Problem": obj({
            "type": {"type": "string", "format": "uri",
                     "examples": [PROBLEM_TYPE_BASE + slug for slug in problem_slugs()]},
            "title": {"type": "string"},
            "status": {"type": "integer", "minimum": 400, "maximum": 599},
            "detail": {"type": "string", "description": "one readable sentence; never a stack trace"},
            "field": {"type": "string", "description": "the offending input, e.g. file, limit, cursor, "
                                                       "options.width"},
            "code": {"type": ["string", "null"], "description": "e.g. undecodable, probe_timeout"},
            "state": {**ref("SessionState"), "description": "on a 409: the session's state"},
            "retry_after_s": {"type": "integer", "minimum": 1, "description": "on a 429, as Retry-After"},
        }, ["type", "title", "status", "detail"], description="RFC 9457 problem details."),
        "Readiness": obj({
            "backend": obj({"name": {"type": "string", "enum": ["memory", "redis"]}, "ok": {"type": "boolean"}}),
            "workers": obj({"alive": {"type": "integer", "minimum": 0},
                            "configured": {"type": "integer", "minimum": 0}}),
            "queued": {"type": "integer", "minimum": 0},
            "ready": {"type": "boolean"},
        }),
        "Health": obj({"status": {"const": "ok"}}),
        **event_schemas(),
        **ws_schemas(),
    }


# Responses and parameters ----------------------------------------------------------------------

PROBLEMS: dict[str, str] = {
    "400": "Bad request: a malformed or cut-off multipart body, no `file` field (`field: file`), or two.",
    "401": "A missing or wrong API key (only when API keys are configured).",
    "404": "No such session (or one created with another key), or no such artifact.",
    "405": "The method is not allowed on this path.",
    "409": "Conflict: the session is not in a state that allows this (`state` says which it is in).",
    "413": "The upload is larger than MAX_UPLOAD_MB (or a form field over 64 KB).",
    "415": "The body is not multipart/form-data.",
    "422": "Unprocessable: an empty file, not a decodable video (`code`), or bad input (`field` names it).",
    "429": "The queue is full; retry after `Retry-After` seconds.",
    "500": "An unexpected error; it is logged, and no stack trace is sent.",
    "503": "The server is shutting down or its backend does not answer.",
    "507": "The disk filled up during the upload.",
}


def problem_response(description: str, headers: dict[str, Any] | None = None) -> Schema:
    response: Schema = {"description": description,
                        "content": {"application/problem+json": {"schema": ref("Problem")}}}
    if headers:
        response["headers"] = headers
    return response


def component_responses() -> dict[str, Schema]:
    retry_after = {"Retry-After": {"$ref": "#/components/headers/Retry-After"}}
    responses = {status: problem_response(text) for status, text in PROBLEMS.items()}
    responses["401"]["headers"] = {"WWW-Authenticate": {"schema": {"type": "string"},
                                                        "example": 'Bearer realm="vidpulse"'}}
    responses["429"]["headers"] = retry_after
    responses["503"]["headers"] = retry_after
    return {f"Problem{status}": response for status, response in responses.items()}


def problems(*statuses: int, **specific: str) -> dict[str, Any]:
    """Problem responses by reference; `p409="..."` gives one an endpoint-specific description."""
    out: dict[str, Any] = {str(status): {"$ref": f"#/components/responses/Problem{status}"} for status in statuses}
    for key, description in specific.items():
        out[key.removeprefix("p")] = problem_response(description)
    return out


def json_body(schema: Schema, description: str, **extra: Any) -> Schema:
    return {"description": description, "content": {"application/json": {"schema": schema}}, **extra}


def upload_body(settings: Settings) -> Schema:
    return {
        "required": True,
        "description": f"The video in field `file` (at most {settings.max_upload_mb} MB, streamed to disk and "
                       "probed before it is queued) and, optionally, `options` as a JSON object.",
        "content": {"multipart/form-data": {
            "schema": {"type": "object", "required": ["file"], "properties": {
                "file": {"type": "string", "contentMediaType": "application/octet-stream",
                         "description": "the video; sent once"},
                "options": ref("Options"),
            }},
            "encoding": {"options": {"contentType": "application/json"}},
        }},
    }


SESSION_ID = {"name": "id", "in": "path", "required": True, "description": "the session id",
              "schema": {"type": "string"}}


# Paths -----------------------------------------------------------------------------------------

def paths(settings: Settings) -> dict[str, Any]:
    session = json_body(ref("Session"), "The session document.")
    open_access: list[dict[str, list[str]]] = []
    bearer_only: list[dict[str, list[str]]] = [{"bearer": []}, *([] if settings.api_keys else [{}])]
    location = {"Location": {"description": "the session's URL", "schema": {"type": "string"}}}
    uploads = (400, 401, 413, 415, 422, 429, 503, 507, 500)
    return {
        "/": {"get": {
            "operationId": "demoPage", "tags": ["ops"], "summary": "The demo page", "security": open_access,
            "responses": {"200": {"description": "HTML page with live progress bars.",
                                  "content": {"text/html": {"schema": {"type": "string"}}}}},
        }},
        "/api/sessions": {
            "post": {
                "operationId": "createSession", "tags": ["sessions"], "summary": "Upload a video",
                "security": bearer_only, "requestBody": upload_body(settings),
                "responses": {"202": {**session, "description": "Accepted and queued.", "headers": location},
                              **problems(*uploads)},
            },
            "get": {
                "operationId": "listSessions", "tags": ["sessions"],
                "summary": "Sessions visible to the caller, newest first",
                "parameters": [
                    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE,
                                                                "default": DEFAULT_PAGE}},
                    {"name": "cursor", "in": "query", "description": "`next_cursor` of the previous page",
                     "schema": {"type": "string"}},
                ],
                "responses": {"200": json_body(ref("SessionList"), "A page of sessions."),
                              **problems(401, 500, p422="A bad `limit` or `cursor` (`field` names it).")},
            },
        },
        "/api/sessions/{id}": {
            "parameters": [SESSION_ID],
            "get": {"operationId": "getSession", "tags": ["sessions"], "summary": "Status (the polling fallback)",
                    "responses": {"200": session, **problems(401, 404, 500)}},
            "delete": {
                "operationId": "deleteSession", "tags": ["sessions"], "security": bearer_only,
                "summary": "Cancel if needed, then remove every file and all state",
                "responses": {"204": {"description": "Removed; the id is a 404 from now on."},
                              **problems(401, 404, 500)},
            },
        },
        "/api/sessions/{id}/events": {"get": {
            "operationId": "streamEvents", "tags": ["events"], "summary": "Server-Sent Events of the session",
            "description": (
                "Each event is sent with `id:` (none for the snapshot) and `event:` set to its type, and `data:` "
                f"holding one Event as JSON. `retry: {RETRY_MS}` is sent once; a comment ping every "
                f"{settings.sse_ping_s:g} s. The stream starts with a `snapshot`; without a starting id it then "
                "sends live events after the snapshot's `last_event_id`; with one, every logged event after it, "
                "exactly as logged, then live events. On a finished session it ends with the terminal event and "
                f"closes. `progress` comes at most {settings.progress_hz:g} times a second. Closing the stream "
                "never cancels the job."),
            "parameters": [
                SESSION_ID,
                {"name": "Last-Event-ID", "in": "header", "description": "resume after this event id",
                 "schema": {"type": "string"}},
                {"name": "last_event_id", "in": "query", "description": "the same, for clients that cannot set "
                 "headers (the header wins)", "schema": {"type": "string"}},
            ],
            "responses": {
                "200": {
                    "description": "The event stream.",
                    "headers": {
                        "Cache-Control": {"schema": {"type": "string", "const": "no-store"}},
                        "X-Accel-Buffering": {"schema": {"type": "string", "const": "no"}},
                    },
                    "content": {"text/event-stream": {
                        "schema": {"type": "string", "description": "SSE; each `data:` line is an Event"},
                        "x-event-schema": ref("Event"),
                        "example": 'retry: 3000\r\n\r\nevent: snapshot\r\ndata: {"id":null,"type":"snapshot",…}'
                                   '\r\n\r\nid: 18\r\nevent: progress\r\ndata: {"id":"18","type":"progress",…}'
                                   '\r\n\r\n',
                    }},
                },
                "204": {"description": "The session finished and the starting id is already its terminal event."},
                **problems(401, 404, 500),
            },
        }},
        "/api/sessions/{id}/results": {"get": {
            "operationId": "getResults", "tags": ["sessions"], "summary": "The analysis report",
            "parameters": [SESSION_ID],
            "responses": {"200": json_body(ref("Report"), "report.json of a succeeded session."),
                          **problems(401, 404, 500, p409="The session has not succeeded (`state` says what it is).")},
        }},
        "/api/sessions/{id}/files/{name}": {"get": {
            "operationId": "getFile", "tags": ["sessions"], "summary": "An artifact; supports Range",
            "description": "Any file listed in the report's `artifacts`: report.json, frames.csv, timeline.png, "
                           "contact-sheet.jpg, scene-NNN.jpg, annotated.mp4.",
            "parameters": [
                SESSION_ID,
                {"name": "name", "in": "path", "required": True, "description": "an artifact name; a name with "
                 "`/` or `..`, or not an artifact of the session, is a 404", "schema": {"type": "string"}},
                {"name": "Range", "in": "header", "schema": {"type": "string"}, "example": "bytes=0-1023"},
            ],
            "responses": {
                "200": {"description": "The whole file, with its media type.",
                        "headers": {"Accept-Ranges": {"schema": {"const": "bytes"}}},
                        "content": {"*/*": {"schema": {"type": "string"}}}},
                "206": {"description": "The requested range (several ranges: multipart/byteranges).",
                        "headers": {"Content-Range": {"schema": {"type": "string"}, "example": "bytes 0-1023/52311"}},
                        "content": {"*/*": {"schema": {"type": "string"}}}},
                "400": {"description": "A malformed Range header (plain text, from the file server).",
                        "content": {"text/plain": {"schema": {"type": "string"}}}},
                "416": {"description": "A range outside the file (empty body, plain text).",
                        "headers": {"Content-Range": {"schema": {"type": "string"}, "example": "bytes */52311"}}},
                **problems(401, 404, 500),
            },
        }},
        "/api/sessions/{id}/cancel": {"post": {
            "operationId": "cancelSession", "tags": ["sessions"], "summary": "Cancel queued or running work",
            "description": "Idempotent: `cancelled` at once for a queued job, `cancelling` for a running one until "
                           "its worker stops (then a `cancelled` event). A cancelled run leaves no artifacts.",
            "parameters": [SESSION_ID], "security": bearer_only,
            "responses": {"202": {**session, "description": "Cancelled, or cancelling."},
                          **problems(401, 404, 500, p409="The session already finished (`state` says how).")},
        }},
        "/api/ws": {"get": {
            "operationId": "websocket", "tags": ["events"], "summary": "WebSocket: one socket, many sessions",
            "description": (
                "Upgrade to a WebSocket (OpenAPI cannot describe one; see `x-websocket`). Client messages are "
                "WsClientMessage (subscribe with optional `after`, unsubscribe, cancel); the server sends Event "
                "messages exactly as on SSE, and WsError for a bad message, which never closes the other "
                f"subscriptions. Messages are limited to {MAX_MESSAGE_BYTES // 1024} KB and {MAX_SUBSCRIPTIONS} "
                f"subscriptions per socket. Close codes: {CLOSE_TOO_SLOW} when the client fell too far behind "
                "(resubscribe with `after`), 1012 when the server restarts, 4401 for a missing or wrong key "
                "(pass it as `?access_token=`)."),
            "responses": {"101": {"description": "Switching Protocols: the WebSocket is open."}},
            "x-websocket": {
                "clientMessages": ref("WsClientMessage"),
                "serverMessages": ref("WsServerMessage"),
                "maxMessageBytes": MAX_MESSAGE_BYTES,
                "maxSubscriptions": MAX_SUBSCRIPTIONS,
                "closeCodes": {str(CLOSE_TOO_SLOW): "too slow; resubscribe with after", "1012": "server restart",
                               "4401": "missing or wrong API key"},
            },
        }},
        "/analyze/video": {"post": {
            "operationId": "analyzeVideo", "tags": ["legacy"], "summary": "Synchronous analysis for older clients",
            "description": "Upload (same form and refusals as POST /api/sessions), wait, answer the report. The "
                           "session is removed before the answer.",
            "security": bearer_only, "requestBody": upload_body(settings),
            "responses": {
                "200": json_body(ref("Report"), "The report.", headers={"X-Vidpulse-Session": {
                    "description": "the id of the (already removed) session", "schema": {"type": "string"}}}),
                **problems(*uploads, p409="The analysis was cancelled before it finished."),
            },
        }},
        "/healthz": {"get": {
            "operationId": "healthz", "tags": ["ops"], "summary": "Liveness", "security": open_access,
            "responses": {"200": json_body(ref("Health"), "The process serves.")},
        }},
        "/readyz": {"get": {
            "operationId": "readyz", "tags": ["ops"], "summary": "Readiness", "security": open_access,
            "responses": {"200": json_body(ref("Readiness"), "The backend answers and workers are alive."),
                          "503": json_body(ref("Readiness"), "Not ready (same body, `ready: false`).")},
        }},
        "/metrics": {"get": {
            "operationId": "metrics", "tags": ["ops"], "summary": "Prometheus metrics",
            "description": "Needs a key when API keys are configured.",
            "responses": {"200": {"description": "Prometheus text exposition format.",
                                  "content": {"text/plain": {"schema": {"type": "string"}}}},
                          **problems(401, 500)},
        }},
        "/openapi.json": {"get": {
            "operationId": "openapi", "tags": ["ops"], "summary": "This document", "security": open_access,
            "responses": {"200": json_body({"type": "object"}, "The OpenAPI 3.1 document.")},
        }},
    }


# The document ----------------------------------------------------------------------------------

def openapi_document(settings: Settings) -> dict[str, Any]:
    keys = bool(settings.api_keys)
    security: list[dict[str, list[str]]] = [{"bearer": []}, {"access_token": []}]
    auth = ("Every endpoint except `/`, `/static/*`, `/healthz`, `/readyz` and `/openapi.json` needs "
            "`Authorization: Bearer KEY`; GET requests and the WebSocket may pass `?access_token=KEY` instead. "
            "A session is visible only to the key that created it; others get 404."
            if keys else
            "This server has no API keys configured: every endpoint is open (the security schemes below apply "
            "when API_KEYS is set).")
    return {
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://spec.openapis.org/oas/3.1/dialect/base",
        "info": {
            "title": "Vidpulse",
            "version": __version__,
            "summary": "Video uploads analysed in the background, with live progress over SSE and WebSocket.",
            "description": (
                "All bodies are JSON; every error is an RFC 9457 problem document (application/problem+json). "
                + auth + f" Finished sessions are removed {settings.session_ttl_s:g} s after `finished_at`; at "
                f"most {settings.max_queued} jobs wait in the queue."),
        },
        "servers": [{"url": "/"}],
        "tags": [{"name": "sessions"}, {"name": "events"}, {"name": "legacy"}, {"name": "ops"}],
        "security": security if keys else [{}, *security],
        "paths": paths(settings),
        "components": {
            "schemas": component_schemas(),
            "responses": component_responses(),
            "headers": {"Retry-After": {"description": "seconds to wait before trying again",
                                        "schema": {"type": "integer", "minimum": 1}}},
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "Authorization: Bearer KEY"},
                "access_token": {"type": "apiKey", "in": "query", "name": "access_token",
                                 "description": "for GET requests and the WebSocket, where browsers cannot set "
                                                "headers (EventSource, WebSocket, <video>, <img>)"},
            },
        },
    }


@functools.lru_cache(maxsize=8)
def _encoded(settings: Settings) -> bytes:
    return json.dumps(openapi_document(settings), ensure_ascii=False, separators=(",", ":")).encode()


async def openapi_json(request: Request) -> Response:
    return Response(_encoded(runtime(request).settings), media_type="application/json")
