"""The Storage protocol: the local and the S3 implementations pass the same tests (S3 against a
real SeaweedFS), plus what only one of them does (the path check on disk, scratch, an outage)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.support.servers import S3_ACCESS_KEY, S3_BUCKET, S3_SECRET_KEY, free_port
from vidpulse.server.config import Settings
from vidpulse.server.errors import NotFound, PayloadTooLarge
from vidpulse.server.models import new_session_id
from vidpulse.server.storage.base import PROBE_HEAD_BYTES, PROBE_TAIL_BYTES, Storage, StorageUnavailable
from vidpulse.server.storage.local import LocalStorage

CREDENTIALS = {"access_key_id": S3_ACCESS_KEY, "secret_access_key": S3_SECRET_KEY, "region": "us-east-1"}


def s3_storage(data_dir: Path, endpoint: str, prefix: str) -> Storage:
    from vidpulse.server.storage.s3 import S3Storage

    settings = Settings(data_dir=data_dir, backend="redis", storage="s3", s3_endpoint_url=endpoint,
                        s3_bucket=S3_BUCKET, s3_prefix=prefix)
    return S3Storage(settings, **CREDENTIALS)


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Storage]:
    if request.param == "local":
        yield LocalStorage(tmp_path / "data")
        return
    s3 = request.getfixturevalue("s3_server")
    prefix = f"unit-{os.getpid()}-{tmp_path.name}/"
    yield s3_storage(tmp_path / "scratch", s3.endpoint, prefix)
    assert s3.keys(prefix) == [], "every test removes what it stored"


async def chunks_of(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def read_all(storage: Storage, sid: str, name: str, start: int = 0, end: int | None = None) -> bytes:
    return b"".join([chunk async for chunk in storage.read(sid, name, start, end)])


async def test_write_read_ranges_and_remove(storage):
    await storage.start()
    sid = new_session_id()
    data = os.urandom(3 * 1024 * 1024 + 17)
    assert await storage.write(sid, "source", chunks_of(data[:1000], data[1000:])) == len(data)
    assert await storage.size(sid, "source") == len(data)
    assert await read_all(storage, sid, "source") == data
    assert await read_all(storage, sid, "source", 10, 20) == data[10:20]
    assert await read_all(storage, sid, "source", len(data) - 5) == data[-5:]
    await storage.write(sid, "artifacts/report.json", chunks_of(b"{}"))
    assert await storage.read_bytes(sid, "artifacts/report.json") == b"{}"
    assert await storage.names(sid) == ["artifacts/report.json", "source"]
    assert await storage.sizes(sid) == {"artifacts/report.json": 2, "source": len(data)}
    assert await storage.names(sid, "artifacts/") == ["artifacts/report.json"]
    await storage.delete(sid, "artifacts/")
    assert await storage.names(sid) == ["source"]
    await storage.remove(sid)
    assert await storage.names(sid) == []
    assert await storage.size(sid, "source") is None


async def test_a_failed_write_leaves_nothing(storage):
    await storage.start()
    sid = new_session_id()

    async def refused() -> AsyncIterator[bytes]:
        yield b"\0" * (9 * 1024 * 1024)  # more than one S3 part: a multipart upload is under way
        raise PayloadTooLarge("too large")

    with pytest.raises(PayloadTooLarge):
        await storage.write(sid, "source", refused())
    assert await storage.names(sid) == []
    assert await storage.size(sid, "source") is None
    await storage.remove(sid)


async def test_missing_objects(storage):
    sid = new_session_id()
    assert await storage.size(sid, "source") is None
    with pytest.raises(NotFound):
        await storage.read_bytes(sid, "artifacts/report.json")
    with pytest.raises(NotFound):
        await storage.fetch(sid, "source")


async def test_parts_append_and_join_into_one_object(storage):
    """What a resumable upload does: each chunk is an object named by its offset; the offset is
    the sum of the parts' sizes; the parts are joined into `source` and dropped."""
    await storage.start()
    sid = new_session_id()
    chunks = [os.urandom(n) for n in (5000, 1, 70_000)]
    for chunk in chunks:
        offset = sum((await storage.sizes(sid, "parts/")).values())
        await storage.write(sid, f"parts/{offset:012d}", chunks_of(chunk))
    parts = await storage.names(sid, "parts/")
    assert parts == ["parts/000000000000", "parts/000000005000", "parts/000000005001"]

    async def joined() -> AsyncIterator[bytes]:
        for part in parts:
            async for piece in storage.read(sid, part):
                yield piece

    assert await storage.write(sid, "source", joined()) == 75_001
    await storage.delete(sid, "parts/")
    assert await storage.read_bytes(sid, "source") == b"".join(chunks)
    assert await storage.names(sid) == ["source"]
    await storage.remove(sid)


@pytest.mark.parametrize("name", ["../x", "a/../../x", ".hidden", "a/b/c", "/abs", "", "a\\b"])
async def test_names_that_could_leave_the_session_are_refused(storage, name):
    with pytest.raises(ValueError):
        await storage.size(new_session_id(), name)
    with pytest.raises(ValueError):
        storage.paths("../etc")


async def test_worker_side_fetch_publish_release(storage, tmp_path):
    await storage.start()
    sid = new_session_id()
    data = os.urandom(100_000)
    await storage.write(sid, "source", chunks_of(data))
    local = await storage.fetch(sid, "source")
    assert local.read_bytes() == data
    out = storage.paths(sid).artifacts
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text('{"schema": 1}')
    (out / "scene-000.jpg").write_bytes(b"\xff\xd8jpeg")
    await storage.publish(sid, out, "artifacts/")
    assert await storage.names(sid, "artifacts/") == ["artifacts/report.json", "artifacts/scene-000.jpg"]
    assert await storage.read_bytes(sid, "artifacts/scene-000.jpg") == b"\xff\xd8jpeg"
    await storage.release(sid)
    assert await storage.names(sid) == ["artifacts/report.json", "artifacts/scene-000.jpg", "source"]
    await storage.remove(sid)
    assert not storage.paths(sid).root.exists()


async def test_probe_sample_keeps_both_ends(storage):
    await storage.start()
    sid = new_session_id()
    size = PROBE_HEAD_BYTES + PROBE_TAIL_BYTES + 5 * 1024 * 1024
    data = os.urandom(size)
    await storage.write(sid, "source", chunks_of(data))
    sample = await storage.sample(sid, "source")
    assert sample.stat().st_size == size
    with sample.open("rb") as fh:
        assert fh.read(PROBE_HEAD_BYTES) == data[:PROBE_HEAD_BYTES]
        fh.seek(size - PROBE_TAIL_BYTES)
        assert fh.read() == data[-PROBE_TAIL_BYTES:]
    await storage.remove(sid)


async def test_local_storage_is_the_files_themselves(tmp_path):
    storage = LocalStorage(tmp_path / "data")
    await storage.start()
    sid = new_session_id()
    await storage.write(sid, "artifacts/plot.png", chunks_of(b"png"))
    path = storage.local_path(sid, "artifacts/plot.png")
    assert path == (tmp_path / "data" / sid / "artifacts" / "plot.png").resolve()
    assert await storage.fetch(sid, "artifacts/plot.png") == tmp_path / "data" / sid / "artifacts" / "plot.png"
    assert storage.local_path(sid, "artifacts/nope.png") is None


@pytest.mark.s3
async def test_s3_scratch_is_emptied_at_start_and_nothing_is_local(s3_server, tmp_path):
    scratch = tmp_path / "scratch"
    stale = scratch / new_session_id()
    stale.mkdir(parents=True)
    (stale / "source").write_bytes(b"left by a killed job")
    storage = s3_storage(scratch, s3_server.endpoint, f"unit-{os.getpid()}-{tmp_path.name}/")
    await storage.start()
    assert not stale.exists()
    assert storage.local_path(new_session_id(), "source") is None


@pytest.mark.s3
async def test_s3_down_raises_storage_unavailable_quickly(tmp_path):
    storage = s3_storage(tmp_path, f"http://127.0.0.1:{free_port()}", "down/")
    sid = new_session_id()
    assert await storage.ping() is False
    with pytest.raises(StorageUnavailable):
        await storage.write(sid, "source", chunks_of(b"x"))
    with pytest.raises(StorageUnavailable):
        await storage.size(sid, "source")
    with pytest.raises(StorageUnavailable):
        await storage.remove(sid)
