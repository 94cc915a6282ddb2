"""What the cues' decoder probe costs a picture, alone (one thread, decoded pictures held in memory), and
the ways of running idet it was chosen against: run by hand, never by the tests.

    .venv/bin/python bench/probe.py [--frames 900] [--rounds 3]

On bench/analysis.py's 60 s 1280x720 test video (made and cached in bench/out/ as there): the whole
probe (processing/analyzers/cues/probe.py's Prober), its parts (the planes' views, the levels sample,
idet on its strip), and idet on one band of 64 columns, on two bands of 32, and with the two bands cropped
inside the filter graph (`crop`, `extractplanes`, `hstack`) instead of copied by numpy.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from fractions import Fraction

import av
import av.filter
from analysis import OUT, make_video
from av.video.frame import VideoFrame

from vidpulse.processing.analyzers.cues import probe as P

SECONDS = 60.0
SIZE = (1280, 720)


def decoded(count: int) -> list[VideoFrame]:
    video = OUT / f"test-720p-{SECONDS:g}s.mp4"
    make_video(video, SECONDS, SIZE)
    frames: list[VideoFrame] = []
    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for frame in container.decode(stream):
            frames.append(frame)
            if len(frames) == count:
                break
    return frames


def timed(frames: list[VideoFrame], run: Callable[[VideoFrame], object]) -> float:
    """Thread CPU per picture, ms."""
    started = time.thread_time_ns()
    for frame in frames:
        run(frame)
    return (time.thread_time_ns() - started) / len(frames) / 1e6


def cropped_idet(first: VideoFrame) -> Callable[[VideoFrame], object]:
    """idet on the probe's two bands, cropped and stacked inside the graph."""
    graph = av.filter.Graph()
    source = graph.add_buffer(width=first.width, height=first.height, format=first.format,
                              time_base=Fraction(1, 30))
    split = graph.add("split")
    source.link_to(split)
    stack = graph.add("hstack")
    for k, band in enumerate(P._bands(first.width)):
        crop = graph.add("crop", f"{band.stop - band.start}:ih:{band.start}:0")
        luma = graph.add("extractplanes", "y")
        split.link_to(crop, k, 0)
        crop.link_to(luma)
        luma.link_to(stack, 0, k)
    idet = graph.add("idet")
    sink = graph.add("buffersink")
    stack.link_to(idet)
    idet.link_to(sink)
    graph.configure()

    def run(frame: VideoFrame) -> object:
        graph.push(frame)
        try:
            return graph.pull()
        except (av.BlockingIOError, av.EOFError):
            return None

    return run


def each_views_itself() -> Callable[[VideoFrame], object]:
    """The probe as it was: the levels sample and idet each made their own views of the planes."""
    fields = P.FieldMeter()

    def run(frame: VideoFrame) -> object:
        full_range = P.is_full_range(frame)
        levels = None if full_range else P.sample_levels(frame)
        return P.Probed(full_range, levels, bool(frame.interlaced_frame), fields.push(frame))

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=900)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    frames = decoded(args.frames)
    print(f"| on {len(frames)} decoded 720p pictures, one thread | ms a picture, each round |\n|---|---|")

    def row(label: str, make: Callable[[], Callable[[VideoFrame], object]]) -> None:
        rounds = [timed(frames, make()) for _ in range(args.rounds)]
        print(f"| {label} | {', '.join(f'{r:.3f}' for r in rounds)} |", flush=True)

    for _ in range(2):  # in turns: the first pass over the pictures also pays for their first touch
        row("the probe (chosen): views once, levels, idet on 2 bands of 64", lambda: P.Prober().probe)
        row("the probe as before: each part views the planes itself", each_views_itself)
    row("the planes' views alone", lambda: lambda f: P.plane_views(f, 0))
    row("levels alone (24 rows of each plane)", lambda: P.sample_levels)
    row("idet alone, 2 bands of 64 copied by numpy (chosen)", lambda: P.FieldMeter().push)
    bands, width = P.STRIP_BANDS, P.BAND_WIDTH
    try:
        P.STRIP_BANDS = 1
        P._bands.cache_clear()
        row("idet, 1 band of 64", lambda: P.FieldMeter().push)
        P.STRIP_BANDS, P.BAND_WIDTH = 2, 32
        P._bands.cache_clear()
        row("idet, 2 bands of 32", lambda: P.FieldMeter().push)
    finally:
        P.STRIP_BANDS, P.BAND_WIDTH = bands, width
        P._bands.cache_clear()
    row("idet, 2 bands of 64 cropped inside the graph", lambda: cropped_idet(frames[0]))


if __name__ == "__main__":
    main()
