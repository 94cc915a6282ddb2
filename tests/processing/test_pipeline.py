from __future__ import annotations

import json
from pathlib import Path

from processing import AnalysisOptions, Progress, analyze
from videogen import Truth


def test_standard_clip_end_to_end(std_clip: tuple[Path, Truth], tmp_path: Path) -> None:
    path, truth = std_clip
    seen: list[Progress] = []
    report = analyze(path, tmp_path, AnalysisOptions(), on_progress=seen.append)
    assert [c["frame"] for c in report["cuts"]] == truth.cuts
    assert report["video"]["frames"] == truth.frames
    assert len(report["scenes"]) == len(truth.cuts) + 1
    assert json.loads((tmp_path / "report.json").read_text()) == report
    for scene in report["scenes"]:
        assert (tmp_path / scene["thumbnail"]).stat().st_size > 0
    names = {a["name"] for a in report["artifacts"]}
    assert {"report.json", "frames.csv", "contact-sheet.jpg"} <= names
    assert names == {p.name for p in tmp_path.iterdir()}
    fractions = [p.fraction for p in seen]
    assert fractions == sorted(fractions)
    assert seen[-1].fraction == 1.0 and seen[-1].stage == "finalize"
