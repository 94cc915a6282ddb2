"""The reliability suite: hostile and broken input, overload, expiry and time limits.

docs/reliability.md lists what each of these gets; keep the two in step.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.conftest import backend_settings
from tests.support.client import assert_problem, follow, upload, upload_ok, wait_state
from tests.support.servers import need
from tests.support.videogen import Segment, write_audio


@pytest.fixture
def nothing_left(shared_server):
    before = shared_server.footprint()
    yield
    deadline = time.monotonic() + 15
    while shared_server.footprint() != before and time.monotonic() < deadline:
        time.sleep(0.1)  # a cut-off upload is cleaned up once the server reads up to the disconnect
    assert shared_server.footprint() == before, "refused input leaves nothing in DATA_DIR"


def test_two_files(shared_server, nothing_left, clip):
    data = clip.path.read_bytes()
    response = shared_server.client().post("/api/sessions", files=[("file", ("a.mp4", data)),
                                                                   ("file", ("b.mp4", data))])
    assert "twice" in assert_problem(response, 400)["detail"]


def test_audio_only(shared_server, nothing_left, tmp_path):
    path = tmp_path / "tone.m4a"
    write_audio(path)
    assert assert_problem(upload(shared_server.client(), path), 422)["code"] == "undecodable"


def test_huge_dimensions_in_the_header(shared_server, nothing_left, tmp_path):
    # A few bytes that claim 100000x100000 frames: each would decode to 15 GB (a "video bomb").
    path = tmp_path / "bomb.y4m"
    path.write_bytes(b"YUV4MPEG2 W100000 H100000 F25:1 Ip A1:1 C420jpeg\nFRAME\n" + b"\x80" * 4096)
    assert_problem(upload(shared_server.client(), path), 422)


def test_frames_over_8k_are_refused_before_analysis(shared_server, nothing_left, make_clip):
    big = make_clip("big.mp4", [Segment("black", 2)], size=(8000, 4512))  # 36 MP: beyond 8K UHD
    doc = assert_problem(upload(shared_server.client(), big.path), 422)
    assert doc["code"] == "too_large"


def test_upload_cut_off_mid_stream(shared_server, nothing_left):
    host, port = shared_server.url.removeprefix("http://").split(":")
    boundary = "cutoff"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.mp4\"\r\n"
            "Content-Type: video/mp4\r\n\r\n").encode()
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall((f"POST /api/sessions HTTP/1.1\r\nHost: {host}\r\nContent-Type: multipart/form-data; "
                      f"boundary={boundary}\r\nContent-Length: {2 * 1024**3}\r\n\r\n").encode() + head)
        for _ in range(4):
            sock.sendall(b"\0" * (1024 * 1024))  # 4 MB of the promised 2 GiB, then the client vanishes


@pytest.mark.parametrize("name", ["../../etc/passwd", "/etc/passwd", "..\\..\\boot.ini", "a\x00b.mp4", "...", ""])
def test_hostile_file_names_are_sanitised(shared_server, clip, name):
    client = shared_server.client()
    response = client.post("/api/sessions", files={"file": (name, clip.path.read_bytes(), "text/plain")})
    assert response.status_code == 202, response.text
    doc = response.json()
    assert "/" not in doc["filename"] and "\\" not in doc["filename"] and not doc["filename"].startswith(".")
    assert shared_server.has_source(doc["id"])
    wait_state(client, doc["id"], {"succeeded"})
    assert client.delete(f"/api/sessions/{doc['id']}").status_code == 204


def test_content_type_is_not_trusted(shared_server, nothing_left, tmp_path):
    path = tmp_path / "fake.mp4"
    path.write_text("<html>not a video</html>")
    with path.open("rb") as fh:
        response = shared_server.client().post("/api/sessions", files={"file": ("fake.mp4", fh, "video/mp4")})
    assert_problem(response, 422)


def test_fifty_uploads_with_a_queue_of_ten(start_server, clip):
    server = start_server(WORKERS=1, MAX_QUEUED=10)
    client = server.client()
    with ThreadPoolExecutor(max_workers=25) as pool:
        responses = list(pool.map(lambda _: upload(client, clip.path), range(50)))
    accepted = [r.json()["id"] for r in responses if r.status_code == 202]
    refused = [r for r in responses if r.status_code == 429]
    assert len(accepted) + len(refused) == 50 and refused and 10 <= len(accepted) < 50
    for response in refused:
        assert_problem(response, 429)
        assert int(response.headers["retry-after"]) >= 1
    for session_id in accepted:
        assert wait_state(client, session_id, {"succeeded", "failed", "cancelled"}, timeout=120)["state"] == "succeeded"
    assert server.session_dirs() == set(accepted), "refused uploads left nothing behind"


@pytest.mark.parametrize("backend", ["memory", pytest.param("redis-s3", marks=pytest.mark.s3)])
def test_finished_sessions_expire(start_server, clip, request, backend):
    server = start_server(SESSION_TTL_S=1, **backend_settings(request, backend))
    client = server.client()
    session = upload_ok(client, clip.path)
    wait_state(client, session["id"], {"succeeded"})
    deadline = time.monotonic() + 10
    while client.get(f"/api/sessions/{session['id']}").status_code != 404:
        assert time.monotonic() < deadline, "a finished session is removed SESSION_TTL_S after it finished"
        time.sleep(0.2)
    assert server.footprint() == set(), "no file left on disk or in the bucket"
    assert "vidpulse_sessions{state=\"succeeded\"} 0.0" in client.get("/metrics").text


def test_job_time_limit(start_server, make_clip, clip):
    server = start_server(WORKERS=1, JOB_TIMEOUT_S=2)
    client = server.client()
    # 3,000 frames rendered: several times the limit even on a quiet machine with fast decoding.
    longer = make_clip("longer.mp4", [Segment("scene", 250, seed=i) for i in range(12)], fps=25, size=(640, 360))
    slow = upload_ok(client, longer.path, {"render": True, "width": 640})
    quick = upload_ok(client, clip.path, {"max_frames": 10})
    failed = wait_state(client, slow["id"], {"failed", "succeeded"}, timeout=30)
    assert failed["state"] == "failed" and failed["error"]["code"] == "timeout"
    assert not any((server.data_dir / slow["id"] / "artifacts").iterdir())
    assert wait_state(client, quick["id"], {"succeeded", "failed"}, timeout=30)["state"] == "succeeded"


def test_request_id_is_echoed_and_logged(shared_server):
    client = shared_server.client()
    response = client.get("/api/sessions/s_00000000000000000000000000000000", headers={"X-Request-ID": "trace-42"})
    assert response.headers["x-request-id"] == "trace-42"
    assert client.get("/healthz").headers["x-request-id"]
    time.sleep(0.2)
    lines = shared_server.log_records()
    assert any(line.get("request_id") == "trace-42" and line.get("status") == 404 for line in lines)


def test_session_lines_in_the_log_name_the_session(shared_server, clip):
    client = shared_server.client()
    session = upload_ok(client, clip.path)
    follow(client, session["id"])
    lines = shared_server.log_records()
    mine = [line for line in lines if line.get("session") == session["id"]]
    assert any("created" in line["message"] for line in mine)


@pytest.fixture
def small_disk(tmp_path):
    """A 3 MB filesystem of its own (tmpfs; needs root, which CI has)."""
    mount_point = tmp_path / "small-disk"
    mount_point.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount_point)],
                             capture_output=True).returncode == 0
    need("a tmpfs mount (root)", mounted)
    yield mount_point
    subprocess.run(["umount", "-l", str(mount_point)], check=False)


def test_a_full_disk_fails_the_upload_with_507(start_server, small_disk, tmp_path):
    server = start_server(data_dir=small_disk / "data")
    path = tmp_path / "four-mb.mp4"
    path.write_bytes(b"\0" * (4 * 1024 * 1024))
    assert_problem(upload(server.client(), path), 507)
    assert server.session_dirs() == set(), "the partial upload is removed"
    assert server.client().get("/readyz").status_code == 200


def test_a_stalled_disk_does_not_stall_the_server(start_server, clip):
    """The session's event log becomes a FIFO nobody reads (a hung disk, a stalled network
    filesystem): writing to it blocks, but only in a thread; requests are still answered."""
    server = start_server(WORKERS=0)
    client = server.client()
    client.timeout = httpx.Timeout(10)
    session = upload_ok(client, clip.path)
    events = server.data_dir / session["id"] / "events.jsonl"
    deadline = time.monotonic() + 10
    while not events.exists():  # the `queued` line is written
        assert time.monotonic() < deadline
        time.sleep(0.05)
    events.unlink()
    os.mkfifo(events)
    try:
        assert client.post(f"/api/sessions/{session['id']}/cancel").status_code == 202
        assert client.get("/healthz").status_code == 200
        assert client.get(f"/api/sessions/{session['id']}").json()["state"] == "cancelled"
        assert re.search(r"^vidpulse_event_loop_lag_seconds \d", client.get("/metrics").text, re.M)
    finally:
        reader = os.open(events, os.O_RDONLY | os.O_NONBLOCK)  # lets the blocked write through
        deadline = time.monotonic() + 10
        written = b""
        while b"cancelled" not in written and time.monotonic() < deadline:
            with contextlib.suppress(BlockingIOError):
                written += os.read(reader, 65536)
            time.sleep(0.05)
        os.close(reader)
    assert b"cancelled" in written


def test_a_file_that_hangs_the_probe_delays_only_itself(start_server, clip, tmp_path):
    """An FFmpeg concat list that names itself over and over keeps the demuxer busy for many
    seconds (longer than PROBE_TIMEOUT_S): that upload waits and is refused, while a normal upload
    sent after it is probed by another process and answered first."""
    server = start_server(WORKERS=0, PROBE_TIMEOUT_S=4)
    hostile = tmp_path / "hostile.mp4"
    hostile.write_text("ffconcat version 1.0\n" + "file source\n" * 200)
    with ThreadPoolExecutor(1) as pool:
        slow = pool.submit(upload, server.client(), hostile)
        time.sleep(1.0)  # its probe has begun
        normal = upload(server.client(), clip.path)
        assert normal.status_code == 202, normal.text
        assert not slow.done(), "the normal upload waited behind the hostile one's probe"
        refused = slow.result(timeout=60)
    assert refused.status_code == 422 and refused.json()["code"] == "probe_timeout"
    session = upload_ok(server.client(), clip.path)  # the killed probe process was replaced
    assert session["video"]["width"] == normal.json()["video"]["width"]
