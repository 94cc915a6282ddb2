"""chapters.vtt through a WebVTT parser (webvtt-py); scenes.edl through a strict CMX 3600 reader and
through OpenTimelineIO's (otio-cmx3600-adapter)."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from pathlib import Path

import opentimelineio as otio
import pytest
import webvtt

from tests.processing.conftest import analyse
from tests.support.transitions import KnownClip, make_known_clip
from tests.support.videogen import Truth

_EVENT = re.compile(
    r"^(?P<num>\d{3})  (?P<reel>[A-Za-z0-9_]{1,8}) *(?P<track>V|A|A2|AA|B|AA/V) +(?P<trans>C|D|W\d{3}) +"
    r"(?:(?P<length>\d{3}) +)?"
    r"(?P<src_in>\d\d:\d\d:\d\d:\d\d) (?P<src_out>\d\d:\d\d:\d\d:\d\d) "
    r"(?P<rec_in>\d\d:\d\d:\d\d:\d\d) (?P<rec_out>\d\d:\d\d:\d\d:\d\d)$"
)


@dataclass(frozen=True)
class Event:
    number: int
    src_in: int
    src_out: int
    rec_in: int
    rec_out: int
    dissolve: int | None = None  # the transition's length in frames, for a dissolve event


def _frames(timecode: str, base: int) -> int:
    hh, mm, ss, ff = (int(part) for part in timecode.split(":"))
    assert mm < 60 and ss < 60 and ff < base, timecode
    return ((hh * 60 + mm) * 60 + ss) * base + ff


def read_cmx3600(text: str, base: int) -> list[Event]:
    """A strict reader: a TITLE and an FCM line, then event lines and `*` comments only. A
    dissolve event is two lines with one number: the outgoing clip, zero frames long at the
    dissolve's start, then `D` with its length and the incoming clip from there."""
    lines = text.splitlines()
    assert lines[0].startswith("TITLE: ") and len(lines[0]) <= 80
    assert lines[1] in ("FCM: NON-DROP FRAME", "FCM: DROP FRAME")
    events: list[Event] = []
    outgoing: Event | None = None
    for line in lines[2:]:
        if not line.strip() or line.startswith("* "):
            continue
        match = _EVENT.match(line)
        assert match, f"not a CMX 3600 event line: {line!r}"
        number = int(match["num"])
        times = [_frames(match[k], base) for k in ("src_in", "src_out", "rec_in", "rec_out")]
        assert times[1] - times[0] == times[3] - times[2], f"source and record lengths differ: {line}"
        if match["trans"] == "D":
            assert outgoing is not None and outgoing.number == number, f"a dissolve without its outgoing clip: {line}"
            assert outgoing.rec_in == times[2], f"the dissolve does not start where the outgoing clip ends: {line}"
            length = int(match["length"])
            assert 0 < length <= times[3] - times[2], line
            events.append(Event(number, *times, dissolve=length))
            outgoing = None
            continue
        assert match["trans"] == "C" and match["length"] is None, line
        assert outgoing is None, f"a zero-length event not followed by its dissolve: {outgoing}"
        if times[0] == times[1]:
            outgoing = Event(number, *times)  # the first line of a dissolve event
            continue
        assert times[0] < times[1], line
        events.append(Event(number, *times))
    assert outgoing is None, "the EDL ends inside a dissolve event"
    return events


def read_with_otio(text: str, fps: float) -> tuple[list[tuple[int, int]], dict[int, int]]:
    """OpenTimelineIO's CMX 3600 reader: each clip's record [in, out) in frames, and the dissolves
    as {index of the clip they lead into: length in frames}."""
    timeline = otio.adapters.read_from_string(text, adapter_name="cmx_3600", rate=fps)
    (track,) = timeline.tracks
    start = -track.source_range.start_time if track.source_range is not None else otio.opentime.RationalTime(0, fps)
    clips: list[tuple[int, int]] = []
    dissolves: dict[int, int] = {}
    for child in track:
        if isinstance(child, otio.schema.Transition):
            assert child.transition_type == otio.schema.TransitionTypes.SMPTE_Dissolve
            assert child.in_offset.value == 0
            dissolves[len(clips)] = round(child.out_offset.to_frames(fps))
            continue
        assert isinstance(child, otio.schema.Clip), child
        placed = track.range_of_child(child)
        first = round((placed.start_time + start).to_frames(fps))
        clips.append((first, first + round(placed.duration.to_frames(fps))))
    return clips, dissolves


def _seconds(stamp: str) -> float:
    hours, minutes, seconds = stamp.split(":")
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def test_chapters_parse_as_webvtt_one_cue_per_scene(std_clip: tuple[Path, Truth], tmp_path: Path) -> None:
    report = analyse(std_clip[0], tmp_path)
    cues = webvtt.read(str(tmp_path / "chapters.vtt"))
    scenes = report["scenes"]
    assert len(cues) == len(scenes)
    for cue, scene in zip(cues, scenes, strict=True):
        # webvtt-py's *_in_seconds are whole seconds: compare the parsed time stamps.
        assert _seconds(cue.start) == pytest.approx(scene["start_s"], abs=0.001)
        assert _seconds(cue.end) == pytest.approx(scene["end_s"], abs=0.001)
        # Numbered from 1 where people read them, the cue's id as its title; the report's index from 0.
        assert cue.identifier == f"scene-{scene['index'] + 1}"
        assert cue.text == f"Scene {scene['index'] + 1}"
    assert [scene["index"] for scene in scenes] == list(range(len(scenes)))
    assert {"chapters.vtt", "scenes.edl"} <= {a["name"] for a in report["artifacts"]}
    types = {a["name"]: a["type"] for a in report["artifacts"]}
    assert types["chapters.vtt"] == "text/vtt"


def test_edl_is_cmx3600_with_an_event_per_scene(std_clip: tuple[Path, Truth], tmp_path: Path) -> None:
    report = analyse(std_clip[0], tmp_path)
    base = round(report["video"]["fps"])
    events = read_cmx3600((tmp_path / "scenes.edl").read_text("ascii"), base)
    scenes = report["scenes"]
    assert [e.number for e in events] == list(range(1, len(scenes) + 1))
    for event, scene in zip(events, scenes, strict=True):
        assert event.src_in == scene["start_frame"] and event.src_out == scene["end_frame"] + 1
        assert (event.rec_in, event.rec_out) == (event.src_in, event.src_out)
    # Contiguous: each event starts where the one before it ended.
    assert all(a.rec_out == b.rec_in for a, b in itertools.pairwise(events))
    assert read_with_otio((tmp_path / "scenes.edl").read_text("ascii"), base) == (
        [(e.rec_in, e.rec_out) for e in events],
        {},
    )


@pytest.fixture(scope="module", params=["dissolve", "fade-black", "fade-white"])
def gradual(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[KnownClip, dict, Path]:
    """A clip with one known transition and one hard cut, analysed: (clip, report, out dir)."""
    folder = tmp_path_factory.mktemp("exports")
    clip = make_known_clip(folder, request.param, 1.0)
    return clip, analyse(clip.path, folder / "out"), folder / "out"


def test_edl_writes_a_gradual_transition_as_a_dissolve_event(gradual: tuple[KnownClip, dict, Path]) -> None:
    _, report, out = gradual
    text = (out / "scenes.edl").read_text("ascii")
    fps = report["video"]["fps"]
    events = read_cmx3600(text, round(fps))
    gradual = [c for c in report["cuts"] if c["kind"] != "hard"]
    assert len(gradual) == 1 and len(events) == len(report["scenes"]) == 3, text
    cut = gradual[0]
    # The scene it enters is the dissolve event: from the transition's first frame, as long as it.
    assert [e.dissolve for e in events] == [None, cut["end_frame"] - cut["start_frame"] + 1, None]
    assert events[1].rec_in == cut["start_frame"] == events[0].rec_out
    assert events[1].rec_out == report["scenes"][1]["end_frame"] + 1
    assert events[2].rec_in == report["cuts"][-1]["frame"]
    assert all(e.src_in == e.rec_in and e.src_out == e.rec_out for e in events)
    # A third-party reader sees the same clips and the dissolve into the second.
    assert read_with_otio(text, fps) == ([(e.rec_in, e.rec_out) for e in events], {1: events[1].dissolve})


def test_otio_timeline_has_a_clip_per_scene_and_the_transition(gradual: tuple[KnownClip, dict, Path]) -> None:
    clip, report, out = gradual
    fps = report["video"]["fps"]
    timeline = otio.adapters.read_from_file(str(out / "scenes.otio"))
    assert timeline.name == clip.path.name
    (track,) = timeline.video_tracks()
    clips = list(track.find_clips())
    scenes = report["scenes"]
    assert [c.name for c in clips] == [f"Scene {s['index'] + 1}" for s in scenes]
    for item, scene in zip(clips, scenes, strict=True):
        placed = track.range_of_child(item)
        expected = (scene["start_frame"], scene["end_frame"] + 1)
        assert (round(placed.start_time.to_frames(fps)), round(placed.end_time_exclusive().to_frames(fps))) == expected
        assert item.source_range == placed  # the file's own timeline
        assert item.media_reference.target_url == clip.path.name
        assert item.metadata["vidpulse"]["thumbnail"] == scene["thumbnail"]
    (cut,) = (c for c in report["cuts"] if c["kind"] != "hard")
    (transition,) = track.find_children(otio.schema.Transition)
    assert track.index(transition) == track.index(clips[1]) - 1
    assert transition.transition_type == otio.schema.TransitionTypes.SMPTE_Dissolve
    assert transition.metadata["vidpulse"]["kind"] == cut["kind"]
    assert transition.in_offset.to_frames(fps) == cut["frame"] - cut["start_frame"]
    assert transition.out_offset.to_frames(fps) == cut["end_frame"] + 1 - cut["frame"]
    types = {a["name"]: a["type"] for a in report["artifacts"]}
    assert types["scenes.otio"] == "application/vnd.pixar.opentimelineio+json"


def test_strict_reader_rejects_a_malformed_event() -> None:
    with pytest.raises(AssertionError):
        read_cmx3600("TITLE: x\nFCM: NON-DROP FRAME\n\n001  AX V C 00:00:00:00 00:00:01:00\n", 25)
    with pytest.raises(AssertionError):
        read_cmx3600("TITLE: x\nFCM: NON-DROP FRAME\n\n001  AX       V     C        00:00:00:30 00:00:02:00 "
                     "00:00:00:30 00:00:02:00\n", 25)
    with pytest.raises(AssertionError):  # a dissolve without the outgoing clip's line
        read_cmx3600("TITLE: x\nFCM: NON-DROP FRAME\n\n001  AX       V     D    010 00:00:01:00 00:00:02:00 "
                     "00:00:01:00 00:00:02:00\n", 25)
