"""The demo page in a real browser: uploads, live progress, results, cancel, reload, API key, transports."""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, WebSocketRoute, expect

from tests.support.client import upload_ok, wait_state
from tests.support.servers import Server
from tests.support.videogen import Clip

from .conftest import Demo, running_card, save_screenshot, wait_loaded, wait_timeline

pytestmark = pytest.mark.browser

def processing_values(demo: Demo, filename: str) -> list[int]:
    return [int(v) for v in demo.seen(filename, "aria-valuenow", meter="processing")]


def test_upload_shows_live_progress_then_results(demo: Demo, clip: Clip, tmp_path: Path) -> None:
    demo.set_options(render=True)
    demo.upload(("progress.mp4", clip.path))
    card = demo.card("progress.mp4")
    expect(card).to_have_attribute("data-state", "succeeded", timeout=60_000)  # render on a loaded machine

    uploaded = demo.seen("progress.mp4", "aria-valuenow", meter="upload")
    assert uploaded[-1] == "100", uploaded
    values = processing_values(demo, "progress.mp4")
    assert len(set(values)) >= 3, f"the bar should move through several values: {values}"
    assert values == sorted(values) and values[-1] == 100, values
    expect(card.locator("[data-meter=processing]")).to_have_attribute("aria-valuetext", re.compile("100 percent"))

    wait_timeline(card)
    scenes = len(clip.truth.cuts) + 1
    expect(card.locator(".scenes img")).to_have_count(scenes)
    wait_loaded(card.locator(".scenes img"))
    first_cut = clip.truth.cuts[0] / clip.truth.fps
    expect(card.locator(".scenes")).to_contain_text(f"#2 0:{first_cut:05.2f}")
    expect(card.locator(".quality")).to_contain_text(re.compile(r"Black\s*0:01\.00\u20130:01\.48"))
    video = card.locator("video")
    expect(video).to_have_attribute("src", re.compile(r"/files/annotated\.mp4$"))
    # It plays: run it into the third scene (the picture in the screenshot), then pause.
    video.evaluate("(v) => { v.muted = true; v.play().catch(() => {}); }")
    demo.page.wait_for_function("(v) => v.currentTime > 2.2", arg=video.element_handle())
    video.evaluate("(v) => v.pause()")

    save_screenshot(demo, tmp_path, "demo.png")


def test_several_uploads_at_once_queue_and_spare_connections(demo: Demo, long_clip: Clip) -> None:
    # The long clip, so the first jobs still run when the last uploads land, however fast decoding is.
    names = [f"batch-{i}.mp4" for i in range(5)]
    demo.upload(*[(name, long_clip.path) for name in names])
    for name in names:
        card = demo.card(name)
        expect(card).to_have_attribute("data-state", "succeeded", timeout=90_000)
        expect(card.locator(".scenes img")).to_have_count(len(long_clip.truth.cuts) + 1)
        assert processing_values(demo, name)[-1] == 100
    # Two workers for five jobs: some wait, and their cards say where they are in the queue.
    assert any(demo.seen(name, "data-queue-position") for name in names)
    # At most four EventSources at once (browsers allow six connections per server): the fifth polls.
    transports = [kind for name in names for kind in demo.seen(name, "data-transport")]
    assert "sse" in transports and "poll-budget" in transports, transports


def test_drop_zone_takes_dropped_files(demo: Demo, clip: Clip) -> None:
    drop = """(base64) => {
        const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
        const files = new DataTransfer();
        files.items.add(new File([bytes], "dropped.mp4", { type: "video/mp4" }));
        const zone = document.querySelector("#dropzone");
        for (const type of ["dragenter", "dragover", "drop"]) {
            zone.dispatchEvent(new DragEvent(type, { dataTransfer: files, bubbles: true, cancelable: true }));
        }
    }"""
    demo.page.evaluate(drop, base64.b64encode(clip.path.read_bytes()).decode())
    expect(demo.card("dropped.mp4")).to_have_attribute("data-state", "succeeded")
    expect(demo.page.locator("#dropzone")).not_to_have_class(re.compile("dragging"))


def test_cancel_a_running_job_then_delete_it(demo: Demo, long_clip: Clip) -> None:
    demo.upload(("cancel.mp4", long_clip.path))
    card = demo.card("cancel.mp4")
    expect(card).to_have_attribute("data-state", "running")
    session_id = card.get_attribute("data-session-id")

    card.get_by_role("button", name="Cancel cancel.mp4").click()
    expect(card).to_have_attribute("data-state", "cancelled")
    expect(demo.page.get_by_role("status")).to_contain_text("cancel.mp4: Cancelled")
    expect(card.locator(".card-results")).to_be_empty()

    delete = card.get_by_role("button", name="Delete cancel.mp4")
    delete.focus()
    demo.page.keyboard.press("Enter")
    demo.page.get_by_role("dialog").get_by_role("button", name="Delete").click()
    expect(card).to_have_count(0)
    assert demo.server.client().get(f"/api/sessions/{session_id}").status_code == 404


def test_reload_mid_run_reattaches_and_finishes(demo: Demo, long_clip: Clip) -> None:
    card = running_card(demo, "reload.mp4", long_clip.path)
    session_id = card.get_attribute("data-session-id")
    expect(card.locator(".live-scene").first).to_be_attached(timeout=30_000)  # a scene before the reload

    demo.page.reload()
    expect(demo.page.locator(f'[data-session-id="{session_id}"]')).to_have_count(1)
    # The label goes once the session ends; the transport it came over stays on the card.
    expect(card).to_have_attribute("data-transport", "sse")
    expect(card).to_have_attribute("data-state", "succeeded", timeout=60_000)
    values = processing_values(demo, "reload.mp4")  # since the reload only
    assert values[-1] == 100 and any(v < 100 for v in values), values
    # Scenes that closed before the reload came with the snapshot: the card lists every one.
    expect(card.locator(".live-scene")).to_have_count(len(long_clip.truth.cuts) + 1)
    wait_timeline(card)


def test_lists_sessions_and_asks_nothing_of_other_servers(demo: Demo, clip: Clip) -> None:
    client = demo.server.client()
    ids = [upload_ok(client, clip.path)["id"] for _ in range(2)]  # two, for the pages of one below
    for session_id in ids:
        wait_state(client, session_id, {"succeeded"})
    page = demo.page
    page.reload()
    card = page.locator(f'[data-session-id="{session_id}"]')
    expect(card).to_have_attribute("data-state", "succeeded")
    wait_loaded(card.locator(".scenes img"))

    # Keyboard: past the skip link, Tab reaches the file input, and the drop zone shows the focus.
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    expect(page.locator("#file-input")).to_be_focused()
    assert page.locator("#dropzone").evaluate("(el) => getComputedStyle(el).outlineStyle") == "solid"

    for panel in ("#options-panel summary", "#key-panel summary"):
        page.locator(panel).click()
    page.get_by_label("Polling (no streaming)").check()
    page.get_by_label("Server-Sent Events (one stream per card)").check()

    # Readable at 360 px: nothing wider than the screen. Dark scheme: a dark background.
    page.set_viewport_size({"width": 360, "height": 800})
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    page.emulate_media(color_scheme="dark")
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert sum(map(int, re.findall(r"\d+", background)[:3])) < 150, background

    # The listing follows next_cursor: one session a page gives the same list as the server's.
    listed = page.evaluate("""async () => {
        const { Api } = await import("/static/api.js");
        const api = new Api({ getKey: () => "", onUnauthorized: () => {} });
        const ids = [];
        for await (const session of api.sessions(1)) ids.push(session.id);
        return ids;
    }""")
    assert listed == [doc["id"] for doc in client.get("/api/sessions?limit=200").json()["items"]]
    assert len(listed) >= 2

    assert any(url.endswith("/static/app.js") for url in demo.requests)
    assert any("/files/frames.csv" in url for url in demo.requests)  # the timeline's data
    assert demo.foreign_requests() == []


def test_api_key_is_asked_for_stored_and_used(open_demo: Callable[..., Demo], clip: Clip) -> None:
    demo = open_demo(API_KEYS="k1")
    page = demo.page
    expect(page.locator("#key-panel")).to_have_attribute("open", "")
    expect(page.locator("#key-message")).to_contain_text("needs an API key")
    expect(page.locator("#key-input")).to_be_focused()

    page.keyboard.type("wrong")
    page.keyboard.press("Enter")
    expect(page.locator("#key-message")).to_contain_text("not valid")
    page.locator("#key-input").fill("k1")
    page.keyboard.press("Enter")
    expect(page.locator("#key-message")).to_have_text("Key saved in this browser.")
    assert page.evaluate("localStorage.getItem('vidpulse.apiKey')") == "k1"

    demo.upload(("secret.mp4", clip.path))
    card = demo.card("secret.mp4")
    expect(card).to_have_attribute("data-state", "succeeded")
    wait_timeline(card)
    assert any("/events?" in url and "access_token=k1" in url for url in demo.requests)

    page.reload()
    expect(card).to_have_attribute("data-state", "succeeded")
    expect(page.locator("#key-panel")).not_to_have_attribute("open", "")


@dataclass
class Connection:
    page_side: WebSocketRoute
    server_side: WebSocketRoute
    sent: list[dict[str, Any]] = field(default_factory=list)  # by the page
    received: list[dict[str, Any]] = field(default_factory=list)  # by the page, from the server
    dropped: bool = False


class SocketProxy:
    """Sits between the page and /api/ws: records what each connection carried, and can drop one."""

    def __init__(self, page: Page) -> None:
        self.connections: list[Connection] = []
        page.route_web_socket(re.compile(r"/api/ws"), self._connect)

    def _connect(self, page_side: WebSocketRoute) -> None:
        connection = Connection(page_side, page_side.connect_to_server())
        self.connections.append(connection)

        def up(message: str | bytes) -> None:
            connection.sent.append(json.loads(message))
            connection.server_side.send(message)

        def down(message: str | bytes) -> None:
            if not connection.dropped:  # else it would come after the close: the page never sees it
                connection.received.append(json.loads(message))
                page_side.send(message)

        page_side.on_message(up)
        connection.server_side.on_message(down)

    def drop(self, code: int) -> None:
        connection = self.connections[-1]
        connection.dropped = True
        connection.page_side.close(code=code, reason="dropped by the test")
        connection.server_side.close()

    def subscribes(self, index: int, session_id: str | None) -> list[dict[str, Any]]:
        if index >= len(self.connections):
            return []
        return [m for m in self.connections[index].sent if m["op"] == "subscribe" and m["session"] == session_id]

    def wait_subscribe(self, page: Page, index: int, session_id: str | None) -> dict[str, Any]:
        """The one subscribe for `session_id` on connection `index`, once the proxy has seen it."""
        deadline = time.monotonic() + 10
        while not self.subscribes(index, session_id):
            assert time.monotonic() < deadline, f"no subscribe for {session_id} on connection {index}"
            page.wait_for_timeout(20)  # lets Playwright deliver the proxy's callbacks
        [message] = self.subscribes(index, session_id)
        return message


def test_websocket_mode_takes_over_mid_run_and_resubscribes_after_a_drop(
        demo: Demo, long_clip: Clip, clip: Clip) -> None:
    page = demo.page
    proxy = SocketProxy(page)
    demo.set_options(render=True)  # a few seconds more: time to switch, drop and reconnect
    demo.upload(("socket.mp4", long_clip.path))
    card = demo.card("socket.mp4")
    transport = card.locator(".card-transport")
    expect(transport).to_have_text("Live over Server-Sent Events")
    expect(card.locator("[data-meter=processing]")).not_to_have_attribute("aria-valuenow", "0")
    session_id = card.get_attribute("data-session-id")

    page.get_by_label("WebSocket (one socket for all cards)").check()
    expect(transport).to_have_text("Live over the shared WebSocket")
    assert page.evaluate("localStorage.getItem('vidpulse.transport')") == "ws"
    first = proxy.wait_subscribe(page, 0, session_id)
    assert first.get("after"), "the switch resumes after the last event the SSE stream brought"

    # 1013: the server found this client too slow. The page reconnects and resumes after the last event it saw.
    proxy.drop(1013)
    expect(transport).to_have_text("Live over the shared WebSocket")
    expect(card).to_have_attribute("data-state", "succeeded", timeout=30_000)
    seen = [m["id"] for m in proxy.connections[0].received if m["session"] == session_id and m["id"]]
    again = proxy.wait_subscribe(page, 1, session_id)
    assert again["after"] == (seen[-1] if seen else first["after"])

    demo.upload(("socket-2.mp4", clip.path))
    second = demo.card("socket-2.mp4")
    expect(second).to_have_attribute("data-state", "succeeded")
    second_id = second.get_attribute("data-session-id")
    proxy.wait_subscribe(page, 1, second_id)  # the next card shares the socket
    assert len(proxy.connections) == 2
    assert not any(f"/api/sessions/{second_id}/events" in url for url in demo.requests)


@pytest.mark.parametrize("breakage", ["no EventSource", "stream refused"])
def test_falls_back_to_polling(open_demo: Callable[..., Demo], demo_server: Server, clip: Clip,
                               breakage: str) -> None:
    if breakage == "no EventSource":
        demo = open_demo(demo_server, init_script="delete window.EventSource;")
    else:
        demo = open_demo(demo_server)
        demo.page.route(re.compile(r"/api/sessions/[^/]+/events"), lambda route: route.fulfill(status=503))
    name = f"polled-{breakage.split()[0]}.mp4"
    demo.upload((name, clip.path))
    card = demo.card(name)
    expect(card).to_have_attribute("data-state", "succeeded")
    expect(card.locator(".scenes img")).to_have_count(len(clip.truth.cuts) + 1)
    session_id = card.get_attribute("data-session-id")
    assert any(url.endswith(f"/api/sessions/{session_id}") for url in demo.requests)
    assert demo.seen(name, "data-transport")[-1] in {"poll", "poll-broken"}


def test_bad_options_are_refused_before_the_upload(demo: Demo, tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("not a video\n" * 100)
    demo.set_options(width=10)  # below the 64 px the server accepts: the form stops it first
    demo.upload(("narrow.mp4", notes))
    expect(demo.page.get_by_role("status")).to_have_text("Fix the analysis options first.")
    expect(demo.card("narrow.mp4")).to_have_count(0)


def test_scenes_drawn_as_they_arrive(demo: Demo, long_clip: Clip) -> None:
    demo.upload(("live.mp4", long_clip.path))
    card = demo.card("live.mp4")
    scenes = len(long_clip.truth.cuts) + 1
    live = card.locator(".live-scene")
    # The first scenes close while the session still runs (40 s of video), each drawn with its
    # thumbnail as its `scene` event comes (`arrivedWhile` below). Attached, not visible: on a busy
    # machine the session may end before this looks, and the full results then hide them.
    expect(live.first).to_be_attached(timeout=60_000)
    expect(card).to_have_attribute("data-state", "succeeded", timeout=120_000)
    expect(live).to_have_count(scenes)
    arrived = live.evaluate_all("(els) => els.map((el) => el.dataset.arrivedWhile)")
    assert arrived[0] == "running", arrived
    assert live.locator("img").evaluate_all("(els) => els.every((el) => el.complete && el.naturalWidth >= 480)")
    # The full results then take their place.
    expect(card.locator(".live-scenes")).to_be_hidden()
    expect(card.locator(".scenes img")).to_have_count(scenes)


def test_the_player_takes_its_chapters_from_chapters_vtt(demo: Demo, clip: Clip) -> None:
    demo.set_options(render=True)
    demo.upload(("chapters.mp4", clip.path))
    card = demo.card("chapters.mp4")
    expect(card).to_have_attribute("data-state", "succeeded", timeout=60_000)
    scenes = len(clip.truth.cuts) + 1
    video = card.locator("video")
    track = video.locator("track[kind=chapters]")
    expect(track).to_have_attribute("src", re.compile(r"/files/chapters\.vtt"))
    video.evaluate("(v) => { v.textTracks[0].mode = 'hidden'; }")
    demo.page.wait_for_function("(v) => v.textTracks[0].cues && v.textTracks[0].cues.length > 0",
                                arg=video.element_handle())
    starts = video.evaluate("(v) => Array.from(v.textTracks[0].cues, (c) => c.startTime)")
    assert len(starts) == scenes and starts[0] == 0
    assert abs(starts[1] - clip.truth.cuts[0] / clip.truth.fps) < 0.05
    expect(card.locator(".downloads")).to_contain_text("scenes.edl")
    expect(card.locator(".downloads")).to_contain_text("scenes.otio")
