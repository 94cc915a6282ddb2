"""REST: the session document, list and pagination, results, artifacts with Range, path safety."""

from __future__ import annotations

import http.client
import re

from tests.support.client import assert_problem, upload_ok, wait_state


def test_upload_answers_202_with_location(shared_server, clip):
    client = shared_server.client()
    response = client.post("/api/sessions", files={"file": ("my clip.mp4", clip.path.read_bytes())})
    assert response.status_code == 202
    doc = response.json()
    assert response.headers["location"] == f"/api/sessions/{doc['id']}"
    assert doc["id"].startswith("s_") and len(doc["id"]) >= 2 + 32
    assert doc["filename"] == "my clip.mp4"
    assert doc["video"]["width"] == 320 and doc["video"]["height"] == 240
    assert doc["video"]["frames"] == clip.truth.frames
    assert set(doc["links"]) >= {"self", "events", "results", "cancel"}
    assert doc["state"] in ("queued", "running")


def test_results_409_until_succeeded_then_report(start_server, long_clip):
    server = start_server(WORKERS=1)
    client = server.client()
    session = upload_ok(client, long_clip.path, {"max_frames": 200})
    assert_problem(client.get(f"/api/sessions/{session['id']}/results"), 409)
    wait_state(client, session["id"], {"succeeded"})
    report = client.get(f"/api/sessions/{session['id']}/results").json()
    assert report["schema"] == 1 and report["video"]["width"] == 640


def test_results_and_artifacts(shared_server, clip):
    client = shared_server.client()
    session = upload_ok(client, clip.path)
    wait_state(client, session["id"], {"succeeded"})
    report = client.get(f"/api/sessions/{session['id']}/results").json()
    cut_frames = [c["frame"] for c in report["cuts"]]
    for truth in clip.truth.cuts:
        assert any(abs(truth - found) <= 1 for found in cut_frames), (truth, cut_frames)
    names = {a["name"] for a in report["artifacts"]}
    assert "scene-000.jpg" in names

    url = f"/api/sessions/{session['id']}/files/scene-000.jpg"
    whole = client.get(url)
    assert whole.status_code == 200 and whole.content[:2] == b"\xff\xd8"
    part = client.get(url, headers={"Range": "bytes=0-9"})
    assert part.status_code == 206 and part.content == whole.content[:10]
    assert part.headers["content-range"].startswith("bytes 0-9/")


def test_exports_name_the_video_as_uploaded(shared_server, clip):
    # The server stores uploads under a name of its own; editors relink by the name the user knows.
    client = shared_server.client()
    response = client.post("/api/sessions", files={"file": ("Holiday 2026.mp4", clip.path.read_bytes())})
    session = response.json()
    wait_state(client, session["id"], {"succeeded"})
    files = f"/api/sessions/{session['id']}/files/"
    edl = client.get(files + "scenes.edl").text
    assert edl.startswith("TITLE: Holiday 2026.mp4\n") and "* FROM CLIP NAME: Holiday 2026.mp4" in edl
    otio = client.get(files + "scenes.otio")
    assert otio.json()["name"] == "Holiday 2026.mp4"
    targets = re.findall(r'"target_url":\s*"([^"]*)"', otio.text)
    assert targets and set(targets) == {"Holiday 2026.mp4"}


def test_names_outside_the_session_folder_are_404(shared_server, clip):
    client = shared_server.client()
    session = upload_ok(client, clip.path)
    wait_state(client, session["id"], {"succeeded"})
    base = f"/api/sessions/{session['id']}/files/"
    host, port = shared_server.url.removeprefix("http://").split(":")
    for name in ("../session.json", "..%2Fsession.json", "%2e%2e/session.json", "..%2F..%2Fetc%2Fpasswd",
                 "%2Fetc%2Fpasswd", "../../../../etc/passwd", "nope.jpg", "..", "."):
        # http.client sends the path as written; httpx would normalise `..` and test nothing.
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        conn.request("GET", base + name)
        response = conn.getresponse()
        body = response.read()
        conn.close()
        assert response.status == 404, (name, response.status, body[:200])
        assert response.getheader("content-type", "").startswith("application/problem+json"), name


def test_list_is_newest_first_and_paginated(start_server, clip):
    server = start_server(WORKERS=1)
    client = server.client()
    created = [upload_ok(client, clip.path)["id"] for _ in range(5)]
    first = client.get("/api/sessions", params={"limit": 2}).json()
    assert [s["id"] for s in first["items"]] == created[::-1][:2]
    second = client.get("/api/sessions", params={"limit": 2, "cursor": first["next_cursor"]}).json()
    third = client.get("/api/sessions", params={"limit": 2, "cursor": second["next_cursor"]}).json()
    assert [s["id"] for s in second["items"] + third["items"]] == created[::-1][2:]
    assert third["next_cursor"] is None
    assert_problem(client.get("/api/sessions", params={"limit": 0}), 422)
    assert_problem(client.get("/api/sessions", params={"limit": 201}), 422)
    assert_problem(client.get("/api/sessions", params={"cursor": "garbage"}), 422)


def test_health_and_readiness(shared_server):
    client = shared_server.client()
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz").json()
    assert ready["ready"] is True and ready["workers"]["alive"] == 2


def test_bad_ranges_are_problem_documents(shared_server, clip):
    client = shared_server.client()
    session = upload_ok(client, clip.path)
    wait_state(client, session["id"], {"succeeded"})
    url = f"/api/sessions/{session['id']}/files/report.json"
    size = len(client.get(url).content)
    assert_problem(client.get(url, headers={"Range": "pages=1-2"}), 400)
    assert_problem(client.get(url, headers={"Range": "bytes=x-y"}), 400)
    response = client.get(url, headers={"Range": f"bytes={size + 10}-"})
    assert_problem(response, 416)
    assert response.headers["content-range"] == f"bytes */{size}"
    assert client.get(url, headers={"Range": "bytes=-5"}).status_code == 206


def test_metrics_in_prometheus_text(shared_server, clip):
    client = shared_server.client()
    session = upload_ok(client, clip.path)
    wait_state(client, session["id"], {"succeeded"})
    response = client.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    text = response.text
    for name in ("vidpulse_sessions{state=\"succeeded\"}", "vidpulse_queue_depth", "vidpulse_jobs_finished_total",
                 "vidpulse_analysis_fps_bucket", "vidpulse_subscribers{transport=\"sse\"}",
                 "vidpulse_events_published_total", "vidpulse_events_coalesced_total", "vidpulse_upload_bytes_total",
                 'vidpulse_request_duration_seconds_count{method="POST",route="/api/sessions",status="202"}'):
        assert name in text, name
