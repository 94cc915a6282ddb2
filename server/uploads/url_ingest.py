"""Ingest from a URL: `POST /api/sessions` with `{"url": ..., "options": ...}`.

The URL is checked by the outbound guard before the session exists (a refused address is a 422 naming
`url`); the fetch then runs in the background on this instance, streamed into the same upload store as
a tus upload, size-limited and with timeouts, its progress logged as upload progress. A fetch that
fails ends the session `failed` with `code: "fetch_failed"`; a file that is no video fails it as the
probe says.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx

from vidpulse.server.config import Settings
from vidpulse.server.errors import Unprocessable, VidpulseError
from vidpulse.server.logs import bind_session
from vidpulse.server.models import Session
from vidpulse.server.outbound import OutboundRefused, check_url, outbound_client
from vidpulse.server.storage.base import safe_filename
from vidpulse.server.uploads.admission import Admission
from vidpulse.server.uploads.staging import UploadStore

log = logging.getLogger("vidpulse.ingest")



class FetchFailed(Exception):
    """The fetch cannot go on; the message is one readable sentence for the session's error."""


def filename_of(url: str, response: httpx.Response | None = None) -> str:
    if response is not None:
        disposition = response.headers.get("content-disposition", "")
        for part in disposition.split(";"):
            key, _, value = part.strip().partition("=")
            if key.lower() == "filename" and value.strip('"'):
                return value.strip('"')
    return unquote(urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1]) or "download"


class Ingestor:
    def __init__(self, settings: Settings, admission: Admission, store: UploadStore) -> None:
        self.settings = settings
        self.admission = admission
        self.store = store
        self._tasks: set[asyncio.Task[None]] = set()

    async def create(self, url: str, options: dict[str, Any], owner: str | None) -> Session:
        try:
            await check_url(url, allow_private=self.settings.allow_private_urls)
        except OutboundRefused as exc:
            raise Unprocessable(str(exc), field="url") from exc
        session = await self.admission.open_upload(owner, filename_of(url), options, None, "url")
        task = asyncio.create_task(self._run(session, url), name=f"ingest-{session.id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return session

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self, session: Session, url: str) -> None:
        bind_session(session.id)
        try:
            async with asyncio.timeout(self.settings.job_timeout_s):
                complete = await self._fetch(session, url)
            if complete:
                await self.store.complete(session.id)
                await self.admission.finish_upload(session)
        except asyncio.CancelledError:
            raise  # the server is stopping: a restart fails the session (Housekeeping.resume)
        except VidpulseError as exc:  # the probe (not a video), the disk, the backend
            await self._fail(session, str(exc.extra.get("code", "fetch_failed")), exc.detail)
        except (FetchFailed, OutboundRefused) as exc:
            await self._fail(session, "fetch_failed", str(exc))
        except TimeoutError:
            await self._fail(session, "fetch_failed", "The download took longer than the time limit for one job.")
        except httpx.HTTPError as exc:
            await self._fail(session, "fetch_failed", _describe(exc))
        except Exception:
            log.exception("ingest of %s failed", url)
            await self._fail(session, "fetch_failed", "The server failed to fetch the video.")

    async def _fail(self, session: Session, code: str, message: str) -> None:
        if await self.admission.still_uploading(session.id):
            await self.admission.lifecycle.fail(session, code, message)
        log.info("ingest failed: %s", message)

    async def _fetch(self, session: Session, url: str) -> bool:
        """Stream the body into the store; False when the session was cancelled meanwhile."""
        limit = self.settings.max_upload_bytes
        timeout = httpx.Timeout(self.settings.fetch_timeout_s)
        async with (outbound_client(allow_private=self.settings.allow_private_urls, timeout=timeout) as client,
                    client.stream("GET", url, headers={"Accept": "video/*, */*"}) as response):
            if response.status_code != 200:
                raise FetchFailed(f"The URL answered HTTP {response.status_code} instead of 200.")
            length = _content_length(response)
            if length is not None and length > limit:
                raise FetchFailed(f"The file is {length} bytes, above the {self.settings.max_upload_mb} MB limit.")
            # The answer's Content-Disposition, else the last URL's path, names the file.
            session.filename = safe_filename(filename_of(str(response.url), response), "download")
            writer = self.store.writer(session.id, 0)
            received, started, last = 0, time.monotonic(), time.monotonic()
            try:
                async for chunk in response.aiter_bytes():
                    received += len(chunk)
                    if received > limit:
                        raise FetchFailed(f"The file is larger than the {self.settings.max_upload_mb} MB limit.")
                    await writer.write(chunk)
                    if time.monotonic() - last >= 1.0 / self.settings.progress_hz:
                        last = time.monotonic()
                        if not await self.admission.still_uploading(session.id):
                            await writer.discard()
                            return False
                        await self.admission.record_upload(session, await writer.checkpoint(), length=length,
                                                         bytes_per_s=received / (last - started))
            except BaseException:
                with contextlib.suppress(OSError):
                    await writer.discard()
                raise
            offset = await writer.commit()
        if offset == 0:
            raise FetchFailed("The URL answered with an empty body.")
        if not await self.admission.still_uploading(session.id):
            return False
        await self.admission.record_upload(session, offset, length=offset,
                                         bytes_per_s=offset / max(1e-3, time.monotonic() - started))
        return True


def _content_length(response: httpx.Response) -> int | None:
    raw = response.headers.get("content-length")
    # A compressed body's Content-Length says nothing about the bytes it decodes to.
    if raw is None or not raw.isdigit() or response.headers.get("content-encoding"):
        return None
    return int(raw)


def _describe(exc: httpx.HTTPError) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return "The URL did not answer in time."
    if isinstance(exc, httpx.TooManyRedirects):
        return "The URL redirected too many times."
    if isinstance(exc, httpx.ConnectError):
        return "Could not connect to the URL's server."
    return "The download broke off before the end."
