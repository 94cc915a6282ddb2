"""`AsyncClient`: the same API as `Client`, with `await` and `async for`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
from httpx_sse import EventSource

from vidpulse.processing.schema import Report
from vidpulse.server.schemas import Session

from . import paths, tus
from .errors import VidpulseError, check
from .events import READ_TIMEOUT_S, Event, Resume
from .retry import Backoff
from .transfer import (
    CHUNK,
    MultipartUpload,
    OnProgress,
    afile_chunks,
    download_target,
    finish_download,
    partial_path,
    progress_from,
)


class AsyncClient:
    """See `Client`; use as `async with AsyncClient(url) as client:` (or call `aclose()`)."""

    def __init__(self, base_url: str, api_key: str | None = None, *,
                 timeout: httpx.Timeout | float = paths.DEFAULT_TIMEOUT, reconnect_for_s: float = 120.0,
                 http: httpx.AsyncClient | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.reconnect_for_s = reconnect_for_s
        self._tus: bool | None = None
        self._http = http or httpx.AsyncClient(base_url=self.base_url, headers=paths.headers(api_key),
                                               timeout=timeout)

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            return await self._http.request(method, url, **kwargs)
        except httpx.TransportError as exc:
            raise VidpulseError(f"cannot reach {self.base_url}: {exc}") from exc

    async def upload(self, path: str | Path, options: Mapping[str, Any] | None = None,
                     on_progress: OnProgress | None = None) -> Session:
        if await self._offers_tus():
            size = (await asyncio.to_thread(Path(path).stat)).st_size
            return await self._upload_tus(tus.TusUpload(Path(path), options, size), on_progress)
        body = MultipartUpload(Path(path), options)
        return paths.session(await self._send("POST", "/api/sessions", content=body.achunks(on_progress),
                                              headers=body.headers()))

    async def _offers_tus(self) -> bool:
        if self._tus is None:
            self._tus = tus.offered(await self._send("OPTIONS", tus.ENDPOINT))
        return self._tus

    async def _upload_tus(self, upload: tus.TusUpload, on_progress: OnProgress | None) -> Session:
        url = tus.location(await self._send("POST", tus.ENDPOINT, headers=upload.creation_headers()))
        backoff, offset = Backoff(self.reconnect_for_s, "the upload"), 0
        with upload.path.open("rb") as source:
            while offset < upload.size:
                source.seek(offset)
                try:
                    response = await self._http.patch(
                        url, content=afile_chunks(source, progress_from(offset, on_progress)),
                        headers=upload.patch_headers(offset))
                    if (found := tus.new_offset(response)) is not None:
                        offset = found
                        backoff.reset()
                        continue
                except httpx.TransportError:
                    pass
                await asyncio.sleep(backoff.next_delay())
                offset = await self._tus_offset(url, offset)
        return await self.session(tus.session_id(url))

    async def _tus_offset(self, url: str, offset: int) -> int:
        try:
            found = tus.new_offset(await self._http.head(url, headers=tus.TusUpload.head_headers()))
        except httpx.TransportError:
            return offset
        return offset if found is None else found

    async def session(self, session_id: str) -> Session:
        return paths.session(await self._send("GET", paths.session_path(session_id)))

    async def sessions(self, limit: int = 50) -> AsyncIterator[Session]:
        cursor: str | None = None
        while True:
            params = {"limit": limit, **({"cursor": cursor} if cursor else {})}
            found, cursor = paths.page(await self._send("GET", "/api/sessions", params=params))
            for item in found:
                yield item
            if cursor is None:
                return

    async def watch(self, session_id: str) -> AsyncIterator[Event]:
        resume = Resume(self.reconnect_for_s)
        url = paths.session_path(session_id, "events")
        timeout = httpx.Timeout(30.0, read=READ_TIMEOUT_S)
        while not resume.done:
            try:
                async with self._http.stream("GET", url, headers=resume.headers(), timeout=timeout) as response:
                    if resume.opened(response):
                        async for sse in EventSource(response).aiter_sse():
                            event = resume.accept(sse.event, sse.data)
                            if event is not None:
                                yield event
                            if resume.done:
                                return
            except httpx.TransportError:
                pass
            if not resume.done:
                await asyncio.sleep(resume.backoff.next_delay())

    async def wait(self, session_id: str) -> Session:
        async for _ in self.watch(session_id):
            pass
        return await self.session(session_id)

    async def results(self, session_id: str) -> Report:
        return paths.report(await self._send("GET", paths.session_path(session_id, "results")))

    async def download(self, session_id: str, name: str, path: str | Path) -> Path:
        target = download_target(path, name)
        try:
            async with self._http.stream("GET", paths.session_path(session_id, "files", name)) as response:
                if not response.is_success:
                    await response.aread()
                    check(response)
                with partial_path(target).open("wb") as out:
                    async for chunk in response.aiter_bytes(CHUNK):
                        await asyncio.to_thread(out.write, chunk)
        except httpx.TransportError as exc:
            partial_path(target).unlink(missing_ok=True)
            raise VidpulseError(f"download of {name} broke off: {exc}") from exc
        return finish_download(target)

    async def live(self, url: str, options: Mapping[str, Any] | None = None) -> Session:
        """Follow a live source (an HLS playlist, rtmp://, rtsp://) until it ends or is stopped."""
        return paths.session(await self._send("POST", "/api/sessions", json=paths.live_body(url, options)))

    async def stop(self, session_id: str) -> Session:
        """End a live session with the report of what it saw (succeeded); a queued one is cancelled."""
        return paths.session(await self._send("POST", paths.session_path(session_id, "stop")))

    async def cancel(self, session_id: str) -> Session:
        return paths.session(await self._send("POST", paths.session_path(session_id, "cancel")))

    async def retry(self, session_id: str, options: dict[str, Any] | None = None) -> Session:
        """Analyse a finished session again as a new attempt, with other options if given."""
        return paths.session(await self._send("POST", paths.session_path(session_id, "retry"),
                                              json=paths.retry_body(options)))

    async def delete(self, session_id: str) -> None:
        check(await self._send("DELETE", paths.session_path(session_id)))

    async def webhook_attempts(self, session_id: str) -> list[dict[str, Any]]:
        return paths.items(await self._send("GET", paths.session_path(session_id, "webhooks")))
