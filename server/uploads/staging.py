"""Where the bytes of a resumable upload or a URL ingest go while they arrive: the seam between the
upload protocols (server/uploads/resumable.py, server/uploads/url_ingest.py) and the storage.

A chunk is written through a ChunkWriter that starts at the upload's committed offset. `checkpoint`
makes what arrived so far durable (a dropped connection keeps it); `commit` ends the chunk; `discard`
forgets all of it (a checksum mismatch keeps nothing). Bytes past a stale offset (an instance died
between writing and recording its offset) are overwritten by the next chunk.

`LocalUploadStore` writes into a file on this host; `S3UploadStore` (STORAGE=s3) keeps each chunk as an
object of its own in the bucket, so a PATCH can land on any instance, even one that shares no disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import IO, Protocol

from vidpulse.server.errors import InsufficientStorage, NotFound, Unprocessable
from vidpulse.server.storage.base import SOURCE, Storage


class ChunkWriter(Protocol):
    offset: int  # bytes of the upload made durable so far

    async def write(self, data: bytes) -> None: ...

    async def checkpoint(self) -> int:
        """Make everything written so far durable; returns the new durable offset."""

    async def commit(self) -> int:
        """Make the whole chunk durable and close; returns the upload's new offset."""

    async def discard(self) -> None:
        """Close, keeping nothing of this chunk."""

    def abandon(self) -> None:
        """Close without touching the upload: another writer owns it now, or it is gone."""


class UploadStore(Protocol):
    def writer(self, session_id: str, offset: int) -> ChunkWriter: ...

    async def complete(self, session_id: str) -> None:
        """Every byte is in: make it the session's `source` object in the storage."""

    async def remove(self, session_id: str) -> None:
        """Forget whatever the store keeps for an unfinished upload."""


class LocalUploadStore:
    """The bytes go to the session's `source` file in this host's DATA_DIR as they arrive.

    With STORAGE=local that file is the `source` object itself (and DATA_DIR is shared by the instances
    when BACKEND=redis, as docs/deployment.md describes), so `complete` has nothing to do. With
    STORAGE=s3 it is this instance's private scratch: `complete` uploads it to the bucket and drops it
    (URL ingest, where one instance fetches the whole file, uses it so; tus uses S3UploadStore)."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    def writer(self, session_id: str, offset: int) -> LocalChunkWriter:
        return LocalChunkWriter(self.storage.paths(session_id).source, offset)

    async def complete(self, session_id: str) -> None:
        path = self.storage.paths(session_id).source
        await self.storage.upload(session_id, SOURCE, path)  # a no-op when the file is the object
        if self.storage.name != "local":
            await self.storage.release(session_id)

    async def remove(self, session_id: str) -> None:
        pass  # the file lives in the session folder, which the session's removal takes away


class LocalChunkWriter:
    def __init__(self, path: Path, offset: int) -> None:
        self.path = path
        self.start = self.offset = offset
        self._written = 0
        self._file: IO[bytes] | None = None

    def _open(self) -> IO[bytes]:
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            self._file = os.fdopen(fd, "r+b")
            self._file.seek(self.start)
        return self._file

    async def write(self, data: bytes) -> None:
        try:
            # In a thread: the loop goes on receiving (and serving others) while the disk is busy.
            await asyncio.to_thread(self._open().write, data)
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                raise InsufficientStorage("The server has no space left for this upload.") from exc
            raise
        self._written += len(data)

    async def checkpoint(self) -> int:
        if self._file is not None:
            self._file.flush()
        self.offset = self.start + self._written
        return self.offset

    async def commit(self) -> int:
        file = self._open()
        file.flush()
        file.truncate(self.start + self._written)  # drop bytes past the offset left by an earlier writer
        self._close()
        self.offset = self.start + self._written
        return self.offset

    async def discard(self) -> None:
        file = self._open()
        file.truncate(self.start)
        self._close()
        self.offset = self.start

    def abandon(self) -> None:
        self._close()

    def _close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


PARTS = "parts/"
# Chunks waiting for the bucket while a PATCH streams: a few of Starlette's ~64 KB pieces, so a
# slow store slows the client (back-pressure) instead of filling memory.
_QUEUED_CHUNKS = 16


def part_name(offset: int) -> str:
    return f"{PARTS}{offset:012d}"  # fixed width: the names list in offset order


class S3UploadStore:
    """Each PATCH's bytes become one object, `parts/{offset:012d}`, streamed to the bucket as they
    arrive; the completing PATCH joins the parts into `source` (one streamed multipart upload) and
    deletes them. Nothing is on an instance's disk, so a PATCH can land on any instance.

    An object exists only once its put completes, so mid-chunk checkpoints make nothing durable: an
    instance that dies mid-PATCH loses that chunk (the client resends it from the recorded offset); a
    dropped connection ends the put with what arrived."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    def writer(self, session_id: str, offset: int) -> S3ChunkWriter:
        return S3ChunkWriter(self.storage, session_id, offset)

    async def complete(self, session_id: str) -> None:
        await self.storage.write(session_id, SOURCE, self._joined(session_id))
        await self.storage.delete(session_id, PARTS)

    async def _joined(self, session_id: str) -> AsyncIterator[bytes]:
        """The parts' bytes in order, each part found at the offset where the one before ends (no
        listing: memory stays bounded however many chunks the client sent). A part written by an
        instance that died before recording its offset sits at the recorded offset, so the next chunk
        replaced it; the chain ends at the first offset with no part, the upload's length."""
        offset = 0
        while True:
            start = offset
            try:
                async for chunk in self.storage.read(session_id, part_name(offset)):
                    offset += len(chunk)
                    yield chunk
            except NotFound:
                if offset == 0:
                    raise Unprocessable("The upload lost its bytes; start it again.",
                                        code="upload_incomplete") from None
                return
            if offset == start:
                return

    async def remove(self, session_id: str) -> None:
        await self.storage.delete(session_id, PARTS)


class S3ChunkWriter:
    """Feeds one PATCH's bytes, through a bounded queue, to a put of `parts/{start}` running beside it."""

    def __init__(self, storage: Storage, session_id: str, offset: int) -> None:
        self.storage = storage
        self.session_id = session_id
        self.start = self.offset = offset
        self._written = 0
        self._queue: asyncio.Queue[bytes | BaseException | None] = asyncio.Queue(_QUEUED_CHUNKS)
        self._put: asyncio.Task[int] | None = None

    def _task(self) -> asyncio.Task[int]:
        if self._put is None:
            self._put = asyncio.create_task(self.storage.write(self.session_id, part_name(self.start),
                                                               self._chunks()))
        return self._put

    async def _chunks(self) -> AsyncIterator[bytes]:
        while True:
            item = await self._queue.get()
            if isinstance(item, BaseException):
                raise item  # the put fails and leaves no object
            if item is None:  # the end of the chunk
                return
            yield item

    async def _send(self, item: bytes | BaseException | None) -> None:
        task = self._task()
        queued = asyncio.ensure_future(self._queue.put(item))
        await asyncio.wait({queued, task}, return_when=asyncio.FIRST_COMPLETED)
        if not queued.done():  # the put failed (the store stopped answering): nobody reads the queue
            queued.cancel()
            task.result()
            raise RuntimeError("the part's put ended before its last byte")

    async def write(self, data: bytes) -> None:
        if data:
            await self._send(data)
            self._written += len(data)

    async def checkpoint(self) -> int:
        return self.offset  # nothing is durable before the put completes (see S3UploadStore)

    async def commit(self) -> int:
        if self._written:
            if self._put is not None and self._put.done():
                self._put.result()  # a failed put raises its error here
            await self._send(None)
            await self._task()
        self.offset = self.start + self._written
        return self.offset

    async def discard(self) -> None:
        if self._put is not None:
            # The put fails with _Discarded (possibly wrapped by the store's client), or had failed
            # already: either way it leaves no object.
            with contextlib.suppress(Exception):
                if not self._put.done():
                    await self._send(_Discarded())
                await self._put
        self.offset = self.start

    def abandon(self) -> None:
        if self._put is not None:
            # Another PATCH owns the upload now and may be writing this very part: this put must never
            # complete. Ending its stream with an error aborts it even if the cancel does not reach the
            # store's client; the queue has room once emptied, as nothing else feeds it.
            while not self._queue.empty():
                self._queue.get_nowait()
            self._queue.put_nowait(_Discarded())
            self._put.cancel()


class _Discarded(Exception):
    """Ends a part's put without storing it (a checksum mismatch keeps nothing of the chunk)."""
