"""vidpulse.client against a live session: `live(url)`, typed live events, `stop(id)`, and the live report."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator

import pytest

from tests.support.live import HlsOrigin, Schedule
from tests.support.servers import Server, need
from vidpulse.client import AsyncClient, Client, VidpulseError
from vidpulse.processing.live.schema import LiveReport
from vidpulse.server.models import EventType, LiveProgress
from vidpulse.server.schemas import IncidentData, LevelsData


@pytest.fixture
def origin(tmp_path) -> Iterator[HlsOrigin]:
    need("ffmpeg", shutil.which("ffmpeg") is not None)
    made = HlsOrigin(tmp_path / "origin", Schedule(60, black=((1, 2.5),))).start()
    made.wait_segments(1)
    yield made
    made.stop()


@pytest.fixture(scope="module")
def server(start_module_server: Callable[..., Server]) -> Server:
    return start_module_server(ALLOW_PRIVATE_URLS=1)


def test_live_watch_stop_results(server: Server, origin: HlsOrigin) -> None:
    with Client(server.url) as client:
        session = client.live(origin.url, {"incident_min_s": 1})
        assert session.kind == "live"
        seen: list[EventType] = []
        for event in client.watch(session.id):
            seen.append(event.type)
            if event.type is EventType.LEVELS:
                assert isinstance(event.data, LevelsData)
            if event.type is EventType.PROGRESS:
                assert isinstance(event.data, LiveProgress)
            if event.type is EventType.INCIDENT:
                assert isinstance(event.data, IncidentData) and event.data.kind == "black"
                if event.data.state == "closed":
                    assert client.stop(session.id).state.value == "running"
        assert seen[-1] is EventType.SUCCEEDED and EventType.SCENE in seen
        report = client.results(session.id)
        assert isinstance(report, LiveReport) and [i.kind for i in report.incidents] == ["black"]
        with pytest.raises(VidpulseError) as refused:
            client.stop(session.id)
        assert refused.value.status == 409
        client.delete(session.id)


async def test_async_live_and_stop(server: Server, origin: HlsOrigin) -> None:
    async with AsyncClient(server.url) as client:
        session = await client.live(origin.url)
        async for event in client.watch(session.id):
            if event.type is EventType.LEVELS:
                await client.stop(session.id)
        assert (await client.session(session.id)).state.value == "succeeded"
        assert isinstance(await client.results(session.id), LiveReport)
        await client.delete(session.id)
