"""Admission: a video becomes a session once its bytes are stored, its options are valid and the
probe says it is a video; only then is it queued. A refused upload leaves nothing behind.

Multipart uploads are admitted in one step (`create`); resumable uploads and URL ingest open a
session in `uploading` first, record its progress, and finish it with the last byte."""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from vidpulse.processing import AnalysisOptions
from vidpulse.processing.schema import VideoInfo
from vidpulse.server import schemas
from vidpulse.server.backends.protocols import Backend
from vidpulse.server.config import Settings
from vidpulse.server.errors import TooManyRequests, Unprocessable
from vidpulse.server.jobs.child import DONE, ERROR
from vidpulse.server.jobs.pool import TIMED_OUT, Prober
from vidpulse.server.logs import bind_session
from vidpulse.server.models import (
    EventType,
    Session,
    SessionState,
    StoredUpload,
    UploadProgress,
    Via,
    isoformat,
    new_session_id,
    utcnow,
)
from vidpulse.server.notify.webhooks import CALLBACK_OPTION
from vidpulse.server.ops.tracing import current_traceparent
from vidpulse.server.sessions.lifecycle import SessionLifecycle
from vidpulse.server.sessions.options import parse_options
from vidpulse.server.storage.base import SOURCE, Storage, StorageUnavailable, safe_filename
from vidpulse.server.uploads.multipart import MultipartBody, receive_upload

log = logging.getLogger("vidpulse.uploads")

# 8K UHD: larger frames are refused after the probe, before any analysis (a "video bomb").
MAX_PIXELS = 7680 * 4320
UPLOAD_STAGE = "upload"


@dataclass
class Admission:
    settings: Settings
    lifecycle: SessionLifecycle
    backend: Backend
    prober: Prober

    @property
    def storage(self) -> Storage:
        return self.lifecycle.storage

    async def create(self, body: MultipartBody, owner: str | None) -> Session:
        """A multipart upload: stored, checked, probed and queued before the request is answered."""
        await self.check_capacity()
        session_id = new_session_id()
        bind_session(session_id)

        async def store(chunks: AsyncIterator[bytes]) -> int:
            return await self.storage.write(session_id, SOURCE, chunks)

        try:
            upload = await receive_upload(body, store, self.settings.max_upload_bytes)
            options, callback_url = await self.options(upload.options())
            video = await self._probe(session_id)
            await self.check_capacity()
        except BaseException:
            await self._discard(session_id)
            raise
        session = Session(id=session_id, filename=safe_filename(upload.filename), owner=owner, options=options,
                          video=video)
        await self.submit(session, callback_url)
        self.lifecycle.metrics.upload_bytes.inc(upload.size)
        log.info("session created from %s (%d bytes)", session.filename, upload.size)
        return session

    async def submit(self, session: Session, callback_url: str | None) -> None:
        """A new session stored and queued, or (on any failure) nothing of it left."""
        session.trace, session.queued_at = current_traceparent(), utcnow()  # its trace goes on with the job
        try:
            # Registered first: the job may finish before this returns, and its webhook must fire.
            await self.lifecycle.webhooks.register(session.id, callback_url)
            position = await self.backend.sessions.submit(session)
            await self.lifecycle.log(session, EventType.QUEUED, schemas.QueuedData(position=position))
        except BaseException:
            await self._undo_creation(session)
            raise

    async def options(self, raw: dict[str, Any], kind: type[AnalysisOptions] = AnalysisOptions,
                      ) -> tuple[AnalysisOptions, str | None]:
        """The analysis options (of `kind`), and this session's webhook URL (`callback_url`, checked by
        the outbound guard: a 422 naming it when refused)."""
        analysis = {name: value for name, value in raw.items() if name != CALLBACK_OPTION}
        options = parse_options(analysis, kind)
        return options, await self.lifecycle.webhooks.check_callback(raw.get(CALLBACK_OPTION))

    # Resumable uploads and URL ingest: the session exists from the first byte, `uploading` ----

    async def open_upload(self, owner: str | None, filename: str, options: dict[str, Any], length: int | None,
                          via: Via, metadata: str | None = None) -> Session:
        """A session in `uploading`, for a tus upload or a URL ingest. No folder yet: the upload store
        makes one when it writes to this host's disk (with S3, a tus upload never does)."""
        parsed, callback_url = await self.options(options)
        await self.check_capacity()
        session_id = new_session_id()
        bind_session(session_id)
        upload = StoredUpload(length=length, via=via, expires_at=self._upload_expiry(), metadata=metadata or None)
        session = Session(id=session_id, filename=safe_filename(filename), owner=owner, options=parsed,
                          state=SessionState.UPLOADING, upload=upload, progress=_upload_progress(upload, 0, None),
                          trace=current_traceparent())
        try:
            await self.backend.sessions.add(session)
            await self.lifecycle.log(session, EventType.STAGE,
                                     schemas.StageData.model_validate({"stage": UPLOAD_STAGE, "attempt": 0}))
            await self.lifecycle.webhooks.register(session.id, callback_url)
        except BaseException:
            await self.lifecycle.remove(session)
            raise
        log.info("upload opened via %s for %s (%s bytes)", via, session.filename, length)
        return session

    def _upload_expiry(self) -> str:
        return isoformat(utcnow() + timedelta(seconds=self.settings.upload_ttl_s)) or ""

    async def record_upload(self, session: Session, offset: int, received: int | None = None,
                            bytes_per_s: float | None = None, log_event: bool = True,
                            length: int | None = None) -> None:
        """The upload's durable offset (and, mid-chunk, the bytes received), with a progress event when
        `log_event` (the caller thins them to PROGRESS_HZ)."""
        assert session.upload is not None
        upload = session.upload.advanced(offset=offset, expires_at=self._upload_expiry(),
                                         length=session.upload.length if length is None else length)
        session.upload = upload
        progress = _upload_progress(upload, offset if received is None else received, bytes_per_s)
        session.progress = progress
        await self.backend.sessions.save_upload(session)
        if log_event:
            await self.lifecycle.log(session, EventType.PROGRESS, schemas.ProgressData(progress))

    async def still_uploading(self, session_id: str) -> bool:
        """False once the session was cancelled, deleted or expired while its bytes were arriving."""
        current = await self.backend.sessions.get(session_id)
        return current is not None and current.state is SessionState.UPLOADING

    async def finish_upload(self, session: Session) -> None:
        """Every byte is in (the store made it the session's `source`): probe it, then queue it. Not a
        video raises Unprocessable; the caller decides between removing the session (tus answers 422) and
        failing it (URL ingest has no one to answer)."""
        video = await self._probe(session.id)
        if not await self.still_uploading(session.id):
            return
        assert session.upload is not None
        size = session.upload.offset
        session.upload = session.upload.advanced(expires_at=None)  # complete: it no longer expires
        session.video, session.state, session.progress = video, SessionState.QUEUED, None
        session.queued_at = utcnow()
        await self.backend.sessions.save(session)
        await self.backend.sessions.save_upload(session)
        await self.lifecycle.enqueue(session)
        self.lifecycle.metrics.upload_bytes.inc(size)
        log.info("upload of %s complete (%d bytes)", session.filename, size)

    async def drop_upload(self, session: Session, code: str, message: str) -> None:
        """An upload refused at its end: watchers get `failed`, then nothing of it is left."""
        await self.lifecycle.log(session, EventType.FAILED, schemas.SessionError(code=code, message=message))
        await self.lifecycle.remove(session)

    async def _discard(self, session_id: str) -> None:
        """A refused upload leaves nothing: no object, no scratch file."""
        try:
            await self.storage.remove(session_id)
        except StorageUnavailable:
            log.warning("could not remove the refused upload %s from storage", session_id)

    async def _undo_creation(self, session: Session) -> None:
        """Undo a creation that failed half-way. If the backend is gone too, whatever is left is
        found by `reconcile` once it is back (its job runs, or it is queued again)."""
        try:
            await self.backend.sessions.remove(session.id)
        except Exception:
            log.warning("could not undo the creation of %s; reconciliation will see to it", session.id)
            return
        await self._discard(session.id)

    async def _probe(self, session_id: str) -> VideoInfo:
        sample = await self.storage.sample(session_id, SOURCE)
        try:
            outcome = await self.prober.probe(str(sample))
        finally:
            await self.storage.release(session_id)
        if outcome.kind == DONE:
            video = VideoInfo.model_validate(outcome.payload)
            if video.width * video.height > MAX_PIXELS:
                raise Unprocessable(f"The video is {video.width}x{video.height}; at most "
                                    f"{MAX_PIXELS // 1_000_000} megapixels per frame are analysed.", code="too_large")
            return video
        if outcome.kind == TIMED_OUT:
            raise Unprocessable("The file took too long to probe; it does not look like a video.",
                                code="probe_timeout")
        if outcome.kind == ERROR:
            raise Unprocessable(outcome.payload["message"], code=outcome.payload["code"])
        raise Unprocessable("The file crashed the video probe; it is not a video this server can read.",
                            code="undecodable")

    async def check_capacity(self) -> None:
        queued = len(await self.backend.jobs.queued())
        if queued >= self.settings.max_queued:
            raise TooManyRequests(f"The queue is full ({queued} videos waiting); try again later.",
                                  retry_after_s=self._retry_after(queued))

    def _retry_after(self, queued: int) -> int:
        slots = max(1, self.settings.workers)
        return max(1, min(600, math.ceil(self.lifecycle.typical_job_s() * queued / slots / 10)))


def _upload_progress(upload: StoredUpload, received: int, bytes_per_s: float | None) -> UploadProgress:
    length = upload.length
    fraction = round(min(1.0, received / length), 4) if length else 0.0
    eta = (length - received) / bytes_per_s if length and bytes_per_s else None
    return UploadProgress(fraction=fraction, stage="upload", offset=received, length=length,
                                  bytes_per_s=None if bytes_per_s is None else round(bytes_per_s),
                                  eta_s=None if eta is None else max(0.0, round(eta, 1)))
