"""Real third-party tus clients against real servers: tuspy (PyPI) and tus-js-client (npm, under Node),
each interrupted and resumed, on one instance and across two instances of the Redis backend."""

from __future__ import annotations

import functools
import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from tusclient.client import TusClient
from tusclient.exceptions import TusCommunicationError

from tests.support.client import TUS, tus_created, tus_offset, tus_patch, wait_state
from tests.support.node import run
from tests.support.servers import Server

TusJs = Callable[..., list[dict[str, Any]]]


@pytest.fixture(scope="session")
def tus_js(node: str) -> TusJs:
    """Runs tests/js/tus_upload.mjs (tus-js-client from package-lock.json)."""
    return functools.partial(run, node, "tus_upload.mjs")


def last(events: list[dict[str, Any]], name: str) -> dict[str, Any]:
    found = [e for e in events if e["event"] == name]
    assert found, f"no {name!r} in {events}"
    return found[-1]


def session_of(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[-1]


def succeeded(server: Server, session_id: str) -> dict[str, Any]:
    doc = wait_state(server.client(), session_id, {"succeeded", "failed", "cancelled"}, timeout=90)
    assert doc["state"] == "succeeded", doc["error"]
    return doc


# tuspy ---------------------------------------------------------------------------------------------------


def test_tuspy_stops_and_resumes_with_a_new_uploader(shared_server, clip):
    client = TusClient(f"{shared_server.url}/api/uploads")
    first = client.uploader(str(clip.path), chunk_size=64 * 1024, metadata={"filename": "clip.mp4",
                                                                            "options": json.dumps({"width": 160})})
    first.upload(stop_at=3 * 64 * 1024)
    assert first.offset == 3 * 64 * 1024
    session_id = session_of(first.url)
    doc = shared_server.client().get(f"/api/sessions/{session_id}").json()
    assert doc["state"] == "uploading" and doc["upload"]["offset"] == first.offset

    resumed = client.uploader(str(clip.path), url=first.url, chunk_size=64 * 1024)
    assert resumed.offset == 3 * 64 * 1024  # asked the server with HEAD
    resumed.upload()
    assert resumed.offset == clip.path.stat().st_size
    assert succeeded(shared_server, session_id)["upload"]["offset"] == clip.path.stat().st_size


def test_tuspy_resumes_after_a_dropped_connection_with_checksums(shared_server, clip):
    data = clip.path.read_bytes()
    http = shared_server.client()
    upload_id = tus_created(http, len(data))
    # The connection drops in the middle of a PATCH: the bytes that arrived are kept.
    with httpx.Client(base_url=shared_server.url, timeout=5) as cut:
        def body() -> Iterator[bytes]:
            yield data[:100_000]
            raise ConnectionError("the network went away")

        with pytest.raises((httpx.HTTPError, ConnectionError)):
            cut.patch(f"/api/uploads/{upload_id}", content=body(),
                      headers={**TUS, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"})
    deadline = time.monotonic() + 15
    while tus_offset(http, upload_id) != 100_000:
        assert time.monotonic() < deadline, "the bytes of the dropped PATCH were not kept"
        time.sleep(0.1)

    uploader = TusClient(f"{shared_server.url}/api/uploads").uploader(
        str(clip.path), url=f"{shared_server.url}/api/uploads/{upload_id}", chunk_size=100_000, upload_checksum=True)
    assert uploader.offset == 100_000
    uploader.upload()
    succeeded(shared_server, upload_id)


def test_tuspy_sees_the_refusals(start_server, clip):
    server = start_server(MAX_UPLOAD_MB=1, API_KEYS="k1", UPLOAD_TTL_S=1, SESSION_TTL_S=2)
    client = TusClient(f"{server.url}/api/uploads", headers={"Authorization": "Bearer k1"})
    big = server.data_dir.parent / "big.bin"
    big.write_bytes(b"\0" * (1024 * 1024 + 1))
    with pytest.raises(TusCommunicationError) as refused:
        client.uploader(str(big)).upload()
    assert refused.value.status_code == 413
    with pytest.raises(TusCommunicationError) as unauthorized:
        TusClient(f"{server.url}/api/uploads").uploader(str(clip.path)).upload()
    assert unauthorized.value.status_code == 401
    notes = server.data_dir.parent / "notes.mp4"
    notes.write_bytes(b"not a video " * 10_000)
    with pytest.raises(TusCommunicationError) as not_video:
        client.uploader(str(notes), chunk_size=40_000).upload()
    assert not_video.value.status_code == 422
    # Expiry: a stopped upload is gone after UPLOAD_TTL_S; resuming it fails.
    stopped = client.uploader(str(clip.path), chunk_size=10_000)
    stopped.upload(stop_at=10_000)
    time.sleep(3)
    with pytest.raises(TusCommunicationError) as expired:
        client.uploader(str(clip.path), url=stopped.url).upload()
    assert expired.value.status_code == 404


# tus-js-client ---------------------------------------------------------------------------------------------


def test_tus_js_client_resumes_in_a_new_process_from_its_url_storage(shared_server, clip, tus_js, tmp_path):
    args = {"endpoint": f"{shared_server.url}/api/uploads", "file": str(clip.path), "chunkSize": 64 * 1024,
            "storage": str(tmp_path / "tus-urls.json"), "metadata": {"filename": "clip.mp4"}}
    first = tus_js(**args, stopAt=128 * 1024)
    assert last(first, "previous")["count"] == 0
    stopped = last(first, "stopped")
    session_id = session_of(stopped["url"])
    assert shared_server.client().get(f"/api/sessions/{session_id}").json()["upload"]["offset"] == stopped["offset"]

    second = tus_js(**args)
    assert last(second, "previous")["count"] == 1
    head = next(e for e in second if e["event"] == "response" and e["method"] == "HEAD")
    assert head["status"] == 200 and int(head["offset"]) == stopped["offset"]
    assert not [e for e in second if e["event"] == "response" and e["method"] == "POST"]  # no new upload
    assert session_of(last(second, "success")["url"]) == session_id
    assert succeeded(shared_server, session_id)["filename"] == "clip.mp4"


def test_tus_js_client_terminates_and_sees_refusals(start_server, clip, tus_js, tmp_path):
    server = start_server(MAX_UPLOAD_MB=1, API_KEYS="k1")
    auth = {"Authorization": "Bearer k1"}
    endpoint = f"{server.url}/api/uploads"
    stopped = last(tus_js(endpoint=endpoint, file=str(clip.path), chunkSize=50_000, stopAt=50_000, headers=auth),
                   "stopped")
    assert last(tus_js(uploadUrl=stopped["url"], terminate=True, headers=auth), "terminated")
    assert server.client(headers=auth).get(f"/api/sessions/{session_of(stopped['url'])}").status_code == 404

    big = tmp_path / "big.bin"
    big.write_bytes(b"\0" * (1024 * 1024 + 1))
    assert last(tus_js(endpoint=endpoint, file=str(big), headers=auth), "error")["status"] == 413
    assert last(tus_js(endpoint=endpoint, file=str(clip.path)), "error")["status"] == 401
    bad = last(tus_js(endpoint=endpoint, file=str(clip.path), headers=auth,
                      metadata={"options": json.dumps({"width": -1})}), "error")
    assert bad["status"] == 422 and json.loads(bad["body"])["field"] == "options.width"


# Two instances, one Redis, one shared DATA_DIR -----------------------------------------------------------


@pytest.fixture
def two_instances(start_server, redis_server, tmp_path) -> tuple[Server, Server]:
    shared = {"BACKEND": "redis", "REDIS_URL": redis_server.url(), "WORKERS": 1, "JOB_VISIBILITY_S": 3}
    data = tmp_path / "shared-data"
    return start_server(data_dir=data, **shared), start_server(data_dir=data, **shared)


@pytest.mark.redis
def test_tuspy_upload_begun_on_one_instance_finishes_on_the_other(two_instances, clip):
    a, b = two_instances
    first = TusClient(f"{a.url}/api/uploads").uploader(str(clip.path), chunk_size=100_000,
                                                       metadata={"filename": "clip.mp4"})
    first.upload(stop_at=200_000)
    session_id = session_of(first.url)
    assert tus_offset(b.client(), session_id) == 200_000  # the offset lives in Redis
    resumed = TusClient(f"{b.url}/api/uploads").uploader(str(clip.path), url=f"{b.url}/api/uploads/{session_id}",
                                                         chunk_size=100_000, upload_checksum=True)
    assert resumed.offset == 200_000
    resumed.upload()
    succeeded(a, session_id)


@pytest.mark.redis
def test_tus_js_client_upload_begun_on_one_instance_finishes_on_the_other(two_instances, clip, tus_js):
    a, b = two_instances
    stopped = last(tus_js(endpoint=f"{a.url}/api/uploads", file=str(clip.path), chunkSize=64 * 1024,
                          stopAt=192 * 1024), "stopped")
    session_id = session_of(stopped["url"])
    second = tus_js(endpoint=f"{b.url}/api/uploads", uploadUrl=f"{b.url}/api/uploads/{session_id}",
                    file=str(clip.path), chunkSize=64 * 1024)
    head = next(e for e in second if e["event"] == "response" and e["method"] == "HEAD")
    assert int(head["offset"]) == stopped["offset"]
    assert last(second, "success")
    succeeded(b, session_id)


@pytest.mark.redis
def test_one_patch_at_a_time_across_instances(two_instances, clip):
    a, b = two_instances
    data = clip.path.read_bytes()
    upload_id = tus_created(a.client(), len(data))
    slow_started = threading.Event()
    slow_answer: list[int] = []

    def slow_body() -> Iterator[bytes]:
        for i in range(0, 60_000, 10_000):
            yield data[i:i + 10_000]
            slow_started.set()
            time.sleep(1.0)

    def slow_patch() -> None:
        with httpx.Client(base_url=a.url, timeout=60) as client:
            slow_answer.append(client.patch(f"/api/uploads/{upload_id}", content=slow_body(), headers={
                **TUS, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"}).status_code)

    thread = threading.Thread(target=slow_patch)
    thread.start()
    assert slow_started.wait(15)
    time.sleep(0.5)
    clash = tus_patch(b.client(), upload_id, 0, data[:10_000])
    assert clash.status_code in (409, 423), clash.text
    thread.join(60)
    assert slow_answer == [204]
    assert tus_offset(b.client(), upload_id) == 60_000
    assert tus_patch(b.client(), upload_id, 60_000, data[60_000:]).status_code == 204
    succeeded(b, upload_id)
