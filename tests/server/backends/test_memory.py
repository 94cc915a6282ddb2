"""The memory backend survives a restart: manifests and event logs are read back from DATA_DIR."""

from __future__ import annotations

from tests.support.client import follow, upload_ok, wait_state


def test_restart_keeps_finished_results_and_event_ids(start_server, clip, tmp_path):
    server = start_server(data_dir=tmp_path / "data")
    client = server.client()
    session = upload_ok(client, clip.path)
    wait_state(client, session["id"], {"succeeded"})
    before = follow(client, session["id"], last_event_id="0")
    report = client.get(f"/api/sessions/{session['id']}/results").json()

    server.restart()
    client = server.client()
    doc = client.get(f"/api/sessions/{session['id']}").json()
    assert doc["state"] == "succeeded" and doc["last_event_id"] == before[-1].id
    assert client.get(f"/api/sessions/{session['id']}/results").json() == report
    after = follow(client, session["id"], last_event_id="0")
    assert [e.body for e in after[1:]] == [e.body for e in before[1:]], "the log is replayed exactly"
    listed = client.get("/api/sessions").json()["items"]
    assert [s["id"] for s in listed] == [session["id"]]


def test_restart_requeues_unfinished_sessions_and_ids_keep_growing(start_server, long_clip, tmp_path):
    server = start_server(data_dir=tmp_path / "data", WORKERS=1)
    client = server.client()
    running = upload_ok(client, long_clip.path)
    queued = upload_ok(client, long_clip.path, {"max_frames": 50})
    wait_state(client, running["id"], {"running"})
    seen = follow(client, running["id"], last_event_id="0", stop_after=5)

    server.restart()
    client = server.client()
    for session in (running, queued):
        wait_state(client, session["id"], {"succeeded"}, timeout=120)
    events = follow(client, running["id"], last_event_id=seen[-1].id)
    ids = [int(e.id) for e in events[1:]]
    assert ids == list(range(int(seen[-1].id) + 1, int(seen[-1].id) + 1 + len(ids))), "no gap, no duplicate"
    started = [e for e in events if e.type == "started"]
    assert started and started[-1].data["attempt"] == 2


def test_orphan_folders_are_removed_at_start(start_server, tmp_path):
    data = tmp_path / "data"
    orphan = data / ("s_" + "ab" * 16)
    orphan.mkdir(parents=True)
    (orphan / "source").write_bytes(b"half an upload")
    start_server(data_dir=data)
    assert not orphan.exists()
