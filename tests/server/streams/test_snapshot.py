"""The snapshot that opens every stream carries the scenes found so far: a client that joins late
draws every scene, without replaying the log from the start."""

from __future__ import annotations

import json

import httpx
import pytest
import websockets
from httpx_sse import connect_sse

from tests.support.client import follow, order, upload_ok, wait_state
from vidpulse.client import Client
from vidpulse.client import Event as ClientEvent
from vidpulse.server import schemas
from vidpulse.server.models import Event, EventType, Session, SessionState, new_session_id
from vidpulse.server.streams.hub import Hub
from vidpulse.server.streams.subscriptions import open_subscription


def _wait_for_scenes(client: httpx.Client, session_id: str, count: int) -> None:
    """Follows the stream from its start until `count` scenes are logged."""
    seen = 0
    with connect_sse(client, "GET", f"/api/sessions/{session_id}/events", headers={"Last-Event-ID": "0"},
                     timeout=httpx.Timeout(60, read=60)) as source:
        for sse in source.iter_sse():
            seen += sse.event == "scene"
            assert sse.event not in ("succeeded", "failed", "cancelled"), "the run ended before the test joined"
            if seen >= count:
                return


def _of_attempt(scenes: list[dict], attempt: int) -> list[dict]:
    """The report's scenes as their `scene` events carry them."""
    return [{**scene, "attempt": attempt} for scene in scenes]


def _logged_scenes_up_to(full: list, covered: str) -> list[dict]:
    return [e.data for e in full if e.type == "scene" and order(e.id) <= order(covered)]


def test_a_late_sse_client_gets_the_scenes_so_far_in_its_snapshot(shared_server, long_clip):
    client = shared_server.client()
    session_id = upload_ok(client, long_clip.path)["id"]
    _wait_for_scenes(client, session_id, 1)

    late = follow(client, session_id)  # no Last-Event-ID: the snapshot, then live events
    full = follow(client, session_id, last_event_id="0")

    snapshot = late[0]
    assert snapshot.type == "snapshot" and snapshot.data["state"] in ("running", "cancelling")
    scenes = snapshot.data["scenes"]
    assert len(scenes) >= 1
    assert scenes == _logged_scenes_up_to(full, snapshot.data["last_event_id"])
    # Snapshot and live events together: every scene, once, as the report lists them.
    live = [e.data for e in late[1:] if e.type == "scene"]
    report = client.get(f"/api/sessions/{session_id}/results").json()
    assert scenes + live == [e.data for e in full if e.type == "scene"] == _of_attempt(report["scenes"], 1)
    assert len(report["scenes"]) > len(scenes), "joined while scenes were still to come"


async def test_a_late_websocket_subscriber_gets_the_scenes_so_far(shared_server, long_clip):
    client = shared_server.client()
    session_id = upload_ok(client, long_clip.path)["id"]
    _wait_for_scenes(client, session_id, 1)
    async with websockets.connect(shared_server.url.replace("http://", "ws://") + "/api/ws") as ws:
        await ws.send(json.dumps({"op": "subscribe", "session": session_id}))
        snapshot = json.loads(await ws.recv())
    full = follow(client, session_id, last_event_id="0")
    assert snapshot["type"] == "snapshot" and len(snapshot["data"]["scenes"]) >= 1
    assert snapshot["data"]["scenes"] == _logged_scenes_up_to(full, snapshot["data"]["last_event_id"])


def test_a_finished_session_snapshot_lists_every_scene(shared_server, clip):
    client = shared_server.client()
    session_id = upload_ok(client, clip.path)["id"]
    full = follow(client, session_id, last_event_id="0")
    again = follow(client, session_id)
    report = client.get(f"/api/sessions/{session_id}/results").json()
    assert [e.type for e in again] == ["snapshot", "succeeded"]
    assert again[0].data["scenes"] == _of_attempt(report["scenes"], 1) == [e.data for e in full if e.type == "scene"]
    # The GET document stays the bare session: the scenes are the snapshot's.
    assert "scenes" not in client.get(f"/api/sessions/{session_id}").json()


def test_after_a_retry_the_snapshot_holds_the_new_attempts_scenes_only(shared_server, clip):
    client = shared_server.client()
    session_id = upload_ok(client, clip.path)["id"]
    wait_state(client, session_id, {"succeeded"})
    assert client.post(f"/api/sessions/{session_id}/retry").status_code == 202
    done = wait_state(client, session_id, {"succeeded"})
    snapshot = follow(client, session_id)[0]
    report = client.get(f"/api/sessions/{session_id}/results").json()
    assert done["attempt"] == 2 and snapshot.data["scenes"] == _of_attempt(report["scenes"], 2)
    logged = [e.data["attempt"] for e in follow(client, session_id, last_event_id="0") if e.type == "scene"]
    assert logged.count(1) == logged.count(2) == len(report["scenes"]), "the first attempt's are in the log"


def test_the_python_client_reads_the_snapshots_scenes(shared_server, clip):
    with Client(shared_server.url) as client:
        session = client.upload(clip.path)
        client.wait(session.id)
        snapshot = next(iter(client.watch(session.id))).data
        assert isinstance(snapshot, schemas.Snapshot) and isinstance(snapshot, schemas.Session)
        report = client.results(session.id)
        assert snapshot.scenes and [s.model_dump(exclude={"attempt"}) for s in snapshot.scenes] == [
            s.model_dump() for s in report.scenes]


def test_a_snapshot_without_scenes_still_parses():
    """An older server's snapshot is the bare session document: the client reads it as no scenes."""
    document = schemas.Session.of(Session(id=new_session_id(), filename="a.mp4")).model_dump(mode="json")
    raw = {"id": None, "session": document["id"], "type": "snapshot", "ts": "2026-01-01T00:00:00Z", "data": document}
    event = ClientEvent.parse(json.dumps(raw))
    assert isinstance(event.data, schemas.Snapshot) and event.data.scenes == []


# Which attempt's scenes: straight on the subscription, with a log written by hand ---------------------

def _scene(index: int, attempt: int = 1) -> dict:
    return {"attempt": attempt, "index": index, "start_frame": index * 10, "end_frame": index * 10 + 9,
            "start_s": index * 0.4, "end_s": (index + 1) * 0.4, "thumbnail": f"scene-{index:03d}.jpg"}


class _Log:
    """The two reads a subscription makes of an event log, over a list."""

    def __init__(self, events: list[Event]) -> None:
        self.events = events

    async def watch(self, session_id: str) -> None:
        pass

    async def events_after(self, session_id: str, after: str | None) -> list[Event]:
        return [e for e in self.events if after is None or order(e.id) > order(after)]


async def _snapshot_scenes(kinds: list[tuple[EventType, dict]], state: SessionState,
                           covered: int | None = None) -> list[int]:
    session = Session(id=new_session_id(), filename="a.mp4", state=state)
    events = [Event.create(str(n), session.id, kind, data) for n, (kind, data) in enumerate(kinds, start=1)]
    session.last_event_id = str(covered if covered is not None else len(events))

    async def load() -> tuple[Session, schemas.Session]:
        return session, schemas.Session.of(session)

    subscription = await open_subscription(_Log(events), Hub(16), session.id, load, None, "internal")
    subscription.close()
    data = schemas.Snapshot.model_validate(subscription.snapshot.data)
    return [scene.index for scene in data.scenes]


STARTED, SCENE, QUEUED = EventType.STARTED, EventType.SCENE, EventType.QUEUED
FIRST_ATTEMPT = [(QUEUED, {"position": 1}), (STARTED, {"attempt": 1}), (SCENE, _scene(0)), (SCENE, _scene(1))]


@pytest.mark.parametrize(("kinds", "state", "covered", "expected"), [
    (FIRST_ATTEMPT, SessionState.RUNNING, None, [0, 1]),
    (FIRST_ATTEMPT, SessionState.RUNNING, 3, [0]),  # what the snapshot covers, no more: the rest comes live
    ([*FIRST_ATTEMPT, (STARTED, {"attempt": 2}), (SCENE, _scene(5, attempt=2))], SessionState.RUNNING, None, [5]),
    ([*FIRST_ATTEMPT, (EventType.FAILED, {"code": "timeout", "message": "x"})], SessionState.FAILED, None, [0, 1]),
    ([*FIRST_ATTEMPT, (QUEUED, {"position": 1})], SessionState.QUEUED, None, []),
    ([*FIRST_ATTEMPT, (QUEUED, {"position": 1}), (EventType.CANCELLED, {})], SessionState.CANCELLED, None, []),
    ([(QUEUED, {"position": 1})], SessionState.QUEUED, None, []),
])
async def test_the_snapshot_holds_the_current_attempts_scenes(kinds, state, covered, expected):
    assert await _snapshot_scenes(kinds, state, covered) == expected
