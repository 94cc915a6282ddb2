"""The demo page uploads with tus (static/tus.js): a dropped connection is retried and resumed by itself,
and after a reload, picking the same file again resumes the upload where the server stopped."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
import pytest
from playwright.sync_api import Page, Request, Route, expect

from tests.support.servers import Server
from tests.support.videogen import Clip

from .conftest import Demo, throttle_uploads

pytestmark = pytest.mark.browser


@dataclass
class TusLog:
    """The tus requests the page made, with the offsets it sent."""

    calls: list[tuple[str, str | None]] = field(default_factory=list)

    def record(self, request: Request) -> None:
        if "/api/uploads" in request.url:
            self.calls.append((request.method, request.headers.get("upload-offset")))

    def methods(self) -> list[str]:
        return [method for method, _ in self.calls]

    def patch_offsets(self) -> list[int]:
        return [int(offset or 0) for method, offset in self.calls if method == "PATCH"]


def watch_tus(page: Page) -> TusLog:
    log = TusLog()
    page.on("request", log.record)
    return log


def session_id_of(demo: Demo, filename: str) -> str:
    card = demo.card(filename)
    demo.page.wait_for_function(
        "(name) => [...document.querySelectorAll('.card')].some("
        "(c) => c.querySelector('h3')?.textContent === name && c.dataset.sessionId)", arg=filename)
    return str(card.get_attribute("data-session-id"))


def wait_server_offset(server: Server, session_id: str, at_least: int, timeout: float = 30) -> int:
    deadline = time.monotonic() + timeout
    while True:
        doc = httpx.get(f"{server.url}/api/sessions/{session_id}", timeout=10).json()
        offset = int((doc.get("upload") or {}).get("offset") or 0)
        if offset >= at_least:
            return offset
        assert time.monotonic() < deadline, f"the server has {offset} bytes of {session_id}"
        time.sleep(0.05)


def test_a_dropped_connection_is_retried_and_resumed(demo: Demo, clip: Clip) -> None:
    log = watch_tus(demo.page)
    dropped: list[str] = []

    def drop_first_patch(route: Route) -> None:
        if route.request.method == "PATCH" and not dropped:
            dropped.append(route.request.url)
            route.abort("connectionreset")
        else:
            route.continue_()

    demo.page.route("**/api/uploads/*", drop_first_patch)
    demo.upload(("dropped.mp4", clip.path))
    card = demo.card("dropped.mp4")
    expect(card).to_have_attribute("data-state", "succeeded", timeout=60_000)
    assert dropped, "the first PATCH should have been cut"
    methods = log.methods()
    assert methods.count("POST") == 1, methods  # one upload, resumed: never a new one
    assert methods[:4] == ["POST", "PATCH", "HEAD", "PATCH"], methods
    uploaded = demo.seen("dropped.mp4", "aria-valuenow", meter="upload")
    assert uploaded[-1] == "100", uploaded


def test_a_server_restart_mid_upload_resumes_from_what_the_server_kept(
        open_demo: Callable[..., Demo], clip: Clip) -> None:
    demo = open_demo(WORKERS=1)
    log = watch_tus(demo.page)
    throttle_uploads(demo.page, 100 * 1024)  # the 0.5 MB clip takes about 5 s
    demo.upload(("restart.mp4", clip.path))
    session_id = session_id_of(demo, "restart.mp4")
    kept = wait_server_offset(demo.server, session_id, 150_000)
    demo.server.stop(signal.SIGKILL)  # no goodbye: the connection just breaks
    demo.server.start()
    card = demo.card("restart.mp4")
    expect(card).to_have_attribute("data-state", "succeeded", timeout=90_000)
    assert log.methods().count("POST") == 1, log.methods()
    resumed = [offset for offset in log.patch_offsets() if offset > 0]
    assert resumed and min(resumed) >= kept - 100_000, (kept, log.calls)  # not from zero
    assert card.get_attribute("data-session-id") == session_id


def test_after_a_reload_picking_the_same_file_resumes(open_demo: Callable[..., Demo], clip: Clip) -> None:
    demo = open_demo(WORKERS=1)
    throttle_uploads(demo.page, 100 * 1024)
    demo.upload(("reload.mp4", clip.path))
    session_id = session_id_of(demo, "reload.mp4")
    kept = wait_server_offset(demo.server, session_id, 150_000)
    demo.page.reload()
    listed = demo.card("reload.mp4")
    expect(listed).to_have_attribute("data-state", "uploading")  # the server's session, listed
    log = watch_tus(demo.page)
    demo.upload(("reload.mp4", clip.path))  # the same file: same name, size and modification time
    card = demo.card("reload.mp4")
    expect(card).to_have_count(1, timeout=60_000)
    expect(card).to_have_attribute("data-state", "succeeded", timeout=60_000)
    assert card.get_attribute("data-session-id") == session_id
    assert "POST" not in log.methods(), log.calls
    assert log.methods()[0] == "HEAD" and log.patch_offsets()[0] >= kept, (kept, log.calls)
    assert demo.page.evaluate("Object.keys(localStorage).filter((k) => k.startsWith('vidpulse.tus.'))") == []
