"""SSE: the whole lifecycle, several subscribers, replay after a reconnect, finished sessions."""

from __future__ import annotations

import asyncio

import httpx

from tests.support.client import afollow, follow, order, upload_ok, wait_state


def _ids(events):
    return [order(e.id) for e in events if e.id is not None]


def test_lifecycle_over_sse(shared_server, clip):
    client = shared_server.client()
    response_doc = upload_ok(client, clip.path)
    assert response_doc["state"] == "queued"
    events = follow(client, response_doc["id"], last_event_id="0")

    assert events[0].type == "snapshot" and events[0].id is None
    types = [e.type for e in events[1:]]
    assert types[0] == "queued" and "started" in types and types[-1] == "succeeded"
    ids = _ids(events)
    assert ids == sorted(set(ids)), "the log ids are unique and ordered"

    stages = [e.data["stage"] for e in events if e.type == "stage"]

    assert stages[0] == "probe" and "analyze" in stages and stages[-1] == "finalize"
    progress = [e.data for e in events if e.type == "progress"]
    fractions = [p["fraction"] for p in progress]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert set(progress[-1]) == {"attempt", "fraction", "stage", "frame", "total_frames", "fps", "eta_s"}
    assert {p["attempt"] for p in progress} == {1}
    assert all(e.body["session"] == response_doc["id"] and e.body["ts"].endswith("Z") for e in events)

    final = events[-1].data
    assert final["summary"]["scenes"] >= 1 and "report.json" in final["files"]
    doc = client.get(f"/api/sessions/{response_doc['id']}").json()
    assert doc["state"] == "succeeded" and doc["progress"]["fraction"] == 1.0
    assert doc["last_event_id"] == events[-1].id


def test_headers_retry_and_snapshot_without_id(shared_server, clip):
    client = shared_server.client()
    session = upload_ok(client, clip.path)
    wait_state(client, session["id"], {"succeeded"})
    with client.stream("GET", f"/api/sessions/{session['id']}/events") as response:
        body = b"".join(response.iter_bytes())
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["x-accel-buffering"] == "no"
        assert response.headers["content-type"].startswith("text/event-stream")
    text = body.decode()
    assert text.startswith("retry: ") and text.count("retry: ") == 1
    blocks = [b for b in text.split("\r\n\r\n") if b.strip()]
    assert blocks[1].startswith("event: snapshot"), "the snapshot carries no id line"
    assert blocks[-1].startswith("id: ") and "event: succeeded" in blocks[-1]
    assert len(blocks) == 3, "a finished session: retry, snapshot, then the terminal event"


def test_finished_session_with_nothing_left_is_204(shared_server, clip):
    client = shared_server.client()
    session = upload_ok(client, clip.path)
    done = wait_state(client, session["id"], {"succeeded"})
    response = client.get(f"/api/sessions/{session['id']}/events",
                          headers={"Last-Event-ID": done["last_event_id"]})
    assert response.status_code == 204
    response = client.get(f"/api/sessions/{session['id']}/events",
                          params={"last_event_id": done["last_event_id"]})
    assert response.status_code == 204


def test_reconnect_replays_exactly_the_missed_events(shared_server, long_clip):
    client = shared_server.client()
    session = upload_ok(client, long_clip.path)
    first = follow(client, session["id"], last_event_id="0", stop_after=6)
    resumed = follow(client, session["id"], last_event_id=first[-1].id)
    full = follow(client, session["id"], last_event_id="0")

    assert resumed[0].type == "snapshot"
    expected = [e.body for e in full[1:] if order(e.id) > order(first[-1].id)]
    assert [e.body for e in resumed[1:]] == expected, "replay then live, no gap and no duplicate"
    assert [e.body for e in first[1:]] == [e.body for e in full[1:6]]


async def test_two_subscribers_see_the_same_events(shared_server, long_clip):
    client = shared_server.client()
    session = upload_ok(client, long_clip.path)
    async with httpx.AsyncClient(base_url=shared_server.url, timeout=60) as a, \
            httpx.AsyncClient(base_url=shared_server.url, timeout=60) as b:
        seen_a, seen_b = await asyncio.gather(afollow(a, session["id"]), afollow(b, session["id"]))
    start = max(order(seen_a[1].id), order(seen_b[1].id))
    tail_a = [e.body for e in seen_a[1:] if order(e.id) >= start]
    tail_b = [e.body for e in seen_b[1:] if order(e.id) >= start]
    assert tail_a == tail_b and tail_a[-1]["type"] == "succeeded"
    assert len([e for e in tail_a if e["type"] == "progress"]) > 3


def test_unknown_session_stream_is_404(shared_server):
    response = shared_server.client().get("/api/sessions/s_00000000000000000000000000000000/events")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")


def test_a_malformed_last_event_id_is_a_400(shared_server, clip):
    client = shared_server.client()
    session = upload_ok(client, clip.path)
    for bad in ("abc", "-1", "1-x"):
        response = client.get(f"/api/sessions/{session['id']}/events", headers={"Last-Event-ID": bad})
        assert response.status_code == 400
        assert response.headers["content-type"].startswith("application/problem+json")


def test_scene_events_arrive_before_the_end_and_match_the_report(shared_server, clip):
    client = shared_server.client()
    session = upload_ok(client, clip.path)["id"]
    events = follow(client, session, last_event_id="0")
    types = [e.type for e in events]
    scenes = [e.data for e in events if e.type == "scene"]
    report = client.get(f"/api/sessions/{session}/results").json()
    assert [{**scene, "attempt": 1} for scene in report["scenes"]] == scenes
    # Every scene is announced before the run ends, its thumbnail already served.
    assert types.index("scene") > types.index("started") and types[-1] == "succeeded"
    assert max(i for i, t in enumerate(types) if t == "scene") < types.index("succeeded")
    first = scenes[0]
    assert client.get(f"/api/sessions/{session}/files/{first['thumbnail']}").status_code == 200
