"""The demo page's cards in a real browser: what a card says when the upload is checked, refused or
cancelled; delete and "Clear finished" ask first; how each scene starts; portrait thumbnails; the
timeline in both colour schemes; Retry and "Analyse again" (a new attempt on the same session)."""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image, ImageStat
from playwright.sync_api import Locator, Route, expect

from tests.support.transitions import make_known_clip
from tests.support.videogen import Clip, Segment

from .conftest import Demo, running_card, throttle_uploads, wait_loaded, wait_timeline

pytestmark = pytest.mark.browser

TRANSITION_WORDS = {"hard": "Cut", "fade": "Fade", "dissolve": "Dissolve"}


def session_of(card: Locator) -> str:
    session_id = card.get_attribute("data-session-id")
    assert session_id
    return session_id


def processing_values(demo: Demo, filename: str) -> list[int]:
    return [int(v) for v in demo.seen(filename, "aria-valuenow", meter="processing")]


def mean_luma(path: Path) -> float:
    return float(ImageStat.Stat(Image.open(path).convert("L")).mean[0])


def test_a_cancelled_card_keeps_no_progress_line(demo: Demo, long_clip: Clip) -> None:
    card = running_card(demo, "stopped.mp4", long_clip.path)
    line = card.locator(".processing .meter-text")
    expect(line).to_have_text(re.compile(r"^\w+ · \d+%"))  # stage, percent, speed, ETA
    card.get_by_role("button", name="Cancel stopped.mp4").click()
    expect(card).to_have_attribute("data-state", "cancelled")
    # Where it stopped; no stage, speed or time left of a run that is over.
    expect(line).to_have_text(re.compile(r"^stopped at \d+%$"))
    expect(card.locator("[data-meter=processing]")).to_have_attribute("aria-valuetext", re.compile(r"^stopped at"))


def test_a_file_that_is_not_a_video_says_so(demo: Demo, tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("not a video\n" * 100)
    demo.upload(("notes.mp4", notes))
    card = demo.card("notes.mp4")
    expect(card).to_have_attribute("data-state", "refused")
    # The upload worked: the server read the file, then refused it.
    expect(card.locator(".badge")).to_have_text("Not a video")
    expect(card.locator("[data-meter=upload]")).to_have_attribute("aria-valuenow", "100")
    expect(card.locator(".card-status")).to_contain_text("not a video")  # the server's own words
    expect(card.get_by_role("button", name="Cancel notes.mp4")).to_have_count(0)  # nothing to cancel
    assert demo.seen("notes.mp4", "data-state") == ["checking", "refused"]  # (uploading: before the card was shown)
    # Nothing is left on the server: it goes without a question.
    card.get_by_role("button", name="Delete notes.mp4").click()
    expect(card).to_have_count(0)


def test_the_card_says_while_the_file_is_checked(demo: Demo, clip: Clip) -> None:
    # Hold the session document that the page asks for once the last PATCH is answered: until it
    # comes (state `queued`), the file is being checked.
    held: list[Route] = []
    session_url = re.compile(r"/api/sessions/s_[0-9a-f]+$")
    demo.page.route(session_url, lambda route: held.append(route))
    demo.upload(("checked.mp4", clip.path))
    card = demo.card("checked.mp4")
    expect(card.locator(".badge")).to_have_text("Checking the file")
    expect(card.locator("[data-meter=upload]")).to_have_attribute("aria-valuenow", "100")
    expect(card.locator(".card-status")).to_contain_text("checking that it can read the video")
    expect(card.get_by_role("button", name="Cancel checked.mp4")).to_be_enabled()
    deadline = time.monotonic() + 10  # the request comes once the last PATCH is answered
    while not held and time.monotonic() < deadline:
        demo.page.wait_for_timeout(50)  # route handlers run while the page waits
    assert held, "the page should have asked for the session once the upload was in"
    for route in held:
        route.continue_()
    demo.page.unroute(session_url)
    expect(card).to_have_attribute("data-state", "succeeded")
    states = demo.seen("checked.mp4", "data-state")  # (uploading: before the card was shown)
    assert states[0] == "checking" and states[1] in {"queued", "running", "succeeded"}, states


def test_delete_asks_first_and_clear_finished_takes_every_finished_card(
        open_demo: Callable[..., Demo], clip: Clip, long_clip: Clip) -> None:
    demo = open_demo()  # a server of its own: "Clear finished" takes every finished session listed
    page = demo.page
    client = demo.server.client()
    names = ["one.mp4", "two.mp4", "three.mp4"]
    demo.upload(*[(name, clip.path) for name in names])
    for name in names:
        expect(demo.card(name)).to_have_attribute("data-state", "succeeded")
    throttle_uploads(page, 100 * 1024)  # a card that is not finished: an upload under way
    demo.upload(("busy.mp4", long_clip.path))
    busy = demo.card("busy.mp4")
    expect(busy).to_have_attribute("data-session-id", re.compile("^s_"))

    one = demo.card("one.mp4")
    one_id = session_of(one)
    dialog = page.get_by_role("dialog")
    for answer in ("Keep", "Escape"):
        one.get_by_role("button", name="Delete one.mp4").click()
        expect(dialog).to_contain_text("Delete one.mp4?")
        expect(dialog.get_by_role("button", name="Keep")).to_be_focused()  # Enter keeps
        if answer == "Keep":
            dialog.get_by_role("button", name="Keep").click()
        else:
            page.keyboard.press("Escape")
        expect(dialog).to_be_hidden()
        expect(one).to_have_count(1)
        assert client.get(f"/api/sessions/{one_id}").status_code == 200
    one.get_by_role("button", name="Delete one.mp4").click()
    dialog.get_by_role("button", name="Delete").click()
    expect(one).to_have_count(0)
    assert client.get(f"/api/sessions/{one_id}").status_code == 404

    others = {name: session_of(demo.card(name)) for name in names[1:]}
    page.get_by_role("button", name="Clear finished").click()
    expect(dialog).to_contain_text("Delete 2 finished sessions?")
    dialog.get_by_role("button", name="Delete 2").click()
    for name, session_id in others.items():
        expect(demo.card(name)).to_have_count(0)
        assert client.get(f"/api/sessions/{session_id}").status_code == 404
    expect(page.get_by_role("status")).to_have_text("2 finished cards cleared.")
    expect(busy).to_have_attribute("data-state", "uploading")  # not finished: it stays
    busy.get_by_role("button", name="Cancel busy.mp4").click()
    expect(busy).to_have_attribute("data-state", "upload-failed")


def test_each_scene_says_how_it_starts(demo: Demo, tmp_path: Path) -> None:
    clips = {f"{shape}.mp4": make_known_clip(tmp_path, shape, 1.0) for shape in ("dissolve", "fade-black")}
    demo.upload(*[(name, clip.path) for name, clip in clips.items()])
    client = demo.server.client()
    kinds: set[str] = set()
    for name in clips:
        card = demo.card(name)
        expect(card).to_have_attribute("data-state", "succeeded")
        report = client.get(f"/api/sessions/{session_of(card)}/results").json()
        cuts = {cut["frame"]: cut for cut in report["cuts"]}
        starts = [cuts[scene["start_frame"]] for scene in report["scenes"][1:]]
        kinds.update(cut["kind"] for cut in starts)
        expected = ["Opening"] + [
            f"{TRANSITION_WORDS[cut['kind']]} · {math.floor(cut['confidence'] * 100 + 0.5)} % sure" for cut in starts]
        expect(card.locator(".scenes .scene-start")).to_have_text(expected)
        spoken = {"hard": "a cut", "fade": "a fade", "dissolve": "a dissolve"}[starts[0]["kind"]]
        second = card.get_by_role("img", name=re.compile(r"^Scene 2, "))
        expect(second).to_have_attribute("aria-label", re.compile(rf"starts with {spoken} \(confidence \d+ %\)$"))
    assert kinds == {"hard", "fade", "dissolve"}, kinds  # the clips hold one of each


def test_portrait_thumbnails_keep_their_shape(demo: Demo, make_clip: Callable[..., Clip]) -> None:
    portrait = make_clip("portrait.mp4", [Segment("scene", 25, seed=1), Segment("scene", 25, seed=2)], size=(360, 640))
    demo.upload(("portrait.mp4", portrait.path))
    card = demo.card("portrait.mp4")
    expect(card).to_have_attribute("data-state", "succeeded")
    thumbnails = card.locator(".scenes img")
    expect(thumbnails).to_have_count(2)
    wait_loaded(thumbnails)
    shapes = thumbnails.evaluate_all("""(els) => els.map((el) => {
        const box = el.getBoundingClientRect();
        return { box: box.width / box.height, picture: el.naturalWidth / el.naturalHeight };
    })""")
    for shape in shapes:
        assert shape["picture"] < 1, shapes  # the thumbnails are portrait...
        assert abs(shape["box"] - shape["picture"]) < 0.03, shapes  # ...and so are their boxes: nothing cut off


def test_the_timeline_is_drawn_in_the_colours_of_the_scheme(demo: Demo, clip: Clip, tmp_path: Path) -> None:
    demo.upload(("schemes.mp4", clip.path))
    card = demo.card("schemes.mp4")
    expect(card).to_have_attribute("data-state", "succeeded")
    figure = wait_timeline(card)
    # What the 0 to 1 up the side means, for each line.
    expect(figure).to_contain_text("share of pixels")
    expect(figure).to_contain_text("from black (0) to white (1)")
    plot = card.get_by_role("img", name=re.compile("^Timeline"))
    lumas = {}
    for scheme in ("light", "dark"):
        demo.page.emulate_media(color_scheme=scheme)
        shot = tmp_path / f"timeline-{scheme}.png"
        plot.screenshot(path=shot)
        lumas[scheme] = mean_luma(shot)
    assert lumas["light"] > 180 and lumas["dark"] < 70, lumas


def test_retry_a_cancelled_session_starts_a_new_attempt(demo: Demo, long_clip: Clip) -> None:
    """Needs POST /api/sessions/{id}/retry (202, then `started` with `attempt: 2` on the same log)."""
    card = running_card(demo, "retried.mp4", long_clip.path)
    session_id = session_of(card)
    retry = card.get_by_role("button", name="Retry retried.mp4")
    expect(retry).to_have_count(0)  # only once it is over
    card.get_by_role("button", name="Cancel retried.mp4").click()
    expect(card).to_have_attribute("data-state", "cancelled")
    before = len(processing_values(demo, "retried.mp4"))

    retry.click()
    expect(card).to_have_attribute("data-attempt", "2")
    expect(card).to_have_attribute("data-state", "running")
    expect(card.locator(".processing .meter-text")).to_have_text(re.compile(r"^\w+ · \d+%"))
    assert session_of(card) == session_id
    assert processing_values(demo, "retried.mp4")[before] == 0, "the new attempt starts the bar over"
    expect(retry).to_have_count(0)
    card.get_by_role("button", name="Cancel retried.mp4").click()
    expect(card).to_have_attribute("data-state", "cancelled")


def test_analyse_a_finished_session_again_with_new_options(demo: Demo, clip: Clip) -> None:
    """Needs POST /api/sessions/{id}/retry with {"options": ...}."""
    demo.upload(("twice.mp4", clip.path))
    card = demo.card("twice.mp4")
    expect(card).to_have_attribute("data-state", "succeeded")
    wait_timeline(card)
    expect(card.locator("video")).to_have_count(0)
    session_id = session_of(card)

    card.get_by_role("button", name="Analyse twice.mp4 again").click()
    form = card.get_by_role("form", name="Options to analyse twice.mp4 again")
    expect(form.get_by_label("Analysis width (px)")).to_have_value("320")  # the last run's options
    form.get_by_label("Also render the annotated video").check()
    form.get_by_role("button", name="Start the analysis").click()
    expect(card).to_have_attribute("data-attempt", "2")
    expect(card).to_have_attribute("data-state", "succeeded", timeout=60_000)
    expect(card.locator("video")).to_have_attribute("src", re.compile(r"/files/annotated\.mp4$"))
    assert session_of(card) == session_id
    states = demo.seen("twice.mp4", "data-state")
    assert "running" in states[states.index("succeeded"):], states  # it ran again
    values = processing_values(demo, "twice.mp4")
    assert values[-1] == 100 and 0 in values[values.index(100):], values
