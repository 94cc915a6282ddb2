from __future__ import annotations

from pathlib import Path

import cv2

from tests.processing.conftest import analyse
from tests.support.videogen import Truth


def test_one_thumbnail_per_scene_and_a_contact_sheet(std_clip: tuple[Path, Truth], tmp_path: Path) -> None:
    report = analyse(std_clip[0], tmp_path)
    for scene in report["scenes"]:
        image = cv2.imread(str(tmp_path / scene["thumbnail"]))
        assert image is not None and image.shape == (240, 320, 3)
    # The black scene's thumbnail is black; the others are not.
    means = [cv2.imread(str(tmp_path / s["thumbnail"])).mean() for s in report["scenes"]]
    assert means[1] < 10 and min(means[0], means[2], means[3]) > 60
    sheet = cv2.imread(str(tmp_path / "contact-sheet.jpg"))
    assert sheet is not None and sheet.shape[1] == 4 * 320


def test_timeline_png(std_clip: tuple[Path, Truth], tmp_path: Path) -> None:
    analyse(std_clip[0], tmp_path)
    data = (tmp_path / "timeline.png").read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    image = cv2.imread(str(tmp_path / "timeline.png"))
    assert image is not None and image.shape[1] >= 800
