"""Client-side helpers for the integration tests: upload, follow SSE, wait for a state."""

from __future__ import annotations

import base64
import json
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from httpx_sse import aconnect_sse, connect_sse

FINAL_STATES = {"succeeded", "failed", "cancelled"}
TERMINAL_EVENTS = FINAL_STATES | {"expired"}


@dataclass(frozen=True)
class Received:
    id: str | None
    type: str
    body: dict[str, Any]

    @property
    def data(self) -> dict[str, Any]:
        return self.body["data"]  # type: ignore[no-any-return]


def order(event_id: str) -> tuple[int, int]:
    """Event ids are opaque but ordered: "17" on the memory backend, "1732440000000-3" on Redis."""
    major, _, minor = event_id.partition("-")
    return int(major), int(minor or 0)


def upload(client: httpx.Client, path: Path, options: dict[str, Any] | None = None,
           url: str = "/api/sessions", **kwargs: Any) -> httpx.Response:
    data = {"options": json.dumps(options)} if options is not None else None
    with path.open("rb") as fh:
        return client.post(url, files={"file": (path.name, fh, "video/mp4")}, data=data, **kwargs)


def upload_ok(client: httpx.Client, path: Path, options: dict[str, Any] | None = None) -> dict[str, Any]:
    response = upload(client, path, options)
    assert response.status_code == 202, response.text
    return response.json()  # type: ignore[no-any-return]


def _received(sse: Any) -> Received:
    body = json.loads(sse.data)
    assert body["type"] == sse.event
    assert (sse.id or None) == body["id"]
    return Received(body["id"], sse.event, body)


def follow(client: httpx.Client, session_id: str, last_event_id: str | None = None,
           stop_after: int | None = None, into: list[Received] | None = None) -> list[Received]:
    """Read the SSE stream until it closes (or `stop_after` events). Events are appended to `into`
    as they arrive, so a caller that follows in a thread sees them live."""
    headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
    events: list[Received] = [] if into is None else into
    with connect_sse(client, "GET", f"/api/sessions/{session_id}/events", headers=headers,
                     timeout=httpx.Timeout(60, read=60)) as source:
        assert source.response.status_code == 200
        for sse in source.iter_sse():
            if not sse.event or sse.event == "message":
                continue  # the retry-only block
            events.append(_received(sse))
            if stop_after is not None and len(events) >= stop_after:
                break
    return events


async def afollow(client: httpx.AsyncClient, session_id: str, last_event_id: str | None = None) -> list[Received]:
    headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
    events: list[Received] = []
    async with aconnect_sse(client, "GET", f"/api/sessions/{session_id}/events", headers=headers) as source:
        assert source.response.status_code == 200
        async for sse in source.aiter_sse():
            if sse.event and sse.event != "message":
                events.append(_received(sse))
    return events


def wait_state(client: httpx.Client, session_id: str, states: set[str], timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        doc = client.get(f"/api/sessions/{session_id}").json()
        if doc["state"] in states:
            return doc  # type: ignore[no-any-return]
        if time.monotonic() > deadline:
            raise AssertionError(f"session {session_id} stayed {doc['state']} ({doc.get('error')}), wanted {states}")
        time.sleep(0.05)


def wait_progress(client: httpx.Client, session_id: str, frames: int, timeout: float = 30) -> None:
    """Until the running job has analysed at least `frames` frames (so it is really mid-job)."""
    deadline = time.monotonic() + timeout
    while (client.get(f"/api/sessions/{session_id}").json().get("progress") or {}).get("frame", 0) < frames:
        assert time.monotonic() < deadline, f"session {session_id} made no progress"
        time.sleep(0.05)


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    doc = response.json()
    assert doc["status"] == status and doc["title"] and doc["detail"] and doc["type"]
    assert "Traceback" not in response.text
    return doc  # type: ignore[no-any-return]


def subscribers(client: httpx.Client) -> dict[str, int]:
    """`vidpulse_subscribers` by transport, read from /metrics."""
    counts: dict[str, int] = {}
    for line in client.get("/metrics").text.splitlines():
        if line.startswith("vidpulse_subscribers{"):
            labels, _, value = line.rpartition(" ")
            counts[labels.split('"')[1]] = int(float(value))
    return counts


def wait_no_subscribers(client: httpx.Client, timeout: float = 10) -> dict[str, int]:
    """Polls the gauge until every subscription is released; returns the last reading."""
    deadline = time.monotonic() + timeout
    while True:
        counts = subscribers(client)
        if not any(counts.values()) or time.monotonic() > deadline:
            return counts
        time.sleep(0.1)


# tus 1.0.0 by hand (the third-party clients are driven in tests/server/uploads/test_tus_clients.py) -------------

TUS = {"Tus-Resumable": "1.0.0"}


def tus_metadata(**values: str) -> str:
    return ",".join(f"{key} {base64.b64encode(value.encode()).decode()}" for key, value in values.items())


def tus_create(client: httpx.Client, length: int, filename: str = "clip.mp4", options: dict[str, Any] | None = None,
               **kwargs: Any) -> httpx.Response:
    metadata = {"filename": filename, **({"options": json.dumps(options)} if options is not None else {})}
    headers = {**TUS, "Upload-Length": str(length), "Upload-Metadata": tus_metadata(**metadata),
               **kwargs.pop("headers", {})}
    return client.post("/api/uploads", headers=headers, **kwargs)


def tus_created(client: httpx.Client, length: int, **kwargs: Any) -> str:
    """A new upload's id (= its session's id)."""
    response = tus_create(client, length, **kwargs)
    assert response.status_code == 201, response.text
    location = response.headers["location"]
    assert location.startswith("/api/uploads/s_")
    return location.rsplit("/", 1)[-1]


def tus_patch(client: httpx.Client, upload_id: str, offset: int, chunk: bytes,
              headers: dict[str, str] | None = None) -> httpx.Response:
    return client.patch(f"/api/uploads/{upload_id}", content=chunk,
                        headers={**TUS, "Upload-Offset": str(offset),
                                 "Content-Type": "application/offset+octet-stream", **(headers or {})})


def tus_cut_patch(url: str, upload_id: str, offset: int, chunk: bytes, sent: int) -> None:
    """A PATCH whose connection drops after `sent` bytes of its body."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port)) as sock:
        head = (f"PATCH /api/uploads/{upload_id} HTTP/1.1\r\nHost: {parts.netloc}\r\nTus-Resumable: 1.0.0\r\n"
                f"Upload-Offset: {offset}\r\nContent-Type: application/offset+octet-stream\r\n"
                f"Content-Length: {len(chunk)}\r\n\r\n")
        sock.sendall(head.encode() + chunk[:sent])
        time.sleep(0.3)


def tus_offset(client: httpx.Client, upload_id: str) -> int:
    response = client.head(f"/api/uploads/{upload_id}", headers=TUS)
    assert response.status_code == 200, response.status_code
    return int(response.headers["upload-offset"])
