"""vidpulse.client.AsyncClient against a real server."""

from __future__ import annotations

import pytest

from tests.support.client import order
from vidpulse.client import AsyncClient, VidpulseError
from vidpulse.server.models import EventType
from vidpulse.server.schemas import SucceededData


async def test_async_client(shared_server, clip, tmp_path):
    async with AsyncClient(shared_server.url) as client:
        sent: list[int] = []
        session = await client.upload(clip.path, {"width": 160}, on_progress=sent.append)
        assert sent[-1] == clip.path.stat().st_size
        events = [event async for event in client.watch(session.id)]
        assert events[0].type is EventType.SNAPSHOT and events[-1].type is EventType.SUCCEEDED
        ids = [order(e.id) for e in events[1:] if e.id]
        assert ids == sorted(set(ids))
        assert (await client.wait(session.id)).state.value == "succeeded"
        report = await client.results(session.id)
        saved = await client.download(session.id, "report.json", tmp_path / "copy.json")
        assert saved.read_bytes() == (await client._http.get(f"/api/sessions/{session.id}/results")).content
        assert report.video.frames == clip.truth.frames
        assert session.id in {s.id async for s in client.sessions()}
        with pytest.raises(VidpulseError) as refused:
            await client.cancel(session.id)
        assert refused.value.status == 409
        await client.delete(session.id)
        with pytest.raises(VidpulseError) as gone:
            await client.session(session.id)
        assert gone.value.status == 404


async def test_async_watch_a_finished_session(shared_server, clip):
    async with AsyncClient(shared_server.url) as client:
        session = await client.upload(clip.path, {"width": 160})
        final = await client.wait(session.id)
        events = [event async for event in client.watch(session.id)]
    assert [e.type for e in events] == [EventType.SNAPSHOT, EventType.SUCCEEDED]
    assert events[1].id == final.last_event_id and isinstance(events[1].data, SucceededData)
