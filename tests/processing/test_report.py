from __future__ import annotations

import csv
import itertools
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.processing.conftest import analyse, make_clip
from tests.support.videogen import Segment as S
from tests.support.videogen import Truth
from vidpulse.processing import REPORT_SCHEMA_VERSION

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "docs" / "report.schema.json").read_text())


def _validate(report: dict[str, Any]) -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    jsonschema.Draft202012Validator(SCHEMA).validate(report)


@pytest.mark.parametrize("render", [False, True])
def test_report_validates_against_the_schema(std_clip: tuple[Path, Truth], tmp_path: Path, render: bool) -> None:
    report = analyse(std_clip[0], tmp_path, render=render)
    assert report["schema"] == REPORT_SCHEMA_VERSION == 1
    _validate(report)


def test_reports_of_odd_clips_validate(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> None:
    clips = {
        "one-frame": [S("still", 1, 1)],
        "all-black": [S("black", 10)],
        "fades": [S("still", 10, 1), S("fadeout", 10, 1), S("black", 8), S("fadein", 10, 2)],
    }
    for name, segments in clips.items():
        report = analyse(make_clip(tmp_path_factory, name, segments), tmp_path / name)
        _validate(report)
        assert report["scenes"][0]["start_frame"] == 0


def test_artifacts_list_every_file_with_its_size(std_clip: tuple[Path, Truth], tmp_path: Path) -> None:
    report = analyse(std_clip[0], tmp_path, render=True)
    listed = {a["name"]: a["bytes"] for a in report["artifacts"]}
    on_disk = {p.name: p.stat().st_size for p in tmp_path.iterdir()}
    assert listed == on_disk
    assert {"report.json", "frames.csv", "timeline.png", "contact-sheet.jpg", "annotated.mp4"} <= set(listed)


def test_scenes_cover_the_video(std_clip: tuple[Path, Truth], tmp_path: Path) -> None:
    path, truth = std_clip
    scenes = analyse(path, tmp_path)["scenes"]
    assert scenes[0]["start_frame"] == 0 and scenes[-1]["end_frame"] == truth.frames - 1
    for before, after in itertools.pairwise(scenes):
        assert after["start_frame"] == before["end_frame"] + 1
        assert after["start_s"] == pytest.approx(before["end_s"])
    assert scenes[-1]["end_s"] == pytest.approx(truth.frames / truth.fps)
    assert [s["thumbnail"] for s in scenes] == [f"scene-{i:03d}.jpg" for i in range(len(scenes))]


def test_frames_csv(std_clip: tuple[Path, Truth], tmp_path: Path) -> None:
    path, truth = std_clip
    report = analyse(path, tmp_path)
    with (tmp_path / "frames.csv").open(newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["frame", "time_s", "motion", "brightness", "sharpness", "cut_score", "loudness_lufs"]
    assert len(rows) == truth.frames + 1
    assert [int(r[0]) for r in rows[1:]] == list(range(truth.frames))
    cut = report["cuts"][0]
    assert float(rows[1 + cut["frame"]][5]) == pytest.approx(cut["score"], abs=0.01)


def test_committed_report_schema_is_generated_from_the_model():
    from vidpulse.processing.schema import report_json_schema

    committed = json.loads((Path(__file__).resolve().parents[2] / "docs" / "report.schema.json").read_text())
    assert committed == report_json_schema(), "docs/report.schema.json is stale: run `make schemas`"
