"""The backends' locks and upload records (what lets one PATCH at a time run across instances), and
that no late write brings a removed session back."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from tests.conftest import REDIS_KINDS, new_redis_target
from vidpulse.server.backends import create_backend
from vidpulse.server.backends.protocols import Backend
from vidpulse.server.config import Settings
from vidpulse.server.models import EventType, Session, SessionState, StoredUpload, UploadProgress, new_session_id
from vidpulse.server.storage.local import LocalStorage
from vidpulse.server.streams.hub import Hub


@pytest.fixture(params=["memory", *REDIS_KINDS])
async def backends(request, tmp_path) -> AsyncIterator[tuple[Backend, Backend]]:
    """Two backends sharing their state as two instances would (one process for memory)."""
    settings = Settings(data_dir=tmp_path)
    if request.param != "memory":
        settings = Settings(data_dir=tmp_path, **new_redis_target(request, request.param).settings())
    storage = LocalStorage(tmp_path)
    first = create_backend(settings, storage, Hub(8))
    second = create_backend(settings, storage, Hub(8)) if request.param != "memory" else first
    for backend in {id(first): first, id(second): second}.values():
        await backend.connection.start()
    yield first, second
    for backend in {id(first): first, id(second): second}.values():
        await backend.connection.close()


async def test_a_lock_has_one_holder_until_released_or_expired(backends):
    a, b = backends
    assert await a.locks.try_lock("upload:x", "t1", 10)
    assert await a.locks.try_lock("upload:x", "t1", 10)  # the holder may take it again
    assert not await b.locks.try_lock("upload:x", "t2", 10)
    assert not await b.locks.refresh_lock("upload:x", "t2", 10)
    assert await a.locks.refresh_lock("upload:x", "t1", 10)
    await b.locks.unlock("upload:x", "t2")  # not the holder: nothing happens
    assert not await b.locks.try_lock("upload:x", "t2", 10)
    await a.locks.unlock("upload:x", "t1")
    assert await b.locks.try_lock("upload:x", "t2", 0.2)
    await asyncio.sleep(0.4)
    assert not await b.locks.refresh_lock("upload:x", "t2", 10)  # expired
    assert await a.locks.try_lock("upload:x", "t1", 10)


async def test_save_upload_touches_only_the_upload_and_never_revives_a_removed_session(backends, tmp_path):
    a, b = backends
    session = Session(id=new_session_id(), filename="x.mp4", state=SessionState.UPLOADING,
                      upload=StoredUpload(length=100, via="tus"))
    LocalStorage(tmp_path).paths(session.id).root.mkdir(parents=True)
    await a.sessions.add(session)
    elsewhere = await b.sessions.get(session.id)
    assert elsewhere is not None
    elsewhere.state = SessionState.CANCELLED  # a cancel on the other instance...
    await b.sessions.save(elsewhere)
    session.upload = session.upload.advanced(offset=40)
    session.progress = UploadProgress(fraction=0.4, stage="upload", offset=40, length=100, bytes_per_s=None, eta_s=None)
    await a.sessions.save_upload(session)  # ...is not undone by the upload's own record
    seen = await b.sessions.get(session.id)
    assert seen is not None and seen.state is SessionState.CANCELLED and seen.upload.offset == 40
    await b.sessions.remove(session.id)
    await a.sessions.save_upload(session)
    assert await a.sessions.get(session.id) is None and await b.sessions.get(session.id) is None


async def test_a_late_save_or_event_never_revives_a_removed_session(backends, tmp_path):
    a, b = backends
    session = Session(id=new_session_id(), filename="x.mp4", state=SessionState.RUNNING)
    LocalStorage(tmp_path).paths(session.id).root.mkdir(parents=True)
    await a.sessions.add(session)
    logged = await a.events.append(session, EventType.STARTED, {})
    assert logged.id is not None and [e.id for e in await b.events.events_after(session.id, None)] == [logged.id]
    await b.sessions.remove(session.id)  # a DELETE on one instance, while the job's last words arrive on the other
    session.state = SessionState.SUCCEEDED
    await a.sessions.save(session)
    late = await a.events.append(session, EventType.SUCCEEDED, {})
    assert late.id is None
    assert await a.sessions.get(session.id) is None and await b.sessions.get(session.id) is None
    assert await a.events.events_after(session.id, None) == [] and await b.events.events_after(session.id, None) == []
    assert session.id not in {s.id for s in await b.sessions.all()}
