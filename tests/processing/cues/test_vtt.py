"""cues.vtt: a WebVTT metadata track with one cue per report cue, its payload the cue as JSON."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from tests.processing.conftest import analyse
from tests.support.videogen import Segment, Truth, write_video

_TIME = r"(\d\d):(\d\d):(\d\d)\.(\d\d\d)"


def _seconds(h: str, m: str, s: str, ms: str) -> float:
    return int(h) * 3600 + int(m) * 60 + int(s) + int(ms) / 1000


def _parse(text: str) -> list[tuple[str, float, float, dict[str, Any]]]:
    """WebVTT as a player reads it: the header, then blocks split by blank lines (NOTE blocks skipped)."""
    header, *blocks = text.strip("\n").split("\n\n")
    assert header == "WEBVTT"
    cues = []
    for block in blocks:
        if block.startswith("NOTE"):
            continue
        ident, timing, *payload = block.split("\n")
        match = re.fullmatch(f"{_TIME} --> {_TIME}", timing)
        assert match is not None, timing
        assert len(payload) == 1 and "-->" not in payload[0]
        cues.append((ident, _seconds(*match.groups()[:4]), _seconds(*match.groups()[4:]), json.loads(payload[0])))
    return cues


def test_one_vtt_cue_per_report_cue(std_clip: tuple[Path, Truth], tmp_path: Path) -> None:
    report = analyse(std_clip[0], tmp_path)
    assert {"name": "cues.vtt", "type": "text/vtt", "bytes": (tmp_path / "cues.vtt").stat().st_size} in \
        report["artifacts"]
    cues = _parse((tmp_path / "cues.vtt").read_text())
    assert [payload for _, _, _, payload in cues] == report["cues"] != []
    for ident, start, end, payload in cues:
        assert ident.startswith(payload["type"] + "-")
        assert abs(start - payload["start_s"]) <= 0.0005 and abs(end - payload["end_s"]) <= 0.0005


def test_no_cue_is_a_header_alone(tmp_path: Path) -> None:
    path = tmp_path / "plain.mp4"
    write_video(path, [Segment("scene", 20, 1)], size=(320, 240))
    report = analyse(path, tmp_path / "out")
    assert report["cues"] == [] and _parse((tmp_path / "out" / "cues.vtt").read_text()) == []
