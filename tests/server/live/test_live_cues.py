"""The technical cues and a failing delivery check of a live HLS stream end to end: a real server follows
an `ffmpeg -re` origin on loopback whose media has colour bars, a phase-inverted channel and a loud
stretch at known times; an SSE client sees each as an `incident` opening and closing, with its detail,
and the report holds the cues and the profile's verdict over the whole stream."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.live import HlsOrigin, Schedule, Watch, go_live
from tests.support.servers import Server, need

# The tone at -23 LUFS, encoded well enough not to ring below black (tests/support/live.py).
SCHEDULE = Schedule(10, bars=((1, 3),), inverted=((2, 4),), loud=((4, 10),), volume_db=-4.2, stereo=True, crf=18)


@pytest.fixture(scope="module")
def server(start_module_server: Callable[..., Server]) -> Server:
    return start_module_server(ALLOW_PRIVATE_URLS=1, LIVE_MAX_S=600)


def test_cues_and_failing_checks_reach_a_client_as_incidents(server: Server, tmp_path: Path) -> None:
    need("ffmpeg", shutil.which("ffmpeg") is not None)
    origin = HlsOrigin(tmp_path / "origin", SCHEDULE).start()
    try:
        origin.wait_segments(1)
        client = server.client()
        session = go_live(client, origin.url, incident_min_s=1, qc_profile="ebu_r128")
        watch = Watch(client, session["id"])
        bars = watch.incident("color_bars", "open")
        assert bars["end_s"] is None and bars["confidence"] == 1.0 and bars["check"] is None
        assert bars["detail"] == {"pattern": "smpte_hd", "bands": 9, "amplitude_percent": 75}
        assert watch.end().type == "succeeded"  # EXT-X-ENDLIST
    finally:
        origin.stop()
    # The session joins the stream three segments from its end (RFC 8216): at its start unless the machine
    # is so busy that the origin was further along; its timeline starts where it joined.
    skipped = round(1.0 - bars["start_s"])
    assert skipped in (0, 1)
    closed = {(i["kind"], i["check"]): (i["start_s"] + skipped, i["end_s"] + skipped)
              for i in watch.of("incident") if i["state"] == "closed"}
    assert closed[("color_bars", None)] == pytest.approx((1.0, 3.0), abs=0.05)
    assert closed[("audio_phase", None)] == pytest.approx((2.0, 4.0), abs=0.1)
    # The short-term loudness (3 s) is out of EBU R 128's range from just after the loud stretch begins
    # to the end of the stream: a loudness cue, and the integrated_loudness check failing meanwhile.
    assert closed[("loudness", None)] == pytest.approx((4.1, 10.0), abs=0.2)
    assert closed[("qc", "integrated_loudness")] == closed[("loudness", None)]
    assert set(closed) == {("color_bars", None), ("frozen", None), ("audio_phase", None), ("loudness", None),
                           ("qc", "integrated_loudness")}
    failing = next(i for i in watch.of("incident") if i["kind"] == "qc" and i["state"] == "closed")
    assert failing["detail"]["limit"] == [-24, -22] and failing["detail"]["value"] == pytest.approx(-14, abs=0.5)

    report = client.get(f"/api/sessions/{session['id']}/results").json()
    assert [(c["type"], c["start_s"] + skipped) for c in report["cues"]] == [
        ("color_bars", pytest.approx(1.0, abs=0.05)), ("frozen", pytest.approx(1.03, abs=0.05)),
        ("audio_phase", pytest.approx(2.0, abs=0.1)), ("loudness", pytest.approx(4.1, abs=0.2))]
    assert report["qc"]["profile"] == "ebu_r128" and report["qc"]["passed"] is False
    assert {(i["kind"], i["check"]) for i in report["incidents"]} == set(closed)
    assert client.get(f"/api/sessions/{session['id']}/files/cues.vtt").status_code == 200
    client.delete(f"/api/sessions/{session['id']}")
