"""STORAGE=s3: API instances and worker hosts that share nothing but Redis and a bucket (a real
SeaweedFS), each with a DATA_DIR of its own that holds nothing once a job is over."""

from __future__ import annotations

import base64
import hashlib
import signal
import time

import pytest
from tusclient.client import TusClient

from tests.support.client import (
    assert_problem,
    follow,
    tus_created,
    tus_cut_patch,
    tus_offset,
    tus_patch,
    upload,
    upload_ok,
    wait_progress,
    wait_state,
)
from tests.support.servers import S3Server, Server, spawn_s3

pytestmark = [pytest.mark.s3, pytest.mark.redis]


def _settings(redis_server, s3: S3Server, **extra: object) -> dict[str, object]:
    return {"BACKEND": "redis", "REDIS_URL": redis_server.url(), "JOB_VISIBILITY_S": 3, **s3.settings(), **extra}


def _no_scratch_left(*servers: Server, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while any(s.session_dirs() for s in servers) and time.monotonic() < deadline:
        time.sleep(0.1)
    for server in servers:
        assert server.session_dirs() == set(), f"{server.url} ({server.command}) kept {server.session_dirs()}"


def test_upload_on_a_stream_and_download_on_b_by_range(start_server, redis_server, s3_server, clip):
    common = _settings(redis_server, s3_server)
    a, b = start_server(WORKERS=0, **common), start_server(WORKERS=0, **common)
    hosts = [start_server(command="worker", WORKERS=1, **common) for _ in range(2)]
    assert len({s.data_dir for s in (a, b, *hosts)}) == 4, "every instance has a DATA_DIR of its own"

    session = upload_ok(a.client(), clip.path, {"render": True})
    sid = session["id"]
    assert follow(b.client(), sid, last_event_id="0")[-1].type == "succeeded"
    report = b.client().get(f"/api/sessions/{sid}/results").json()
    names = sorted(artifact["name"] for artifact in report["artifacts"])
    assert "annotated.mp4" in names and a.artifact_names(sid) == names
    assert a.has_source(sid)

    url = f"/api/sessions/{sid}/files/annotated.mp4"
    whole = b.client().get(url)
    assert whole.status_code == 200 and whole.headers["accept-ranges"] == "bytes"
    assert int(whole.headers["content-length"]) == len(whole.content) == next(
        x["bytes"] for x in report["artifacts"] if x["name"] == "annotated.mp4")
    assert whole.headers["content-type"] == "video/mp4"
    part = b.client().get(url, headers={"Range": "bytes=100-1099"})
    assert part.status_code == 206 and part.content == whole.content[100:1100]
    assert part.headers["content-range"] == f"bytes 100-1099/{len(whole.content)}"
    tail = a.client().get(url, headers={"Range": "bytes=-100"})
    assert tail.status_code == 206 and tail.content == whole.content[-100:]
    assert_problem(b.client().get(url, headers={"Range": f"bytes={len(whole.content)}-"}), 416)
    assert_problem(b.client().get(f"/api/sessions/{sid}/files/nope.jpg"), 404)
    _no_scratch_left(a, b, *hosts)

    assert b.client().delete(f"/api/sessions/{sid}").status_code == 204
    assert a.bucket_keys() == [], "DELETE removes every object of the session"
    assert_problem(a.client().get(f"/api/sessions/{sid}"), 404)


def _sha1(chunk: bytes) -> dict[str, str]:
    return {"Upload-Checksum": f"sha1 {base64.b64encode(hashlib.sha1(chunk).digest()).decode()}"}


def _wait_offset(server: Server, upload_id: str, offset: int) -> None:
    deadline = time.monotonic() + 15
    while tus_offset(server.client(), upload_id) != offset:
        assert time.monotonic() < deadline, "the bytes of the dropped PATCH were not kept"
        time.sleep(0.1)


def _parts(server: Server, session_id: str) -> list[str]:
    return [key for key in server.bucket_keys() if key.startswith(f"{session_id}/parts/")]


def _finished_cleanly(a: Server, b: Server, session_id: str) -> None:
    done = wait_state(b.client(), session_id, {"succeeded", "failed"}, timeout=90)
    assert done["state"] == "succeeded", done["error"]
    assert a.has_source(session_id) and _parts(a, session_id) == [], "the parts are joined into source"
    _no_scratch_left(a, b)


def test_a_tus_upload_begun_on_a_is_finished_on_b_by_hand(start_server, redis_server, s3_server, clip):
    """B shares no disk with A: the chunks are objects in the bucket, the offset is in Redis."""
    common = _settings(redis_server, s3_server)
    a, b = start_server(WORKERS=0, **common), start_server(WORKERS=1, **common)
    assert a.data_dir != b.data_dir
    data = clip.path.read_bytes()
    upload_id = tus_created(a.client(), len(data))
    assert tus_patch(a.client(), upload_id, 0, data[:50_000], _sha1(data[:50_000])).status_code == 204
    tus_cut_patch(a.url, upload_id, 50_000, data[50_000:], 100_000)  # a dropped connection keeps what arrived
    _wait_offset(a, upload_id, 150_000)
    assert _parts(a, upload_id) == [f"{upload_id}/parts/000000000000", f"{upload_id}/parts/000000050000"]
    assert a.session_dirs() == b.session_dirs() == set(), "no instance keeps the bytes on its disk"

    assert tus_offset(b.client(), upload_id) == 150_000
    chunk = data[150_000:250_000]
    assert_problem(tus_patch(b.client(), upload_id, 150_000, chunk, _sha1(chunk[:-1])), 460)
    assert tus_offset(a.client(), upload_id) == 150_000
    assert len(_parts(a, upload_id)) == 2, "a checksum mismatch keeps nothing of the chunk"
    assert tus_patch(b.client(), upload_id, 150_000, chunk, _sha1(chunk)).status_code == 204
    last = tus_patch(b.client(), upload_id, 250_000, data[250_000:])
    assert last.status_code == 204 and last.headers["upload-offset"] == str(len(data))
    _finished_cleanly(a, b, upload_id)
    source = b.client().get(f"/api/sessions/{upload_id}/results").json()
    assert source["video"]["frames"] > 0


def test_tuspy_begins_on_a_and_resumes_on_b_after_a_drop(start_server, redis_server, s3_server, clip):
    common = _settings(redis_server, s3_server)
    a, b = start_server(WORKERS=0, **common), start_server(WORKERS=1, **common)
    size = clip.path.stat().st_size
    first = TusClient(f"{a.url}/api/uploads").uploader(str(clip.path), chunk_size=64 * 1024,
                                                       metadata={"filename": "clip.mp4"})
    first.upload(stop_at=2 * 64 * 1024)
    upload_id = first.url.rstrip("/").rsplit("/", 1)[-1]
    tus_cut_patch(a.url, upload_id, first.offset, clip.path.read_bytes()[first.offset:], 30_000)
    _wait_offset(b, upload_id, 2 * 64 * 1024 + 30_000)

    resumed = TusClient(f"{b.url}/api/uploads").uploader(str(clip.path), url=f"{b.url}/api/uploads/{upload_id}",
                                                         chunk_size=64 * 1024, upload_checksum=True)
    assert resumed.offset == 2 * 64 * 1024 + 30_000  # B asked for it with HEAD
    resumed.upload()
    assert resumed.offset == size
    _finished_cleanly(a, b, upload_id)


def test_unfinished_and_deleted_tus_uploads_leave_no_parts(start_server, redis_server, s3_server, clip):
    a = start_server(WORKERS=0, UPLOAD_TTL_S=5, SESSION_TTL_S=2, **_settings(redis_server, s3_server))
    data = clip.path.read_bytes()
    expiring, deleted = tus_created(a.client(), len(data)), tus_created(a.client(), len(data))
    for upload_id in (expiring, deleted):
        assert tus_patch(a.client(), upload_id, 0, data[:10_000]).status_code == 204
        assert _parts(a, upload_id) == [f"{upload_id}/parts/000000000000"]
    assert a.client().delete(f"/api/uploads/{deleted}", headers={"Tus-Resumable": "1.0.0"}).status_code == 204
    assert _parts(a, deleted) == []
    deadline = time.monotonic() + 30
    while a.bucket_keys():
        assert time.monotonic() < deadline, f"expiry left {a.bucket_keys()}"
        time.sleep(0.2)


@pytest.mark.slow
def test_both_worker_hosts_killed_mid_job_a_fresh_host_finishes(start_server, redis_server, s3_server, long_clip):
    common = _settings(redis_server, s3_server)
    api = start_server(WORKERS=0, **common)
    hosts = [start_server(command="worker", WORKERS=1, **common) for _ in range(2)]
    session = upload_ok(api.client(), long_clip.path, {"render": True})
    wait_progress(api.client(), session["id"], 10)
    assert any(host.session_dirs() == {session["id"]} for host in hosts), "the job runs in a host's scratch"
    for host in hosts:
        host.stop(signal.SIGKILL)

    fresh = start_server(command="worker", WORKERS=1, **common)  # a new, empty DATA_DIR
    assert fresh.data_dir not in {host.data_dir for host in hosts}
    done = wait_state(api.client(), session["id"], {"succeeded", "failed"}, timeout=180)
    assert done["state"] == "succeeded", done["error"]
    events = follow(api.client(), session["id"], last_event_id="0")
    assert [e.data["attempt"] for e in events if e.type == "started"] == [1, 2]
    assert "annotated.mp4" in api.artifact_names(session["id"])
    assert len(api.client().get(f"/api/sessions/{session['id']}/files/annotated.mp4").content) > 0
    _no_scratch_left(api, fresh)


@pytest.mark.slow
def test_the_store_stopped_and_started(start_server, redis_server, tmp_path, clip, long_clip):
    s3 = spawn_s3(tmp_path / "seaweedfs")
    try:
        common = _settings(redis_server, s3)
        api = start_server(WORKERS=0, **common)
        host = start_server(command="worker", WORKERS=1, **common)
        client = api.client()
        done = upload_ok(client, clip.path)
        wait_state(client, done["id"], {"succeeded"})
        running = upload_ok(client, long_clip.path, {"render": True})
        waiting = upload_ok(client, clip.path)
        wait_progress(client, running["id"], 10)

        s3.stop()
        ready = client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["storage"] == {"name": "s3", "ok": False}
        assert_problem(upload(client, clip.path), 503)
        assert_problem(client.get(f"/api/sessions/{done['id']}/files/report.json"), 503)
        assert client.get(f"/api/sessions/{done['id']}").json()["state"] == "succeeded"
        deadline = time.monotonic() + 60
        while not any("storage unavailable" in line and running["id"] in line for line in host.log().splitlines()):
            assert time.monotonic() < deadline, "the running job finishes its analysis and waits to store"
            time.sleep(0.2)
        assert client.get(f"/api/sessions/{running['id']}").json()["state"] == "running"

        s3.start()
        deadline = time.monotonic() + 30
        while client.get("/readyz").status_code != 200:
            assert time.monotonic() < deadline, "the service recovers by itself"
            time.sleep(0.2)
        for session in (running, waiting):
            finished = wait_state(client, session["id"], {"succeeded", "failed"}, timeout=120)
            assert finished["state"] == "succeeded", finished["error"]
        events = follow(client, running["id"], last_event_id="0")
        assert [e.data["attempt"] for e in events if e.type == "started"] == [1], "nothing ran twice"
        assert client.get(f"/api/sessions/{running['id']}/files/annotated.mp4").status_code == 200
        assert client.get(f"/api/sessions/{done['id']}/files/report.json").status_code == 200
        after = upload_ok(client, clip.path)  # the store takes uploads again
        assert wait_state(client, after["id"], {"succeeded", "failed"})["state"] == "succeeded"
        _no_scratch_left(api, host, timeout=60)
    finally:
        s3.stop()

