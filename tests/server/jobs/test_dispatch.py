"""Jobs in worker processes: overlap, queue positions, cancel (queued and running), delete."""

from __future__ import annotations

import time

from tests.support.client import follow, upload_ok, wait_progress, wait_state


def _parse(ts: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()


def test_two_jobs_overlap_with_two_workers(start_server, long_clip):
    server = start_server(WORKERS=2)
    client = server.client()
    a = upload_ok(client, long_clip.path)
    b = upload_ok(client, long_clip.path)
    done_a = wait_state(client, a["id"], {"succeeded"}, timeout=120)
    done_b = wait_state(client, b["id"], {"succeeded"}, timeout=120)
    assert _parse(done_b["started_at"]) < _parse(done_a["finished_at"])
    assert _parse(done_a["started_at"]) < _parse(done_b["finished_at"])


def test_queue_positions_move_and_queued_cancel(start_server, long_clip, clip):
    server = start_server(WORKERS=1)
    client = server.client()
    running = upload_ok(client, long_clip.path)
    second = upload_ok(client, clip.path)
    third = upload_ok(client, clip.path)
    assert client.get(f"/api/sessions/{second['id']}").json()["queue_position"] == 1
    assert client.get(f"/api/sessions/{third['id']}").json()["queue_position"] == 2

    response = client.post(f"/api/sessions/{second['id']}/cancel")
    assert response.status_code == 202 and response.json()["state"] == "cancelled"
    again = client.post(f"/api/sessions/{second['id']}/cancel")
    assert again.status_code == 202 and again.json() == response.json(), "idempotent"

    client.post(f"/api/sessions/{running['id']}/cancel")
    events = follow(client, third["id"], last_event_id="0")
    positions = [e.data["position"] for e in events if e.type == "queued"]
    assert positions[0] == 2 and 1 in positions, positions
    assert events[-1].type == "succeeded"


def test_cancel_running_job_stops_within_a_second(start_server, long_clip):
    server = start_server(WORKERS=1)
    client = server.client()
    session = upload_ok(client, long_clip.path)
    wait_progress(client, session["id"], 10)

    asked = time.monotonic()
    response = client.post(f"/api/sessions/{session['id']}/cancel")
    assert response.status_code == 202 and response.json()["state"] in ("cancelling", "cancelled")
    assert client.post(f"/api/sessions/{session['id']}/cancel").status_code == 202
    doc = wait_state(client, session["id"], {"cancelled"}, timeout=5)
    assert time.monotonic() - asked < 1.0
    assert doc["finished_at"] is not None
    artifacts = server.data_dir / session["id"] / "artifacts"
    assert not any(artifacts.iterdir()), "a cancelled run leaves no partial files"
    events = follow(client, session["id"])
    assert events[-1].type == "cancelled"

    # The worker is free again: the next job runs.
    again = upload_ok(client, long_clip.path, {"max_frames": 30})
    wait_state(client, again["id"], {"succeeded"})


def test_cancel_is_idempotent_and_a_finished_session_is_409(shared_server, long_clip, clip):
    client = shared_server.client()
    running = upload_ok(client, long_clip.path)["id"]
    wait_progress(client, running, 10)
    first = client.post(f"/api/sessions/{running}/cancel")
    second = client.post(f"/api/sessions/{running}/cancel")  # cancelling, or cancelled already
    assert first.status_code == second.status_code == 202
    assert second.json()["state"] in ("cancelling", "cancelled")
    wait_state(client, running, {"cancelled"})
    # The state is saved a moment before its event is logged (sessions/lifecycle.py): the stream,
    # which ends with the terminal event, waits for both.
    events = follow(client, running, last_event_id="0")
    assert [e.type for e in events].count("cancelled") == 1
    done = client.get(f"/api/sessions/{running}").json()
    third = client.post(f"/api/sessions/{running}/cancel")
    assert third.status_code == 202 and third.json() == done, "a repeated cancel changes nothing"

    finished = upload_ok(client, clip.path)["id"]
    wait_state(client, finished, {"succeeded"})
    refused = client.post(f"/api/sessions/{finished}/cancel")
    assert refused.status_code == 409 and refused.json()["state"] == "succeeded"


def test_delete_running_session_removes_everything(start_server, long_clip, clip):
    server = start_server(WORKERS=1)
    client = server.client()
    running = upload_ok(client, long_clip.path)
    finished = upload_ok(client, clip.path)
    wait_state(client, running["id"], {"running"})

    assert client.delete(f"/api/sessions/{running['id']}").status_code == 204
    assert client.get(f"/api/sessions/{running['id']}").status_code == 404
    assert client.delete(f"/api/sessions/{running['id']}").status_code == 404
    wait_state(client, finished["id"], {"succeeded"})
    assert client.delete(f"/api/sessions/{finished['id']}").status_code == 204
    assert server.session_dirs() == set(), "DATA_DIR holds nothing once every session is deleted"
