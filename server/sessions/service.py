"""The session service: every state change of a session, and the event it logs, happens here."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import logging
import math
from collections import deque
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from starlette.requests import Request

from vidpulse.processing import AnalysisOptions, OptionsError
from vidpulse.server import schemas
from vidpulse.server.backends import Backend
from vidpulse.server.config import Settings
from vidpulse.server.errors import Conflict, NotFound, TooManyRequests, Unprocessable
from vidpulse.server.jobs.child import DONE, ERROR
from vidpulse.server.jobs.pool import TIMED_OUT, Prober
from vidpulse.server.logs import bind_session
from vidpulse.server.models import EventType, Session, SessionState, isoformat, new_session_id, parse_time, utcnow
from vidpulse.server.notify.webhooks import CALLBACK_OPTION, Webhooks
from vidpulse.server.ops.metrics import Metrics
from vidpulse.server.storage.local import ARTIFACTS, SOURCE, Storage, StorageUnavailable, check_name, safe_filename
from vidpulse.server.streams.hub import Hub, SubscriberClosed, SubscriberOverflow
from vidpulse.server.streams.subscriptions import Subscription, open_subscription
from vidpulse.server.uploads.multipart import receive_upload

log = logging.getLogger("vidpulse.sessions")

_WAIT_FOR_STOP_S = 10.0
# 8K UHD: larger frames are refused after the probe, before any analysis (a "video bomb").
MAX_PIXELS = 7680 * 4320
UPLOAD_STAGE = "upload"


def owner_of(api_key: str | None) -> str | None:
    """Sessions remember a digest of the key that created them, never the key."""
    return None if api_key is None else hashlib.sha256(api_key.encode()).hexdigest()[:24]


class SessionService:
    def __init__(self, settings: Settings, backend: Backend, storage: Storage, hub: Hub, metrics: Metrics,
                 prober: Prober, webhooks: Webhooks) -> None:
        self.settings = settings
        self.webhooks = webhooks
        self.prober = prober
        self.hub = hub
        self.metrics = metrics
        self.backend = backend
        self.storage = storage
        self._recent_job_s: deque[float] = deque(maxlen=20)

    # Lookups ---------------------------------------------------------------------------------

    async def visible(self, session_id: str, owner: str | None) -> Session:
        session = await self.backend.get(session_id)
        # Another key's session answers exactly like a missing one: existence is not leaked.
        if session is None or (self.settings.api_keys and session.owner != owner):
            raise NotFound(f"No session {session_id!r}.")
        bind_session(session.id)
        return session

    async def document(self, session: Session) -> schemas.Session:
        return schemas.Session.of(session, await self.queue_position(session))

    async def queue_position(self, session: Session) -> int | None:
        if session.state is not SessionState.QUEUED:
            return None
        queued = await self.backend.queued()
        return queued.index(session.id) + 1 if session.id in queued else None

    async def list_page(self, owner: str | None, cursor: str | None, limit: int) -> schemas.SessionList:
        sessions = [s for s in await self.backend.sessions()
                    if not self.settings.api_keys or s.owner == owner]
        sessions.sort(key=_sort_key, reverse=True)
        if cursor:
            after = _decode_cursor(cursor)
            sessions = [s for s in sessions if _sort_key(s) < after]
        page = sessions[:limit]
        next_cursor = _encode_cursor(_sort_key(page[-1])) if len(sessions) > limit else None
        queued = await self.backend.queued()
        return schemas.SessionList(
            items=[schemas.Session.of(s, queued.index(s.id) + 1 if s.id in queued else None) for s in page],
            next_cursor=next_cursor)

    async def results(self, session_id: str, owner: str | None) -> bytes:
        session = await self.visible(session_id, owner)
        if session.state is not SessionState.SUCCEEDED:
            raise Conflict(f"Session {session_id} has no results: it is {session.state.value}.",
                           state=session.state.value)
        return await self.report(session.id)

    async def report(self, session_id: str) -> bytes:
        return await self.storage.read_bytes(session_id, ARTIFACTS + "report.json")

    async def artifact(self, session_id: str, name: str, owner: str | None) -> str:
        """The session's id, once `name` is a plain artifact name (a 404 for one that could leave the
        artifacts folder); whether the artifact exists is for storage to say."""
        session = await self.visible(session_id, owner)
        if not artifact_name_ok(name):
            raise NotFound(f"Session {session_id} has no file {name!r}.")
        return session.id

    # Creation --------------------------------------------------------------------------------

    async def create(self, request: Request, owner: str | None) -> Session:
        await self._check_capacity()
        session_id = new_session_id()
        bind_session(session_id)

        async def store(chunks: AsyncIterator[bytes]) -> int:
            return await self.storage.write(session_id, SOURCE, chunks)

        try:
            upload = await receive_upload(request, store, self.settings.max_upload_bytes)
            options, callback_url = await self._options(upload.options())
            video = await self._probe(session_id)
            await self._check_capacity()
        except BaseException:
            await self._discard(session_id)
            raise
        session = Session(id=session_id, filename=safe_filename(upload.filename), owner=owner,
                          options=options.to_dict(), video=video)
        try:
            # Registered first: the job may finish before this returns, and its webhook must fire.
            await self.webhooks.register(session.id, callback_url)
            position = await self.backend.submit(session)
            await self._log(session, EventType.QUEUED, schemas.QueuedData(position=position))
        except BaseException:
            await self._undo_creation(session)
            raise
        self.metrics.upload_bytes.inc(upload.size)
        log.info("session created from %s (%d bytes)", session.filename, upload.size)
        return session

    async def _options(self, raw: dict[str, Any]) -> tuple[AnalysisOptions, str | None]:
        """The analysis options, and this session's webhook URL (`callback_url`, checked by the
        outbound guard: a 422 naming it when refused)."""
        analysis = {name: value for name, value in raw.items() if name != CALLBACK_OPTION}
        options = _parse_options(analysis)
        return options, await self.webhooks.check_callback(raw.get(CALLBACK_OPTION))

    # Resumable uploads and URL ingest: the session exists from the first byte, `uploading` ----

    async def open_upload(self, owner: str | None, filename: str, options: dict[str, Any], length: int | None,
                          via: str, metadata: str | None = None) -> Session:
        """A session in `uploading`, for a tus upload or a URL ingest. No folder yet: the upload store
        makes one when it writes to this host's disk (with S3, a tus upload never does)."""
        parsed, callback_url = await self._options(options)
        await self._check_capacity()
        session_id = new_session_id()
        bind_session(session_id)
        upload: dict[str, Any] = {"offset": 0, "length": length, "via": via, "expires_at": self._upload_expiry()}
        if metadata:
            upload["metadata"] = metadata
        session = Session(id=session_id, filename=safe_filename(filename), owner=owner, options=parsed.to_dict(),
                          state=SessionState.UPLOADING, upload=upload,
                          progress=_upload_progress(upload, 0, None).model_dump(mode="json"))
        try:
            await self.backend.add(session)
            await self._log(session, EventType.STAGE, schemas.StageData.model_validate({"stage": UPLOAD_STAGE}))
            await self.webhooks.register(session.id, callback_url)
        except BaseException:
            await self._remove(session)
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
        upload = {**session.upload, "offset": offset, "expires_at": self._upload_expiry()}
        if length is not None:
            upload["length"] = length
        session.upload = upload
        progress = _upload_progress(upload, offset if received is None else received, bytes_per_s)
        session.progress = progress.model_dump(mode="json")
        await self.backend.save_upload(session)
        if log_event:
            await self._log(session, EventType.PROGRESS, schemas.ProgressData(progress))

    async def still_uploading(self, session_id: str) -> bool:
        """False once the session was cancelled, deleted or expired while its bytes were arriving."""
        current = await self.backend.get(session_id)
        return current is not None and current.state is SessionState.UPLOADING

    async def finish_upload(self, session: Session) -> None:
        """Every byte is in (the store made it the session's `source`): probe it, then queue it. Not a
        video raises Unprocessable; the caller decides between removing the session (tus answers 422) and
        failing it (URL ingest has no one to answer)."""
        video = await self._probe(session.id)
        if not await self.still_uploading(session.id):
            return
        size = (session.upload or {}).get("offset", 0)
        session.upload = {**(session.upload or {}), "expires_at": None}  # complete: it no longer expires
        session.video, session.state, session.progress = video, SessionState.QUEUED, None
        await self.backend.save(session)
        await self.backend.save_upload(session)
        await self._enqueue(session)
        self.metrics.upload_bytes.inc(size)
        log.info("upload of %s complete (%d bytes)", session.filename, size)

    async def drop_upload(self, session: Session, code: str, message: str) -> None:
        """An upload refused at its end: watchers get `failed`, then nothing of it is left."""
        await self._log(session, EventType.FAILED, schemas.SessionError(code=code, message=message))
        await self._remove(session)

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
            await self.backend.remove(session.id)
        except Exception:
            log.warning("could not undo the creation of %s; reconciliation will see to it", session.id)
            return
        await self._discard(session.id)

    async def _probe(self, session_id: str) -> dict[str, Any]:
        sample = await self.storage.sample(session_id, SOURCE)
        try:
            outcome = await self.prober.probe(str(sample))
        finally:
            await self.storage.release(session_id)
        if outcome.kind == DONE:
            video: dict[str, Any] = outcome.payload
            if video["width"] * video["height"] > MAX_PIXELS:
                raise Unprocessable(f"The video is {video['width']}x{video['height']}; at most "
                                    f"{MAX_PIXELS // 1_000_000} megapixels per frame are analysed.", code="too_large")
            return video
        if outcome.kind == TIMED_OUT:
            raise Unprocessable("The file took too long to probe; it does not look like a video.",
                                code="probe_timeout")
        if outcome.kind == ERROR:
            raise Unprocessable(outcome.payload["message"], code=outcome.payload["code"])
        raise Unprocessable("The file crashed the video probe; it is not a video this server can read.",
                            code="undecodable")

    async def _check_capacity(self) -> None:
        queued = len(await self.backend.queued())
        if queued >= self.settings.max_queued:
            raise TooManyRequests(f"The queue is full ({queued} videos waiting); try again later.",
                                  retry_after_s=self._retry_after(queued))

    def _retry_after(self, queued: int) -> int:
        per_job = sum(self._recent_job_s) / len(self._recent_job_s) if self._recent_job_s else 10.0
        slots = max(1, self.settings.workers)
        return max(1, min(600, math.ceil(per_job * queued / slots / 10)))

    async def _enqueue(self, session: Session) -> None:
        position = await self.backend.enqueue(session.id)
        await self._log(session, EventType.QUEUED, schemas.QueuedData(position=position))

    async def announce_positions(self) -> None:
        for position, session_id in enumerate(await self.backend.queued(), start=1):
            session = await self.backend.get(session_id)
            if session is not None:
                await self._log(session, EventType.QUEUED, schemas.QueuedData(position=position))

    # Running ---------------------------------------------------------------------------------

    async def mark_started(self, session: Session) -> None:
        session.state = SessionState.RUNNING
        session.started_at = utcnow()
        session.attempts += 1
        await self.backend.save(session)
        await self._log(session, EventType.STARTED, schemas.StartedData(attempt=session.attempts))

    async def record_stage(self, session: Session, stage: str) -> None:
        if session.state is SessionState.RUNNING:
            total = (session.video or {}).get("frames", 0)
            blank = {"fraction": 0.0, "frame": 0, "total_frames": total, "fps": 0.0, "eta_s": None}
            session.progress = {**blank, **(session.progress or {}), "stage": stage}
            await self._log(session, EventType.STAGE, schemas.StageData.model_validate({"stage": stage}))

    async def record_scene(self, session: Session, scene: dict[str, Any]) -> None:
        """A scene the running analysis has closed: logged, never merged or dropped."""
        if session.state is SessionState.RUNNING:
            await self.backend.append(session, EventType.SCENE, scene)

    async def record_progress(self, session: Session, progress: dict[str, Any]) -> None:
        if session.state is not SessionState.RUNNING:
            return
        previous = (session.progress or {}).get("fraction", 0.0)
        fraction = round(max(previous, min(1.0, float(progress["fraction"]))), 4)
        eta = progress.get("eta_s")
        data = schemas.ProgressData(schemas.Progress(
            fraction=fraction, stage=progress["stage"], frame=progress["frame"], total_frames=progress["total_frames"],
            fps=round(float(progress["fps"]), 1), eta_s=None if eta is None else round(float(eta), 1)))
        session.progress = await self._log(session, EventType.PROGRESS, data)

    async def succeed(self, session: Session, summary: dict[str, Any]) -> None:
        session.summary = summary
        if session.progress is not None:
            session.progress = {**session.progress, "fraction": 1.0, "eta_s": 0.0}
        links = schemas.SessionLinks.of(session.id)
        files = {name: f"{links.files}{name}" for name in summary.get("artifacts", [])}
        await self._finish(session, SessionState.SUCCEEDED, EventType.SUCCEEDED, schemas.SucceededData(
            summary=schemas.Summary.model_validate(summary), results=links.results, files=files))

    async def fail(self, session: Session, code: str, message: str) -> None:
        error = schemas.SessionError(code=code, message=message)
        session.error = error.model_dump()
        await self.clear_artifacts(session.id)
        await self._finish(session, SessionState.FAILED, EventType.FAILED, error)

    async def mark_cancelled(self, session: Session) -> None:
        await self.clear_artifacts(session.id)
        await self._finish(session, SessionState.CANCELLED, EventType.CANCELLED, schemas.Empty())

    async def clear_artifacts(self, session_id: str) -> None:
        """An unfinished or failed attempt's files go; with the store down they stay until the
        next attempt clears them again, or the session is deleted or expires."""
        try:
            await self.storage.delete(session_id, ARTIFACTS)
        except StorageUnavailable:
            log.warning("could not clear the artifacts of %s: storage unavailable", session_id)

    async def _log(self, session: Session, event: EventType, data: BaseModel) -> dict[str, Any]:
        """Append one event; its data is the model of its type (server/schemas.py's EVENT_DATA)."""
        assert isinstance(data, schemas.EVENT_DATA[event]), (event, type(data))
        raw = data.model_dump(mode="json")
        await self.backend.append(session, event, raw)
        return raw

    async def _finish(self, session: Session, state: SessionState, event: EventType, data: BaseModel) -> None:
        session.state = state
        session.finished_at = utcnow()
        if session.started_at is not None:
            self._recent_job_s.append((session.finished_at - session.started_at).total_seconds())
        # Recorded before the state is saved: a crash in between runs the job again, and the
        # second recording of the same delivery id is a no-op, so no announcement is lost.
        await self.webhooks.session_finished(session)
        await self.backend.save(session)
        await self._log(session, event, data)
        self.metrics.jobs_finished.labels(state.value).inc()
        log.info("session %s", state.value, extra={"error": session.error})
        fps = (session.summary or {}).get("timing", {}).get("fps") if state is SessionState.SUCCEEDED else None
        if fps:
            self.metrics.analysis_fps.observe(fps)

    async def subscribe(self, session_id: str, owner: str | None, after: str | None,
                        transport: str = "sse") -> Subscription:
        await self.visible(session_id, owner)  # a 404 registers nothing

        async def load() -> tuple[Session, dict[str, Any]]:
            session = await self.visible(session_id, owner)
            return session, (await self.document(session)).model_dump(mode="json")

        return await open_subscription(self.backend, self.hub, session_id, load, after, transport)

    async def wait_finished(self, session_id: str, owner: str | None) -> Session:
        """Follows the session's events (whichever instance or worker runs it) to the end."""
        while True:
            subscription = await self.subscribe(session_id, owner, None, transport="internal")
            try:
                with contextlib.suppress(SubscriberOverflow, SubscriberClosed):
                    async for _ in subscription.events():
                        pass
                    return await self.visible(session_id, owner)
            finally:
                subscription.close()

    # Cancel and delete -----------------------------------------------------------------------

    async def cancel(self, session_id: str, owner: str | None) -> Session:
        """Idempotent. A queued job is cancelled at once; a running one is asked to stop and is
        `cancelling` until its worker confirms (within one frame)."""
        session = await self.visible(session_id, owner)
        if session.state.finished:
            raise Conflict(f"Session {session_id} already {session.state.value}.", state=session.state.value)
        if session.state is SessionState.UPLOADING:
            # No worker holds it: the PATCH or fetch in flight sees the new state and stops.
            await self.mark_cancelled(session)
            await self.storage.delete(session.id, SOURCE)
            await self.storage.release(session.id)
        elif session.state is SessionState.QUEUED and await self.backend.dequeue(session.id):
            await self.mark_cancelled(session)
            await self.announce_positions()
        elif session.state is not SessionState.CANCELLING:
            # Running, or just taken off the queue by a worker that will see this state first.
            session.state = SessionState.CANCELLING
            await self.backend.save(session)
            await self.backend.request_cancel(session.id)
        return session

    async def delete(self, session_id: str, owner: str | None) -> None:
        session = await self.visible(session_id, owner)
        if not session.state.finished:
            await self.cancel(session_id, owner)
            try:
                await asyncio.wait_for(self.wait_finished(session_id, owner), _WAIT_FOR_STOP_S)
            except TimeoutError:
                log.warning("session %s did not stop in time; removing it anyway", session_id)
        await self._remove(session)

    async def _remove(self, session: Session) -> None:
        # Files first: with the store down this fails (503, or the next expiry sweep) and the
        # session stays, so no object is left without a session to clean it up.
        await self.storage.remove(session.id)
        await self.backend.remove(session.id)

    # Restart and expiry ----------------------------------------------------------------------

    async def resume(self, unfinished: list[Session]) -> None:
        """Sessions that were queued or running when the server stopped: run them again."""
        for session in unfinished:
            if session.state is SessionState.UPLOADING:
                if session.via == "url":  # the fetch died with the server; a tus upload simply resumes
                    await self.fail(session, "fetch_failed", "The server restarted while fetching the video.")
            elif session.state is SessionState.CANCELLING:
                await self.mark_cancelled(session)
            else:
                await self.requeue(session)

    async def reconcile(self) -> int:
        """Sessions left unfinished with no job (a crash between two steps, lost Redis data):
        queued again, or settled (a cancel in progress), exactly as after a restart."""
        orphans = await self.backend.jobless()
        for session in orphans:
            log.warning("session %s was %s with no job; queueing it again", session.id, session.state.value)
        await self.resume(orphans)
        return len(orphans)

    async def requeue(self, session: Session) -> None:
        """Run an interrupted job again from the start (its attempts keep counting)."""
        await self.clear_artifacts(session.id)
        session.state, session.started_at, session.progress = SessionState.QUEUED, None, None
        await self.backend.save(session)
        await self._enqueue(session)

    async def expire(self) -> int:
        ttl = timedelta(seconds=self.settings.session_ttl_s)
        now = utcnow()
        expired = [s for s in await self.backend.sessions()
                   if (s.state.finished and s.finished_at is not None and s.finished_at + ttl <= now)
                   or _upload_expired(s, now)]
        if expired and not await self.storage.ping():
            return 0  # with the store down the files could not go: the next sweep tries again
        for session in expired:
            await self._log(session, EventType.EXPIRED, schemas.Empty())
            await self._remove(session)
        return len(expired)


def artifact_name_ok(name: str) -> bool:
    """The single path check's rule, for every store: a plain file name, no folders, no dot-names."""
    return bool(name) and name == Path(name).name and not name.startswith(".") and "\\" not in name \
        and _object_name_ok(ARTIFACTS + name)


def _object_name_ok(name: str) -> bool:
    try:
        check_name(name)
    except ValueError:
        return False
    return True


def _upload_progress(upload: dict[str, Any], received: int, bytes_per_s: float | None) -> schemas.UploadProgress:
    length = upload.get("length")
    fraction = round(min(1.0, received / length), 4) if length else 0.0
    eta = (length - received) / bytes_per_s if length and bytes_per_s else None
    return schemas.UploadProgress(fraction=fraction, stage="upload", offset=received, length=length,
                                  bytes_per_s=None if bytes_per_s is None else round(bytes_per_s),
                                  eta_s=None if eta is None else max(0.0, round(eta, 1)))


def _upload_expired(session: Session, now: datetime) -> bool:
    if session.state is not SessionState.UPLOADING or session.upload is None:
        return False
    expires = parse_time(session.upload.get("expires_at"))
    return expires is not None and expires <= now


def _parse_options(raw: dict[str, Any]) -> AnalysisOptions:
    try:
        return AnalysisOptions.from_mapping(raw)
    except OptionsError as exc:
        raise Unprocessable(str(exc), field=f"options.{exc.field}") from exc


def _sort_key(session: Session) -> tuple[str, str]:
    return (session.created_at.isoformat(), session.id)


def _encode_cursor(key: tuple[str, str]) -> str:
    return base64.urlsafe_b64encode("|".join(key).encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[str, str]:
    try:
        created, _, session_id = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode().partition("|")
    except ValueError as exc:
        raise Unprocessable("The cursor is not one this server gave out.", field="cursor") from exc
    if not session_id:
        raise Unprocessable("The cursor is not one this server gave out.", field="cursor")
    return created, session_id
