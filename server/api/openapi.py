"""The OpenAPI 3.1 document: the component schemas generated from server/schemas.py, the paths from
the table of operations below.

To add an operation, add an `Op` row to `OPERATIONS` (and its route); a response is a status with a
model (a component of server/schemas.py), a `Media` for anything else, or a problem status, whose
description comes from `PROBLEMS` unless the row gives its own. The WebSocket is documented as its
upgrading GET (426 without the upgrade) with an `x-websocket` extension naming its message schemas.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema
from starlette.requests import Request
from starlette.responses import Response

from vidpulse import __version__
from vidpulse.processing.schema import CleanSchema
from vidpulse.server import schemas
from vidpulse.server.api.resources import runtime
from vidpulse.server.api.sessions import DEFAULT_PAGE, MAX_PAGE
from vidpulse.server.api.stream import RETRY_MS
from vidpulse.server.api.ws import CLOSE_TOO_SLOW, MAX_MESSAGE_BYTES, MAX_SUBSCRIPTIONS
from vidpulse.server.config import Settings

Schema = dict[str, Any]
REF = "#/components/schemas/{model}"


def ref(name: str) -> Schema:
    return {"$ref": REF.format(model=name)}


@dataclass(frozen=True)
class Media:
    """A non-JSON (or non-model) body."""

    type: str
    schema: Schema | None = field(default_factory=lambda: {"type": "string"})  # None: any bytes
    extra: Schema = field(default_factory=dict)


@dataclass(frozen=True)
class Reply:
    description: str
    body: type[BaseModel] | Media | None = None
    headers: dict[str, Schema] = field(default_factory=dict)


@dataclass(frozen=True)
class Op:
    method: str
    path: str
    id: str
    tag: str
    summary: str
    replies: dict[int, Reply | str | None]  # a problem status: None (PROBLEMS' text) or its own text
    description: str = ""
    access: str = "default"  # "open": no key ever; "key": needs one when keys are configured
    params: tuple[Schema, ...] = ()
    upload: bool = False
    ingest: bool = False  # the upload also takes a JSON IngestRequest (URL ingest)
    body: Schema | None = None  # any other request body


PROBLEMS: dict[int, str] = {
    400: "Bad request: a malformed or cut-off multipart body, no `file` field (`field: file`), or two.",
    401: "A missing or wrong API key (only when API keys are configured).",
    404: "No such session (or one created with another key), or no such artifact.",
    410: "The upload is gone: its session was cancelled or failed before the last byte.",
    412: "Tus-Resumable is another version than 1.0.0 (`Tus-Version` says what is spoken here).",
    423: "Another PATCH of this upload is in progress; retry after `Retry-After` seconds.",
    460: "Checksum mismatch: the chunk does not match its Upload-Checksum; nothing of it was kept.",
    409: "Conflict: the session is not in a state that allows this (`state` says which it is in).",
    413: "The upload is larger than MAX_UPLOAD_MB (or a form field over 64 KB).",
    415: "The body is not multipart/form-data.",
    416: "A range outside the file (`Content-Range: bytes */SIZE`).",
    422: "Unprocessable: an empty file, not a decodable video (`code`), or bad input (`field` names it).",
    426: "A plain GET: this path only answers a WebSocket upgrade.",
    429: "The queue is full; retry after `Retry-After` seconds.",
    500: "An unexpected error; it is logged, and no stack trace is sent.",
    503: "The server is shutting down, or its backend or its storage does not answer.",
    507: "The disk filled up during the upload.",
}
RETRY_AFTER = {"Retry-After": {"description": "seconds to wait before trying again",
                               "schema": {"type": "integer", "minimum": 1}}}
PROBLEM_HEADERS: dict[int, dict[str, Schema]] = {
    401: {"WWW-Authenticate": {"schema": {"type": "string"}, "example": 'Bearer realm="vidpulse"'}},
    416: {"Content-Range": {"schema": {"type": "string"}, "example": "bytes */52311"}},
    412: {"Tus-Version": {"schema": {"type": "string", "const": "1.0.0"}}},
    423: RETRY_AFTER,
    426: {"Upgrade": {"schema": {"type": "string", "const": "websocket"}}},
    429: RETRY_AFTER,
    503: RETRY_AFTER,
}

# Path parameters by name, added to every operation whose path has them.
PATH_PARAMS: dict[str, Schema] = {
    "id": {"name": "id", "in": "path", "required": True, "description": "the session id",
           "schema": {"type": "string"}},
    "name": {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}, "description": (
        "an artifact name; a name with `/` or `..`, or not an artifact of the session, is a 404")},
}
UPLOAD_REFUSALS: dict[int, Reply | str | None] = {s: None for s in (400, 401, 413, 415, 422, 429, 503, 507, 500)}
SESSION = Reply("The session document.", schemas.Session)
LOCATION = {"Location": {"description": "the session's URL", "schema": {"type": "string"}}}


def sse_item_schema() -> Schema:
    """One parsed SSE event: its `data` is an Event as JSON text."""
    return {"type": "object", "required": ["event", "data"], "properties": {
        "event": {"type": "string", "enum": [t.value for t in schemas.EVENT_DATA]},
        "id": {"type": "string"},
        "retry": {"type": "integer"},
        "data": {"type": "string", "contentMediaType": "application/json", "contentSchema": ref("Event")},
    }}


def operations(settings: Settings) -> list[Op]:
    return [
        Op("get", "/", "demoPage", "ops", "The demo page", {200: Reply("HTML page with live progress bars.",
                                                                       Media("text/html"))}, access="open"),
        Op("post", "/api/sessions", "createSession", "sessions", "Upload a video, or have the server fetch one",
           {202: Reply("Accepted: queued (multipart), or `uploading` while the server fetches the URL.",
                       schemas.Session, LOCATION), **UPLOAD_REFUSALS},
           description=(
               "A multipart upload is probed and queued. A JSON IngestRequest makes the server download `url` "
               "(streamed, at most MAX_UPLOAD_MB, with timeouts): the session is `uploading` meanwhile, with "
               "`progress` events of stage `upload`, and a failed download ends it `failed` with `code: "
               "fetch_failed`. The URL is refused (422, `field: url`) unless it is http(s) and resolves to "
               "public addresses only (checked again on every redirect), unless ALLOW_PRIVATE_URLS=1."),
           access="key", upload=True, ingest=True),
        Op("get", "/api/sessions", "listSessions", "sessions", "Sessions visible to the caller, newest first",
           {200: Reply("A page of sessions.", schemas.SessionList), 401: None, 500: None,
            422: "A bad `limit` or `cursor` (`field` names it)."},
           params=({"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE,
                                                                 "default": DEFAULT_PAGE}},
                   {"name": "cursor", "in": "query", "description": "`next_cursor` of the previous page",
                    "schema": {"type": "string"}})),
        Op("get", "/api/sessions/{id}", "getSession", "sessions", "Status (the polling fallback)",
           {200: SESSION, 401: None, 404: None, 500: None}),
        Op("delete", "/api/sessions/{id}", "deleteSession", "sessions",
           "Cancel if needed, then remove every file and all state",
           {204: Reply("Removed; the id is a 404 from now on."), 401: None, 404: None, 500: None},
           access="key"),
        Op("get", "/api/sessions/{id}/events", "streamEvents", "events", "Server-Sent Events of the session", {
            # OpenAPI 3.1 has no `itemSchema` (3.2 does, and 3.1 validators refuse it): on text/event-stream
            # the `schema` describes one parsed event, which is how Schemathesis reads it on 3.0 and 3.1.
            200: Reply("The event stream.", Media("text/event-stream", sse_item_schema(), {
                "example": 'retry: 3000\r\n\r\nevent: snapshot\r\ndata: {"id":null,"type":"snapshot",…}\r\n\r\n'
                           'id: 18\r\nevent: progress\r\ndata: {"id":"18","type":"progress",…}\r\n\r\n'}),
                       {"Cache-Control": {"schema": {"type": "string", "const": "no-store"}}}),
            204: Reply("The session finished and the starting id is already its terminal event."),
            400: "The starting id is not an event id of this stream (`field: last_event_id`).",
            401: None, 404: None, 500: None,
        }, description=(
            "Each event is sent with `id:` (none for the snapshot), `event:` set to its type, and `data:` holding "
            "one Event as JSON (the schema is that of one parsed event, as OpenAPI 3.2's `itemSchema`). "
            f"`retry: {RETRY_MS}` is sent once; a comment ping every {settings.sse_ping_s:g} s. The stream starts "
            "with a `snapshot` (the session document and the scenes found so far); without a starting id it then "
            "sends live events after the snapshot's "
            "`last_event_id`; with one, every logged event after it, "
            "exactly as logged, then live events. On a finished session it ends with the terminal event and "
            f"closes. `progress` comes at most {settings.progress_hz:g} times a second. Closing the stream "
            "never cancels the job."), params=(
            {"name": "Last-Event-ID", "in": "header", "description": "resume after this event id",
             "schema": {"type": "string"}},
            {"name": "last_event_id", "in": "query", "description": "the same, for clients that cannot set "
             "headers (the header wins)", "schema": {"type": "string"}})),
        Op("get", "/api/sessions/{id}/results", "getResults", "sessions", "The analysis report",
           {200: Reply("report.json of a succeeded session.", schemas.Report), 401: None, 404: None, 500: None,
            409: "The session has not succeeded (`state` says what it is).", 503: None}),
        Op("get", "/api/sessions/{id}/files/{name}", "getFile", "sessions", "An artifact; supports Range", {
            # No schema: the bytes of the file, whatever its media type (a 206 of report.json is not JSON).
            200: Reply("The whole file, with its media type.", Media("*/*", None),
                       {"Accept-Ranges": {"schema": {"type": "string", "const": "bytes"}}}),
            206: Reply("The requested range (several ranges: multipart/byteranges with STORAGE=local; from S3 "
                       "the whole file with 200).", Media("*/*", None),
                       {"Content-Range": {"schema": {"type": "string"}, "example": "bytes 0-1023/52311"}}),
            400: "A malformed Range header (`field: range`).", 416: None, 401: None, 404: None, 500: None,
            503: None,
        }, description="Any file listed in the report's `artifacts`: report.json, frames.csv, timeline.png, "
                       "contact-sheet.jpg, scene-NNN.jpg, annotated.mp4.", params=(
            {"name": "Range", "in": "header", "schema": {"type": "string"}, "example": "bytes=0-1023"},)),
        Op("post", "/api/sessions/{id}/cancel", "cancelSession", "sessions", "Cancel queued or running work",
           {202: Reply("Cancelled, or cancelling.", schemas.Session), 401: None, 404: None, 500: None,
            409: "The session already succeeded or failed (`state` says which)."},
           description="Idempotent: `cancelled` at once for a queued job, `cancelling` for a running one until "
                       "its worker stops (then a `cancelled` event). A session already `cancelling` or `cancelled` "
                       "is answered as it is (202), and nothing changes. A cancelled run leaves no artifacts.",
           access="key"),
        Op("post", "/api/sessions/{id}/retry", "retrySession", "sessions", "Analyse a finished session again", {
            202: Reply("Queued again as a new attempt.", schemas.Session), 401: None, 404: None, 500: None,
            409: "The session has not finished (`state` says what it is).",
            410: "The session's video is no longer stored; upload it again.",
            422: "Bad options (`field` names the one).", 503: None,
        }, description=(
            "A `failed`, `cancelled` or `succeeded` session goes back to `queued` and runs as a new attempt on "
            "the same event log (`started` carries its number), with the given options when the body has them "
            "(a re-analysis) and its own otherwise. The earlier attempt's artifacts are removed."),
           body={"required": False, "content": {"application/json": {"schema": ref("RetryRequest")}}},
           access="key"),
        Op("post", "/api/sessions/{id}/stop", "stopSession", "sessions", "End a live session with its report", {
            202: Reply("Stopping: the session ends `succeeded` within a second or two.", schemas.Session),
            401: None, 404: None, 500: None,
            409: "Not a live session, or it already finished (`state` says how)."},
           description=(
               "A running live session stops following its source and ends `succeeded` with a report of what it "
               "saw; a queued one saw nothing and is `cancelled`. Idempotent while it runs."), access="key"),
        Op("get", "/api/sessions/{id}/webhooks", "listWebhookAttempts", "sessions", "Webhook attempts",
           {200: Reply("Every attempt to deliver this session's webhooks.", schemas.WebhookAttemptList),
            401: None, 404: None, 500: None}),
        Op("get", "/api/ws", "websocket", "events", "WebSocket: one socket, many sessions", {
            101: Reply("Switching Protocols: the WebSocket is open."), 426: None, 401: None,
        }, description=(
            "Upgrade to a WebSocket (OpenAPI cannot describe one; see `x-websocket`). Client messages are "
            "WsClientMessage (subscribe with optional `after`, unsubscribe, cancel); the server sends Event "
            "messages exactly as on SSE, and WsError for a bad message, which never closes the other "
            f"subscriptions. Messages are limited to {MAX_MESSAGE_BYTES // 1024} KB and {MAX_SUBSCRIPTIONS} "
            f"subscriptions per socket. Close codes: {CLOSE_TOO_SLOW} when the client fell too far behind "
            "(resubscribe with `after`), 1012 when the server restarts, 4401 for a missing or wrong key "
            "(pass it as `?access_token=`). A GET without `Upgrade: websocket` is a 426.")),
        Op("post", "/analyze/video", "analyzeVideo", "legacy", "Synchronous analysis for older clients",
           {200: Reply("The report.", schemas.Report, {"X-Vidpulse-Session": {
               "description": "the id of the (already removed) session", "schema": {"type": "string"}}}),
            **UPLOAD_REFUSALS, 409: "The analysis was cancelled before it finished."},
           description="Upload (same form and refusals as POST /api/sessions), wait, answer the report. The "
                       "session is removed before the answer.", access="key", upload=True),
        *tus_operations(settings),
        Op("get", "/healthz", "healthz", "ops", "Liveness", {200: Reply("The process serves.", schemas.Health)},
           access="open"),
        Op("get", "/readyz", "readyz", "ops", "Readiness", {
            200: Reply("The backend and the storage answer and workers are alive.", schemas.Readiness),
            503: Reply("Not ready (same body, `ready: false`).", schemas.Readiness)}, access="open"),
        Op("get", "/metrics", "metrics", "ops", "Prometheus metrics",
           {200: Reply("Prometheus text exposition format.", Media("text/plain")), 401: None, 500: None},
           description="Needs a key when API keys are configured."),
        Op("get", "/openapi.json", "openapi", "ops", "This document",
           {200: Reply("The OpenAPI 3.1 document.", Media("application/json", {"type": "object"}))}, access="open"),
    ]


def upload_body(settings: Settings, ingest: bool = False) -> Schema:
    body: Schema = {"required": True, "description": (
        f"The video in field `file` (at most {settings.max_upload_mb} MB, streamed to disk and probed before it "
        "is queued; a file in any other field is a 422 with `field: file`) and, optionally, `options` as a JSON "
        "object."
        + (" Or, as JSON, the URL the server downloads the video from." if ingest else "")),
        "content": {"multipart/form-data": {
            "schema": {"type": "object", "required": ["file"], "properties": {
                "file": {"type": "string", "contentMediaType": "application/octet-stream",
                         "description": "the video; sent once"},
                "options": ref("UploadOptions")}},
            "encoding": {"options": {"contentType": "application/json"}}}}}
    if ingest:
        body["content"]["application/json"] = {"schema": ref("IngestRequest")}
    return body


def tus_operations(settings: Settings) -> list[Op]:
    """tus 1.0.0 at /api/uploads: creation, creation-with-upload, termination, expiration, checksum."""
    def header(description: str, kind: str = "string") -> Schema:
        return {"description": description, "schema": {"type": kind}}

    def param(name: str, schema: Schema, description: str = "", required: bool = True) -> Schema:
        return {"name": name, "in": "header", "required": required, "schema": schema,
                **({"description": description} if description else {})}

    # Any string: tus answers another version with 412 (a client must learn Tus-Version), not with 400.
    resumable = param("Tus-Resumable", {"type": "string"}, "1.0.0; another version (N.N.N) gets 412, anything else 400")
    offset = {"Upload-Offset": header("bytes received and kept", "integer"), "Tus-Resumable": header("1.0.0")}
    expires = {"Upload-Expires": header("RFC 9110 date after which an unfinished upload is removed")}
    chunk: Schema = {"required": True, "content": {"application/offset+octet-stream": {
        "schema": {"type": "string", "contentMediaType": "application/octet-stream"}}}}
    refusals: dict[int, Reply | str | None] = {s: None for s in (400, 401, 404, 410, 412, 413, 415, 423, 460, 503,
                                                                 507, 500)}
    return [
        Op("options", "/api/uploads", "tusCapabilities", "uploads", "What this tus server offers",
           {204: Reply("Capabilities in the headers.", None, {
               "Tus-Version": header("1.0.0"),
               "Tus-Extension": header("creation,creation-with-upload,termination,expiration,checksum"),
               "Tus-Checksum-Algorithm": header("sha1,sha256,md5"),
               "Tus-Max-Size": header(f"MAX_UPLOAD_MB in bytes ({settings.max_upload_bytes})", "integer")})},
           access="key"),
        Op("post", "/api/uploads", "createUpload", "uploads", "Start a resumable upload",
           {201: Reply("Created: the session exists, `uploading`.", None, {
               "Location": header("/api/uploads/{id}, where id is the session's id"), **offset, **expires}),
            400: None, 401: None, 412: None, 413: None, 415: None, 422: None, 429: None, 460: None, 503: None,
            507: None, 500: None},
           description=(
               "Creates the session at once (state `uploading`, `upload.offset` 0); the upload's id is the "
               "session's id. `Upload-Metadata` may carry `filename` and `options` (the UploadOptions JSON, "
               "`callback_url` included). With "
               "`Content-Type: application/offset+octet-stream` the body is the first chunk "
               "(creation-with-upload)."),
           params=(resumable,
                   param("Upload-Length", {"type": "integer", "minimum": 1, "maximum": settings.max_upload_bytes}),
                   param("Upload-Metadata", {"type": "string"}, "comma-separated `key base64(value)`: filename, "
                         "options", required=False)),
           body={**chunk, "required": False}, access="key"),
        Op("head", "/api/uploads/{id}", "uploadOffset", "uploads", "Where to resume",
           {200: Reply("The offset (Cache-Control: no-store).", None, {
               **offset, "Upload-Length": header("total bytes", "integer"), **expires}),
            400: None, 401: None, 404: None, 410: None, 412: None}, params=(resumable,)),
        Op("patch", "/api/uploads/{id}", "uploadChunk", "uploads", "Send the next bytes",
           {204: Reply("Kept.", None, {**offset, **expires}), **refusals, 422: None,
            409: "Upload-Offset is not the upload's offset (`offset` says what it is)."},
           description=(
               "Appends the body at `Upload-Offset`. With `Upload-Checksum` (sha1, sha256, md5) a mismatch is a "
               "460 and keeps nothing of the chunk; without one, a dropped connection keeps what arrived. The "
               "PATCH that completes the upload probes the file: a video is queued (204); anything else is a "
               "422, and the upload and its session are removed."),
           params=(resumable, param("Upload-Offset", {"type": "integer", "minimum": 0}),
                   param("Upload-Checksum", {"type": "string"}, "algorithm and base64 digest of this chunk",
                         required=False)),
           body=chunk, access="key"),
        Op("delete", "/api/uploads/{id}", "terminateUpload", "uploads", "Remove the upload and its session",
           {204: Reply("Removed."), 400: None, 401: None, 404: None, 412: None, 500: None}, params=(resumable,),
           access="key"),
        Op("post", "/api/uploads/{id}", "uploadOverride", "uploads",
           "PATCH or DELETE through X-HTTP-Method-Override",
           {204: Reply("As PATCH or DELETE."), **refusals, 422: None},
           params=(resumable, param("X-HTTP-Method-Override", {"type": "string", "enum": ["PATCH", "DELETE"]})),
           body={**chunk, "required": False}, access="key"),
    ]


def webhooks_section() -> Schema:
    """What the server sends (OpenAPI 3.1 `webhooks`): see server/notify/webhooks.py."""
    headers = [{"name": f"webhook-{name}", "in": "header", "required": True, "schema": {"type": "string"},
                "description": about} for name, about in (("id", "the same on every attempt"),
                ("timestamp", "seconds since the epoch"),
                ("signature", "`v1,` + base64 HMAC-SHA256 of `id.timestamp.body`, keyed by WEBHOOK_SECRET"))]
    retried = ("Anything but a 2xx within 10 s is retried with exponential backoff and jitter from WEBHOOK_RETRY_S, "
               "up to WEBHOOK_MAX_ATTEMPTS attempts, under the same `webhook-id` and body.")
    sent = {  # name: summary, when it is sent, its body
        "sessionEnded": ("A session ended", "Sent to WEBHOOK_URL and to the session's `callback_url` when a session "
                         "succeeds, fails or is cancelled.", "WebhookPayload"),
        "sessionIncident": ("A live session's incident opened or closed", "Sent to the same URLs for a live session "
                            "with the option `notify_incidents`: once when an incident opens, once when it closes, "
                            "each under a `webhook-id` of its own.", "IncidentWebhookPayload")}
    return {name: {"post": {
        "summary": f"{summary} (Standard Webhooks)", "description": f"{when} {retried}", "parameters": headers,
        "requestBody": {"required": True, "content": {"application/json": {"schema": ref(payload)}}},
        "responses": {"2XX": {"description": "Taken; any other answer is retried."}},
    }} for name, (summary, when, payload) in sent.items()}


def response(status: int, reply: Reply | str | None) -> Schema:
    if not isinstance(reply, Reply):
        reply = Reply(reply or PROBLEMS[status], schemas.Problem, PROBLEM_HEADERS.get(status, {}))
    out: Schema = {"description": reply.description}
    if isinstance(reply.body, Media):
        schema = {} if reply.body.schema is None else {"schema": reply.body.schema}
        out["content"] = {reply.body.type: {**schema, **reply.body.extra}}
    elif reply.body is not None:
        media = "application/problem+json" if reply.body is schemas.Problem else "application/json"
        out["content"] = {media: {"schema": ref(reply.body.__name__)}}
    if reply.headers:
        out["headers"] = reply.headers
    return out


def operation(op: Op, settings: Settings) -> Schema:
    out: Schema = {"operationId": op.id, "tags": [op.tag], "summary": op.summary}
    if op.description:
        out["description"] = op.description
    params = [PATH_PARAMS[name] for name in re.findall(r"{(\w+)}", op.path)] + list(op.params)
    if params:
        out["parameters"] = params
    if op.access == "open":
        out["security"] = []
    elif op.access == "key":
        out["security"] = [{"bearer": []}, *([] if settings.api_keys else [{}])]
    if op.upload:
        out["requestBody"] = upload_body(settings, op.ingest)
    elif op.body is not None:
        out["requestBody"] = op.body
    out["responses"] = {str(status): response(status, reply) for status, reply in sorted(op.replies.items())}
    if op.path == "/api/ws":
        out["x-websocket"] = {
            "clientMessages": ref("WsClientMessage"), "serverMessages": ref("WsServerMessage"),
            "maxMessageBytes": MAX_MESSAGE_BYTES, "maxSubscriptions": MAX_SUBSCRIPTIONS,
            "closeCodes": {str(CLOSE_TOO_SLOW): "too slow; resubscribe with after", "1012": "server restart",
                           "4401": "missing or wrong API key"}}
    return out


@functools.cache
def component_schemas() -> dict[str, Schema]:
    _, top = models_json_schema([(model, "serialization") for model in schemas.COMPONENTS],
                                by_alias=True, ref_template=REF, schema_generator=CleanSchema)
    return dict(sorted(top["$defs"].items()))


def openapi_document(settings: Settings) -> dict[str, Any]:
    keys = bool(settings.api_keys)
    security: list[dict[str, list[str]]] = [{"bearer": []}, {"access_token": []}]
    auth = ("Every endpoint except `/`, `/static/*`, `/healthz`, `/readyz` and `/openapi.json` needs "
            "`Authorization: Bearer KEY`; GET requests and the WebSocket may pass `?access_token=KEY` instead. "
            "A session is visible only to the key that created it; others get 404."
            if keys else
            "This server has no API keys configured: every endpoint is open (the security schemes below apply "
            "when API_KEYS is set).")
    paths: dict[str, Schema] = {}
    for op in operations(settings):
        paths.setdefault(op.path, {})[op.method] = operation(op, settings)
    return {
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://spec.openapis.org/oas/3.1/dialect/base",
        "info": {
            "title": "Vidpulse", "version": __version__,
            "summary": "Video uploads analysed in the background, with live progress over SSE and WebSocket.",
            "description": (
                "All bodies are JSON; every error is an RFC 9457 problem document (application/problem+json); "
                "a method a path does not support is a 405 with `Allow`. " + auth + " Finished sessions are "
                f"removed {settings.session_ttl_s:g} s after `finished_at`; at most {settings.max_queued} jobs "
                "wait in the queue."),
        },
        "servers": [{"url": "/"}],
        "tags": [{"name": "sessions"}, {"name": "uploads"}, {"name": "events"}, {"name": "legacy"}, {"name": "ops"}],
        "security": security if keys else [{}, *security],
        "paths": paths,
        "webhooks": webhooks_section(),
        "components": {
            "schemas": json.loads(json.dumps(component_schemas())),
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
