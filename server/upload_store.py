"""Where the bytes of a resumable upload or a URL ingest go while they arrive: the seam between the
upload protocols (server/tus.py, server/ingest.py) and the storage.

A chunk is written through a ChunkWriter that starts at the upload's committed offset. `checkpoint`
makes what arrived so far durable (a dropped connection keeps it); `commit` ends the chunk; `discard`
forgets all of it (a checksum mismatch keeps nothing). Bytes past a stale offset (an instance died
between writing and recording its offset) are overwritten by the next chunk.
"""

from __future__ import annotations

import asyncio
import errno
import os
from pathlib import Path
from typing import IO, Protocol

from .errors import InsufficientStorage
from .storage import SOURCE, Storage


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
    when BACKEND=redis, as DESIGN.md's table of backends says), so `complete` has nothing to do. With
    STORAGE=s3 it is this instance's private scratch: `complete` uploads it to the bucket and drops it.
    An S3 upload must then stay on one instance until its last byte (see docs/api.md)."""

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
