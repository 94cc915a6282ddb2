"""The technical cues and the delivery checks of a live stream (processing/live/cues.py, qc.py): HLS
segments that ffmpeg wrote from lavfi sources with colour bars, a letterboxed scene, luma pushed out of
range, a phase-inverted channel, a loud stretch, true peaks and black at known times, fed to the live
analysis as a fetcher would; each cue is an incident that opens once it has lasted incident_min_s and
closes where the cue ends, and the report's cues and qc are the file report's over the whole stream."""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from typing import Any

import m3u8
import pytest

from tests.processing.test_live import Seen, analyse, fed
from tests.support.live import HlsOrigin, Schedule
from tests.support.servers import need
from vidpulse.processing.live.incidents import Incident
from vidpulse.processing.live.items import Ended
from vidpulse.processing.live.levels import Levels
from vidpulse.processing.live.schema import LiveReport
from vidpulse.processing.live.segments import Segment

FRAME = 1 / 30
# The tone at -23 LUFS (EBU R 128's target), encoded well enough not to ring below black (tests/support/live.py).
PLAIN = {"volume_db": -4.2, "stereo": True, "crf": 18}
# The pictures change on keyframes (a segment's first frame): the first frame of a letterboxed scene that
# starts mid-GOP is predicted from the last of the scene before, and the codec leaves some of it in the bars.
CUES = Schedule(20, bars=((1, 3.5),), inverted=((2, 4.5),), letterbox=((5, 7.5),), negated=((5, 7.5),),
                out_of_range=((9, 11.5),), loud=((12, 16),), **PLAIN)  # type: ignore[arg-type]
# The short-term loudness is that of the last 3 s: it leaves EBU R 128's range (-23 ±1) once the window
# holds more than 0.11 s of the sound 9 dB louder, and comes back 3 s after the loud stretch, less those
# 0.11 s (EBU Tech 3341's short-term window; the series has a value every 0.1 s).
LOUD = (12.1, 18.9)


def segments_of(schedule: Schedule, folder: Path) -> list[Segment]:
    """The schedule's 1-second segments, written as fast as ffmpeg goes."""
    need("ffmpeg", shutil.which("ffmpeg") is not None)
    origin = HlsOrigin(folder, schedule, realtime=False)
    origin.start_ffmpeg()
    origin.wait_ffmpeg()
    playlist = m3u8.load(str(origin.folder / "live.m3u8"))
    return [Segment((origin.folder / s.uri).read_bytes(), float(s.duration)) for s in playlist.segments]


class Timed(Seen):
    """Incidents and levels in the order they were announced."""

    def __init__(self) -> None:
        super().__init__()
        self.order: list[Incident | Levels] = []
        self.events = type(self.events)(levels=self._levels, incident=self._incident)

    def _levels(self, levels: Levels) -> None:
        self.levels.append(levels)
        self.order.append(levels)

    def _incident(self, incident: Incident) -> None:
        self.incidents.append(incident)
        self.order.append(incident)

    def seconds_before(self, incident: Incident) -> int:
        """Seconds of the timeline announced (levels) before `incident` was."""
        return sum(1 for item in self.order[: self.order.index(incident)] if isinstance(item, Levels))

    def spans(self) -> dict[tuple[str, str | None], list[tuple[float, float]]]:
        found: dict[tuple[str, str | None], list[tuple[float, float]]] = {}
        for i in self.incidents:
            if i.state == "closed":
                found.setdefault((i.kind.value, i.check), []).append((i.start_s, i.end_s or 0.0))
        return found


def _cues(report: dict[str, Any], kind: str) -> list[tuple[float, float]]:
    return [(c["start_s"], c["end_s"]) for c in report["cues"] if c["type"] == kind]


def test_each_cue_is_an_incident_from_its_start_to_its_end(tmp_path: Path) -> None:
    seen = Timed()
    report = analyse(tmp_path, fed([*segments_of(CUES, tmp_path / "hls"), Ended()]), seen,
                     incident_min_s=2.0, qc_profile="ebu_r128")
    LiveReport.model_validate(report)
    spans = seen.spans()
    # Video cues on their frames; the phase on 50 ms windows of the sound; loudness as explained at LOUD.
    assert spans == {
        ("color_bars", None): [pytest.approx((1.0, 3.5), abs=FRAME)],
        ("frozen", None): [pytest.approx((1.0 + FRAME, 3.5), abs=FRAME)],  # the bars stand still
        ("audio_phase", None): [pytest.approx((2.0, 4.5), abs=0.1)],
        ("letterbox", None): [pytest.approx((5.0, 7.5), abs=FRAME)],
        ("out_of_range", None): [pytest.approx((9.0, 11.5), abs=FRAME)],
        ("loudness", None): [pytest.approx(LOUD, abs=0.15)],
        ("qc", "integrated_loudness"): [pytest.approx(LOUD, abs=0.15)],
    }
    # Each opened once it had lasted incident_min_s, on the media's clock: with the frame 2 s into it, so
    # after the levels of the seconds before that frame and before the next; the sound is measured as its
    # packets come, up to a fraction of a second off the pictures, and letterbox sees a frame once its
    # scene is final, a few frames later.
    for incident in seen.incidents:
        if incident.state == "open":
            due = math.floor(incident.start_s + 2.0 - FRAME + 1e-6)
            slack = 0 if incident.kind.value in ("color_bars", "frozen", "out_of_range") else 1
            assert abs(seen.seconds_before(incident) - due) <= slack, incident
    opened = {i.kind.value: i for i in seen.incidents if i.state == "open"}
    assert opened["color_bars"].detail == {"pattern": "smpte_hd", "bands": 9, "amplitude_percent": 75}
    assert opened["letterbox"].detail == {"active": {"x": 0, "y": 22, "width": 320, "height": 135}, "aspect": 2.37}
    assert opened["audio_phase"].detail["correlation"] < -0.9
    assert opened["out_of_range"].detail["luma_max"] > 245
    assert all(0.5 <= (i.confidence or 0) <= 1 for i in opened.values() if i.kind.value != "frozen")
    closed = {i.kind.value: i for i in seen.incidents if i.state == "closed"}
    assert closed["loudness"].detail["short_term_lufs"] == pytest.approx(-14, abs=0.5)
    assert closed["qc"].detail == {"value": closed["loudness"].detail["short_term_lufs"], "limit": [-24, -22]}

    # The report: the same spans as cues, and the profile's verdict over the whole stream.
    for kind in ("color_bars", "audio_phase", "letterbox", "out_of_range", "loudness"):
        assert _cues(report, kind) == [pytest.approx(s, abs=1e-3) for s in spans[(kind, None)]], kind
    qc = report["qc"]
    assert qc["profile"] == "ebu_r128" and qc["passed"] is False
    checks = {c["id"]: c for c in qc["checks"]}
    assert checks["integrated_loudness"]["segments"] == [dict(zip(("start_s", "end_s"), _cues(report, "loudness")[0],
                                                                  strict=True))]
    assert checks["true_peak"]["passed"] is True
    assert {a["name"] for a in report["artifacts"]} >= {"cues.vtt"}


def test_no_incident_nor_cue_on_a_plain_programme(tmp_path: Path) -> None:
    seen = Timed()
    report = analyse(tmp_path, fed([*segments_of(Schedule(12, **PLAIN), tmp_path / "hls"),  # type: ignore[arg-type]
                                    Ended()]), seen, incident_min_s=0.5, qc_profile="broadcast_hd")
    assert seen.incidents == []
    assert report["cues"] == [] and report["incidents"] == []
    assert report["qc"]["passed"] is True, report["qc"]


FAILING = Schedule(18, bars=((0, 2.5), (6, 9)), black=((2.5, 3.5), (11, 13.5)), peaks=((15, 16),),
                   **PLAIN)  # type: ignore[arg-type]


def test_each_failing_check_is_a_qc_incident_while_it_fails(tmp_path: Path) -> None:
    seen = Timed()
    report = analyse(tmp_path, fed([*segments_of(FAILING, tmp_path / "hls"), Ended()]), seen,
                     incident_min_s=1.0, qc_profile="broadcast_hd")
    qc = {check: found for (kind, check), found in seen.spans().items() if kind == "qc"}
    # The leader of bars and black is not inside the programme; the bars and black after it last more
    # than 2 s, so each fails its check from its start. A peak has no duration: the true-peak incident
    # opens with the first window over the limit, whatever incident_min_s. A tone 22 dB louder is loud
    # too: the short-term loudness is out of range from then to the end (its 3 s window still holds it).
    assert qc == {
        "color_bars": [pytest.approx((6.0, 9.0), abs=FRAME)],
        "black": [pytest.approx((11.0, 13.5), abs=FRAME)],
        "true_peak": [pytest.approx((15.0, 16.0), abs=0.1)],
        "integrated_loudness": [pytest.approx((15.0, 18.0), abs=0.15)],
    }
    failing = {i.check: i for i in seen.incidents if i.kind.value == "qc" and i.state == "closed"}
    assert failing["color_bars"].detail == {"value": pytest.approx(3.0, abs=FRAME), "limit": 2.0}
    peak = failing["true_peak"].detail
    assert peak is not None and peak["limit"] == -1.0 and peak["value"] > -1.0
    checks = {c["id"]: c for c in report["qc"]["checks"]}
    assert report["qc"]["passed"] is False
    assert [checks[c]["passed"] for c in ("color_bars", "black", "true_peak")] == [False, False, False]
    assert checks["true_peak"]["value"] == pytest.approx(peak["value"], abs=0.3)
    assert checks["color_bars"]["segments"] == [{"start_s": 6.0, "end_s": 9.0}]  # the leader is not inside
    assert [checks[c]["passed"] for c in ("out_of_range", "interlace_flag")] == [True, True]
