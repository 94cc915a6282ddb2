"""API keys: Bearer or access_token, constant-time checks, sessions visible only to their key."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
import websockets

from tests.support.client import assert_problem, follow, upload, upload_ok, wait_state


@pytest.fixture(scope="module")
def keyed(tmp_path_factory):
    from tests.support.servers import dispose, new_server

    server = new_server(tmp_path_factory.mktemp("keyed"), API_KEYS="key-one,key-two",
                        CORS_ORIGINS="http://app.example")
    yield server
    dispose(server)


def _as(server, key: str) -> httpx.Client:
    return server.client(headers={"Authorization": f"Bearer {key}"})


def test_missing_or_wrong_key_is_401(keyed, clip):
    anonymous = keyed.client()
    for method, path in (("GET", "/api/sessions"), ("POST", "/api/sessions"), ("GET", "/metrics"),
                         ("POST", "/analyze/video"), ("GET", "/api/sessions/s_x/events")):
        response = anonymous.request(method, path)
        assert_problem(response, 401)
        assert response.headers["www-authenticate"].startswith("Bearer")
    assert_problem(_as(keyed, "key-three").get("/api/sessions"), 401)
    assert_problem(upload(_as(keyed, "wrong"), clip.path), 401)


def test_open_paths_need_no_key(keyed):
    client = keyed.client()
    for path in ("/", "/healthz", "/readyz", "/openapi.json"):
        assert client.get(path).status_code == 200, path


def test_sessions_are_visible_only_to_their_key(keyed, clip):
    one, two = _as(keyed, "key-one"), _as(keyed, "key-two")
    session = upload_ok(one, clip.path)
    wait_state(one, session["id"], {"succeeded"})
    for path in ("", "/results", "/events", "/files/report.json"):
        assert_problem(two.get(f"/api/sessions/{session['id']}{path}"), 404)
    assert_problem(two.post(f"/api/sessions/{session['id']}/cancel"), 404)
    assert_problem(two.delete(f"/api/sessions/{session['id']}"), 404)
    assert session["id"] not in [s["id"] for s in two.get("/api/sessions").json()["items"]]
    assert session["id"] in [s["id"] for s in one.get("/api/sessions").json()["items"]]


def test_access_token_for_event_source_and_websocket(keyed, clip):
    one = _as(keyed, "key-one")
    session = upload_ok(one, clip.path)
    token = keyed.client(params={"access_token": "key-one"})
    events = follow(token, session["id"], last_event_id="0")
    assert events[-1].type == "succeeded"
    assert token.get(f"/api/sessions/{session['id']}/files/report.json").status_code == 200
    assert_problem(keyed.client().post("/api/sessions", params={"access_token": "key-one"}), 401)

    async def over_websocket(key: str) -> list[dict]:
        url = keyed.url.replace("http://", "ws://") + f"/api/ws?access_token={key}"
        async with websockets.connect(url) as ws:
            await ws.send(json.dumps({"op": "subscribe", "session": session["id"]}))
            return [json.loads(await ws.recv()) for _ in range(2)]

    received = asyncio.run(over_websocket("key-one"))
    assert [m["type"] for m in received] == ["snapshot", "succeeded"]
    with pytest.raises(websockets.exceptions.WebSocketException):
        asyncio.run(over_websocket("nope"))


def test_cors_allows_only_the_configured_origin(keyed):
    client = keyed.client()
    allowed = client.options("/api/sessions", headers={"Origin": "http://app.example",
                                                       "Access-Control-Request-Method": "POST"})
    assert allowed.headers.get("access-control-allow-origin") == "http://app.example"
    refused = client.options("/api/sessions", headers={"Origin": "http://evil.example",
                                                       "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in refused.headers
