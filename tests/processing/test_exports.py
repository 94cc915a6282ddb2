"""chapters.vtt through a WebVTT parser (webvtt-py), scenes.edl through a strict CMX 3600 reader."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
import webvtt

from tests.processing.conftest import analyse
from tests.videogen import Truth

_EVENT = re.compile(
    r"^(?P<num>\d{3})  (?P<reel>[A-Za-z0-9_]{1,8}) *(?P<track>V|A|A2|AA|B|AA/V) +(?P<trans>C|D|W\d{3}) +(?:\d{3} +)?"
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


def _frames(timecode: str, base: int) -> int:
    hh, mm, ss, ff = (int(part) for part in timecode.split(":"))
    assert mm < 60 and ss < 60 and ff < base, timecode
    return ((hh * 60 + mm) * 60 + ss) * base + ff


def read_cmx3600(text: str, base: int) -> list[Event]:
    """A strict reader: a TITLE and an FCM line, then event lines and `*` comments only."""
    lines = text.splitlines()
    assert lines[0].startswith("TITLE: ") and len(lines[0]) <= 80
    assert lines[1] in ("FCM: NON-DROP FRAME", "FCM: DROP FRAME")
    events = []
    for line in lines[2:]:
        if not line.strip() or line.startswith("* "):
            continue
        match = _EVENT.match(line)
        assert match, f"not a CMX 3600 event line: {line!r}"
        times = [_frames(match[k], base) for k in ("src_in", "src_out", "rec_in", "rec_out")]
        assert times[0] < times[1] and times[2] < times[3], line
        events.append(Event(int(match["num"]), *times))
    return events


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
        assert cue.text == f"Scene {scene['index'] + 1}"
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


def test_strict_reader_rejects_a_malformed_event() -> None:
    with pytest.raises(AssertionError):
        read_cmx3600("TITLE: x\nFCM: NON-DROP FRAME\n\n001  AX V C 00:00:00:00 00:00:01:00\n", 25)
    with pytest.raises(AssertionError):
        read_cmx3600("TITLE: x\nFCM: NON-DROP FRAME\n\n001  AX       V     C        00:00:00:30 00:00:02:00 "
                     "00:00:00:30 00:00:02:00\n", 25)
