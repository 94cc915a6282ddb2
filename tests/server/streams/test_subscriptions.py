"""Many subscribers and stuck ones: a client that stops reading delays nobody else."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from datetime import datetime

import httpx
import pytest
import websockets

from tests.support.client import afollow, order, upload_ok, wait_state
from vidpulse.server.models import Event, EventType
from vidpulse.server.streams.hub import Hub, SubscriberClosed
from vidpulse.server.streams.subscriptions import Subscription

NON_PROGRESS = {"queued", "started", "stage", "succeeded", "failed", "cancelled"}


def _latency_s(body: dict, received: float) -> float:
    return received - datetime.fromisoformat(body["ts"].replace("Z", "+00:00")).timestamp()


async def _ws_follow(url: str, session_id: str, after: str | None = None) -> list[dict]:
    events: list[dict] = []
    async with websockets.connect(url, max_queue=None) as ws:
        await ws.send(json.dumps({"op": "subscribe", "session": session_id, "after": after}))
        while True:
            events.append(json.loads(await ws.recv()))
            if events[-1]["type"] in ("succeeded", "failed", "cancelled", "expired"):
                return events


def _stuck_sse_client(server, session_id: str) -> socket.socket:
    host, port = server.url.removeprefix("http://").split(":")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((host, int(port)))
    sock.sendall(f"GET /api/sessions/{session_id}/events HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    return sock  # and never read from it


def _stuck_ws_client(server, session_id: str) -> socket.socket:
    host, port = server.url.removeprefix("http://").split(":")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((host, int(port)))
    sock.sendall((f"GET /api/ws HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    time.sleep(0.2)
    payload = json.dumps({"op": "subscribe", "session": session_id, "after": "0"}).encode()
    mask = b"\x01\x02\x03\x04"
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    sock.sendall(bytes([0x81, 0x80 | len(payload)]) + mask + masked)
    return sock


async def test_stuck_clients_delay_nobody(start_server, long_clip):
    server = start_server(WORKERS=1, PROGRESS_HZ=50)
    client = server.client()
    session_id = upload_ok(client, long_clip.path, {"render": True})["id"]  # long enough to watch
    stuck = [_stuck_sse_client(server, session_id) for _ in range(3)]
    stuck += [_stuck_ws_client(server, session_id) for _ in range(3)]
    try:
        received: list[tuple[dict, float]] = []
        async with httpx.AsyncClient(base_url=server.url, timeout=120) as reader:
            from httpx_sse import aconnect_sse

            async with aconnect_sse(reader, "GET", f"/api/sessions/{session_id}/events") as source:
                async for sse in source.aiter_sse():
                    if sse.event in ("snapshot", "message", ""):
                        continue
                    received.append((json.loads(sse.data), time.time()))
        assert received[-1][0]["type"] == "succeeded"
        latencies = sorted(_latency_s(body, at) for body, at in received)
        assert latencies[int(len(latencies) * 0.99)] < 0.5, latencies[-5:]
        assert sum(1 for body, _ in received if body["type"] == "progress") > 20
    finally:
        for sock in stuck:
            sock.close()
    ready = client.get("/readyz").json()
    assert ready["ready"]


async def test_200_subscribers_see_the_same_events(start_server, long_clip):
    server = start_server(WORKERS=1)
    client = server.client()
    session_id = upload_ok(client, long_clip.path, {"max_frames": 300})["id"]
    ws_url = server.url.replace("http://", "ws://") + "/api/ws"
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=server.url, timeout=120, limits=limits) as http:
        sse_runs = [afollow(http, session_id, last_event_id="0") for _ in range(100)]
        ws_runs = [_ws_follow(ws_url, session_id, after="0") for _ in range(100)]
        results = await asyncio.gather(*sse_runs, *ws_runs)
    logs = [[e.body for e in run] for run in results[:100]] + list(results[100:])
    assert all(run[-1]["type"] == "succeeded" for run in logs)
    reference = [e for e in logs[0] if e["type"] in NON_PROGRESS]
    for run in logs:
        assert [e for e in run if e["type"] in NON_PROGRESS] == reference
        ids = [order(e["id"]) for e in run if e["id"] is not None]
        assert ids == sorted(ids) and len(ids) == len(set(ids))
    wait_state(client, session_id, {"succeeded"})


# `Subscription.deliver`, with the real hub and a recording connection ---------------------------


def _live(n: int, type: str = "progress") -> Event:
    return Event.create(str(n), "s_1", EventType(type), {"n": n})


class _Connection:
    """Records what `deliver` writes; `hold()` makes the next write wait until `release()`."""

    def __init__(self) -> None:
        self.written: list[str] = []
        self.tasks_woken = 0
        self._gate: asyncio.Event | None = None

    async def write(self, batch: list[Event]) -> None:
        if self._gate is not None:
            gate, self._gate = self._gate, None
            await gate.wait()
        self.written += [e.id or e.type.value for e in batch]

    def hold(self) -> asyncio.Event:
        self._gate = asyncio.Event()
        return self._gate


def _subscription(hub: Hub, covered: str | None = None, replay: list[Event] | None = None) -> Subscription:
    snapshot = Event.create(None, "s_1", EventType.SNAPSHOT, {})
    return Subscription("s_1", snapshot, replay or [], covered, False, hub.subscribe("s_1"), hub)


async def _parked(task: asyncio.Task[None]) -> None:
    for _ in range(5):
        await asyncio.sleep(0)
    assert not task.done()


async def test_live_events_are_written_from_publish_itself():
    hub = Hub(queue_size=8)
    connection = _Connection()
    task = asyncio.create_task(_subscription(hub, "2", [_live(2, "stage")]).deliver(connection.write))
    await _parked(task)
    assert connection.written == ["snapshot", "2"]
    for n in (1, 2, 3, 4):  # 1 and 2 are covered by the snapshot and the replay
        hub.publish(_live(n))
        assert connection.written[-1] == ("2" if n <= 2 else str(n)), "written before publish returned"
    hub.publish(_live(5, "succeeded"))
    await asyncio.wait_for(task, 5)
    assert connection.written == ["snapshot", "2", "3", "4", "5"]
    assert hub.count("s_1") == 0, "the subscription is released at the end"


async def test_a_write_that_waits_hands_over_and_the_backlog_goes_in_one_batch_merged():
    hub = Hub(queue_size=4)
    connection = _Connection()
    task = asyncio.create_task(_subscription(hub).deliver(connection.write))
    await _parked(task)
    gate = connection.hold()
    hub.publish(_live(1, "stage"))  # this write has to wait: the rest goes to the task
    hub.publish(_live(2, "scene"))
    for n in range(3, 40):
        hub.publish(_live(n))
    assert connection.written == ["snapshot"]
    gate.set()
    await _parked(task)
    assert connection.written[:3] == ["snapshot", "1", "2"]
    assert connection.written[-1] == "39", "the newest progress survives the merge"
    assert len(connection.written) <= 3 + 4
    hub.publish(_live(40))
    assert connection.written[-1] == "40", "direct writes again once caught up"
    hub.publish(_live(41, "failed"))
    await asyncio.wait_for(task, 5)
    assert connection.written[-1] == "41"


async def test_closing_the_subscriber_ends_delivery_and_a_broken_write_raises():
    hub = Hub(queue_size=4)
    connection = _Connection()
    subscription = _subscription(hub)
    task = asyncio.create_task(subscription.deliver(connection.write))
    await _parked(task)
    hub.close_all()
    with pytest.raises(SubscriberClosed):
        await asyncio.wait_for(task, 5)

    async def broken(batch: list[Event]) -> None:
        if batch[0].type is not EventType.SNAPSHOT:
            raise OSError("connection reset")

    task = asyncio.create_task(_subscription(hub).deliver(broken))
    await _parked(task)
    hub.publish(_live(1))  # publish never raises: the connection's task does
    with pytest.raises(OSError):
        await asyncio.wait_for(task, 5)
    assert hub.count("s_1") == 0
