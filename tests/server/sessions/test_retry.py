"""`POST /api/sessions/{id}/retry`: a finished session runs again as a new attempt on the same log."""

from __future__ import annotations

import pytest

from tests.support.client import assert_problem, follow, upload_ok, wait_state
from tests.support.videogen import Segment
from vidpulse.client import Client

pytestmark = pytest.mark.slow


def _attempts_of(events: list) -> dict[str, set[int]]:
    """The attempt numbers each of `stage`, `progress` and `scene` carried."""
    seen: dict[str, set[int]] = {}
    for event in events:
        if event.type in ("stage", "progress", "scene") and event.data.get("stage") != "upload":
            seen.setdefault(event.type, set()).add(event.data["attempt"])
    return seen


def test_a_failed_session_runs_again_with_other_options(start_server, make_clip):
    server = start_server(WORKERS=1, JOB_TIMEOUT_S=2)
    client = server.client()
    # 3,000 frames rendered: several times the limit even on a quiet machine.
    longer = make_clip("longer.mp4", [Segment("scene", 250, seed=i) for i in range(12)], fps=25, size=(640, 360))
    session = upload_ok(client, longer.path, {"render": True, "width": 640})
    assert wait_state(client, session["id"], {"failed", "succeeded"})["error"]["code"] == "timeout"
    first = follow(client, session["id"], last_event_id="0")  # the whole log

    again = client.post(f"/api/sessions/{session['id']}/retry", json={"options": {"max_frames": 20}})
    assert again.status_code == 202, again.text
    assert again.json()["state"] == "queued" and again.json()["error"] is None
    done = wait_state(client, session["id"], {"succeeded", "failed"})
    assert done["state"] == "succeeded" and done["attempt"] == 2

    events = follow(client, session["id"], last_event_id="0")  # through the second attempt's end
    assert [e.id for e in events[1: len(first)]] == [e.id for e in first[1:]]
    assert [e.type for e in events if e.type in ("started", "failed", "succeeded")] == [
        "started", "failed", "started", "succeeded"]
    assert [e.data["attempt"] for e in events if e.type == "started"] == [1, 2]
    assert _attempts_of(events[len(first):]) == {"stage": {2}, "progress": {2}, "scene": {2}}
    report = client.get(f"/api/sessions/{session['id']}/results").json()
    assert report["options"]["max_frames"] == 20 and report["analysed"]["frames"] <= 20


def test_a_succeeded_session_is_analysed_again_through_the_client(shared_server, clip):
    with Client(shared_server.url) as api:
        session = api.upload(clip.path)
        assert api.wait(session.id).state == "succeeded"
        again = api.retry(session.id, options={"max_frames": 30})
        assert again.id == session.id and again.state in ("queued", "running", "succeeded")
        finished = api.wait(session.id)
        assert finished.state == "succeeded" and finished.attempt == 2
        assert api.results(session.id).options.max_frames == 30
        api.delete(session.id)


def test_retry_in_the_wrong_state_or_without_a_source(shared_server, long_clip, clip):
    client = shared_server.client()
    running = upload_ok(client, long_clip.path)
    refused = assert_problem(client.post(f"/api/sessions/{running['id']}/retry"), 409)
    assert refused["state"] in ("queued", "running")
    assert assert_problem(client.post(f"/api/sessions/{running['id']}/retry",
                                      json={"options": {"width": "wide"}}), 422)  # the body is read first
    client.delete(f"/api/sessions/{running['id']}")

    done = upload_ok(client, clip.path, {"max_frames": 10})
    wait_state(client, done["id"], {"succeeded"})
    bad = assert_problem(client.post(f"/api/sessions/{done['id']}/retry", json={"options": {"width": "wide"}}), 422)
    assert bad["field"].endswith("width")
    assert assert_problem(client.post(f"/api/sessions/{done['id']}/retry", json={"else": 1}), 422)["field"] == "else"
    assert assert_problem(client.post("/api/sessions/s_" + "0" * 32 + "/retry"), 404)
    client.delete(f"/api/sessions/{done['id']}")


def test_retry_when_the_source_is_gone_is_410(start_server, clip):
    server = start_server()
    client = server.client()
    done = upload_ok(client, clip.path, {"max_frames": 10})
    wait_state(client, done["id"], {"succeeded"})
    (server.data_dir / done["id"] / "source").unlink()
    assert assert_problem(client.post(f"/api/sessions/{done['id']}/retry"), 410)
    assert client.get(f"/api/sessions/{done['id']}").json()["state"] == "succeeded"
