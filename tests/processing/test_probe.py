from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from tests.support.videogen import Truth, write_audio, write_frames
from vidpulse.processing import UndecodableVideo, VideoInfo, probe


def test_probe_standard_clip(std_clip: tuple[Path, Truth]) -> None:
    path, truth = std_clip
    info = probe(path)
    assert info == VideoInfo(
        width=320,
        height=240,
        fps=25.0,
        frames=truth.frames,
        duration_s=truth.frames / 25,
        codec="h264",
        container="mp4",
        rotation=0,
    )
    assert info.to_dict()["codec"] == "h264"


def test_probe_is_fast(std_clip: tuple[Path, Truth]) -> None:
    probe(std_clip[0])
    started = time.perf_counter()
    probe(std_clip[0])
    assert time.perf_counter() - started < 0.3


@pytest.mark.parametrize(("ccw", "clockwise"), [(90, 270), (-90, 90), (180, 180)])
def test_rotation_swaps_display_size(tmp_path: Path, ccw: int, clockwise: int) -> None:
    path = tmp_path / "rotated.mp4"
    write_frames(path, [np.zeros((240, 320, 3), np.uint8)] * 3, rotation=ccw)
    info = probe(path)
    assert info.rotation == clockwise
    assert (info.width, info.height) == ((320, 240) if clockwise == 180 else (240, 320))


def _truncated(path: Path, source: Path) -> None:
    path.write_bytes(source.read_bytes()[:2000])


@pytest.mark.parametrize("kind", ["empty", "text", "truncated", "audio", "missing", "image"])
def test_undecodable(kind: str, tmp_path: Path, std_clip: tuple[Path, Truth]) -> None:
    path = tmp_path / f"{kind}.mp4"
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "text":
        path = tmp_path / "notes.txt"
        path.write_text("this is not a video\n" * 50)
    elif kind == "truncated":
        _truncated(path, std_clip[0])
    elif kind == "audio":
        write_audio(path)
    elif kind == "image":
        import cv2

        path = tmp_path / "picture.png"
        cv2.imwrite(str(path), np.zeros((20, 20, 3), np.uint8))
    with pytest.raises(UndecodableVideo) as caught:
        probe(path)
    assert caught.value.code == "undecodable"
    assert caught.value.message.endswith(".") and "\n" not in caught.value.message



def test_a_session_description_opens_no_socket(tmp_path: Path) -> None:
    """An uploaded SDP file would make FFmpeg open RTP sockets to the addresses it names: the
    protocol whitelist (local files only) refuses before any socket is opened."""
    import av.logging

    sdp = tmp_path / "source"
    sdp.write_text("v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=x\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
                   "m=video 50004 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n")
    level = av.logging.get_level()
    av.logging.set_level(av.logging.ERROR)
    try:
        with av.logging.Capture() as logs, pytest.raises(UndecodableVideo):
            probe(sdp)
    finally:
        av.logging.set_level(level)
    assert any("not on whitelist" in message for _, _, message in logs), logs
