"""The demo page's delivery check: the profile chosen in the options, the verdict check by check,
and the technical cues of the report (static/qc.js)."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import Demo
from tests.processing.cues.clips import full_frame, spliced, with_sound
from tests.support.videogen import Segment, tone, write_frames

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def loud_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Bars, then 4 s of scenes with a steady -14 LUFS tone: fails EBU R 128, passes streaming."""
    folder = tmp_path_factory.mktemp("qc")
    video = folder / "video.mp4"
    frames = itertools.chain(spliced([("smptebars", 25)], (320, 180)), full_frame(50, (320, 180), 1),
                             spliced([Segment("scene", 25, 2)], (320, 180)))
    count = write_frames(video, frames, size=(320, 180))
    return with_sound(video, tone(-14, count / 25), folder / "loud.mp4")


def test_the_verdict_and_the_cues(demo: Demo, loud_clip: Path) -> None:
    demo.set_options(qc_profile="ebu_r128")
    demo.upload(("loud.mp4", loud_clip))
    card = demo.card("loud.mp4")
    expect(card).to_have_attribute("data-state", "succeeded", timeout=60_000)
    verdict = card.locator(".qc")
    expect(verdict).to_have_attribute("data-passed", "false")
    expect(verdict.locator(".qc-verdict")).to_have_text("Fails EBU R 128.")
    expect(verdict.locator("dt[data-passed=false]")).to_have_text("✗ Integrated loudness")
    expect(verdict.locator("dt[data-passed=true]")).to_have_text("✓ True peak")
    expect(verdict.locator("dd").first).to_contain_text("(limit -24 to -22)")
    cues = card.locator(".cues li")
    expect(cues.filter(has_text="Colour bars")).to_have_count(1)
    expect(cues.filter(has_text="Loudness")).to_have_count(1)
    expect(card.locator(".downloads")).to_contain_text("cues.vtt")


def test_no_profile_no_verdict(demo: Demo, loud_clip: Path) -> None:
    demo.set_options(qc_profile="none")
    demo.upload(("plain.mp4", loud_clip))
    card = demo.card("plain.mp4")
    expect(card).to_have_attribute("data-state", "succeeded", timeout=60_000)
    expect(card.locator(".qc")).to_have_count(0)
    expect(card.locator(".cues li")).to_have_count(1)  # the bars; no loudness cue without a profile
