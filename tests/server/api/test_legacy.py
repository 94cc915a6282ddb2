"""`POST /analyze/video` keeps working for older clients."""

from __future__ import annotations

from tests.support.client import assert_problem, upload


def test_synchronous_analysis_returns_the_report(shared_server, clip):
    before = shared_server.footprint()
    response = upload(shared_server.client(), clip.path, url="/analyze/video")
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["schema"] == 1 and report["video"]["frames"] == clip.truth.frames
    assert len(report["scenes"]) >= 3
    assert shared_server.footprint() == before, "the synchronous endpoint keeps nothing"


def test_synchronous_analysis_rejects_bad_input(shared_server, tmp_path):
    path = tmp_path / "x.mp4"
    path.write_text("not a video")
    assert_problem(upload(shared_server.client(), path, url="/analyze/video"), 422)
