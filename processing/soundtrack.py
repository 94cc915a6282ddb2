"""The annotated video's sound: the source's first audio stream, carried into annotated.mp4.

Its packets are copied as they are (no re-encode: nothing lost, next to no CPU) when the codec is
one every browser plays from an MP4 (COPY_CODECS); any other sound is decoded and encoded to AAC.
The renderer's encoder thread reads the audio packets from a second opening of the source, a
little ahead of the pictures it encodes: the analysis pass demuxes in its own decode thread, and
a second demux costs little beside the encode. The muxer interleaves the two streams by time.

Times are on the source video's clock (as `Frame.time_s`), and the annotated video starts at the
first frame it shows: sound before it or after its last frame is left out. Damaged sound never
fails the render: what cannot be read or decoded is skipped.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import cast

import av
from av.audio.frame import AudioFrame
from av.audio.resampler import AudioResampler
from av.audio.stream import AudioStream
from av.container import InputContainer, OutputContainer
from av.packet import Packet

from vidpulse.processing.decode import open_video, stream_offset_s
from vidpulse.processing.errors import UndecodableVideo

# Copied as they are: what every browser plays from an MP4. Others (AC-3, Opus, FLAC, PCM,
# Vorbis...) either cannot go into MP4 or would leave the video silent in some browsers.
COPY_CODECS = frozenset({"aac", "mp3"})
# FFmpeg's AAC encoder takes these rates; other sound is resampled to the first.
AAC_RATES = (48000, 96000, 88200, 64000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000)
AAC_BITRATE = 160_000


class Soundtrack:
    """Copies (or re-encodes) the sound of `source` into `output`, whose video it follows.

    Use `Soundtrack.of(source, output)`: None when the source has no sound to carry. Then
    `begin(time_s)` with the first shown frame's time, `until(seconds)` as the video advances
    (seconds of the annotated video) and `finish(seconds)` with its length; `close()` always.
    """

    def __init__(self, container: InputContainer, stream: AudioStream, offset_s: float, output: OutputContainer):
        self._input = container
        self._stream = stream
        self._offset_s = offset_s
        self._output = output
        self._copy = stream.codec_context.name in COPY_CODECS
        self._encoder = _AacEncoder(stream, output) if not self._copy else None
        self._out = output.add_stream_from_template(stream) if self._copy else None
        self._origin_s = 0.0
        self._packets: Iterator[Packet] = iter(())
        self._held: Packet | None = None

    @classmethod
    def of(cls, source: Path, output: OutputContainer) -> Soundtrack | None:
        """The soundtrack of `source`'s first audio stream into `output`, or None without one."""
        try:
            container, video = open_video(source)
        except UndecodableVideo:
            return None
        if not container.streams.audio or container.streams.audio[0].codec_context is None:
            container.close()
            return None
        try:
            return cls(container, container.streams.audio[0], stream_offset_s(video), output)
        except (av.FFmpegError, ValueError):
            container.close()
            return None

    def begin(self, time_s: float) -> None:
        """The annotated video starts at `time_s` of the source video: seek near it."""
        self._origin_s = time_s
        base = self._stream.time_base
        if time_s > 1.0 and base is not None:
            with contextlib.suppress(av.FFmpegError, OSError, ValueError):
                target = int((time_s + self._offset_s - 1.0) / base)
                self._input.seek(target, stream=self._stream, backward=True, any_frame=False)
        self._packets = self._input.demux(self._stream)

    def until(self, seconds: float) -> None:
        """Mux the sound that starts before `seconds` of the annotated video (the muxer holds it
        until the pictures of that time, a few frames behind in the encoder, are written)."""
        self._carry(seconds)

    def finish(self, seconds: float) -> None:
        """Mux the sound that starts before `seconds`, the annotated video's length, then flush."""
        self._carry(seconds)
        if self._encoder is not None:
            self._encoder.flush()

    def close(self) -> None:
        self._input.close()

    def _carry(self, end: float) -> None:
        while (packet := self._next()) is not None:
            start = self._seconds(packet)
            if start >= end:
                self._held = packet  # its turn comes with a later picture
                return
            if self._keeps(packet, start):
                self._write(packet, start)

    def _next(self) -> Packet | None:
        if self._held is not None:
            packet, self._held = self._held, None
            return packet
        while True:
            try:
                packet = next(self._packets)
            except (StopIteration, av.FFmpegError, OSError, ValueError):
                return None
            if packet.size and packet.pts is not None:
                return cast(Packet, packet)

    def _keeps(self, packet: Packet, start: float) -> bool:
        """Copied packets from the one that ends at the start on: a decoder needs the packet
        before (AAC's priming samples, the overlap of its transform), and the MP4's edit list
        cuts what is before 0, as in the source. Decoded ones from the first that starts there."""
        if self._encoder is not None:
            return start >= 0
        assert packet.time_base is not None
        return start + float((packet.duration or 0) * packet.time_base) >= 0

    def _seconds(self, packet: Packet) -> float:
        """Where `packet` starts in the annotated video."""
        assert packet.pts is not None and packet.time_base is not None
        return float(packet.pts * packet.time_base) - self._offset_s - self._origin_s

    def _write(self, packet: Packet, start: float) -> None:
        if self._encoder is not None:
            self._encoder.encode(packet, start)
            return
        assert packet.pts is not None and packet.time_base is not None
        shift = packet.pts - round(start / packet.time_base)
        packet.pts -= shift
        if packet.dts is not None:
            packet.dts -= shift
        packet.stream = self._out
        self._output.mux(packet)


class _AacEncoder:
    """Decodes the source's sound and encodes it to AAC, on a gapless clock from its first frame."""

    def __init__(self, stream: AudioStream, output: OutputContainer) -> None:
        ctx = stream.codec_context
        rate = ctx.sample_rate if ctx.sample_rate in AAC_RATES else AAC_RATES[0]
        layout = "mono" if ctx.channels == 1 else "stereo"
        self._decoder = stream.codec_context
        self._out = output.add_stream("aac", rate=rate, layout=layout)
        self._out.bit_rate = AAC_BITRATE
        self._resampler = AudioResampler(format="fltp", layout=layout, rate=rate)
        self._rate = rate
        self._output = output
        self._next: int | None = None

    def encode(self, packet: Packet, start: float) -> None:
        try:
            frames = cast(list[AudioFrame], self._decoder.decode(packet))
        except (av.FFmpegError, ValueError):
            return
        if self._next is None:
            self._next = round(start * self._rate)
        for frame in frames:
            frame.pts = None  # the resampler's output is put on this encoder's clock below
            for resampled in self._resampler.resample(frame):
                self._send(resampled)

    def flush(self) -> None:
        if self._next is None:
            return
        for resampled in self._resampler.resample(None):
            self._send(resampled)
        for packet in self._out.encode(None):
            self._output.mux(packet)

    def _send(self, frame: AudioFrame) -> None:
        assert self._next is not None
        frame.pts, frame.time_base = self._next, Fraction(1, self._rate)
        self._next += frame.samples
        for packet in self._out.encode(frame):
            self._output.mux(packet)
