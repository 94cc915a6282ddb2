"""The client's resumable uploads over tus, against a real server, through a real dropped connection."""

from __future__ import annotations

import pytest

from tests.support.proxy import cutting_proxy
from tests.support.videogen import write_audio
from vidpulse.client import AsyncClient, Client, VidpulseError


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def test_upload_resumes_after_a_dropped_connection(shared_server, clip):
    size = clip.path.stat().st_size
    sent: list[int] = []
    with cutting_proxy(port_of(shared_server.url), cut_after=size // 2) as proxy, Client(proxy.url) as client:
        session = client.upload(clip.path, {"width": 160}, on_progress=sent.append)
        assert client._tus is True, "the server offers tus, so the client used it"
        assert proxy.cuts == 1 and proxy.sent > size, "cut in the middle, then the rest was sent again from the offset"
        assert sent[-1] == size
    with Client(shared_server.url) as client:
        assert client.wait(session.id).state.value == "succeeded"
        assert client.results(session.id).video.frames == clip.truth.frames
        client.delete(session.id)


def test_a_non_video_is_refused_at_the_last_patch(shared_server, tmp_path):
    audio = tmp_path / "tone.m4a"
    write_audio(audio)
    with Client(shared_server.url) as client, pytest.raises(VidpulseError) as refused:
        client.upload(audio)
    assert refused.value.status == 422 and refused.value.problem["code"] == "undecodable"


async def test_async_upload_resumes(shared_server, clip):
    size = clip.path.stat().st_size
    with cutting_proxy(port_of(shared_server.url), cut_after=size // 3) as proxy:
        async with AsyncClient(proxy.url) as client:
            session = await client.upload(clip.path)
            assert proxy.cuts == 1 and client._tus is True
    async with AsyncClient(shared_server.url) as client:
        assert (await client.wait(session.id)).state.value == "succeeded"
        await client.delete(session.id)
