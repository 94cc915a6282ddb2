"""`STORAGE=s3`: session files in an S3 bucket (AWS, or anything that speaks S3: SeaweedFS,
MinIO, R2), so API instances and worker hosts share nothing but Redis and the bucket.

The client is obstore (Rust's `object_store` behind a Python API): its async calls run on its own
Rust runtime and never block the event loop, a put from an async iterator becomes a multipart
upload streamed part by part, a get streams or takes a byte range, and credentials come from the
standard AWS_* variables. Keys are `S3_PREFIX + session id + "/" + name`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
from collections.abc import AsyncIterable, AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import obstore
from obstore.exceptions import BaseError as ObstoreError
from obstore.exceptions import NotFoundError
from obstore.store import S3Store

from vidpulse.server.config import Settings
from vidpulse.server.errors import NotFound
from vidpulse.server.storage.base import (
    PROBE_HEAD_BYTES,
    PROBE_TAIL_BYTES,
    SESSION_DIR,
    SessionPaths,
    StorageUnavailable,
    check_name,
    check_session_id,
    files_in,
)

log = logging.getLogger("vidpulse.s3")

# S3's smallest part; obstore buffers the stream into parts of this size and sends a few at once.
PART_BYTES = 8 * 1024 * 1024
_PART_CONCURRENCY = 2
_PUBLISH_CONCURRENCY = 8
_READ_CHUNK = 256 * 1024


def _retry_config() -> Any:
    # obstore's default retries for up to 3 minutes; an upload or /readyz should learn that the
    # store is down within seconds, and a worker retries on its own (dispatch._until_stored).
    return {"max_retries": 2, "retry_timeout": timedelta(seconds=10),
            "backoff": {"init_backoff": timedelta(milliseconds=100), "max_backoff": timedelta(seconds=2), "base": 2}}


def make_store(settings: Settings, **credentials: str) -> S3Store:
    """The bucket's client; credentials and region from the AWS_* variables unless given."""
    endpoint = settings.s3_endpoint_url or None
    options: Any = {"connect_timeout": "3s", "timeout": "120s",
                    "allow_http": bool(endpoint and endpoint.startswith("http://"))}
    config: Any = {"endpoint": endpoint, **credentials} if endpoint else dict(credentials)
    if endpoint:
        # S3-compatible servers answer path-style requests (`endpoint/bucket/key`).
        config["virtual_hosted_style_request"] = False
    return S3Store(settings.s3_bucket, config=config, client_options=options, retry_config=_retry_config())


@contextlib.contextmanager
def _answered() -> Iterator[None]:
    """Turn the store's failures into StorageUnavailable; a missing object stays FileNotFoundError."""
    try:
        yield
    except (FileNotFoundError, NotFoundError):
        raise
    except (ObstoreError, OSError) as exc:
        raise StorageUnavailable("The file store is not answering; try again in a moment.") from exc


class S3Storage:
    name = "s3"

    def __init__(self, settings: Settings, **credentials: str) -> None:
        self.data_dir = settings.data_dir
        prefix = settings.s3_prefix.strip("/")
        self._prefix = f"{prefix}/" if prefix else ""
        self._store = make_store(settings, **credentials)

    def _base(self, session_id: str) -> str:
        return f"{self._prefix}{check_session_id(session_id)}/"

    def _key(self, session_id: str, name: str) -> str:
        return self._base(session_id) + check_name(name)

    async def start(self) -> None:
        # DATA_DIR is this host's scratch: whatever a killed run left is stale (its job runs
        # again from the bucket), so it goes.
        await asyncio.to_thread(_empty_scratch, self.data_dir)

    async def close(self) -> None:
        pass

    async def ping(self) -> bool:
        try:
            # A listing fails when the bucket is missing or the credentials are wrong; a HEAD of
            # a missing key would not tell.
            await obstore.list_with_delimiter_async(self._store, prefix=f"{self._prefix}.readyz")
        except (ObstoreError, OSError) as exc:
            log.warning("storage not ready: %s", str(exc).splitlines()[0])
            return False
        return True

    def paths(self, session_id: str) -> SessionPaths:
        return SessionPaths(self.data_dir / check_session_id(session_id))

    # Objects -------------------------------------------------------------------------------

    async def write(self, session_id: str, name: str, chunks: AsyncIterable[bytes]) -> int:
        counted = _Counted(chunks)
        with _answered():
            await obstore.put_async(self._store, self._key(session_id, name), counted, chunk_size=PART_BYTES,
                                    max_concurrency=_PART_CONCURRENCY)
        return counted.size

    async def upload(self, session_id: str, name: str, path: Path) -> None:
        with _answered():
            await obstore.put_async(self._store, self._key(session_id, name), path, chunk_size=PART_BYTES,
                                    max_concurrency=_PART_CONCURRENCY)

    async def size(self, session_id: str, name: str) -> int | None:
        try:
            with _answered():
                meta = await obstore.head_async(self._store, self._key(session_id, name))
        except (FileNotFoundError, NotFoundError):
            return None
        return int(meta["size"])

    async def read(self, session_id: str, name: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        options: Any = {}
        if start or end is not None:
            options["range"] = (start, end) if end is not None else {"offset": start}
        try:
            with _answered():
                result = await obstore.get_async(self._store, self._key(session_id, name), options=options)
        except (FileNotFoundError, NotFoundError) as exc:
            raise NotFound(f"No file {name!r} in session {session_id}.") from exc
        with _answered():
            async for chunk in result.stream(min_chunk_size=_READ_CHUNK):
                yield bytes(chunk)

    async def read_bytes(self, session_id: str, name: str) -> bytes:
        return b"".join([chunk async for chunk in self.read(session_id, name)])

    async def names(self, session_id: str, prefix: str = "") -> list[str]:
        return list(await self.sizes(session_id, prefix))

    async def sizes(self, session_id: str, prefix: str = "") -> dict[str, int]:
        base = self._base(session_id)
        found: dict[str, int] = {}
        with _answered():
            async for batch in obstore.list(self._store, prefix=base):
                found.update((meta["path"].removeprefix(base), int(meta["size"])) for meta in batch)
        return {name: found[name] for name in sorted(found) if name.startswith(prefix)}

    async def delete(self, session_id: str, prefix: str) -> None:
        keys = [self._base(session_id) + name for name in await self.names(session_id, prefix)]
        if keys:
            with _answered():
                await obstore.delete_async(self._store, keys)

    async def remove(self, session_id: str) -> None:
        await self.release(session_id)
        await self.delete(session_id, "")

    def local_path(self, session_id: str, name: str) -> Path | None:
        return None

    # Worker side ---------------------------------------------------------------------------

    async def fetch(self, session_id: str, name: str) -> Path:
        dest = self.paths(session_id).root / check_name(name)
        partial = dest.with_name(f".{dest.name}.partial")
        await asyncio.to_thread(partial.parent.mkdir, parents=True, exist_ok=True)
        try:
            with partial.open("wb") as fh:
                async for chunk in self.read(session_id, name):
                    await asyncio.to_thread(fh.write, chunk)
            os.replace(partial, dest)
        finally:
            partial.unlink(missing_ok=True)
        return dest

    async def sample(self, session_id: str, name: str) -> Path:
        size = await self.size(session_id, name)
        if size is None:
            raise NotFound(f"No file {name!r} in session {session_id}.")
        if size <= PROBE_HEAD_BYTES + PROBE_TAIL_BYTES:
            return await self.fetch(session_id, name)
        key = self._key(session_id, name)
        with _answered():
            head, tail = await asyncio.gather(
                obstore.get_range_async(self._store, key, start=0, end=PROBE_HEAD_BYTES),
                obstore.get_range_async(self._store, key, start=size - PROBE_TAIL_BYTES, end=size))
        dest = self.paths(session_id).root / check_name(name)
        await asyncio.to_thread(_write_sparse, dest, size, bytes(head), bytes(tail))
        return dest

    async def publish(self, session_id: str, folder: Path, prefix: str) -> None:
        files = await asyncio.to_thread(files_in, folder)
        limit = asyncio.Semaphore(_PUBLISH_CONCURRENCY)

        async def one(path: Path) -> None:
            async with limit:
                await self.upload(session_id, prefix + path.name, path)

        await asyncio.gather(*(one(path) for path in files))

    async def release(self, session_id: str) -> None:
        await asyncio.to_thread(shutil.rmtree, self.paths(session_id).root, True)


class _Counted:
    """Passes an async iterable through, counting its bytes."""

    def __init__(self, chunks: AsyncIterable[bytes]) -> None:
        self._chunks = chunks
        self.size = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._chunks:
            self.size += len(chunk)
            yield chunk


def _write_sparse(dest: Path, size: int, head: bytes, tail: bytes) -> None:
    """A file of `size` bytes holding `head` and `tail`; the middle is a hole (no disk used)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    with dest.open("wb") as fh:
        fh.write(head)
        fh.seek(size - len(tail))
        fh.write(tail)


def _empty_scratch(data_dir: Path) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    for path in data_dir.iterdir():
        if path.is_dir() and SESSION_DIR.match(path.name):
            shutil.rmtree(path, ignore_errors=True)
