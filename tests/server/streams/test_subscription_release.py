"""Every subscription is released on every path, whatever the client does: HEAD, a
client gone before the first chunk, one that leaves mid-stream, a WebSocket subscription undone
before its pump ever ran. `vidpulse_subscribers` must come back to zero."""

from __future__ import annotations

import asyncio
import json
import socket

import httpx
import pytest
import websockets

from tests.support.client import follow, upload_ok, wait_no_subscribers, wait_state

ZERO = {"sse": 0, "ws": 0, "internal": 0}


@pytest.fixture(scope="module")
def finished(shared_server, clip) -> str:
    client = shared_server.client()
    session_id = upload_ok(client, clip.path)["id"]
    wait_state(client, session_id, {"succeeded"})
    return session_id


def _raw_socket(server) -> socket.socket:
    host, port = server.url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)))
    return sock


def test_head_requests_leave_no_subscriber(shared_server, finished):
    client = shared_server.client()
    for _ in range(20):
        response = client.head(f"/api/sessions/{finished}/events")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
    assert wait_no_subscribers(client) == ZERO


def test_clients_gone_before_the_first_chunk_leave_no_subscriber(shared_server, long_clip):
    client = shared_server.client()
    session_id = upload_ok(client, long_clip.path, {"max_frames": 50})["id"]
    for _ in range(20):
        sock = _raw_socket(shared_server)
        sock.sendall(f"GET /api/sessions/{session_id}/events HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        sock.close()
    wait_state(client, session_id, {"succeeded"})
    assert wait_no_subscribers(client) == ZERO


def test_clients_leaving_mid_stream_leave_no_subscriber(shared_server, long_clip):
    client = shared_server.client()
    session_id = upload_ok(client, long_clip.path, {"max_frames": 200})["id"]
    for _ in range(10):
        assert follow(client, session_id, stop_after=1)[0].type == "snapshot"
    events = follow(client, session_id)
    assert events[-1].type == "succeeded"
    assert wait_no_subscribers(client) == ZERO


def test_a_stream_of_a_deleted_session_is_released(shared_server, long_clip):
    client = shared_server.client()
    session_id = upload_ok(client, long_clip.path)["id"]
    with httpx.stream("GET", f"{shared_server.url}/api/sessions/{session_id}/events", timeout=30) as response:
        assert response.status_code == 200
        next(response.iter_bytes())
        assert client.delete(f"/api/sessions/{session_id}").status_code == 204
    assert wait_no_subscribers(client) == ZERO


async def test_websocket_subscriptions_undone_at_once_leave_no_subscriber(shared_server, finished, long_clip):
    client = shared_server.client()
    running = upload_ok(client, long_clip.path, {"max_frames": 100})["id"]
    url = shared_server.url.replace("http://", "ws://") + "/api/ws"
    for session_id in (finished, running):
        subscribe = json.dumps({"op": "subscribe", "session": session_id})
        unsubscribe = json.dumps({"op": "unsubscribe", "session": session_id})
        async with websockets.connect(url) as ws:
            # Both frames arrive together: the pump task is cancelled before its first step.
            for _ in range(20):
                await ws.send(subscribe)
                await ws.send(unsubscribe)
            await ws.send(json.dumps({"op": "nonsense", "session": session_id}))
            async with asyncio.timeout(30):  # every frame before it has been handled
                while json.loads(await ws.recv())["type"] != "error":
                    pass
        for _ in range(5):
            async with websockets.connect(url) as ws:
                await ws.send(subscribe)  # and the socket closes before anything is read
    wait_state(client, running, {"succeeded"})
    assert wait_no_subscribers(client) == ZERO
