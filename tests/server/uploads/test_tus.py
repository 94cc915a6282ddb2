"""tus 1.0.0 at /api/uploads, by hand against a real server (both backends): the protocol's headers,
offsets, checksums, termination, expiry and refusals, and the session that lives from the first byte."""

from __future__ import annotations

import base64
import hashlib
import threading
import time

import pytest

from tests.support.client import (
    TUS,
    assert_problem,
    follow,
    tus_create,
    tus_created,
    tus_cut_patch,
    tus_metadata,
    tus_offset,
    tus_patch,
    wait_state,
)


def test_options_lists_the_capabilities(shared_server):
    response = shared_server.client().options("/api/uploads")
    assert response.status_code == 204
    headers = response.headers
    assert headers["tus-resumable"] == "1.0.0" and headers["tus-version"] == "1.0.0"
    assert set(headers["tus-extension"].split(",")) == {"creation", "creation-with-upload", "termination",
                                                        "expiration", "checksum"}
    assert "sha1" in headers["tus-checksum-algorithm"].split(",")
    assert int(headers["tus-max-size"]) == 20 * 1024 * 1024  # MAX_UPLOAD_MB of shared_server


def test_the_session_exists_from_creation_and_tracks_the_offset(shared_server, clip):
    client = shared_server.client()
    data = clip.path.read_bytes()
    upload_id = tus_created(client, len(data), options={"width": 160})
    doc = client.get(f"/api/sessions/{upload_id}").json()
    assert doc["state"] == "uploading" and doc["filename"] == "clip.mp4"
    assert doc["upload"]["offset"] == 0 and doc["upload"]["length"] == len(data) and doc["upload"]["expires_at"]
    assert doc["links"]["upload"] == f"/api/uploads/{upload_id}"

    head = client.head(f"/api/uploads/{upload_id}", headers=TUS)
    assert head.status_code == 200 and head.headers["cache-control"] == "no-store"
    assert head.headers["upload-offset"] == "0" and head.headers["upload-length"] == str(len(data))
    assert head.headers["upload-expires"].endswith("GMT")
    assert "filename" in head.headers["upload-metadata"]

    half = len(data) // 2
    answer = tus_patch(client, upload_id, 0, data[:half])
    assert answer.status_code == 204, answer.text
    assert answer.headers["upload-offset"] == str(half) and answer.headers["upload-expires"].endswith("GMT")
    assert answer.headers["tus-resumable"] == "1.0.0"
    assert client.get(f"/api/sessions/{upload_id}").json()["upload"]["offset"] == half
    assert tus_offset(client, upload_id) == half

    answer = tus_patch(client, upload_id, half, data[half:])
    assert answer.status_code == 204 and answer.headers["upload-offset"] == str(len(data))
    assert "upload-expires" not in answer.headers  # complete: it no longer expires
    doc = wait_state(client, upload_id, {"succeeded", "failed"})
    assert doc["state"] == "succeeded", doc["error"]
    assert doc["upload"] == {"offset": len(data), "length": len(data), "expires_at": None}
    assert client.get(f"/api/sessions/{upload_id}/results").json()["video"]["frames"] > 0
    # A finished upload still answers HEAD with its whole length: a client that resumes it is done.
    assert tus_offset(client, upload_id) == len(data)


def test_one_stream_from_the_first_byte_to_the_report(shared_server, clip):
    client = shared_server.client()
    data = clip.path.read_bytes()
    upload_id = tus_created(client, len(data))
    received: list = []
    watcher = threading.Thread(target=follow, args=(shared_server.client(), upload_id), kwargs={"into": received})
    watcher.start()
    deadline = time.monotonic() + 10
    while not received:  # the snapshot: the subscriber is live before the bytes arrive
        assert time.monotonic() < deadline, "no snapshot"
        time.sleep(0.02)
    step = len(data) // 4 + 1
    for offset in range(0, len(data), step):
        assert tus_patch(client, upload_id, offset, data[offset:offset + step]).status_code == 204
        time.sleep(0.15)  # more than 1/PROGRESS_HZ, so each chunk is logged
    watcher.join(60)
    types = [e.type for e in received]
    assert types[0] == "snapshot" and received[0].data["state"] == "uploading"
    uploads = [e.data for e in received if e.type == "progress" and e.data["stage"] == "upload"]
    assert len(uploads) >= 3
    assert [u["offset"] for u in uploads] == sorted(u["offset"] for u in uploads)
    assert uploads[-1]["fraction"] == 1.0 and uploads[-1]["offset"] == len(data)
    assert types.index("queued") > types.index("progress")
    assert types[-1] == "succeeded" and "started" in types


def test_wrong_offset_is_409_and_changes_nothing(shared_server, clip):
    client = shared_server.client()
    data = clip.path.read_bytes()
    upload_id = tus_created(client, len(data))
    assert tus_patch(client, upload_id, 0, data[:1000]).status_code == 204
    for offset in (0, 500, 2000):
        problem = assert_problem(tus_patch(client, upload_id, offset, data[offset:offset + 100]), 409)
        assert problem["offset"] == 1000
    assert tus_offset(client, upload_id) == 1000
    assert client.delete(f"/api/uploads/{upload_id}", headers=TUS).status_code == 204


def _digest(algorithm: str, chunk: bytes) -> str:
    return f"{algorithm} {base64.b64encode(hashlib.new(algorithm, chunk).digest()).decode()}"


def test_checksums_keep_a_matching_chunk_and_nothing_of_a_wrong_one(shared_server, clip):
    client = shared_server.client()
    data = clip.path.read_bytes()
    upload_id = tus_created(client, len(data))
    chunk = data[:50_000]
    good = tus_patch(client, upload_id, 0, chunk, {"Upload-Checksum": _digest("sha1", chunk)})
    assert good.status_code == 204 and good.headers["upload-offset"] == str(len(chunk))

    second = data[50_000:120_000]
    bad = tus_patch(client, upload_id, 50_000, second, {"Upload-Checksum": _digest("sha1", second[:-1])})
    problem = assert_problem(bad, 460)
    assert "sha1" in problem["detail"] and bad.headers["tus-resumable"] == "1.0.0"
    assert tus_offset(client, upload_id) == 50_000

    assert_problem(tus_patch(client, upload_id, 50_000, second, {"Upload-Checksum": "crc99 AAAA"}), 400)
    assert_problem(tus_patch(client, upload_id, 50_000, second, {"Upload-Checksum": "sha1 not-base64!"}), 400)
    rest = data[50_000:]
    assert tus_patch(client, upload_id, 50_000, rest, {"Upload-Checksum": _digest("sha256", rest)}).status_code == 204
    assert wait_state(client, upload_id, {"succeeded", "failed"})["state"] == "succeeded"


def test_protocol_refusals(shared_server, clip):
    client = shared_server.client()
    assert assert_problem(client.post("/api/uploads", headers={"Upload-Length": "10"}), 400)["field"] == "tus-resumable"
    old_version = client.post("/api/uploads", headers={"Upload-Length": "10", "Tus-Resumable": "0.2.2"})
    assert_problem(old_version, 412)
    assert old_version.headers["tus-version"] == "1.0.0"
    assert_problem(client.post("/api/uploads", headers=TUS), 400)  # no Upload-Length
    too_long = tus_create(client, 20 * 1024 * 1024 + 1)
    assert_problem(too_long, 413)
    assert too_long.headers["tus-resumable"] == "1.0.0"
    assert assert_problem(tus_create(client, 10, options={"width": "wide"}), 422)["field"] == "options.width"
    assert assert_problem(tus_create(client, 10, options=None, headers={
        "Upload-Metadata": tus_metadata(options="[1]")}), 422)["field"] == "options"
    assert_problem(client.post("/api/uploads", headers={**TUS, "Upload-Length": "10",
                                                        "Upload-Metadata": "filename ***"}), 400)

    upload_id = tus_created(client, 100)
    wrong_type = client.patch(f"/api/uploads/{upload_id}", content=b"x",
                              headers={**TUS, "Upload-Offset": "0", "Content-Type": "application/octet-stream"})
    assert_problem(wrong_type, 415)
    assert_problem(tus_patch(client, upload_id, 0, b"x" * 101), 413)  # past Upload-Length
    assert tus_offset(client, upload_id) == 0
    missing = "s_" + "0" * 32
    assert client.head(f"/api/uploads/{missing}", headers=TUS).status_code == 404
    assert_problem(tus_patch(client, missing, 0, b"x"), 404)
    # A session made by a multipart POST is no tus upload.
    with clip.path.open("rb") as fh:
        multipart = client.post("/api/sessions", files={"file": ("c.mp4", fh, "video/mp4")}).json()["id"]
    assert client.head(f"/api/uploads/{multipart}", headers=TUS).status_code == 404
    assert client.delete(f"/api/uploads/{upload_id}", headers=TUS).status_code == 204


def test_not_a_video_is_422_at_the_last_byte_and_leaves_nothing(shared_server):
    client = shared_server.client()
    junk = b"this is not a video at all " * 400
    upload_id = tus_created(client, len(junk), filename="notes.mp4")
    assert tus_patch(client, upload_id, 0, junk[:5000]).status_code == 204
    problem = assert_problem(tus_patch(client, upload_id, 5000, junk[5000:]), 422)
    assert problem.get("code")
    assert client.get(f"/api/sessions/{upload_id}").status_code == 404
    assert client.head(f"/api/uploads/{upload_id}", headers=TUS).status_code == 404
    assert upload_id not in shared_server.session_dirs()


def test_creation_with_upload(shared_server, clip):
    client = shared_server.client()
    data = clip.path.read_bytes()
    response = tus_create(client, len(data), content=data[:7000],
                          headers={"Content-Type": "application/offset+octet-stream"})
    assert response.status_code == 201 and response.headers["upload-offset"] == "7000"
    upload_id = response.headers["location"].rsplit("/", 1)[-1]
    assert tus_patch(client, upload_id, 7000, data[7000:]).status_code == 204
    assert wait_state(client, upload_id, {"succeeded", "failed"})["state"] == "succeeded"

    whole = tus_create(client, len(data), content=data, headers={"Content-Type": "application/offset+octet-stream"})
    assert whole.status_code == 201 and whole.headers["upload-offset"] == str(len(data))
    assert wait_state(client, whole.headers["location"].rsplit("/", 1)[-1], {"queued", "running", "succeeded"})


def test_termination_removes_the_upload_and_its_session(shared_server, clip):
    client = shared_server.client()
    data = clip.path.read_bytes()
    upload_id = tus_created(client, len(data))
    assert tus_patch(client, upload_id, 0, data[:10_000]).status_code == 204
    answer = client.delete(f"/api/uploads/{upload_id}", headers=TUS)
    assert answer.status_code == 204 and answer.headers["tus-resumable"] == "1.0.0"
    assert client.get(f"/api/sessions/{upload_id}").status_code == 404
    assert client.head(f"/api/uploads/{upload_id}", headers=TUS).status_code == 404
    assert_problem(tus_patch(client, upload_id, 10_000, data[10_000:20_000]), 404)
    assert upload_id not in shared_server.session_dirs()
    # X-HTTP-Method-Override, for proxies that drop DELETE and PATCH
    other = tus_created(client, len(data))
    patched = client.post(f"/api/uploads/{other}", content=data[:100],
                          headers={**TUS, "X-HTTP-Method-Override": "PATCH", "Upload-Offset": "0",
                                   "Content-Type": "application/offset+octet-stream"})
    assert patched.status_code == 204 and patched.headers["upload-offset"] == "100"
    assert client.post(f"/api/uploads/{other}", headers={**TUS, "X-HTTP-Method-Override": "DELETE"}).status_code == 204
    assert client.get(f"/api/sessions/{other}").status_code == 404


def test_cancelling_an_upload_ends_it(shared_server, clip):
    client = shared_server.client()
    data = clip.path.read_bytes()
    upload_id = tus_created(client, len(data))
    assert tus_patch(client, upload_id, 0, data[:10_000]).status_code == 204
    cancelled = client.post(f"/api/sessions/{upload_id}/cancel")
    assert cancelled.status_code == 202 and cancelled.json()["state"] == "cancelled"
    assert client.head(f"/api/uploads/{upload_id}", headers=TUS).status_code == 410
    assert_problem(tus_patch(client, upload_id, 10_000, data[10_000:]), 410)
    assert client.delete(f"/api/sessions/{upload_id}").status_code == 204


def test_a_dropped_connection_keeps_what_arrived_unless_a_checksum_was_promised(shared_server, clip):
    client = shared_server.client()
    data = clip.path.read_bytes()
    upload_id = tus_created(client, len(data))
    tus_cut_patch(shared_server.url, upload_id, 0, data, 200_000)
    deadline = time.monotonic() + 15
    while (offset := tus_offset(client, upload_id)) < 200_000 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert offset == 200_000
    # Resume from where it stopped.
    assert tus_patch(client, upload_id, offset, data[offset:]).status_code == 204
    assert wait_state(client, upload_id, {"succeeded", "failed"})["state"] == "succeeded"
    assert client.get(f"/api/sessions/{upload_id}/results").json()["video"]["frames"] > 0


@pytest.mark.parametrize("keys", ["k1,k2"])
def test_same_auth_and_visibility_as_sessions(start_server, clip, keys):
    server = start_server(API_KEYS=keys)
    one = server.client(headers={"Authorization": "Bearer k1"})
    two = server.client(headers={"Authorization": "Bearer k2"})
    anonymous = server.client()
    assert_problem(tus_create(anonymous, 100), 401)
    upload_id = tus_created(one, 1000)
    assert two.head(f"/api/uploads/{upload_id}", headers=TUS).status_code == 404
    assert_problem(tus_patch(two, upload_id, 0, b"x" * 10), 404)
    assert_problem(two.delete(f"/api/uploads/{upload_id}", headers=TUS), 404)
    assert_problem(tus_patch(anonymous, upload_id, 0, b"x" * 10), 401)
    assert tus_offset(one, upload_id) == 0
    assert [s["id"] for s in two.get("/api/sessions").json()["items"]] == []
    assert [s["id"] for s in one.get("/api/sessions").json()["items"]] == [upload_id]
    assert one.delete(f"/api/uploads/{upload_id}", headers=TUS).status_code == 204


def test_unfinished_uploads_expire_and_leave_nothing(start_server, clip):
    server = start_server(UPLOAD_TTL_S=1, SESSION_TTL_S=2)  # the sweep runs every 0.5 s
    client = server.client()
    data = clip.path.read_bytes()
    upload_id = tus_created(client, len(data))
    assert tus_patch(client, upload_id, 0, data[:1000]).status_code == 204
    events = follow(client, upload_id)  # ends with the terminal event
    assert events[-1].type == "expired"
    assert client.get(f"/api/sessions/{upload_id}").status_code == 404
    assert client.head(f"/api/uploads/{upload_id}", headers=TUS).status_code == 404
    assert server.session_dirs() == set()


def test_metrics_count_uploading_sessions_and_bytes(start_server, clip):
    server = start_server()
    client = server.client()
    data = clip.path.read_bytes()
    upload_id = tus_created(client, len(data))
    assert 'vidpulse_sessions{state="uploading"} 1.0' in client.get("/metrics").text
    assert tus_patch(client, upload_id, 0, data).status_code == 204
    text = client.get("/metrics").text
    assert 'vidpulse_sessions{state="uploading"} 0.0' in text
    assert f"vidpulse_upload_bytes_total {float(len(data))}" in text
    assert 'route="/api/uploads/{id}"' in text


def test_browsers_on_another_origin_may_use_tus(start_server, clip):
    server = start_server(CORS_ORIGINS="http://app.example")
    client = server.client(headers={"Origin": "http://app.example"})
    upload_id = tus_created(client, 1000)
    preflight = client.options(f"/api/uploads/{upload_id}", headers={
        "Access-Control-Request-Method": "PATCH",
        "Access-Control-Request-Headers": "tus-resumable, upload-offset, upload-checksum, content-type"})
    assert preflight.status_code == 200
    assert "PATCH" in preflight.headers["access-control-allow-methods"]
    answer = tus_patch(client, upload_id, 0, b"x" * 10)
    assert answer.status_code == 204
    exposed = {h.strip().lower() for h in answer.headers["access-control-expose-headers"].split(",")}
    assert {"upload-offset", "upload-expires", "location", "tus-resumable"} <= exposed
    assert client.delete(f"/api/uploads/{upload_id}", headers=TUS).status_code == 204
