"""The demo page in a real browser: uploads, live progress, results, cancel, reload, API key, transports."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import ROOT, Clip, Server
from PIL import Image
from playwright.sync_api import Locator, expect

from client import upload_ok, wait_state

from .conftest import Demo

pytestmark = pytest.mark.browser

SCREENSHOT = ROOT / "docs" / "demo.png"


def wait_loaded(images: Locator) -> None:
    """Wait until every image matched has its picture."""
    expect(images.first).to_be_visible()
    images.first.page.wait_for_function(
        "(els) => els.every((el) => el.complete && el.naturalWidth > 0)",
        arg=images.element_handles())


def processing_values(demo: Demo, filename: str) -> list[int]:
    return [int(v) for v in demo.seen(filename, "aria-valuenow", meter="processing")]


def test_upload_shows_live_progress_then_results(demo: Demo, clip: Clip, tmp_path: Path) -> None:
    demo.set_options(render=True)
    demo.upload(("progress.mp4", clip.path))
    card = demo.card("progress.mp4")
    expect(card).to_have_attribute("data-state", "succeeded")

    uploaded = demo.seen("progress.mp4", "aria-valuenow", meter="upload")
    assert uploaded[-1] == "100", uploaded
    values = processing_values(demo, "progress.mp4")
    assert len(set(values)) >= 3, f"the bar should move through several values: {values}"
    assert values == sorted(values) and values[-1] == 100, values
    expect(card.locator("[data-meter=processing]")).to_have_attribute("aria-valuetext", re.compile("100 percent"))

    wait_loaded(card.get_by_role("img", name=re.compile("Timeline")))
    scenes = len(clip.truth.cuts) + 1
    expect(card.locator(".scenes img")).to_have_count(scenes)
    wait_loaded(card.locator(".scenes img"))
    first_cut = clip.truth.cuts[0] / clip.truth.fps
    expect(card.locator(".scenes")).to_contain_text(f"#2 0:{first_cut:05.2f}")
    expect(card.locator(".quality")).to_contain_text(re.compile(r"Black\s*0:01\.00\u20130:01\.48"))
    video = card.locator("video")
    expect(video).to_have_attribute("src", re.compile(r"/files/annotated\.mp4$"))
    video.evaluate("(v) => { v.muted = true; return v.play(); }")
    demo.page.wait_for_function("(v) => v.currentTime > 2", arg=video.element_handle())
    video.evaluate("(v) => v.pause()")

    shot = tmp_path / "demo.png"
    demo.page.screenshot(path=shot, full_page=True)
    # docs/demo.png is committed: rewrite it only when asked, so that a test run leaves the tree clean.
    if os.environ.get("VIDPULSE_UPDATE_SCREENSHOT") == "1" or not SCREENSHOT.exists():
        Image.open(shot).quantize(256, dither=Image.Dither.NONE).save(SCREENSHOT, optimize=True)  # a quarter the size


def test_two_uploads_at_once_queue_then_finish(open_demo: Callable[..., Demo], clip: Clip) -> None:
    demo = open_demo(WORKERS=1)
    demo.upload(("first.mp4", clip.path), ("second.mp4", clip.path))
    expect(demo.page.locator(".card")).to_have_count(2)
    for name in ("first.mp4", "second.mp4"):
        card = demo.card(name)
        expect(card).to_have_attribute("data-state", "succeeded")
        expect(card.locator(".scenes img")).to_have_count(len(clip.truth.cuts) + 1)
        assert processing_values(demo, name)[-1] == 100
    positions = demo.seen("first.mp4", "data-queue-position") + demo.seen("second.mp4", "data-queue-position")
    assert positions, "a queued card shows its place in the queue"


def test_cancel_a_running_job_then_delete_it(demo: Demo, long_clip: Clip) -> None:
    demo.set_options(render=True, width=640)
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
    expect(card).to_have_count(0)
    assert demo.server.client().get(f"/api/sessions/{session_id}").status_code == 404


def test_reload_mid_run_reattaches_and_finishes(demo: Demo, long_clip: Clip) -> None:
    demo.set_options(render=True)
    demo.upload(("reload.mp4", long_clip.path))
    card = demo.card("reload.mp4")
    expect(card).to_have_attribute("data-state", "running")
    expect(card.locator("[data-meter=processing]")).not_to_have_attribute("aria-valuenow", "0")
    session_id = card.get_attribute("data-session-id")

    demo.page.reload()
    expect(demo.page.locator(f'[data-session-id="{session_id}"]')).to_have_count(1)
    expect(card.locator(".card-transport")).to_have_text("Live over Server-Sent Events")
    expect(card).to_have_attribute("data-state", "succeeded", timeout=30_000)
    values = processing_values(demo, "reload.mp4")  # since the reload only
    assert values[-1] == 100 and any(v < 100 for v in values), values
    wait_loaded(card.get_by_role("img", name=re.compile("Timeline")))


def test_lists_sessions_and_asks_nothing_of_other_servers(demo: Demo, clip: Clip) -> None:
    client = demo.server.client()
    session_id = upload_ok(client, clip.path)["id"]
    wait_state(client, session_id, {"succeeded"})
    page = demo.page
    page.reload()
    card = page.locator(f'[data-session-id="{session_id}"]')
    expect(card).to_have_attribute("data-state", "succeeded")
    wait_loaded(card.locator(".scenes img"))
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

    assert any(url.endswith("/static/app.js") for url in demo.requests)
    assert any("/files/timeline.png" in url for url in demo.requests)
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
    wait_loaded(card.get_by_role("img", name=re.compile("Timeline")))
    assert any("/events?" in url and "access_token=k1" in url for url in demo.requests)

    page.reload()
    expect(card).to_have_attribute("data-state", "succeeded")
    expect(page.locator("#key-panel")).not_to_have_attribute("open", "")


def test_websocket_mode_takes_over_mid_run(demo: Demo, long_clip: Clip, clip: Clip) -> None:
    page = demo.page
    sent: list[dict[str, str]] = []
    page.on("websocket", lambda ws: ws.on("framesent", lambda payload: sent.append(json.loads(payload))))
    demo.set_options(render=True)
    demo.upload(("socket.mp4", long_clip.path))
    card = demo.card("socket.mp4")
    expect(card.locator(".card-transport")).to_have_text("Live over Server-Sent Events")
    expect(card.locator("[data-meter=processing]")).not_to_have_attribute("aria-valuenow", "0")
    session_id = card.get_attribute("data-session-id")

    page.get_by_label("WebSocket (one socket for all cards)").check()
    expect(card.locator(".card-transport")).to_have_text("Live over the shared WebSocket")
    expect(card).to_have_attribute("data-state", "succeeded", timeout=30_000)
    assert any(m["op"] == "subscribe" and m["session"] == session_id and m.get("after") for m in sent), sent
    assert page.evaluate("localStorage.getItem('vidpulse.transport')") == "ws"

    demo.upload(("socket-2.mp4", clip.path))
    second = demo.card("socket-2.mp4")
    expect(second).to_have_attribute("data-state", "succeeded")
    second_id = second.get_attribute("data-session-id")
    assert any(m["op"] == "subscribe" and m["session"] == second_id for m in sent)
    assert not any(f"/api/sessions/{second_id}/events" in url for url in demo.requests)
    assert sum(url.split("?")[0].endswith("/api/ws") for url in demo.requests) == 1, "one socket for all cards"


def test_polls_when_there_is_no_event_source(open_demo: Callable[..., Demo], demo_server: Server, clip: Clip) -> None:
    demo = open_demo(demo_server, init_script="delete window.EventSource;")
    demo.upload(("polled.mp4", clip.path))
    card = demo.card("polled.mp4")
    expect(card).to_have_attribute("data-state", "succeeded")
    session_id = card.get_attribute("data-session-id")
    assert not any(f"{session_id}/events" in url for url in demo.requests)
    assert any(url.endswith(f"/api/sessions/{session_id}") for url in demo.requests)
    expect(card.locator(".scenes img")).to_have_count(len(clip.truth.cuts) + 1)
