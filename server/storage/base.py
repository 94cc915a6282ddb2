"""Where a session's files live: the `Storage` protocols and the names they share; the local
implementation (`DATA_DIR`, the default) is in `local.py`, the S3 one in `s3.py`.

A session's files are objects named relative to the session: `source` (the upload),
`artifacts/<attempt>/NAME` (what an attempt of the analysis wrote: a superseded attempt that comes
back writes only its own folder; the session names the attempt whose artifacts it shows, see
sessions/names.py), and whatever else a feature needs under a folder of its own (a resumable
upload may keep its chunks as `parts/000000000000`, named by offset so they list in order, and
join them into `source` with `write(sid, "source", chained reads)`).
Object names are checked by `check_name`; on disk, `SessionPaths.artifact` is the one path check.

Every host also has `DATA_DIR`: with `local` it holds the objects themselves; with `s3` it is
private scratch space (a worker's copy of the source, the artifacts before they are uploaded, an
API instance's probe sample), emptied as soon as the files are in the bucket.
"""
from __future__ import annotations

import json
import os
import re
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from vidpulse.server.errors import ServiceUnavailable

SESSION_DIR = re.compile(r"^s_[0-9a-f]{32}$")
_UNSAFE = re.compile(r"[^A-Za-z0-9._ -]+")
# `source`, `artifacts/2/scene-000.jpg`, `parts/000000000000`: at most one folder (two for an
# attempt's artifacts), no dot-names.
OBJECT_NAME = re.compile(r"^(?:artifacts/[0-9]+/|[A-Za-z0-9_-][A-Za-z0-9._-]*/)?[A-Za-z0-9_-][A-Za-z0-9._ -]*$")
# The memory backend keeps its manifest and event log in the session folder; they are not objects.
BACKEND_FILES = frozenset({"session.json", "events.jsonl", "session.json.tmp"})
ARTIFACTS = "artifacts/"
_ATTEMPT = re.compile(r"^[0-9]+$")
SOURCE = "source"
# What the probe reads of a large upload: its first and last bytes (the container header sits at
# one end or the other: MP4 with `moov` first or last, MKV cues, AVI index).
PROBE_HEAD_BYTES = 8 * 1024 * 1024
PROBE_TAIL_BYTES = 8 * 1024 * 1024

def artifacts_prefix(attempt: int | None) -> str:
    """Where an attempt's artifacts are stored; None: the flat folder of an older version."""
    return ARTIFACTS if attempt is None else f"{ARTIFACTS}{attempt}/"


class StorageUnavailable(ServiceUnavailable):
    """The store did not answer (S3 down or unreachable): 503 to a client; a job waits and retries."""

    slug = "storage-unavailable"


def check_name(name: str) -> str:
    """An object name is `NAME` or `FOLDER/NAME`, with no way out of the session."""
    if not OBJECT_NAME.match(name) or ".." in name.split("/"):
        raise ValueError(f"not an object name: {name!r}")
    return name


def check_session_id(session_id: str) -> str:
    if not SESSION_DIR.match(session_id):
        raise ValueError(f"not a session id: {session_id!r}")
    return session_id


@dataclass(frozen=True)
class SessionPaths:
    """A session's folder on this host: its files (local) or this host's scratch copy (s3)."""

    root: Path

    @property
    def source(self) -> Path:
        return self.root / SOURCE

    @property
    def artifacts(self) -> Path:
        return self.root / "artifacts"

    def artifacts_of(self, attempt: int) -> Path:
        """The folder an attempt writes its artifacts to (artifacts_prefix)."""
        return self.artifacts / str(attempt)

    @property
    def manifest(self) -> Path:
        return self.root / "session.json"

    @property
    def events(self) -> Path:
        return self.root / "events.jsonl"

    @property
    def webhooks(self) -> Path:
        return self.root / "webhooks.json"

    @property
    def report(self) -> Path:
        return self.artifacts / "report.json"

    def artifact(self, name: str) -> Path | None:
        """The artifact `name` (`NAME`, or `ATTEMPT/NAME`), or None when the name could leave the
        artifacts folder (or its attempt's)."""
        attempt, _, base = name.rpartition("/")
        if (attempt and not _ATTEMPT.match(attempt)) or not base or base != Path(base).name or base.startswith("."):
            return None
        folder = self.artifacts / attempt if attempt else self.artifacts
        candidate = (folder / base).resolve()
        if candidate.parent != folder.resolve() or not candidate.is_file():
            return None
        return candidate


class ObjectStore(Protocol):
    """A session's objects, by name (see the module docstring). Every method that talks to a remote
    store raises `StorageUnavailable` when it does not answer; none blocks the event loop."""


    async def write(self, session_id: str, name: str, chunks: AsyncIterable[bytes]) -> int:
        """Store the bytes `chunks` yields as one object and return its size; streamed (an S3
        multipart upload), never held in memory. Atomic: the object exists only once complete;
        if `chunks` raises, the exception passes through and nothing is left."""

    async def upload(self, session_id: str, name: str, path: Path) -> None:
        """Store a local file as the object `name` (a no-op when that file is the object)."""

    async def size(self, session_id: str, name: str) -> int | None:
        """The object's size, or None when there is no such object."""

    def read(self, session_id: str, name: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        """The object's bytes from `start` to `end` (exclusive; None: to the end), streamed.
        Raises NotFound when there is no such object."""

    async def read_bytes(self, session_id: str, name: str) -> bytes:
        """A small object whole (report.json). Raises NotFound."""

    async def names(self, session_id: str, prefix: str = "") -> list[str]:
        """The session's object names that start with `prefix`, sorted."""

    async def sizes(self, session_id: str, prefix: str = "") -> dict[str, int]:
        """Like `names`, with each object's size: one listing (e.g. a resumable upload's offset
        is the sum of its parts' sizes)."""

    async def delete(self, session_id: str, prefix: str) -> None:
        """Remove every object of the session whose name starts with `prefix` (`""`: all)."""

    async def remove(self, session_id: str) -> None:
        """Remove every object of the session and its folder on this host."""

    def local_path(self, session_id: str, name: str) -> Path | None:
        """Where the object is on this host's disk (local storage), after the path check; None
        with s3, or when there is no such object."""


class HostFiles(Protocol):
    """This host's folder of each session: where a worker reads the source and writes artifacts, and
    where the probe reads a sample."""

    def paths(self, session_id: str) -> SessionPaths:
        """The session's folder on this host (see SessionPaths)."""


    async def fetch(self, session_id: str, name: str) -> Path:
        """A local file with the object's bytes: the object itself (local) or a copy in scratch
        (s3). Raises NotFound."""

    async def sample(self, session_id: str, name: str) -> Path:
        """A local file the probe can read: the object itself (local), or a sparse scratch file
        of the same size holding only the first and last few MB (s3)."""

    async def publish(self, session_id: str, folder: Path, prefix: str) -> None:
        """Store every file of `folder` as `prefix + file name` (a no-op when the folder is
        where those objects already live)."""

    async def release(self, session_id: str) -> None:
        """Drop this host's scratch copy of the session (nothing with local storage)."""


class Storage(ObjectStore, HostFiles, Protocol):
    """Sessions' files, shared by every API instance and worker host of a deployment.

    Names are relative to the session (see the module docstring). Every method that talks to a
    remote store raises `StorageUnavailable` when it does not answer; none blocks the event loop.
    """

    name: str  # "local" or "s3"
    data_dir: Path  # this host's DATA_DIR

    async def start(self) -> None:
        """Create what is needed (DATA_DIR); with s3, empty this host's scratch of what an
        earlier run left (a killed job's files: the job runs again from the bucket)."""

    async def close(self) -> None: ...

    async def ping(self) -> bool:
        """The store answers (readiness)."""


def files_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []


def write_json_atomic(path: Path, payload: Any) -> None:
    write_text_atomic(path, json.dumps(payload, separators=(",", ":")))


def write_text_atomic(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def safe_filename(name: str | None, fallback: str = "upload") -> str:
    """A display name for an uploaded file: no directories, no control characters, bounded length."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = _UNSAFE.sub("_", base).strip(" .")[:200]
    return cleaned or fallback
