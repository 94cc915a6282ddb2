"""The upload stores on their own, over the Storage fixture of test_storage (local, and S3 against a real
SeaweedFS): a chunk kept whole, up to where it stopped, or not at all; the S3 store's parts joined in order."""

from __future__ import annotations

import asyncio
import os

import pytest

from tests.server.storage.test_storage import read_all, storage  # noqa: F401  (the fixture)
from vidpulse.server.errors import Unprocessable
from vidpulse.server.models import new_session_id
from vidpulse.server.storage.base import Storage
from vidpulse.server.uploads.staging import LocalUploadStore, S3UploadStore, UploadStore


def store_for(storage: Storage) -> UploadStore:  # noqa: F811  (not the fixture)
    return S3UploadStore(storage) if storage.name == "s3" else LocalUploadStore(storage)


async def send(store: UploadStore, sid: str, offset: int, data: bytes, pieces: int = 3) -> int:
    writer = store.writer(sid, offset)
    step = max(1, len(data) // pieces)
    for i in range(0, len(data), step):
        await writer.write(data[i:i + step])
    return await writer.commit()


async def test_chunks_kept_whole_partly_or_not_at_all_then_joined(storage):  # noqa: F811
    await storage.start()
    store, sid = store_for(storage), new_session_id()
    data = os.urandom(300_000)
    assert await send(store, sid, 0, data[:100_000]) == 100_000

    mismatched = store.writer(sid, 100_000)  # a checksum mismatch: nothing of it is kept
    await mismatched.write(data[100_000:150_000])
    await mismatched.discard()
    assert mismatched.offset == 100_000

    dropped = store.writer(sid, 100_000)  # a dropped connection: what arrived is kept
    await dropped.write(data[100_000:130_000])
    assert await dropped.commit() == 130_000

    abandoned = store.writer(sid, 130_000)  # another PATCH took over: this one leaves no trace
    await abandoned.write(b"\xff" * 50_000)
    abandoned.abandon()
    await asyncio.sleep(0.2)

    assert await send(store, sid, 130_000, data[130_000:]) == len(data)
    if storage.name == "s3":
        assert await storage.names(sid) == ["parts/000000000000", "parts/000000100000", "parts/000000130000"]
        assert storage.paths(sid).root.exists() is False, "nothing on this host's disk"
    await store.complete(sid)
    assert await read_all(storage, sid, "source") == data
    assert await storage.names(sid) == ["source"]
    await storage.remove(sid)


async def test_a_part_left_by_a_dead_instance_is_replaced(storage):  # noqa: F811
    """An instance wrote a chunk and died before recording the offset: the client resends from the
    recorded offset, and the new chunk replaces the old one (shorter or longer)."""
    if storage.name != "s3":
        pytest.skip("the local store's file is overwritten in place (test_tus covers it)")
    await storage.start()
    store, sid = store_for(storage), new_session_id()
    data = os.urandom(80_000)
    await send(store, sid, 0, data[:10_000])
    await send(store, sid, 10_000, b"\0" * 60_000)  # never recorded
    await send(store, sid, 10_000, data[10_000:40_000])
    await send(store, sid, 40_000, data[40_000:])
    await store.complete(sid)
    assert await read_all(storage, sid, "source") == data
    await storage.remove(sid)


async def test_no_parts_is_refused(storage):  # noqa: F811
    if storage.name != "s3":
        pytest.skip("S3 only")
    await storage.start()
    with pytest.raises(Unprocessable):
        await S3UploadStore(storage).complete(new_session_id())
