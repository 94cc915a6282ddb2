"""Local storage: objects are files under `DATA_DIR/<session id>/` (see base.py for the names)."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import shutil
from collections.abc import AsyncIterable, AsyncIterator
from pathlib import Path

from vidpulse.server.errors import InsufficientStorage, NotFound
from vidpulse.server.storage.base import (
    ARTIFACTS,
    BACKEND_FILES,
    OBJECT_NAME,
    SESSION_DIR,
    SessionPaths,
    check_name,
    check_session_id,
    files_in,
)


class LocalStorage:
    """Objects are files under `DATA_DIR/<session id>/`, next to the memory backend's own files."""

    name = "local"

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir

    async def start(self) -> None:
        self.prepare()

    def prepare(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)

    async def close(self) -> None:
        pass

    async def ping(self) -> bool:
        return self.data_dir.is_dir()

    def paths(self, session_id: str) -> SessionPaths:
        return SessionPaths(self.data_dir / check_session_id(session_id))

    def _object(self, session_id: str, name: str) -> Path:
        return self.paths(session_id).root / check_name(name)

    async def write(self, session_id: str, name: str, chunks: AsyncIterable[bytes]) -> int:
        target = self._object(session_id, name)
        partial = target.with_name(f".{target.name}.partial")
        partial.parent.mkdir(parents=True, exist_ok=True)
        size = 0
        try:
            with partial.open("wb") as fh:
                async for chunk in chunks:
                    await asyncio.to_thread(fh.write, chunk)
                    size += len(chunk)
            os.replace(partial, target)
        except OSError as exc:
            partial.unlink(missing_ok=True)
            if exc.errno == errno.ENOSPC:
                raise InsufficientStorage("The server has no space left for this upload.") from exc
            raise
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        return size

    async def upload(self, session_id: str, name: str, path: Path) -> None:
        await asyncio.to_thread(_copy_unless_same, path, self._object(session_id, name))

    async def size(self, session_id: str, name: str) -> int | None:
        path = self._object(session_id, name)
        return path.stat().st_size if path.is_file() else None

    async def read(self, session_id: str, name: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        path = self._object(session_id, name)
        if not path.is_file():
            raise NotFound(f"No file {name!r} in session {session_id}.")
        with path.open("rb") as fh:
            fh.seek(start)
            left = None if end is None else max(0, end - start)
            while left is None or left > 0:
                chunk = await asyncio.to_thread(fh.read, 1 << 20 if left is None else min(1 << 20, left))
                if not chunk:
                    return
                if left is not None:
                    left -= len(chunk)
                yield chunk

    async def read_bytes(self, session_id: str, name: str) -> bytes:
        path = self._object(session_id, name)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError as exc:
            raise NotFound(f"No file {name!r} in session {session_id}.") from exc

    async def names(self, session_id: str, prefix: str = "") -> list[str]:
        return list(await self.sizes(session_id, prefix))

    async def sizes(self, session_id: str, prefix: str = "") -> dict[str, int]:
        return await asyncio.to_thread(_files_under, self.paths(session_id).root, prefix)

    async def delete(self, session_id: str, prefix: str) -> None:
        for name in await self.names(session_id, prefix):
            self._object(session_id, name).unlink(missing_ok=True)
        if prefix.endswith("/"):
            await asyncio.to_thread(_remove_empty_folders, self.paths(session_id).root / prefix)

    async def remove(self, session_id: str) -> None:
        self.remove_dir(session_id)

    def remove_dir(self, session_id: str) -> None:
        shutil.rmtree(self.paths(session_id).root, ignore_errors=True)

    def local_path(self, session_id: str, name: str) -> Path | None:
        paths = self.paths(session_id)
        if name.startswith(ARTIFACTS):
            return paths.artifact(name.removeprefix(ARTIFACTS))
        path = self._object(session_id, name)
        return path if path.is_file() else None

    async def fetch(self, session_id: str, name: str) -> Path:
        path = self._object(session_id, name)
        if not path.is_file():
            raise NotFound(f"No file {name!r} in session {session_id}.")
        return path

    async def sample(self, session_id: str, name: str) -> Path:
        return await self.fetch(session_id, name)

    async def publish(self, session_id: str, folder: Path, prefix: str) -> None:
        for path in await asyncio.to_thread(files_in, folder):
            await self.upload(session_id, prefix + path.name, path)

    async def release(self, session_id: str) -> None:
        pass

    # The memory backend's own files (manifest, event log) live beside the objects.

    def session_dirs(self) -> list[str]:
        if not self.data_dir.is_dir():
            return []
        return sorted(p.name for p in self.data_dir.iterdir() if p.is_dir() and SESSION_DIR.match(p.name))

    def remove_orphans(self, owned: set[str]) -> list[str]:
        """Remove session-shaped folders that no session owns (left by a crash mid-upload)."""
        orphans = [name for name in self.session_dirs() if name not in owned]
        for name in orphans:
            self.remove_dir(name)
        return orphans


def _files_under(root: Path, prefix: str) -> dict[str, int]:
    if not root.is_dir():
        return {}
    found = {p.relative_to(root).as_posix(): p for p in root.rglob("*") if p.is_file()}
    return {name: found[name].stat().st_size for name in sorted(found)
            if name.startswith(prefix) and name not in BACKEND_FILES and OBJECT_NAME.match(name)}


def _remove_empty_folders(top: Path) -> None:
    """The folders below `top` that a delete left empty (an attempt's artifacts), deepest first."""
    if top.is_dir():
        for folder in sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
            with contextlib.suppress(OSError):  # not empty: something was written meanwhile
                folder.rmdir()


def _copy_unless_same(path: Path, target: Path) -> None:
    if path.resolve() != target.resolve():
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
