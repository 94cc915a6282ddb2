"""GET /openapi.json: a valid OpenAPI 3.1 document that covers every route and describes, schema for
schema, what a real server sends (session documents, lists, SSE and WebSocket events, reports, problems)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from starlette.routing import Mount, Route, WebSocketRoute

from tests.support.client import TUS, follow, tus_create, tus_offset, tus_patch, upload, wait_state
from vidpulse import __version__
from vidpulse.processing import AnalysisOptions, OptionsError
from vidpulse.processing.schema import Report
from vidpulse.server import schemas
from vidpulse.server.api.openapi import openapi_document
from vidpulse.server.app import create_app
from vidpulse.server.config import Settings
from vidpulse.server.models import EventType

ROOT = Path(__file__).resolve().parents[3]


# Helpers ---------------------------------------------------------------------------------------

def schema_validator(doc: dict[str, Any], schema: dict[str, Any]) -> Draft202012Validator:
    """A Draft 2020-12 validator for `schema`, its `#/components/...` refs resolved inside `doc`."""
    wrapped = {**schema, "components": doc["components"]}
    return Draft202012Validator(wrapped, format_checker=Draft202012Validator.FORMAT_CHECKER)


def check_schema(doc: dict[str, Any], name: str, instance: Any) -> None:
    errors = sorted(schema_validator(doc, {"$ref": f"#/components/schemas/{name}"}).iter_errors(instance),
                    key=lambda e: list(e.absolute_path))
    assert not errors, f"{name}: " + "; ".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:5])


def resolve(doc: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        target: Any = doc
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def check_response(doc: dict[str, Any], path: str, method: str, response: httpx.Response,
                   body: Any = None) -> None:
    """`response` is documented for this operation: its status, its media type and its body."""
    operation = doc["paths"][path][method]
    assert str(response.status_code) in operation["responses"], (path, method, response.status_code)
    documented = resolve(doc, operation["responses"][str(response.status_code)])
    for header in documented.get("headers", {}):
        assert header.lower() in response.headers, (path, response.status_code, header)
    media_type = response.headers.get("content-type", "").split(";")[0].strip()
    if "content" not in documented:
        assert not response.content, (path, response.status_code)
        return
    candidates = (media_type, media_type.split("/")[0] + "/*", "*/*")
    documented_type = next((c for c in candidates if c in documented["content"]), None)
    assert documented_type, (path, response.status_code, media_type)
    schema = documented["content"][documented_type].get("schema")
    if schema is not None and media_type.endswith("json"):
        instance = response.json() if body is None else body
        errors = list(schema_validator(doc, schema).iter_errors(instance))
        assert not errors, f"{method.upper()} {path} {response.status_code}: " + "; ".join(
            f"{list(e.absolute_path)}: {e.message}" for e in errors[:5])


# Fixtures --------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def doc(memory_server) -> dict[str, Any]:
    """The served document: built from the code, the same whatever the backend (so the tests of
    the document alone run once; those of answers run on every backend)."""
    response = memory_server.client().get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    return response.json()  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def finished(shared_server, clip) -> dict[str, Any]:
    """One session run to success, and what the server said about it along the way."""
    client = shared_server.client()
    created = upload(client, clip.path, {"render": False, "width": 160})
    session_id = created.json()["id"]
    wait_state(client, session_id, {"succeeded"})
    return {
        "id": session_id,
        "created": created,
        "status": client.get(f"/api/sessions/{session_id}"),
        "events": follow(client, session_id, last_event_id="0"),
        "results": client.get(f"/api/sessions/{session_id}/results"),
        "list": client.get("/api/sessions", params={"limit": 5}),
    }


# The document itself ---------------------------------------------------------------------------

def test_served_document_is_valid_openapi_31(doc):
    validate(doc)
    assert doc["openapi"] == "3.1.0" and doc["info"]["version"] == __version__
    # Every component schema is itself a valid Draft 2020-12 schema.
    for schema in doc["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)


@pytest.mark.parametrize("keys", [(), ("k1", "k2")])
def test_document_is_valid_with_and_without_keys(keys):
    document = openapi_document(Settings(api_keys=keys))
    validate(document)
    schemes = document["components"]["securitySchemes"]
    assert schemes["bearer"] == {**schemes["bearer"], "type": "http", "scheme": "bearer"}
    assert schemes["access_token"]["in"] == "query" and schemes["access_token"]["name"] == "access_token"
    assert ({} in document["security"]) is (not keys), "auth is optional exactly when no keys are set"
    for path in ("/", "/healthz", "/readyz", "/openapi.json"):
        assert document["paths"][path]["get"]["security"] == [], f"{path} is open"
    assert "security" not in document["paths"]["/metrics"]["get"], "/metrics needs a key"


def test_open_without_a_key_when_keys_are_set(start_server):
    server = start_server(API_KEYS="secret", WORKERS=0)
    response = server.client().get("/openapi.json")
    assert response.status_code == 200
    document = response.json()
    validate(document)
    assert {} not in document["security"]


def _app_routes() -> list[tuple[str, set[str]]]:
    routes: list[tuple[str, set[str]]] = []
    for route in create_app(Settings()).routes:
        if isinstance(route, Mount):
            continue
        path = route.path.replace(":path}", "}")  # type: ignore[attr-defined]
        if isinstance(route, WebSocketRoute):
            routes.append((path, {"get"}))  # the upgrading GET
        else:
            assert isinstance(route, Route)
            routes.append((path, {m.lower() for m in getattr(route, "allowed", route.methods or ())} - {"head"}))
    return routes


def test_every_route_is_documented(doc):
    for path, methods in _app_routes():
        assert path in doc["paths"], path
        assert methods <= set(doc["paths"][path]), (path, methods)


def test_every_documented_operation_has_a_route(doc):
    routed: dict[str, set[str]] = {}
    for path, methods in _app_routes():
        routed.setdefault(path, set()).update(methods)
    missing = {f"{method.upper()} {path}" for path, item in doc["paths"].items()
               for method in item if method in ("get", "post", "delete") and method not in routed.get(path, ())}
    assert not missing


def test_websocket_extension_names_its_message_schemas(doc):
    ws = doc["paths"]["/api/ws"]["get"]["x-websocket"]
    assert ws["clientMessages"] == {"$ref": "#/components/schemas/WsClientMessage"}
    assert ws["serverMessages"] == {"$ref": "#/components/schemas/WsServerMessage"}
    media = doc["paths"]["/api/sessions/{id}/events"]["get"]["responses"]["200"]["content"]["text/event-stream"]
    assert media["schema"]["properties"]["data"]["contentSchema"] == {"$ref": "#/components/schemas/Event"}


# Options: the schema and AnalysisOptions.from_mapping agree ------------------------------------

def _accepted(options: dict[str, Any]) -> bool:
    try:
        AnalysisOptions.from_mapping(options)
    except OptionsError:
        return False
    return True


def test_options_schema_agrees_with_analysis_options():
    document = openapi_document(Settings())
    validator = schema_validator(document, {"$ref": "#/components/schemas/Options"})
    assert validator.is_valid(AnalysisOptions().to_dict()) and validator.is_valid({})
    cases: list[dict[str, Any]] = [{"bogus": 1}, {"render": "yes"}, {"width": True}, {"render": 1}]
    for f in dataclasses.fields(AnalysisOptions):
        if "range" not in f.metadata:
            continue
        lo, hi = f.metadata["range"]
        is_int = str(f.type).startswith("int")
        cases += [{f.name: lo}, {f.name: lo - 1 if is_int else lo - 0.001}, {f.name: "1"}]
        if hi != math.inf:
            cases += [{f.name: hi}, {f.name: hi + 1 if is_int else hi + 0.001}]
        cases.append({f.name: None})
    for case in cases:
        assert validator.is_valid(case) is _accepted(case), case


# What the server really sends -----------------------------------------------------------------

def test_session_documents_match(doc, finished):
    check_response(doc, "/api/sessions", "post", finished["created"])
    assert finished["created"].json()["state"] in ("queued", "running")
    check_response(doc, "/api/sessions/{id}", "get", finished["status"])
    assert finished["status"].json()["state"] == "succeeded"
    check_schema(doc, "Session", finished["status"].json())


def test_list_page_matches(doc, finished):
    check_response(doc, "/api/sessions", "get", finished["list"])
    assert finished["id"] in {s["id"] for s in finished["list"].json()["items"]}


def test_every_sse_event_matches(doc, finished):
    events = finished["events"]
    types = [e.type for e in events]
    assert types[0] == "snapshot" and types[-1] == "succeeded"
    assert {"queued", "started", "stage", "progress"} <= set(types)
    for event in events:
        check_schema(doc, "Event", event.body)
        check_schema(doc, event.type.capitalize() + "Event", event.body)
    mapping = doc["components"]["schemas"]["Event"]["discriminator"]["mapping"]
    assert set(mapping) == {t.value for t in EventType}


def test_sse_responses_match(doc, shared_server, finished):
    client = shared_server.client()
    url = f"/api/sessions/{finished['id']}/events"
    with client.stream("GET", url, params={"last_event_id": "0"}) as response:
        response.read()
        check_response(doc, "/api/sessions/{id}/events", "get", response)
    # Each event of the stream, parsed as an SSE client (and Schemathesis) parses it, against the
    # documented per-event schema; its `data` against Event and the model the server builds from.
    item = doc["paths"]["/api/sessions/{id}/events"]["get"]["responses"]["200"]["content"]["text/event-stream"]
    validator = schema_validator(doc, item["schema"])
    parsed = _parse_sse(response.text)
    assert [e["event"] for e in parsed][-1] == "succeeded" and len(parsed) == len(finished["events"])
    for event in parsed:
        assert validator.is_valid(event), list(validator.iter_errors(event))
        body = json.loads(event["data"])
        check_schema(doc, "Event", body)
        assert schemas.Event.model_validate(body).model_dump(mode="json") == body
    last = finished["events"][-1].id
    check_response(doc, "/api/sessions/{id}/events", "get", client.get(url, headers={"Last-Event-ID": last}))


def _parse_sse(text: str) -> list[dict[str, Any]]:
    events = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        fields: dict[str, Any] = {}
        for line in block.splitlines():
            name, _, value = line.partition(": ")
            if name in ("event", "id", "data"):
                fields[name] = value
        if "data" in fields:
            events.append(fields)
    return events


def test_report_matches(doc, shared_server, finished):
    check_response(doc, "/api/sessions/{id}/results", "get", finished["results"])
    report = finished["results"].json()
    check_schema(doc, "Report", report)
    assert Report.model_validate(report).model_dump(mode="json", by_alias=True, exclude_unset=True) == report
    client = shared_server.client()
    name = report["artifacts"][0]["name"]
    url = f"/api/sessions/{finished['id']}/files/{name}"
    check_response(doc, "/api/sessions/{id}/files/{name}", "get", client.get(url))
    check_response(doc, "/api/sessions/{id}/files/{name}", "get", client.get(url, headers={"Range": "bytes=0-9"}))


def test_problem_documents_match(doc, shared_server, finished):
    client = shared_server.client()
    session = f"/api/sessions/{finished['id']}"
    cases = [
        ("/api/sessions/{id}", "get", client.get("/api/sessions/s_" + "0" * 32), 404),
        ("/api/sessions/{id}/files/{name}", "get", client.get(f"{session}/files/nope.jpg"), 404),
        ("/api/sessions", "get", client.get("/api/sessions", params={"limit": 0}), 422),
        ("/api/sessions", "get", client.get("/api/sessions", params={"cursor": "garbage"}), 422),
        ("/api/sessions/{id}/cancel", "post", client.post(f"{session}/cancel"), 409),
        ("/api/sessions", "post", client.post("/api/sessions", content=b"{}"), 415),
        ("/api/sessions", "post", client.post("/api/sessions", files={"other": (None, b"x")}), 400),
    ]
    for path, method, response, status in cases:
        assert response.status_code == status, (path, response.text)
        check_response(doc, path, method, response)
        check_schema(doc, "Problem", response.json())
    bad_options = upload(client, Path(__file__), {"bogus": 1})
    check_response(doc, "/api/sessions", "post", bad_options)
    assert bad_options.status_code == 422 and bad_options.json()["field"] == "options.bogus"
    # Routing errors (no route, wrong method) are problem documents too.
    check_schema(doc, "Problem", client.get("/nothing-here").json())
    check_schema(doc, "Problem", client.put("/api/sessions").json())


def test_ops_bodies_match(doc, shared_server):
    client = shared_server.client()
    check_response(doc, "/healthz", "get", client.get("/healthz"))
    ready = client.get("/readyz")
    check_response(doc, "/readyz", "get", ready)
    assert ready.json()["ready"] is True
    check_response(doc, "/", "get", client.get("/"))
    check_response(doc, "/openapi.json", "get", client.get("/openapi.json"))


async def test_websocket_messages_match(doc, shared_server, finished):
    url = shared_server.url.replace("http://", "ws://") + "/api/ws"
    client_messages = [
        {"op": "subscribe", "session": finished["id"], "after": "0"},
        {"op": "unsubscribe", "session": finished["id"]},
        {"op": "cancel", "session": finished["id"]},
    ]
    for message in client_messages:
        check_schema(doc, "WsClientMessage", message)
    received: list[dict[str, Any]] = []
    async with websockets.connect(url) as ws:
        await ws.send("not json")
        await ws.send(json.dumps({"op": "dance", "session": finished["id"]}))
        await ws.send(json.dumps({"op": "subscribe", "session": "s_" + "0" * 32}))
        await ws.send(json.dumps(client_messages[0]))
        async with asyncio.timeout(10):
            while not received or received[-1]["type"] != "succeeded":
                received.append(json.loads(await ws.recv()))
        await ws.send(json.dumps(client_messages[2]))
        async with asyncio.timeout(10):
            received.append(json.loads(await ws.recv()))
    errors = [m for m in received if m["type"] == "error"]
    assert [e["data"]["code"] for e in errors] == ["bad_message", "unknown_op", "not-found", "conflict"]
    for message in received:
        check_schema(doc, "WsServerMessage", message)
        check_schema(doc, "WsError" if message["type"] == "error" else "Event", message)
        schemas.WsServerMessage.model_validate(message)


# report.schema.json, when the project ships one -----------------------------------------------

def _properties(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    schema = resolve(root, schema) if "$ref" in schema else schema
    for key in ("allOf", "anyOf", "oneOf"):
        for part in schema.get(key, []):
            if part.get("type") != "null":
                return _properties(part, root)
    return schema


def _shape_mismatches(ours: dict[str, Any], theirs: dict[str, Any], doc: dict[str, Any],
                      shipped: dict[str, Any], where: str = "report") -> list[str]:
    """Where two schemas of one report disagree on property names or required sets (recursively)."""
    ours, theirs = _properties(ours, doc), _properties(theirs, shipped)
    if "items" in ours and "items" in theirs:
        return _shape_mismatches(ours["items"], theirs["items"], doc, shipped, where + "[]")
    if "properties" not in ours or "properties" not in theirs:
        return []  # one side leaves the object open (e.g. options): nothing to compare
    out = []
    if set(ours["properties"]) != set(theirs["properties"]):
        out.append(f"{where}: properties {sorted(ours['properties'])} != {sorted(theirs['properties'])}")
    if set(ours.get("required", [])) != set(theirs.get("required", [])):
        out.append(f"{where}: required {sorted(ours.get('required', []))} != {sorted(theirs.get('required', []))}")
    for name in set(ours["properties"]) & set(theirs["properties"]):
        out += _shape_mismatches(ours["properties"][name], theirs["properties"][name], doc, shipped,
                                 f"{where}.{name}")
    return out


def test_report_schema_agrees_with_report_schema_json(doc, finished):
    found = [p for p in (ROOT / "docs/report.schema.json", ROOT / "processing/report.schema.json") if p.exists()]
    if not found:
        pytest.skip("no report.schema.json in docs/ or processing/")
    shipped = json.loads(found[0].read_text())
    Draft202012Validator(shipped).validate(finished["results"].json())
    assert not _shape_mismatches({"$ref": "#/components/schemas/Report"}, shipped, doc, shipped)


def test_unsupported_methods_are_405_with_the_documented_allow(doc, shared_server, finished):
    client = shared_server.client()
    for path, item in doc["paths"].items():
        url = path.replace("{id}", finished["id"]).replace("{name}", "report.json")
        documented = {m.upper() for m in item if m in ("get", "post", "delete", "put", "patch", "head", "options")}
        if path == "/api/ws":
            documented = {"GET"}
        expected = documented | ({"HEAD"} if "GET" in documented else set())
        for method in {"OPTIONS", "TRACE", "PUT", "PATCH"} - documented:
            response = client.request(method, url)
            assert response.status_code == 405, (method, path, response.status_code)
            assert set(response.headers["allow"].split(", ")) == expected, (method, path)
            assert response.headers["content-type"] == "application/problem+json"
            check_schema(doc, "Problem", response.json())


def test_plain_get_on_the_websocket_path_is_a_documented_426(doc, memory_server):
    response = memory_server.client().get("/api/ws")  # answered before any backend call
    assert response.status_code == 426 and response.headers["upgrade"] == "websocket"
    check_response(doc, "/api/ws", "get", response)


def test_tus_answers_and_uploading_documents_match(doc, shared_server, clip):
    client = shared_server.client()
    data = clip.path.read_bytes()
    check_response(doc, "/api/uploads", "options", client.options("/api/uploads"))
    created = tus_create(client, len(data), options={"width": 160})
    check_response(doc, "/api/uploads", "post", created)
    upload_id = created.headers["location"].rsplit("/", 1)[-1]
    check_response(doc, "/api/uploads/{id}", "head", client.head(f"/api/uploads/{upload_id}", headers=TUS))
    check_response(doc, "/api/uploads/{id}", "patch", tus_patch(client, upload_id, 0, data[:1000]))
    check_response(doc, "/api/uploads/{id}", "patch", tus_patch(client, upload_id, 5, data[:10]))  # 409
    check_response(doc, "/api/uploads/{id}", "patch", tus_patch(client, upload_id, 1000, data[1000:2000],
                                                                {"Upload-Checksum": "sha1 AAAA"}))  # 460
    check_response(doc, "/api/uploads", "post", client.post("/api/uploads", headers={"Upload-Length": "5"}))  # 400
    check_response(doc, "/api/uploads", "post",
                   client.post("/api/uploads", headers={"Upload-Length": "5", "Tus-Resumable": "0.2.2"}))  # 412
    assert tus_offset(client, upload_id) == 1000
    session = client.get(f"/api/sessions/{upload_id}")
    check_response(doc, "/api/sessions/{id}", "get", session)
    assert session.json()["state"] == "uploading"
    events = follow(client, upload_id, last_event_id="0", stop_after=3)
    assert [e.type for e in events] == ["snapshot", "stage", "progress"]
    for event in events:
        check_schema(doc, "Event", event.body)
    check_response(doc, "/api/uploads/{id}", "delete", client.delete(f"/api/uploads/{upload_id}", headers=TUS))


def test_an_ingest_request_matches(doc, shared_server):
    refused = shared_server.client().post("/api/sessions", json={"url": "http://127.0.0.1/clip.mp4"})
    check_response(doc, "/api/sessions", "post", refused)
    schemas.IngestRequest.model_validate({"url": "https://example.com/clip.mp4", "options": {"width": 320}})
