"""Resumable uploads with tus 1.0.0 (https://tus.io/protocols/resumable-upload): creation,
creation-with-upload, termination, expiration and checksum.

The upload's id is the session's id: the session exists from the POST on, in state `uploading`, and its
offset lives with the session in the backend, so a PATCH can land on any instance (BACKEND=redis). One
PATCH at a time per upload: a backend lock, refreshed while the bytes arrive. Progress is logged as
`progress` events of stage `upload`, thinned to PROGRESS_HZ, so one stream shows the upload and then
the analysis. The PATCH that brings the last byte probes the file: a video is queued, anything else is
answered 422 and removed.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC
from email.utils import format_datetime
from typing import Any

from vidpulse.server.config import Settings
from vidpulse.server.errors import (
    BadRequest,
    ChecksumMismatch,
    Conflict,
    Gone,
    Locked,
    NotFound,
    PayloadTooLarge,
    Unprocessable,
    UnsupportedMediaType,
)
from vidpulse.server.models import Session, SessionState, StoredUpload, parse_time
from vidpulse.server.sessions.control import SessionControl
from vidpulse.server.uploads.admission import Admission
from vidpulse.server.uploads.multipart import options_json
from vidpulse.server.uploads.staging import ChunkWriter, UploadStore

log = logging.getLogger("vidpulse.tus")

TUS_VERSION = "1.0.0"
EXTENSIONS = "creation,creation-with-upload,termination,expiration,checksum"
CHUNK_TYPE = "application/offset+octet-stream"
CHECKSUMS: dict[str, Callable[[], Any]] = {"sha1": hashlib.sha1, "sha256": hashlib.sha256, "md5": hashlib.md5}
# For CORS: what a browser client may send and read.
TUS_REQUEST_HEADERS = ("Tus-Resumable", "Upload-Length", "Upload-Metadata", "Upload-Offset", "Upload-Checksum",
                       "X-HTTP-Method-Override", "X-Requested-With")
TUS_RESPONSE_HEADERS = ("Tus-Resumable", "Tus-Version", "Tus-Extension", "Tus-Max-Size", "Tus-Checksum-Algorithm",
                        "Upload-Offset", "Upload-Length", "Upload-Expires", "Upload-Metadata")
_LOCK_TTL_S = 30.0
# A PATCH that finds another one in flight waits this long (the earlier connection may just have
# dropped and not been noticed yet) before answering 423.
_LOCK_WAIT_S = 3.0
_MAX_METADATA = 4096


class _LockLost(Conflict):
    """This PATCH stalled past the lock's lifetime: another may write now; this one touches nothing."""


class _Abandoned(Gone):
    """The session was cancelled, deleted or expired while the bytes arrived."""


@dataclass(frozen=True)
class Checksum:
    algorithm: str
    digest: bytes

    @classmethod
    def parse(cls, header: str | None) -> Checksum | None:
        if header is None:
            return None
        algorithm, _, encoded = header.strip().partition(" ")
        if algorithm.lower() not in CHECKSUMS:
            raise BadRequest(f"Upload-Checksum algorithm {algorithm!r} is not supported; use one of "
                             f"{', '.join(CHECKSUMS)}.", field="upload-checksum")
        try:
            digest = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise BadRequest("Upload-Checksum must be an algorithm and a base64 digest.",
                             field="upload-checksum") from exc
        return cls(algorithm.lower(), digest)


def parse_metadata(header: str | None) -> dict[str, str]:
    """`Upload-Metadata`: comma-separated `key base64value` pairs (the value may be absent)."""
    if not header:
        return {}
    if len(header) > _MAX_METADATA:
        raise BadRequest("Upload-Metadata is longer than 4 KB.", field="upload-metadata")
    metadata: dict[str, str] = {}
    for pair in header.split(","):
        key, _, value = pair.strip().partition(" ")
        if not key:
            continue
        try:
            metadata[key] = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, ValueError) as exc:
            raise BadRequest(f"Upload-Metadata value of {key!r} is not base64 of UTF-8 text.",
                             field="upload-metadata") from exc
    return metadata


def parse_int_header(value: str | None, name: str) -> int:
    if value is None or not value.strip().isdigit():
        raise BadRequest(f"{name} must be a whole number of bytes.", field=name.lower())
    return int(value)


def http_date(iso: str | None) -> str | None:
    moment = parse_time(iso)
    return None if moment is None else format_datetime(moment.astimezone(UTC), usegmt=True)


@dataclass(frozen=True)
class UploadState:
    """What HEAD and PATCH answer with."""

    offset: int
    length: int | None
    expires: str | None
    metadata: str | None

    @classmethod
    def of(cls, session: Session) -> UploadState:
        upload = session.upload or StoredUpload(via="tus")
        offset, length = upload.offset, upload.length
        done = session.state is not SessionState.UPLOADING
        return cls(length if done and length is not None else offset, length,
                   None if done else http_date(upload.expires_at), upload.metadata)

    def headers(self) -> dict[str, str]:
        headers = {"Upload-Offset": str(self.offset)}
        if self.length is not None:
            headers["Upload-Length"] = str(self.length)
        if self.expires:
            headers["Upload-Expires"] = self.expires
        return headers


class TusService:
    def __init__(self, settings: Settings, admission: Admission, control: SessionControl,
                 store: UploadStore) -> None:
        self.settings = settings
        self.admission = admission
        self.control = control
        self.store = store
        self._last_event: dict[str, float] = {}

    def capabilities(self) -> dict[str, str]:
        return {"Tus-Version": TUS_VERSION, "Tus-Extension": EXTENSIONS,
                "Tus-Checksum-Algorithm": ",".join(CHECKSUMS), "Tus-Max-Size": str(self.settings.max_upload_bytes)}

    async def create(self, owner: str | None, length_header: str | None, metadata_header: str | None,
                     content_type: str | None, body: AsyncIterator[bytes] | None,
                     checksum: Checksum | None) -> tuple[Session, UploadState]:
        if length_header is None:
            raise BadRequest("Upload-Length is required (deferred lengths are not supported).",
                             field="upload-length")
        length = parse_int_header(length_header, "Upload-Length")
        if length > self.settings.max_upload_bytes:
            raise PayloadTooLarge(f"The upload is larger than the {self.settings.max_upload_mb} MB limit.")
        if length == 0:
            raise Unprocessable("The upload is empty; a video has at least one byte.", field="upload-length")
        metadata = parse_metadata(metadata_header)
        filename = metadata.get("filename") or metadata.get("name") or "upload"
        options = options_json(metadata.get("options", ""), "metadata")
        session = await self.admission.open_upload(owner, filename, options, length, "tus", metadata_header)
        if content_type is not None and content_type.split(";")[0].strip() == CHUNK_TYPE and body is not None:
            # creation-with-upload: the body is the first chunk.
            session = await self.patch(session.id, owner, 0, CHUNK_TYPE, None, body, checksum)
        return session, UploadState.of(session)

    async def head(self, session_id: str, owner: str | None) -> UploadState:
        return UploadState.of(await self._upload(session_id, owner))

    async def patch(self, session_id: str, owner: str | None, offset: int, content_type: str | None,
                    content_length: str | None, body: AsyncIterator[bytes], checksum: Checksum | None) -> Session:
        if (content_type or "").split(";")[0].strip() != CHUNK_TYPE:
            raise UnsupportedMediaType(f"A PATCH carries Content-Type: {CHUNK_TYPE}.")
        session = await self._upload(session_id, owner)
        length = _upload(session).length or 0
        if content_length is not None and content_length.isdigit() and offset + int(content_length) > length:
            raise PayloadTooLarge(f"The chunk would take the upload past its Upload-Length of {length} bytes.")
        if session.state is not SessionState.UPLOADING:
            if offset == length:  # a client retrying the PATCH that completed the upload
                return session
            raise Conflict(f"The upload is complete at offset {length}.")
        token = uuid.uuid4().hex
        await self._lock(session_id, token)
        try:
            # Read again under the lock: another instance may have moved the offset meanwhile.
            session = await self._upload(session_id, owner)
            self._check_offset(session, offset)
            await self._receive(session, body, checksum, token)
            if _upload(session).offset == length:
                await self._complete(session)
        finally:
            await self.admission.backend.locks.unlock(_lock_name(session_id), token)
        return session

    async def terminate(self, session_id: str, owner: str | None) -> None:
        await self._upload(session_id, owner, allow_finished=True)
        await self.control.delete(session_id, owner)
        await self.store.remove(session_id)
        self._last_event.pop(session_id, None)

    async def _upload(self, session_id: str, owner: str | None, allow_finished: bool = False) -> Session:
        session = await self.control.queries.visible(session_id, owner)
        if session.via != "tus":
            raise NotFound(f"No upload {session_id!r}; that session was not created with tus.")
        # A failed or cancelled session's upload is gone: a client starts a new one. A completed
        # upload whose analysis is queued, running or done answers with its full length.
        if allow_finished or session.state not in (SessionState.FAILED, SessionState.CANCELLED):
            return session
        raise Gone(f"The upload {session_id} is gone: its session was {session.state.value}.",
                   state=session.state.value)

    def _check_offset(self, session: Session, offset: int) -> None:
        if session.state is not SessionState.UPLOADING:
            raise Conflict("The upload completed while this PATCH waited.")
        current = _upload(session).offset
        if offset != current:
            raise Conflict(f"Upload-Offset is {offset} but the upload is at {current}: ask with HEAD and resume "
                           "from there.", offset=current)

    async def _lock(self, session_id: str, token: str) -> None:
        locks = self.admission.backend.locks
        deadline = time.monotonic() + _LOCK_WAIT_S
        while not await locks.try_lock(_lock_name(session_id), token, _LOCK_TTL_S):
            if time.monotonic() > deadline:
                raise Locked("Another PATCH of this upload is still in progress; retry in a moment.")
            await asyncio.sleep(0.1)

    async def _receive(self, session: Session, body: AsyncIterator[bytes], checksum: Checksum | None,
                       token: str) -> None:
        upload = _upload(session)
        length, start = upload.length or 0, upload.offset
        writer = self.store.writer(session.id, start)
        hasher = CHECKSUMS[checksum.algorithm]() if checksum else None
        received, started, last_check = start, time.monotonic(), time.monotonic()
        interval = 1.0 / self.settings.progress_hz
        try:
            async for chunk in body:
                if received + len(chunk) > length:
                    raise PayloadTooLarge(f"The chunk goes past the Upload-Length of {length} bytes.")
                if time.monotonic() - last_check >= interval:
                    last_check = time.monotonic()
                    await self._checkpoint(session, writer, start, received, started, token,
                                           verified=hasher is None)
                await writer.write(chunk)
                if hasher is not None:
                    hasher.update(chunk)
                received += len(chunk)
        except (_LockLost, _Abandoned):
            writer.abandon()
            raise
        except BaseException:
            # A dropped connection (ClientDisconnect) or a refusal: what arrived is kept, and tus resumes
            # from it, unless a checksum was promised and cannot be verified now.
            with contextlib.suppress(OSError):
                await (writer.discard() if hasher else writer.commit())
                await self.admission.record_upload(session, writer.offset, log_event=False)
            raise
        if hasher is not None and checksum is not None and hasher.digest() != checksum.digest:
            await writer.discard()
            raise ChecksumMismatch(f"The chunk's {checksum.algorithm} does not match Upload-Checksum; "
                                   "nothing of it was kept.")
        offset = await writer.commit()
        elapsed = max(1e-3, time.monotonic() - started)
        await self.admission.record_upload(session, offset, bytes_per_s=(offset - start) / elapsed,
                                         log_event=self._due(session.id) or offset == length)

    async def _checkpoint(self, session: Session, writer: ChunkWriter, start: int, received: int, started: float,
                          token: str, verified: bool) -> None:
        """Every 1/PROGRESS_HZ s mid-chunk: keep the lock, stop if the session was cancelled or deleted,
        make what arrived durable and log progress."""
        if not await self.admission.backend.locks.refresh_lock(_lock_name(session.id), token, _LOCK_TTL_S):
            raise _LockLost("This PATCH lost its lock (it stalled too long); resume from HEAD.")
        if not await self.admission.still_uploading(session.id):
            raise _Abandoned(f"The upload {session.id} was cancelled or deleted.")
        offset = await writer.checkpoint() if verified else writer.offset
        rate = (received - start) / max(1e-3, time.monotonic() - started)
        await self.admission.record_upload(session, offset, received=received, bytes_per_s=rate,
                                         log_event=self._due(session.id))

    def _due(self, session_id: str) -> bool:
        now = time.monotonic()
        if now - self._last_event.get(session_id, 0.0) < 1.0 / self.settings.progress_hz:
            return False
        self._last_event[session_id] = now
        return True

    async def _complete(self, session: Session) -> None:
        self._last_event.pop(session.id, None)
        try:
            await self.store.complete(session.id)
            await self.admission.finish_upload(session)
        except Unprocessable as exc:
            await self.admission.drop_upload(session, str(exc.extra.get("code", "undecodable")), exc.detail)
            await self.store.remove(session.id)
            raise


def _lock_name(session_id: str) -> str:
    return f"upload:{session_id}"


def _upload(session: Session) -> StoredUpload:
    assert session.upload is not None  # a tus session has its upload from creation on
    return session.upload
