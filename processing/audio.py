"""Audio: loudness (EBU R128 / ITU-R BS.1770), silence and clipping, in the video's decode pass.

The decoder hands every packet of the first audio stream to `AudioMeter.feed` while it demuxes
the video, so the file is read once. The meters are FFmpeg's own, run through PyAV's filter
graph: `ebur128` (with `peak=true` for true peak; its `metadata=1` puts the running values on
each 100 ms frame it passes on) and `silencedetect` (which marks where silence starts and
ends). Clipping is counted here on the decoded samples: runs of CLIP_RUN samples or more at
full scale on a channel.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, cast

import av
import av.filter
import numpy as np
from av.audio.frame import AudioFrame
from av.audio.stream import AudioStream
from av.packet import Packet

# Silence: below this level for at least this long (FFmpeg silencedetect's noise and d).
SILENCE_NOISE_DB = -60.0
SILENCE_MIN_S = 0.5
# A sample at or above this share of full scale is at full scale; this many in a row on one
# channel is clipping (one such sample is a legitimate peak).
CLIP_LEVEL = 0.999
CLIP_RUN = 3
# Clipped runs closer than this merge into one reported segment.
CLIP_MERGE_S = 0.05
# ebur128 reports -70 LUFS (its absolute gate) when no block is loud enough to count, and
# about -120 before it has a full window.
GATE_LUFS = -70.0
# The short-term loudness series keeps one value per this many seconds (ebur128's block).
SERIES_STEP_S = 0.1
# The short-term loudness' window: the series starts once the first one is full.
SHORT_TERM_S = 3.0


@dataclass(frozen=True)
class AudioResult:
    """What `AudioMeter.result` found; `short_term` is (time_s, LUFS or None) every
    SERIES_STEP_S, the series a timeline can plot (`short_term_at` samples it at given times).
    It starts with the first full SHORT_TERM_S window: None is sound below the gate, silence,
    never a window still filling."""

    integrated_lufs: float | None
    range_lu: float
    true_peak_dbtp: float | None
    silence: list[tuple[float, float]]
    clipping: list[tuple[float, float, int]]  # start_s, end_s, clipped samples
    short_term: list[tuple[float, float | None]] = field(default_factory=list)
    codec: str = ""
    channels: int = 0
    sample_rate: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "codec": self.codec,
            "channels": self.channels,
            "sample_rate": self.sample_rate,
            "loudness": {
                "integrated_lufs": _round(self.integrated_lufs),
                "range_lu": round(self.range_lu, 2),
                "true_peak_dbtp": _round(self.true_peak_dbtp),
            },
            "silence": [{"start_s": round(s, 3), "end_s": round(e, 3)} for s, e in self.silence],
            "clipping": [{"start_s": round(s, 3), "end_s": round(e, 3), "samples": n} for s, e, n in self.clipping],
        }

    def short_term_at(self, times_s: list[float] | Any) -> list[float | None]:
        """The short-term loudness at each time (the latest value at or before it)."""
        if not self.short_term:
            return [None for _ in times_s]
        stamps = np.array([t for t, _ in self.short_term])
        at = np.searchsorted(stamps, np.asarray(times_s, dtype=float), side="right") - 1
        return [None if i < 0 else self.short_term[i][1] for i in at]


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


class AudioMeter:
    """Fed the packets of one audio stream; builds its filter graph on the first decoded frame.

    Times are reported on the video's clock: `offset_s` is the video stream's start time, and
    only audio in [start_s, end_s) counts. A packet or frame that fails to decode is skipped,
    as the video decoder does: damaged sound never fails the analysis.
    """

    def __init__(self, stream: AudioStream, offset_s: float, start_s: float = 0.0, end_s: float | None = None) -> None:
        self.stream = stream
        self._offset = offset_s
        self._start = start_s
        self._end = end_s
        self._graph: av.filter.Graph | None = None
        self._layout = ""
        self._format = ""
        self._rate = 0
        self._next_pts = 0
        self._first_s = 0.0
        self._end_s = start_s
        self._integrated = GATE_LUFS
        self._range = 0.0
        self._peak = 0.0
        self._last_step = -math.inf
        self._series: list[tuple[float, float | None]] = []
        self._silence: list[tuple[float, float]] = []
        self._silent_since: float | None = None
        self._clipped: list[tuple[float, float, int]] = []
        self._failed = False
        # Also given each decoded frame's samples (frame, samples as to_ndarray gives them, time_s),
        # converted once for all (audio_cues.py).
        self.listeners: list[Callable[[AudioFrame, np.ndarray, float], None]] = []

    def feed(self, packet: Packet) -> None:
        if self._failed:
            return
        try:
            frames = cast(list[AudioFrame], packet.decode())
        except (av.FFmpegError, ValueError):
            return
        for frame in frames:
            self._frame(frame)

    def result(self) -> AudioResult:
        if self._graph is not None and not self._failed:
            try:
                self._graph.push(None)
                self._pull()
            except (av.FFmpegError, ValueError):
                pass
        if self._silent_since is not None and self._end_s - self._silent_since >= SILENCE_MIN_S:
            self._silence.append((self._silent_since, self._end_s))
        ctx = self.stream.codec_context
        peak = 20 * math.log10(self._peak) if self._peak > 0 else None
        return AudioResult(
            integrated_lufs=self._integrated if self._integrated > GATE_LUFS else None,
            range_lu=self._range,
            true_peak_dbtp=peak,
            silence=self._silence,
            clipping=self._clipped,
            short_term=self._series,
            codec=ctx.name if ctx is not None else "",
            channels=self._channels(),
            sample_rate=self._rate or (ctx.sample_rate if ctx is not None else 0),
        )

    def _channels(self) -> int:
        ctx = self.stream.codec_context
        return ctx.channels if ctx is not None else 0

    def _frame(self, frame: AudioFrame) -> None:
        time_s = self._time_of(frame)
        if time_s < self._start or (self._end is not None and time_s >= self._end):
            return
        if self._graph is None and not self._build(frame):
            return
        if (frame.format.name, frame.layout.name, frame.sample_rate) != (self._format, self._layout, self._rate):
            return  # a mid-stream format change: the graph is built for the first one
        self._end_s = time_s + frame.samples / frame.sample_rate
        samples = frame.to_ndarray()
        self._clipping(frame, samples, time_s)
        for listener in self.listeners:
            listener(frame, samples, time_s)
        # The graph gets its own gapless clock; times are mapped back with the first frame's.
        frame.pts = self._next_pts
        frame.time_base = Fraction(1, self._rate)
        self._next_pts += frame.samples
        try:
            assert self._graph is not None
            self._graph.push(frame)
            self._pull()
        except (av.FFmpegError, ValueError):
            self._failed = True

    def _build(self, frame: AudioFrame) -> bool:
        self._format, self._layout, self._rate = frame.format.name, frame.layout.name, frame.sample_rate
        self._first_s = self._time_of(frame)
        try:
            graph = av.filter.Graph()
            source = graph.add_abuffer(
                format=self._format, sample_rate=self._rate, layout=self._layout, time_base=Fraction(1, self._rate)
            )
            meter = graph.add("ebur128", "peak=true:metadata=1")
            silence = graph.add("silencedetect", f"noise={SILENCE_NOISE_DB}dB:d={SILENCE_MIN_S}")
            sink = graph.add("abuffersink")
            source.link_to(meter)
            meter.link_to(silence)
            silence.link_to(sink)
            graph.configure()
        except (av.FFmpegError, ValueError):
            self._failed = True
            return False
        self._graph = graph
        return True

    def _pull(self) -> None:
        assert self._graph is not None
        while True:
            try:
                out = self._graph.pull()
            except (av.BlockingIOError, av.EOFError):
                return
            self._read(out)

    def _read(self, out: Any) -> None:
        meta = out.metadata
        time_s = self._first_s + float(out.pts * out.time_base) if out.pts is not None else self._end_s
        if "lavfi.r128.I" in meta:
            self._integrated = float(meta["lavfi.r128.I"])
            self._range = float(meta.get("lavfi.r128.LRA", 0.0))
            self._peak = max(self._peak, float(meta.get("lavfi.r128.true_peak", 0.0)))
            if time_s - self._last_step >= SERIES_STEP_S - 1e-6 and self._window_full(time_s):
                self._last_step = time_s
                short = float(meta.get("lavfi.r128.S", -math.inf))
                self._series.append((round(time_s, 3), round(short, 2) if short > GATE_LUFS else None))
        if "lavfi.silence_start" in meta:
            self._silent_since = self._first_s + float(meta["lavfi.silence_start"])
        if "lavfi.silence_end" in meta and self._silent_since is not None:
            self._silence.append((self._silent_since, self._first_s + float(meta["lavfi.silence_end"])))
            self._silent_since = None

    def _window_full(self, block_s: float) -> bool:
        """Whether the short-term window that ends with the block starting at `block_s` is full.
        Before, ebur128 reports a value far below the gate: read as silence, which it is not."""
        return block_s + SERIES_STEP_S >= self._first_s + SHORT_TERM_S - 1e-6

    def _clipping(self, frame: AudioFrame, samples: np.ndarray, time_s: float) -> None:
        if samples.dtype.kind in "iu":
            full = float(np.iinfo(samples.dtype.type).max)
            hot = np.abs(samples.astype(np.float32)) >= CLIP_LEVEL * full
        else:
            hot = np.abs(samples) >= CLIP_LEVEL
        if not hot.any():
            return
        # Planar formats have a row per channel; packed ones interleave the channels in one.
        rows = hot if frame.format.is_planar else hot.reshape(-1, len(frame.layout.channels)).T
        rate = frame.sample_rate
        for row in rows:
            for start, length in _runs(row):
                if length >= CLIP_RUN:
                    self._add_clip(time_s + start / rate, time_s + (start + length) / rate, length)

    def _add_clip(self, start_s: float, end_s: float, samples: int) -> None:
        if self._clipped and start_s - self._clipped[-1][1] <= CLIP_MERGE_S:
            first, last, count = self._clipped[-1]
            self._clipped[-1] = (first, max(last, end_s), count + samples)
        else:
            self._clipped.append((start_s, end_s, samples))

    def _time_of(self, frame: AudioFrame) -> float:
        if frame.pts is None or frame.time_base is None:
            return self._end_s
        return float(frame.pts * frame.time_base) - self._offset


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """(start, length) of each run of True."""
    padded = np.concatenate(([False], flags.astype(bool), [False]))
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    return [(int(s), int(e - s)) for s, e in zip(edges[::2], edges[1::2], strict=True)]
