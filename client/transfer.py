"""Request bodies and downloads streamed in chunks, with progress: nothing is held in memory whole."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

CHUNK = 256 * 1024

OnProgress = Callable[[int], object]


@dataclass(frozen=True)
class MultipartUpload:
    """`file` and, when given, `options` (JSON) as multipart/form-data with a known length, so
    the server can refuse a too-large upload from its Content-Length before any byte is sent."""

    path: Path
    options: Mapping[str, Any] | None = None
    boundary: str = field(default_factory=lambda: secrets.token_hex(16))

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    @property
    def head(self) -> bytes:
        parts = b""
        if self.options is not None:
            parts += (f'--{self.boundary}\r\nContent-Disposition: form-data; name="options"\r\n'
                      f"Content-Type: application/json\r\n\r\n{json.dumps(dict(self.options))}\r\n").encode()
        name = self.path.name.replace('"', "%22").replace("\r", "").replace("\n", "")
        parts += (f'--{self.boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
                  "Content-Type: application/octet-stream\r\n\r\n").encode()
        return parts

    @property
    def tail(self) -> bytes:
        return f"\r\n--{self.boundary}--\r\n".encode()

    def headers(self) -> dict[str, str]:
        length = len(self.head) + self.path.stat().st_size + len(self.tail)
        return {"content-type": self.content_type, "content-length": str(length)}

    def chunks(self, on_progress: OnProgress | None = None) -> Iterator[bytes]:
        yield self.head
        with self.path.open("rb") as source:
            yield from file_chunks(source, on_progress)
        yield self.tail

    async def achunks(self, on_progress: OnProgress | None = None) -> AsyncIterator[bytes]:
        yield self.head
        with self.path.open("rb") as source:
            async for chunk in afile_chunks(source, on_progress):
                yield chunk
        yield self.tail


def file_chunks(source: IO[bytes], on_progress: OnProgress | None, limit: int | None = None) -> Iterator[bytes]:
    """The file's bytes from its current position (at most `limit`); `on_progress(total sent)`
    after each chunk, counting from the position where it started."""
    sent = 0
    while limit is None or sent < limit:
        chunk = source.read(CHUNK if limit is None else min(CHUNK, limit - sent))
        if not chunk:
            break
        yield chunk
        sent += len(chunk)
        if on_progress is not None:
            on_progress(sent)


async def afile_chunks(source: IO[bytes], on_progress: OnProgress | None,
                       limit: int | None = None) -> AsyncIterator[bytes]:
    # Disk reads go to a thread: a slow disk must not stall the caller's event loop.
    chunks = file_chunks(source, on_progress, limit)
    while (chunk := await asyncio.to_thread(next, chunks, None)) is not None:
        yield chunk


def progress_from(offset: int, on_progress: OnProgress | None) -> OnProgress | None:
    """`on_progress` for bytes sent from `offset` on, reporting the total."""
    if on_progress is None:
        return None
    return lambda sent: on_progress(offset + sent)


def download_target(path: str | Path, name: str) -> Path:
    """`path`, or `path/name` when `path` is a folder."""
    target = Path(path)
    return target / name if target.is_dir() else target


def partial_path(path: Path) -> Path:
    """Where a download is written until it is complete: the final name never holds half a file."""
    return path.with_name(f".{path.name}.part")


def finish_download(path: Path) -> Path:
    os.replace(partial_path(path), path)
    return path
