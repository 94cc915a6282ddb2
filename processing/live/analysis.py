"""`LiveAnalysis`: a live source's items in; levels, scenes, incidents and progress out as they happen;
a report of everything seen at the end.

It runs until the source ends (`Ended`), `max_duration_s` of timeline has passed, or `stopping()`
turns true (a client's stop): each of these ends with the report. `cancelled()` raises Cancelled
instead, and the files written are removed, as `analyze` does.

An analysis given a `Resume` takes a session over from earlier attempts (their host died or stopped):
its timeline starts where theirs ended, and once its source answers, its first act is the `gap` of the
media missed (processing/live/resume.py); the report's incidents are the whole session's, its other
fields what this one analysed.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import cv2
from av.audio.stream import AudioStream
from av.container import InputContainer
from av.packet import Packet
from av.video.frame import VideoFrame
from av.video.stream import VideoStream

from vidpulse.processing.analyzers.cues.interlace import stream_scan
from vidpulse.processing.artifacts import Artifacts
from vidpulse.processing.cues import Cue
from vidpulse.processing.decode import (
    DECODE_OPTIONS,
    Frame,
    FrameConverter,
    analysis_size,
    colour_size,
    display_size,
    frame_rate,
    rotation_of,
    stream_offset_s,
)
from vidpulse.processing.errors import Cancelled
from vidpulse.processing.live.audio import LiveAudioMeter
from vidpulse.processing.live.clock import RunClock
from vidpulse.processing.live.cues import follow_cues
from vidpulse.processing.live.frames import LiveFrames
from vidpulse.processing.live.incidents import Incident, IncidentBook, IncidentKind
from vidpulse.processing.live.items import Back, Ended, Gap, Item, Lost, Run, Tick
from vidpulse.processing.live.levels import LevelMeter, Levels
from vidpulse.processing.live.options import LiveOptions
from vidpulse.processing.live.qc import LiveQc
from vidpulse.processing.live.report import Picture, write_live_report
from vidpulse.processing.live.resume import Resume
from vidpulse.processing.pipeline import THUMBNAIL_CANDIDATE_EVERY, THUMBNAIL_WIDTH
from vidpulse.processing.report import Scene

# Progress at most this often (wall clock); the worker thins it further to PROGRESS_HZ.
PROGRESS_EVERY_S = 0.5


@dataclass(frozen=True)
class LiveProgress:
    media_s: float  # timeline analysed so far
    fps: float  # frames analysed a second, lately
    lag_s: float  # how far the source's newest media is ahead of the analysis


def _ignore(_: Any) -> None:
    pass


@dataclass(frozen=True)
class LiveEvents:
    """Where the analysis reports as it goes; each called on the analysing thread, in order."""

    progress: Callable[[LiveProgress], None] = _ignore
    levels: Callable[[Levels], None] = _ignore
    scene: Callable[[Scene], None] = _ignore
    incident: Callable[[Incident], None] = _ignore


class LiveAnalysis:
    def __init__(self, out_dir: Path, options: LiveOptions, events: LiveEvents = LiveEvents(), *,
                 cancelled: Callable[[], bool] = lambda: False, stopping: Callable[[], bool] = lambda: False,
                 incident_prefix: str = "", name: str = "live", resume: Resume | None = None) -> None:
        self.artifacts = Artifacts(out_dir)
        self.options = options
        self.events = events
        self.name = name
        self.incidents = IncidentBook(options.incident_min_s, events.incident, incident_prefix)
        self.qc = None if options.qc_profile == "none" else LiveQc(options.qc_profile)
        self.levels = LevelMeter(events.levels)
        self.timeline_s = 0.0 if resume is None else resume.timeline_s  # the end of the media analysed so far
        self.from_s = self.timeline_s  # where this analysis's own media begins on the timeline
        self.work: LiveFrames | None = None
        self.picture: Picture | None = None
        self.audio: LiveAudioMeter | None = None
        self.started = time.perf_counter()
        self._cancelled = cancelled
        self._stopping = stopping
        self._lost: tuple[float, float] | None = None  # since (monotonic), and where on the timeline
        self._reported = (time.monotonic(), 0)  # the last progress: when, and the frame count then
        self._least_lag = math.inf
        self._resume = resume

    def run(self, items: Iterable[Item]) -> dict[str, Any]:
        """Analyse until the source ends, max_duration_s, or a stop; the report (written with the
        artifacts). Raises Cancelled, or what the source raises (SourceLost, SourceUnreachable)."""
        threads = cv2.getNumThreads()
        cv2.setNumThreads(1)  # as analyze() does: FFmpeg's threads keep the cores busy already
        try:
            for item in items:
                self._take(item)
                if isinstance(item, Ended) or self.over():
                    break
            self._check_cancel()
            return write_live_report(self)
        except BaseException:
            self.artifacts.remove_all()
            raise
        finally:
            cv2.setNumThreads(threads)

    def over(self) -> bool:
        """Stopped, or max_duration_s reached: the analysis ends with its report."""
        return self._stopping() or self.timeline_s >= self.options.max_duration_s

    def loudness(self) -> tuple[float | None, float | None]:
        audio = self.audio
        return (None, None) if audio is None else (audio.momentary_lufs, audio.short_term_lufs)

    def _take(self, item: Item) -> None:
        self._check_cancel()
        if self._resume is not None and not isinstance(item, Tick):
            # A run starts behind the source's newest media by what the source still holds (an HLS backlog).
            behind_s = 0.0 if isinstance(item, Lost | Back | Gap | Ended) else item.lag_s(0.0)
            self._take_over(self._resume, behind_s)
        if isinstance(item, Lost):
            if self._lost is None:
                self._lost = (time.monotonic(), self.timeline_s)
                self.levels.flush(self.loudness())
        elif isinstance(item, Back):
            self._back(item.missing_s)
        elif isinstance(item, Gap):
            start = self.timeline_s
            self._advance(item.missing_s)
            self.incidents.span(IncidentKind.GAP, start, self.timeline_s)
        elif not isinstance(item, Ended | Tick):
            self._play(item)
        if self._lost is not None and time.monotonic() - self._lost[0] >= self.options.incident_min_s:
            self.incidents.open(IncidentKind.SOURCE_LOST, self._lost[1])

    def _take_over(self, resume: Resume, joined_lag_s: float) -> None:
        """The source answers, `joined_lag_s` behind its newest media: what the earlier attempts left open
        closes where they stopped seeing, and the media missed since is a gap."""
        self._resume = None
        start = self.timeline_s
        self.incidents.carry(resume.incidents, start)
        self._advance(resume.missed(time.time(), joined_lag_s))
        self.incidents.span(IncidentKind.GAP, start, self.timeline_s)
        self.from_s = self.timeline_s

    def _back(self, missing_s: float | None = None) -> None:
        """The source answers again: the media missed meanwhile (unknown: the time it was lost) is time
        on the timeline."""
        if self._lost is not None:
            since, _ = self._lost
            self._lost = None
            self._advance(time.monotonic() - since if missing_s is None else missing_s)
            self.incidents.close(IncidentKind.SOURCE_LOST, self.timeline_s)

    def _advance(self, seconds: float) -> None:
        self.levels.flush(self.loudness())
        self.timeline_s += seconds
        if self.audio is not None:
            self.audio.skip(seconds)

    # Runs ----------------------------------------------------------------------------------------

    def _play(self, run: Run) -> None:
        try:
            container = run.open()
        except (av.FFmpegError, OSError, ValueError) as exc:
            run.ended(f"could not be opened ({type(exc).__name__})")
            return
        self._back()  # it answers: no longer lost
        error: str | None = None
        try:
            if container.streams.video:
                error = self._decode(container, run)
        finally:
            container.close()
            run.ended(error)

    def _decode(self, container: InputContainer, run: Run) -> str | None:
        """Decode the run to its end (or a stop); why it broke off, if it did."""
        video = container.streams.video[0]
        video.thread_type = "AUTO"
        video.codec_context.options = dict(DECODE_OPTIONS)  # decoded as analyze() decodes files
        audio = container.streams.audio[0] if container.streams.audio else None
        fps = self.picture.fps if self.picture is not None else frame_rate(video)
        clock = RunClock(self.timeline_s, stream_offset_s(video), 1.0 / fps)
        converter: FrameConverter | None = None
        if audio is not None:
            self._follow_audio(audio, clock)
        packets = container.demux(*(s for s in (video, audio) if s is not None))
        for packet in _readable(packets):
            if isinstance(packet, str):
                return packet
            if packet.stream.type != "video":
                if self.audio is not None:
                    self.audio.feed(packet)
                continue
            for av_frame in _decoded(packet):
                converter = converter or self._converter(av_frame, video, container)
                self._frame(av_frame, converter, clock, run)
                if audio is not None and self.audio is not None:
                    self.audio.follow(audio, clock.offset_s)  # the clock may have been anchored again
            self._check_cancel()
            if self.over():
                return None
        return None

    def _follow_audio(self, stream: AudioStream, clock: RunClock) -> None:
        if self.audio is None:
            self.audio = LiveAudioMeter(stream, clock.offset_s, None if self.qc is None else self.qc.profile)
        else:
            self.audio.follow(stream, clock.offset_s)

    def _converter(self, av_frame: VideoFrame, stream: VideoStream, container: InputContainer) -> FrameConverter:
        rotation = rotation_of(av_frame)
        display = display_size(stream, rotation)
        if self.picture is None:
            codec = stream.codec_context.name if stream.codec_context else ""
            self.picture = Picture(display[0], display[1], frame_rate(stream), codec, container.format.name,
                                   rotation, analysis_size(display, self.options.width))
            # Full-range ("JPEG") video puts black at 0 rather than 16 (as decode.py's Decoder).
            full_range = av_frame.format.name.startswith("yuvj") or av_frame.color_range == 2
            self.work = LiveFrames(self.picture.fps, self.options, self.artifacts, full_range=full_range,
                                   on_scene=self.events.scene, scan=stream_scan(stream), display=display)
        colour = colour_size(display, max(THUMBNAIL_WIDTH, self.options.width))
        return FrameConverter(self.picture.size, rotation, colour)

    def _frame(self, av_frame: VideoFrame, converter: FrameConverter, clock: RunClock, run: Run) -> None:
        work = self.work
        assert work is not None
        time_s = clock.at(None if av_frame.pts is None or av_frame.time_base is None
                          else float(av_frame.pts * av_frame.time_base))
        index = work.frames
        try:
            luma = converter.luma(av_frame)
            colour = converter.bgr(av_frame, luma) if index % THUMBNAIL_CANDIDATE_EVERY == 0 else None
        except (cv2.error, ValueError, av.FFmpegError):
            return  # a frame in a format that does not convert: skipped, as a corrupt packet is
        if index:
            # Media that arrived but held no picture (a segment that is not video, packets lost in a run)
            # is time on the timeline that was not seen.
            self.incidents.span(IncidentKind.GAP, self.timeline_s, time_s)
        # What the cues measure on the decoded picture itself (as the file decoder's probe does).
        probed = work.cues.prober.probe(av_frame)
        stats = work.add(Frame(index, time_s, luma, colour, probed=probed)).stats
        self.levels.add(index, time_s, stats.brightness, stats.motion, stats.sharpness, self.loudness())
        self.timeline_s = max(self.timeline_s, time_s + clock.frame_s)
        self._conditions(time_s, time_s + clock.frame_s)
        self._progress(run.lag_s(clock.played_s(time_s)))

    def _conditions(self, time_s: float, end_s: float) -> None:
        """After the frame [time_s, end_s): what holds now opens incidents, what no longer does closes them."""
        assert self.work is not None
        black, frozen, blurry = self.work.quality.ongoing()
        self.incidents.holds(IncidentKind.BLACK, black, time_s)
        self.incidents.holds(IncidentKind.FROZEN, frozen, time_s)
        self.incidents.holds(IncidentKind.BLURRY, blurry, time_s)
        audio = self.audio
        if audio is not None:
            silent = audio.silent_since()
            ended = audio.last_silence_end() if silent is None else None
            self.incidents.holds(IncidentKind.SILENCE, silent, ended or audio.measured_to_s)
        black_run = None if black is None else Cue(IncidentKind.BLACK.value, black, end_s, 1.0)
        follow_cues(self.incidents, self.work.cues, audio, self.qc, black_run, time_s)

    def _progress(self, lag_s: float) -> None:
        # The least lag since the last report: a segment arrives whole and is analysed in a burst, so
        # the lag at any one frame swings by a segment; the least is how far behind the analysis stays.
        self._least_lag = min(self._least_lag, lag_s)
        now = time.monotonic()
        then, frames = self._reported
        if now - then < PROGRESS_EVERY_S or self.work is None:
            return
        self._reported = (now, self.work.frames)
        fps = (self.work.frames - frames) / (now - then)
        self.events.progress(LiveProgress(round(self.timeline_s, 3), round(fps, 1), round(self._least_lag, 2)))
        self._least_lag = math.inf

    def _check_cancel(self) -> None:
        if self._cancelled():
            raise Cancelled()


def _readable(packets: Iterator[Packet]) -> Iterator[Packet | str]:
    """The packets of a run, then (instead of an exception) why the demuxer broke off, if it did."""
    while True:
        try:
            yield next(packets)
        except StopIteration:
            return
        except (av.FFmpegError, OSError, ValueError) as exc:
            yield f"the stream broke off ({type(exc).__name__})"
            return


def _decoded(packet: Packet) -> list[VideoFrame]:
    try:
        return list(packet.decode())
    except (av.FFmpegError, ValueError):
        return []  # a corrupt packet is skipped, as the file pipeline does
