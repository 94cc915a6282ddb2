"""The demo page's "Watch a live stream" in a real browser: a live card with its running clock, meters
over the last minute, an incident highlighted while open, scene thumbnails, and Stop; a refused URL says
why."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.support.live import HlsOrigin, Schedule
from tests.support.servers import Server, need

from .conftest import SERVER_SETTINGS, Demo, save_screenshot, updating_screenshots, wait_loaded

pytestmark = pytest.mark.browser

LIVE_SCREENSHOT = "demo-live.png"


@pytest.fixture
def origin(tmp_path: Path) -> Iterator[HlsOrigin]:
    need("ffmpeg", shutil.which("ffmpeg") is not None)
    made = HlsOrigin(tmp_path / "origin", Schedule(60, black=((2, 4),), negated=((5, 6.5),)))
    yield made
    made.stop()


def watch(demo: Demo, url: str, incident_min_s: str = "") -> None:
    demo.page.get_by_label("Stream URL: an HLS playlist, or an rtmp://, rtsp:// or srt:// stream").fill(url)
    demo.page.get_by_label("Incidents after (s)").fill(incident_min_s)
    demo.page.get_by_role("button", name="Watch", exact=True).click()


@pytest.mark.parametrize("transport", ["sse", "ws"])
def test_a_live_card_shows_the_stream_as_it_goes_and_stops(open_demo: Callable[..., Demo],
                                                           start_server: Callable[..., Server], origin: HlsOrigin,
                                                           transport: str, tmp_path: Path) -> None:
    demo = open_demo(start_server(**SERVER_SETTINGS, ALLOW_PRIVATE_URLS=1))
    demo.page.locator(f"input[name=transport][value={transport}]").check()
    origin.start().wait_segments(1)
    watch(demo, origin.url, "1")
    card = demo.card("live.m3u8")
    expect(card).to_have_attribute("data-state", "running")
    expect(card).to_have_attribute("data-transport", transport)
    expect(card.locator(".live-clock")).to_have_text(re.compile(r"^0:0\d\.\d\d analysed · \d+\.\d s behind"))
    incident = card.locator(".incident[data-kind=black]")
    expect(incident).to_have_attribute("data-state", "open")
    expect(incident).to_have_class(re.compile(r"\bopen\b"))  # highlighted while it lasts
    expect(incident).to_contain_text("Black since 0:02.00")
    expect(incident).to_have_attribute("data-state", "closed")
    expect(incident).not_to_have_class(re.compile(r"\bopen\b"))
    expect(incident).to_contain_text("0:02.00\u20130:04.00 (2.0 s)")
    brightness = card.get_by_role("img", name=re.compile("^Brightness over the last minute"))
    expect(brightness).to_have_attribute("data-points", re.compile(r"^([4-9]|\d\d)$"))
    assert card.locator("[data-level=loudness_momentary_lufs] .level-now").inner_text().endswith("LUFS")
    wait_loaded(card.locator(".live-scene img"))  # the scenes closed so far, thumbnails served
    if transport == "sse":
        if updating_screenshots():  # meters with more of their minute drawn
            expect(card).to_have_attribute("data-media-s", re.compile(r"^(1[2-9]|[2-9]\d)\."), timeout=30_000)
        save_screenshot(demo, tmp_path, LIVE_SCREENSHOT)
    clock = float(card.get_attribute("data-media-s") or 0)
    card.get_by_role("button", name="Stop live.m3u8").click()
    expect(card).to_have_attribute("data-state", "succeeded")
    expect(card.locator(".badge")).to_have_text("Ended")
    expect(card.locator(".report-summary")).to_contain_text("scenes")  # the report of what was seen
    assert clock >= 3
    expect(card.get_by_role("button", name="Stop live.m3u8")).to_be_hidden()


def test_a_refused_stream_url_says_why(open_demo: Callable[..., Demo], demo_server: Server) -> None:
    demo = open_demo(demo_server)
    watch(demo, "http://127.0.0.1:9/live.m3u8")
    expect(demo.page.locator("#live-message")).to_contain_text("loopback address")
    expect(demo.page.locator("#live-message")).to_have_class(re.compile("warning"))
    assert demo.page.locator(".live-card").count() == 0
