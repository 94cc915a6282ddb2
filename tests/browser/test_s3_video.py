"""With STORAGE=s3, the demo page's annotated video comes from the bucket through the API, by
Range: Chromium plays it and seeks in it."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import SERVER_SETTINGS, Demo
from tests.support.videogen import Clip

pytestmark = [pytest.mark.browser, pytest.mark.s3, pytest.mark.redis]


def test_the_annotated_video_seeks_from_the_bucket(open_demo: Callable[..., Demo], redis_server, s3_server,
                                                   clip: Clip) -> None:
    demo = open_demo(**SERVER_SETTINGS, BACKEND="redis", REDIS_URL=redis_server.url(), **s3_server.settings())
    demo.set_options(render=True)
    demo.upload(("seek.mp4", clip.path))
    card = demo.card("seek.mp4")
    expect(card).to_have_attribute("data-state", "succeeded", timeout=120_000)
    video = card.locator("video")
    handle = video.element_handle()
    video.evaluate("(v) => { v.muted = true; v.preload = 'auto'; v.load(); }")  # the page preloads nothing
    demo.page.wait_for_function("(v) => v.readyState >= 1 && v.duration > 4", arg=handle)
    # Seek near the end, then back: each seek the browser serves with a Range request.
    for target in (3.8, 1.2):
        video.evaluate("(v, t) => { window.__seeked = false; v.addEventListener('seeked', () => "
                       "{ window.__seeked = true; }, {once: true}); v.currentTime = t; }", target)
        demo.page.wait_for_function("() => window.__seeked === true")
        demo.page.wait_for_function("(v) => v.readyState >= 2", arg=handle)
        assert abs(video.evaluate("(v) => v.currentTime") - target) < 0.2
    assert any(url.endswith("/files/annotated.mp4") for url in demo.requests)
    session_id = card.get_attribute("data-session-id")
    assert session_id and "annotated.mp4" in demo.server.artifact_names(session_id), "the video is in the bucket"
    assert demo.server.session_dirs() == set(), "and not on the instance's disk"
