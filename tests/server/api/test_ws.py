"""WebSocket: one socket for many sessions, replay with `after`, bad messages, cancel."""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict

import websockets

from tests.support.client import follow, order, upload_ok, wait_state


def _ws_url(server) -> str:
    return server.url.replace("http://", "ws://") + "/api/ws"


async def _receive_until_terminal(ws, sessions: set[str], within_s: float = 60) -> dict[str, list[dict]]:
    seen: dict[str, list[dict]] = defaultdict(list)
    open_ = set(sessions)
    async with asyncio.timeout(within_s):
        while open_:
            message = json.loads(await ws.recv())
            if message["type"] == "error":
                raise AssertionError(message)
            seen[message["session"]].append(message)
            if message["type"] in ("succeeded", "failed", "cancelled", "expired"):
                open_.discard(message["session"])
    return seen


async def test_three_sessions_on_one_socket(shared_server, clip):
    client = shared_server.client()
    ids = [upload_ok(client, clip.path)["id"] for _ in range(3)]
    async with websockets.connect(_ws_url(shared_server)) as ws:
        for session_id in ids:
            await ws.send(json.dumps({"op": "subscribe", "session": session_id, "after": "0"}))
        seen = await _receive_until_terminal(ws, set(ids))
    for session_id in ids:
        events = seen[session_id]
        assert events[0]["type"] == "snapshot" and events[0]["id"] is None
        assert events[-1]["type"] == "succeeded"
        sse = follow(client, session_id, last_event_id="0")
        assert [e for e in events[1:]] == [e.body for e in sse[1:]], "same shape and ids as SSE"


async def test_replay_with_after(shared_server, clip):
    client = shared_server.client()
    session_id = upload_ok(client, clip.path)["id"]
    wait_state(client, session_id, {"succeeded"})
    full = follow(client, session_id, last_event_id="0")
    middle = full[len(full) // 2].id
    async with websockets.connect(_ws_url(shared_server)) as ws:
        await ws.send(json.dumps({"op": "subscribe", "session": session_id, "after": middle}))
        seen = (await _receive_until_terminal(ws, {session_id}))[session_id]
        # The document may say succeeded a moment before the terminal event is logged: the log is the truth.
        assert seen[0]["type"] == "snapshot" and seen[0]["data"]["last_event_id"] == full[-1].id
        assert seen[1:] == [e.body for e in full[1:] if order(e.id) > order(middle)]

        # Without `after`, a finished session still ends with its terminal event.
        await ws.send(json.dumps({"op": "subscribe", "session": session_id}))
        again = (await _receive_until_terminal(ws, {session_id}))[session_id]
        assert [e["type"] for e in again] == ["snapshot", "succeeded"]


async def test_bad_messages_get_errors_and_keep_other_subscriptions(shared_server, long_clip):
    client = shared_server.client()
    session_id = upload_ok(client, long_clip.path, {"max_frames": 150})["id"]
    async with websockets.connect(_ws_url(shared_server)) as ws:
        await ws.send(json.dumps({"op": "subscribe", "session": session_id}))
        bad = ["not json", "[1, 2]", json.dumps({"op": "dance", "session": session_id}),
               json.dumps({"op": "subscribe"}), json.dumps({"op": "subscribe", "session": "s_missing"}),
               json.dumps({"op": "subscribe", "session": session_id, "after": 5}),
               json.dumps({"op": "cancel", "session": "s_missing"}), "x" * 20000]
        for message in bad:
            await ws.send(message)
        errors, events = [], []
        async with asyncio.timeout(60):
            while not events or events[-1]["type"] != "succeeded":
                message = json.loads(await ws.recv())
                (errors if message["type"] == "error" else events).append(message)
    codes = [e["data"]["code"] for e in errors]
    assert codes == ["bad_message", "bad_message", "unknown_op", "bad_message", "not-found",
                     "bad_message", "not-found", "too_large"]
    assert all(e["data"]["message"] and "Traceback" not in e["data"]["message"] for e in errors)
    assert events[0]["type"] == "snapshot" and events[-1]["type"] == "succeeded"


async def test_cancel_and_unsubscribe_over_the_socket(start_server, long_clip):
    server = start_server(WORKERS=1)
    client = server.client()
    running = upload_ok(client, long_clip.path)["id"]
    queued = upload_ok(client, long_clip.path)["id"]
    async with websockets.connect(_ws_url(server)) as ws:
        await ws.send(json.dumps({"op": "subscribe", "session": queued}))
        await ws.send(json.dumps({"op": "subscribe", "session": running}))
        await ws.send(json.dumps({"op": "unsubscribe", "session": queued}))
        await ws.send(json.dumps({"op": "cancel", "session": running}))
        seen = await _receive_until_terminal(ws, {running})
        assert seen[running][-1]["type"] == "cancelled"
        assert all(e["type"] == "snapshot" for e in seen[queued])
    assert client.get(f"/api/sessions/{queued}").json()["state"] in ("queued", "running")


async def test_cancel_over_the_socket_is_idempotent(shared_server, long_clip, clip):
    client = shared_server.client()
    finished = upload_ok(client, clip.path)["id"]
    cancelled = upload_ok(client, long_clip.path)["id"]
    assert client.post(f"/api/sessions/{cancelled}/cancel").status_code == 202
    wait_state(client, cancelled, {"cancelled"})
    wait_state(client, finished, {"succeeded"})
    async with websockets.connect(_ws_url(shared_server)) as ws:
        await ws.send(json.dumps({"op": "cancel", "session": cancelled}))
        await ws.send(json.dumps({"op": "cancel", "session": finished}))
        # Ops are answered in order: an error for the first cancel would come before this one's.
        refused = json.loads(await ws.recv())
        assert refused["type"] == "error" and refused["session"] == finished
        assert refused["data"]["code"] == "conflict" and refused["data"]["op"] == "cancel"
        await ws.send(json.dumps({"op": "subscribe", "session": cancelled}))
        seen = (await _receive_until_terminal(ws, {cancelled}))[cancelled]
    assert [e["type"] for e in seen] == ["snapshot", "cancelled"]
    assert client.get(f"/api/sessions/{cancelled}").json()["state"] == "cancelled"


async def test_closing_every_stream_does_not_cancel(shared_server, long_clip):
    client = shared_server.client()
    session_id = upload_ok(client, long_clip.path, {"max_frames": 150})["id"]
    async with websockets.connect(_ws_url(shared_server)) as ws:
        await ws.send(json.dumps({"op": "subscribe", "session": session_id}))
        await ws.recv()
    follow(client, session_id, stop_after=2)
    assert wait_state(client, session_id, {"succeeded", "failed", "cancelled"})["state"] == "succeeded"
