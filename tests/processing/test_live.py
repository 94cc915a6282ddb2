"""The live analysis alone (processing/live/): segments of an HLS stream written by ffmpeg from lavfi
sources on a known schedule, fed as a fetcher would, with gaps, a lost source and a discontinuity."""

from __future__ import annotations

import queue
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import m3u8
import pytest

from tests.support.live import HlsOrigin, Schedule
from tests.support.servers import need
from vidpulse.processing.errors import Cancelled, UndecodableVideo
from vidpulse.processing.live.analysis import LiveAnalysis, LiveEvents
from vidpulse.processing.live.incidents import Incident, IncidentKind
from vidpulse.processing.live.items import Back, Ended, Gap, Item, Lost
from vidpulse.processing.live.levels import Levels
from vidpulse.processing.live.options import LiveOptions
from vidpulse.processing.live.resume import Resume
from vidpulse.processing.live.schema import LiveReport
from vidpulse.processing.live.segments import Segment, SegmentQueue

SCHEDULE = Schedule(10, black=((2, 4),), frozen=((5.5, 7.5),), silence=((6, 8.5),), negated=((8.5, 10),))


@pytest.fixture(scope="module")
def segments(tmp_path_factory: pytest.TempPathFactory) -> list[Segment]:
    """The schedule's ten 1-second segments, written as fast as ffmpeg goes."""
    need("ffmpeg", shutil.which("ffmpeg") is not None)
    origin = HlsOrigin(tmp_path_factory.mktemp("hls"), SCHEDULE, realtime=False)
    origin.start_ffmpeg()
    origin.wait_ffmpeg()
    playlist = m3u8.load(str(origin.folder / "live.m3u8"))
    return [Segment((origin.folder / s.uri).read_bytes(), float(s.duration)) for s in playlist.segments]


class Seen:
    def __init__(self) -> None:
        self.incidents: list[Incident] = []
        self.levels: list[Levels] = []
        self.scenes: list[Any] = []
        self.events = LiveEvents(levels=self.levels.append, scene=self.scenes.append, incident=self.incidents.append)

    def closed(self, kind: str) -> list[tuple[float, float]]:
        return [(i.start_s, i.end_s or 0.0) for i in self.incidents if i.kind == kind and i.state == "closed"]


def fed(items: list[Segment | Item | BaseException], pause_s: float = 0.0) -> Iterator[Item]:
    """The analysis's items, from a queue filled by a thread as a fetcher fills it."""
    inbox: queue.Queue[Segment | Item | BaseException] = queue.Queue()

    def fill() -> None:
        for item in items:
            if isinstance(item, float):
                time.sleep(item)  # a pause: the source says nothing meanwhile
                continue
            inbox.put(item)
            time.sleep(pause_s)

    threading.Thread(target=fill, daemon=True).start()
    return SegmentQueue(inbox, lambda: False).items()


def analyse(tmp_path: Path, items: Iterator[Item], seen: Seen, **options: Any) -> dict[str, Any]:
    return LiveAnalysis(tmp_path / "out", LiveOptions(**{"incident_min_s": 1.0, **options}), seen.events).run(items)


def test_incidents_open_and_close_at_the_schedule(tmp_path: Path, segments: list[Segment]) -> None:
    seen = Seen()
    report = analyse(tmp_path, fed([*segments, Ended()]), seen)
    LiveReport.model_validate(report)
    assert seen.closed("black") == [pytest.approx((2.0, 4.0), abs=0.05)]
    assert seen.closed("frozen") == [pytest.approx((5.5, 7.5), abs=0.1)]
    assert seen.closed("silence") == [pytest.approx((6.0, 8.5), abs=0.1)]
    # Each announced once open, then once closed, the open one first.
    assert [i.state for i in seen.incidents if i.kind == "black"] == ["open", "closed"]
    assert [i["kind"] for i in report["incidents"]] == ["black", "frozen", "silence"]
    assert all(i["closed_at"] for i in report["incidents"])
    # The negated stretch is a scene of its own, and so is the black one: cut in and out of each.
    starts = [round(s.start_s, 1) for s in seen.scenes]
    assert starts[0] == 0.0 and 2.0 in starts and 4.0 in starts and 8.5 in starts
    assert [s["start_s"] for s in report["scenes"]] == [round(s.start_s, 6) for s in seen.scenes]
    # A level a second, loud where there is sound.
    assert [level.t_s for level in seen.levels] == [float(t) for t in range(10)]
    assert seen.levels[0].loudness_momentary_lufs is not None
    assert seen.levels[3].brightness == 0.0 and seen.levels[1].brightness > 0.3
    assert report["audio"]["loudness"]["integrated_lufs"] < -15
    assert report["analysed"]["end_s"] == pytest.approx(10.0, abs=0.05)
    names = {a["name"] for a in report["artifacts"]}
    assert {"report.json", "timeline.png", "chapters.vtt", "scenes.edl", "scene-000.jpg", "contact-sheet.jpg"} <= names


def test_a_gap_is_time_on_the_timeline_and_an_incident(tmp_path: Path, segments: list[Segment]) -> None:
    seen = Seen()
    report = analyse(tmp_path, fed([*segments[:2], Gap(3.0), *segments[5:], Ended()]), seen)
    assert seen.closed("gap") == [pytest.approx((2.0, 5.0), abs=0.05)]
    assert report["analysed"]["end_s"] == pytest.approx(10.0, abs=0.05)
    assert report["analysed"]["frames"] == 7 * 30


def test_a_lost_source_opens_an_incident_closed_when_it_is_back(tmp_path: Path, segments: list[Segment]) -> None:
    seen = Seen()
    report = analyse(tmp_path, fed([*segments[:3], Lost("down"), 1.5, Back(), *segments[3:5], Ended()]), seen)
    lost = seen.closed("source_lost")
    # A lost source is timed on the wall clock from when the analysis takes the news: on a busy machine
    # it may still be decoding the segments before it then, so the 1.5 s out can look a little shorter.
    assert lost == [(pytest.approx(3.0, abs=0.05), pytest.approx(4.4, abs=0.4))]
    assert [i.state for i in seen.incidents if i.kind == "source_lost"] == ["open", "closed"]
    assert report["analysed"]["end_s"] == pytest.approx(lost[0][1] + 2.0, abs=0.05)


def test_a_source_back_before_incident_min_s_is_no_incident(tmp_path: Path, segments: list[Segment]) -> None:
    seen = Seen()
    analyse(tmp_path, fed([*segments[:2], Lost("blip"), 0.3, Back(0.0), *segments[2:4], Ended()]), seen)
    assert not [i for i in seen.incidents if i.kind == "source_lost"]


def test_a_discontinuity_starts_a_new_run_and_the_timeline_goes_on(tmp_path: Path, segments: list[Segment]) -> None:
    seen = Seen()
    again = Segment(segments[0].data, segments[0].duration_s, discontinuity=True)
    report = analyse(tmp_path, fed([*segments[:2], again, segments[1], Ended()]), seen)
    assert report["analysed"]["end_s"] == pytest.approx(4.0, abs=0.05)
    assert report["analysed"]["frames"] == 120


def test_max_duration_ends_with_the_report(tmp_path: Path, segments: list[Segment]) -> None:
    report = analyse(tmp_path, fed(segments), Seen(), max_duration_s=3.0)
    assert report["analysed"]["end_s"] == pytest.approx(3.0, abs=0.05)
    assert report["options"]["max_duration_s"] == 3.0


def test_a_stop_ends_with_the_report_of_what_was_seen(tmp_path: Path, segments: list[Segment]) -> None:
    stop = threading.Event()
    seen = Seen()
    seen.events = LiveEvents(levels=lambda levels: stop.set() if levels.t_s >= 2 else None)
    analysis = LiveAnalysis(tmp_path / "out", LiveOptions(), seen.events, stopping=stop.is_set)
    report = analysis.run(fed(segments, pause_s=0.2))  # no Ended: only the stop ends it
    assert 3.0 <= report["analysed"]["end_s"] < 6.0


def test_a_cancel_raises_and_leaves_no_files(tmp_path: Path, segments: list[Segment]) -> None:
    analysis = LiveAnalysis(tmp_path / "out", LiveOptions(), cancelled=lambda: (tmp_path / "out").exists())
    with pytest.raises(Cancelled):
        analysis.run(fed([*segments, Ended()]))
    assert not list((tmp_path / "out").glob("*"))


def test_nothing_decodable_is_undecodable(tmp_path: Path) -> None:
    with pytest.raises(UndecodableVideo):
        analyse(tmp_path, fed([Segment(b"\0" * 5000, 1.0), Ended()]), Seen())


def test_a_segment_that_is_not_video_is_skipped_and_the_stream_goes_on(tmp_path: Path,
                                                                      segments: list[Segment]) -> None:
    seen = Seen()
    html = Segment(b"<html><body>502 Bad Gateway</body></html>\n" * 40, 1.0)
    report = analyse(tmp_path, fed([*segments[:2], html, *segments[3:5], Ended()]), seen)
    # The segment's second was not seen: a gap on the timeline, which goes on with the next segment.
    assert seen.closed("gap") == [pytest.approx((2.0, 3.0), abs=0.05)]
    assert report["analysed"]["end_s"] == pytest.approx(5.0, abs=0.05)
    assert report["analysed"]["frames"] == 4 * 30


def test_a_take_over_goes_on_with_the_timeline_after_a_gap(tmp_path: Path, segments: list[Segment]) -> None:
    """An analysis that takes a session over: earlier attempts reached 20 s, 3 s ago, 0.5 s behind the
    source's newest media, and left a black incident open (1-2); one of theirs was closed (1-1)."""
    earlier = (Incident("1-1", IncidentKind.FROZEN, 2.0, 4.0, "2026-01-01T00:00:00.000Z", "2026-01-01T00:00:02.000Z"),
               Incident("1-2", IncidentKind.BLACK, 18.0, None, "2026-01-01T00:00:17.000Z"))
    seen = Seen()
    analysis = LiveAnalysis(tmp_path / "out", LiveOptions(incident_min_s=1.0), seen.events, incident_prefix="2-",
                            resume=Resume(20.0, time.time() - 3.0, 0.5, earlier))
    report = analysis.run(fed([0.5, *segments[:3], Ended()]))  # the source answers after 0.5 s
    LiveReport.model_validate(report)
    # Its first acts: the incident left open closes where the earlier attempts stopped; the media missed
    # is a gap: 3 s before the analysis and 0.5 s waiting for the source, plus the 0.5 s the earlier
    # attempts had still to analyse, less the 1 s the source holds from before (its first segment).
    first, opened, second = seen.incidents[:3]
    assert (first.id, first.state, first.end_s) == ("1-2", "closed", 20.0)
    assert (opened.id, opened.kind, opened.state) == ("2-1", "gap", "open")
    assert (second.id, second.kind, second.state, second.start_s) == ("2-1", "gap", "closed", 20.0)
    assert 3.0 <= (second.end_s or 0) - 20.0 < 3.5
    resumed_at = second.end_s or 0
    assert [i["id"] for i in report["incidents"]] == ["1-1", "1-2", "2-1"]
    assert report["analysed"]["start_s"] == pytest.approx(resumed_at, abs=0.001)
    assert report["analysed"]["end_s"] == pytest.approx(resumed_at + 3.0, abs=0.05)
    assert report["scenes"][0]["start_s"] == pytest.approx(resumed_at, abs=0.05)
    assert seen.levels[0].t_s == float(int(resumed_at))


def test_a_take_over_shorter_than_incident_min_s_moves_the_timeline_without_an_incident(
        tmp_path: Path, segments: list[Segment]) -> None:
    seen = Seen()
    analysis = LiveAnalysis(tmp_path / "out", LiveOptions(incident_min_s=5.0), seen.events,
                            resume=Resume(10.0, time.time() - 2.0))
    report = analysis.run(fed([*segments[:2], Ended()]))
    assert seen.incidents == [] and report["incidents"] == []
    assert 11.0 <= report["analysed"]["start_s"] < 11.5
