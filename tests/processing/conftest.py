from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

# tests/ goes on sys.path for videogen, and there `processing` would name this folder: put the
# repository first so it names the package under test.
_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(_ROOT / "tests"))
sys.path.insert(0, str(_ROOT))
if "processing" in sys.modules and getattr(sys.modules["processing"], "__file__", None) is None:
    del sys.modules["processing"]

from processing import AnalysisOptions, analyze  # noqa: E402
from videogen import Segment, Truth, standard_clip, write_video  # noqa: E402


@pytest.fixture(scope="session")
def std_clip(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Truth]:
    path = tmp_path_factory.mktemp("clips") / "standard.mp4"
    return path, standard_clip(path)


def make_clip(tmp_path_factory: pytest.TempPathFactory, name: str, segments: list[Segment], **kw: Any) -> Path:
    path = tmp_path_factory.mktemp("clips") / f"{name}.mp4"
    write_video(path, segments, **kw)
    return path


def analyse(path: Path, out: Path, **options: Any) -> dict[str, Any]:
    return analyze(path, out, AnalysisOptions(**options))


def cut_frames(report: dict[str, Any]) -> list[int]:
    return [c["frame"] for c in report["cuts"]]


def frames_of(report: dict[str, Any], key: str) -> list[tuple[int, int]]:
    """A quality segment list as [start, end) frame numbers (the clips are 25 fps)."""
    fps = report["video"]["fps"]
    return [(round(s["start_s"] * fps), round(s["end_s"] * fps)) for s in report["quality"][key]]
