"""Ingest from a URL: `POST /api/sessions` with JSON, fetched by the server from a real HTTP server."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.conftest import backend_settings
from tests.support.client import assert_problem, follow, wait_state
from tests.support.servers import QuietHandler, dispose, free_port, new_server


@dataclass
class Origin:
    """An HTTP server on 127.0.0.1 that the vidpulse server fetches from."""

    url: str
    hits: list[str]


def _handler(clip: Path, hits: list[str]) -> type[BaseHTTPRequestHandler]:
    class Handler(QuietHandler):

        def do_GET(self) -> None:
            hits.append(self.path)
            path = self.path.split("?")[0]
            if path == "/videos/clip.mp4":
                self.send(200, clip.read_bytes(), {"Content-Type": "video/mp4"})
            elif path == "/download":
                self.send(200, clip.read_bytes(), {"Content-Disposition": 'attachment; filename="named.mp4"'})
            elif path == "/moved":
                self.send(302, b"", {"Location": "/videos/clip.mp4"})
            elif path == "/notes.txt":
                self.send(200, b"not a video " * 1000)
            elif path == "/chunked-big":
                self.send_response(200)
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                block = b"\0" * 65536
                try:
                    for _ in range(40):  # 2.5 MB, no Content-Length
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(block), block))
                    self.wfile.write(b"0\r\n\r\n")
                except OSError:
                    pass  # the server stopped reading at its limit
            elif path == "/declared-big":
                self.send_response(200)
                self.send_header("Content-Length", str(50 * 1024 * 1024))
                self.end_headers()
            elif path in ("/stall", "/drip"):
                data = clip.read_bytes()
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                try:
                    for i in range(0, len(data), 2000):
                        self.wfile.write(data[i:i + 2000])
                        self.wfile.flush()
                        time.sleep(5 if path == "/stall" else 0.2)
                except OSError:
                    pass
            else:
                self.send(404, b"no such file")

    return Handler


@pytest.fixture(scope="module")
def origin(clip) -> Iterator[Origin]:
    hits: list[str] = []
    port = free_port()
    httpd = ThreadingHTTPServer(("127.0.0.1", port), _handler(clip.path, hits))
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield Origin(f"http://127.0.0.1:{port}", hits)
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module", params=["memory", "redis"])
def trusting_server(request, tmp_path_factory):
    """A server that may fetch from loopback (ALLOW_PRIVATE_URLS=1), on both backends."""
    server = new_server(tmp_path_factory.mktemp("ingest"), ALLOW_PRIVATE_URLS=1, MAX_UPLOAD_MB=2,
                        FETCH_TIMEOUT_S=1.5, **backend_settings(request, request.param))
    yield server
    dispose(server)


def wait_fetching(client, session_id: str) -> None:
    """Until the server holds some bytes of the download."""
    deadline = time.monotonic() + 20
    while client.get(f"/api/sessions/{session_id}").json()["upload"]["offset"] == 0:
        assert time.monotonic() < deadline, "the download did not start"
        time.sleep(0.1)


@pytest.mark.parametrize(("url", "reason"), [
    ("http://127.0.0.1:9/clip.mp4", "loopback"),
    ("http://localhost/clip.mp4", "loopback"),
    ("http://10.0.0.7/clip.mp4", "private"),
    ("http://169.254.169.254/latest/meta-data/", "link-local"),
    ("http://[::ffff:127.0.0.1]/clip.mp4", "loopback"),
    ("file:///etc/passwd", "http and https"),
    ("ftp://example.com/clip.mp4", "http and https"),
    ("not a url", ""),
])
def test_non_public_urls_are_refused_naming_url(shared_server, url, reason):
    client = shared_server.client()
    before = client.get("/api/sessions").json()["items"]
    problem = assert_problem(client.post("/api/sessions", json={"url": url}), 422)
    assert problem["field"] == "url" and reason in problem["detail"]
    assert client.get("/api/sessions").json()["items"] == before


@pytest.mark.parametrize(("body", "field"), [
    ({}, "url"), ({"url": 5}, "url"), ({"url": "https://8.8.8.8/v.mp4", "options": {"width": 0}}, "options.width"),
    ({"url": "https://8.8.8.8/v.mp4", "options": []}, "options"), ({"url": "https://8.8.8.8/", "extra": 1}, "extra"),
])
def test_bad_ingest_bodies_are_422_naming_the_field(shared_server, body, field):
    assert assert_problem(shared_server.client().post("/api/sessions", json=body), 422)["field"] == field


def test_bad_json_is_refused(shared_server):
    client = shared_server.client()
    assert_problem(client.post("/api/sessions", content=b"{nope", headers={"Content-Type": "application/json"}), 422)
    assert_problem(client.post("/api/sessions", content=b"[1]", headers={"Content-Type": "application/json"}), 415)


def test_ingest_fetches_reports_upload_progress_and_analyses(trusting_server, origin):
    client = trusting_server.client()
    response = client.post("/api/sessions", json={"url": f"{origin.url}/videos/clip.mp4", "options": {"width": 160}})
    assert response.status_code == 202, response.text
    doc = response.json()
    assert doc["state"] == "uploading" and doc["filename"] == "clip.mp4"
    assert doc["upload"] == {"offset": 0, "length": None, "expires_at": None} and doc["links"]["upload"] is None
    assert response.headers["location"] == f"/api/sessions/{doc['id']}"
    events = follow(client, doc["id"], last_event_id="0")
    types = [e.type for e in events]
    assert types[-1] == "succeeded", events[-1].data
    first = {"type": types[1], "data": events[1].data}
    assert {"type": "stage", "data": {"stage": "upload", "attempt": 0}}.items() <= first.items()
    upload = [e.data for e in events if e.type == "progress" and e.data["stage"] == "upload"]
    assert upload and upload[-1]["fraction"] == 1.0 and upload[-1]["offset"] == upload[-1]["length"]
    assert types.index("queued") > types.index("progress")
    final = client.get(f"/api/sessions/{doc['id']}").json()
    assert final["upload"]["offset"] == final["upload"]["length"] > 0
    assert client.get(f"/api/sessions/{doc['id']}/results").json()["options"]["width"] == 160


def test_redirects_are_followed_and_the_answer_can_name_the_file(trusting_server, origin):
    client = trusting_server.client()
    moved = client.post("/api/sessions", json={"url": f"{origin.url}/moved"}).json()
    assert wait_state(client, moved["id"], {"succeeded", "failed"})["state"] == "succeeded"
    named = client.post("/api/sessions", json={"url": f"{origin.url}/download"}).json()
    assert wait_state(client, named["id"], {"succeeded", "failed"})["filename"] == "named.mp4"


@pytest.mark.parametrize(("path", "words"), [
    ("/missing.mp4", "HTTP 404"),
    ("/declared-big", "limit"),
    ("/chunked-big", "limit"),
    ("/stall", "in time"),
])
def test_failed_fetches_end_failed_with_fetch_failed(trusting_server, origin, path, words):
    client = trusting_server.client()
    doc = client.post("/api/sessions", json={"url": origin.url + path}).json()
    final = wait_state(client, doc["id"], {"failed", "succeeded"}, timeout=30)
    assert final["state"] == "failed" and final["error"]["code"] == "fetch_failed"
    assert words in final["error"]["message"]


def test_unreachable_server_fails_the_fetch(trusting_server):
    client = trusting_server.client()
    doc = client.post("/api/sessions", json={"url": f"http://127.0.0.1:{free_port()}/clip.mp4"}).json()
    final = wait_state(client, doc["id"], {"failed", "succeeded"}, timeout=30)
    assert final["error"]["code"] == "fetch_failed" and "connect" in final["error"]["message"]


def test_a_file_that_is_no_video_fails_as_the_probe_says(trusting_server, origin):
    client = trusting_server.client()
    doc = client.post("/api/sessions", json={"url": f"{origin.url}/notes.txt"}).json()
    final = wait_state(client, doc["id"], {"failed", "succeeded"}, timeout=30)
    assert final["state"] == "failed" and final["error"]["code"] != "fetch_failed"


def test_cancel_stops_the_fetch(trusting_server, origin):
    client = trusting_server.client()
    doc = client.post("/api/sessions", json={"url": f"{origin.url}/drip"}).json()
    wait_fetching(client, doc["id"])
    assert client.post(f"/api/sessions/{doc['id']}/cancel").json()["state"] == "cancelled"
    time.sleep(1.0)
    final = client.get(f"/api/sessions/{doc['id']}").json()
    assert final["state"] == "cancelled" and final["error"] is None
    assert client.delete(f"/api/sessions/{doc['id']}").status_code == 204


def test_a_restart_during_the_fetch_fails_the_session(start_server, origin):
    server = start_server(ALLOW_PRIVATE_URLS=1, WORKERS=1)
    client = server.client()
    doc = client.post("/api/sessions", json={"url": f"{origin.url}/drip"}).json()
    wait_fetching(client, doc["id"])
    server.restart()
    final = server.client().get(f"/api/sessions/{doc['id']}").json()
    assert final["state"] == "failed" and final["error"]["code"] == "fetch_failed"
    assert "restarted" in final["error"]["message"]
