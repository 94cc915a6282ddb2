from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.videogen import Truth
from vidpulse.processing.decode import Decoder
from vidpulse.processing.readahead import ReadAhead


def test_items_arrive_in_order() -> None:
    ahead = ReadAhead(iter(range(100)), depth=3)
    assert list(ahead) == list(range(100))
    ahead.close()


def test_errors_reach_the_consumer() -> None:
    def broken() -> Iterator[int]:
        yield 1
        raise ValueError("bad packet")

    ahead = ReadAhead(broken(), depth=2)
    with pytest.raises(ValueError, match="bad packet"):
        list(ahead)
    ahead.close()


def test_close_stops_a_blocked_producer() -> None:
    ahead = ReadAhead(iter(range(10_000)), depth=2, name="test-ahead")
    assert next(iter(ahead)) == 0
    ahead.close()
    assert not any(t.name == "test-ahead" for t in threading.enumerate())


def test_threaded_and_inline_decoding_agree(std_clip: tuple[Path, Truth]) -> None:
    with Decoder(std_clip[0], 64, read_ahead=0) as inline, Decoder(std_clip[0], 64, read_ahead=4) as threaded:
        a = [(f.index, f.time_s, f.luma.tobytes()) for f in inline.frames()]
        b = [(f.index, f.time_s, f.luma.tobytes()) for f in threaded.frames()]
    assert a == b and len(a) == std_clip[1].frames


def test_leaving_early_stops_the_decode_thread(std_clip: tuple[Path, Truth]) -> None:
    with Decoder(std_clip[0], 64) as decoder:
        for frame in decoder.frames():
            if frame.index == 3:
                break
    assert not any(t.name == "vidpulse-decode" for t in threading.enumerate())
