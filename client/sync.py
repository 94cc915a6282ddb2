"""`Client`: the Vidpulse HTTP API from synchronous Python."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
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
    download_target,
    file_chunks,
    finish_download,
    partial_path,
    progress_from,
)


class Client:
    """A client of one Vidpulse server. Every method raises VidpulseError when the server refuses
    (with `.status` and `.problem`) or cannot be reached (`.status` None)."""

    def __init__(self, base_url: str, api_key: str | None = None, *,
                 timeout: httpx.Timeout | float = paths.DEFAULT_TIMEOUT, reconnect_for_s: float = 120.0,
                 http: httpx.Client | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.reconnect_for_s = reconnect_for_s
        self._tus: bool | None = None  # whether the server offers tus, once asked
        self._http = http or httpx.Client(base_url=self.base_url, headers=paths.headers(api_key), timeout=timeout)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            return self._http.request(method, url, **kwargs)
        except httpx.TransportError as exc:
            raise VidpulseError(f"cannot reach {self.base_url}: {exc}") from exc

    # Sessions ----------------------------------------------------------------------------------

    def upload(self, path: str | Path, options: Mapping[str, Any] | None = None,
               on_progress: OnProgress | None = None) -> Session:
        """Upload a video and return its session once the file is in (queued, or already further along);
        `on_progress(bytes_sent)` as it streams.
        Over tus when the server offers it, so a dropped connection resumes where it broke off."""
        if self._offers_tus():
            return self._upload_tus(tus.TusUpload(Path(path), options, Path(path).stat().st_size), on_progress)
        body = MultipartUpload(Path(path), options)
        return paths.session(self._send("POST", "/api/sessions", content=body.chunks(on_progress),
                                        headers=body.headers()))

    def _offers_tus(self) -> bool:
        if self._tus is None:
            self._tus = tus.offered(self._send("OPTIONS", tus.ENDPOINT))
        return self._tus

    def _upload_tus(self, upload: tus.TusUpload, on_progress: OnProgress | None) -> Session:
        url = tus.location(self._send("POST", tus.ENDPOINT, headers=upload.creation_headers()))
        backoff, offset = Backoff(self.reconnect_for_s, "the upload"), 0
        with upload.path.open("rb") as source:
            while offset < upload.size:
                source.seek(offset)
                try:
                    response = self._http.patch(url, content=file_chunks(source, progress_from(offset, on_progress)),
                                                headers=upload.patch_headers(offset))
                    if (found := tus.new_offset(response)) is not None:
                        offset = found
                        backoff.reset()
                        continue
                except httpx.TransportError:
                    pass
                time.sleep(backoff.next_delay())
                offset = self._tus_offset(url, offset)
        return self.session(tus.session_id(url))

    def _tus_offset(self, url: str, offset: int) -> int:
        """How much of the upload the server has (after a drop, it may have less than was sent)."""
        try:
            found = tus.new_offset(self._http.head(url, headers=tus.TusUpload.head_headers()))
        except httpx.TransportError:
            return offset
        return offset if found is None else found

    def session(self, session_id: str) -> Session:
        return paths.session(self._send("GET", paths.session_path(session_id)))

    def sessions(self, limit: int = 50) -> Iterator[Session]:
        """Every visible session, newest first, a page of `limit` at a time."""
        cursor: str | None = None
        while True:
            params = {"limit": limit, **({"cursor": cursor} if cursor else {})}
            found, cursor = paths.page(self._send("GET", "/api/sessions", params=params))
            yield from found
            if cursor is None:
                return

    def watch(self, session_id: str) -> Iterator[Event]:
        """The session's events: a snapshot first, then each logged event once, in order, through
        dropped connections and server restarts; ends after the terminal event (on a session that
        has ended already: the snapshot, then its terminal event)."""
        resume = Resume(self.reconnect_for_s)
        url = paths.session_path(session_id, "events")
        timeout = httpx.Timeout(30.0, read=READ_TIMEOUT_S)
        while not resume.done:
            try:
                with self._http.stream("GET", url, headers=resume.headers(), timeout=timeout) as response:
                    if resume.opened(response):
                        for sse in EventSource(response).iter_sse():
                            event = resume.accept(sse.event, sse.data)
                            if event is not None:
                                yield event
                            if resume.done:
                                return
            except httpx.TransportError:
                pass  # the server went away mid-stream or is restarting: resume from the last id
            if not resume.done:
                time.sleep(resume.backoff.next_delay())

    def wait(self, session_id: str) -> Session:
        """Block until the session has ended; its final document."""
        for _ in self.watch(session_id):
            pass
        return self.session(session_id)

    def results(self, session_id: str) -> Report:
        return paths.report(self._send("GET", paths.session_path(session_id, "results")))

    def download(self, session_id: str, name: str, path: str | Path) -> Path:
        """Stream the artifact `name` to `path` (a folder: `path/name`); the file appears whole or not at all."""
        target = download_target(path, name)
        try:
            with self._http.stream("GET", paths.session_path(session_id, "files", name)) as response:
                if not response.is_success:
                    response.read()
                    check(response)
                with partial_path(target).open("wb") as out:
                    for chunk in response.iter_bytes(CHUNK):
                        out.write(chunk)
        except httpx.TransportError as exc:
            partial_path(target).unlink(missing_ok=True)
            raise VidpulseError(f"download of {name} broke off: {exc}") from exc
        return finish_download(target)

    def live(self, url: str, options: Mapping[str, Any] | None = None) -> Session:
        """Follow a live source (an HLS playlist, rtmp://, rtsp://) until it ends or is stopped."""
        return paths.session(self._send("POST", "/api/sessions", json=paths.live_body(url, options)))

    def stop(self, session_id: str) -> Session:
        """End a live session with the report of what it saw (succeeded); a queued one is cancelled."""
        return paths.session(self._send("POST", paths.session_path(session_id, "stop")))

    def cancel(self, session_id: str) -> Session:
        return paths.session(self._send("POST", paths.session_path(session_id, "cancel")))

    def retry(self, session_id: str, options: dict[str, Any] | None = None) -> Session:
        """Analyse a finished session again as a new attempt, with other options if given."""
        return paths.session(self._send("POST", paths.session_path(session_id, "retry"),
                                        json=paths.retry_body(options)))

    def delete(self, session_id: str) -> None:
        check(self._send("DELETE", paths.session_path(session_id)))

    def webhook_attempts(self, session_id: str) -> list[dict[str, Any]]:
        return paths.items(self._send("GET", paths.session_path(session_id, "webhooks")))
