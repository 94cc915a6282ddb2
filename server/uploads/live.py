"""Live sources: `POST /api/sessions` with `{"url": ..., "live": true, "options": ...}`.

The URL must be a live source this server follows (an http(s) HLS playlist, rtmp://, rtsp://, srt://) at an
address the outbound guard allows; an http(s) URL is also asked once whether it is a playlist, so that a
page or a video file is refused now (422 naming `url`) rather than failing later. One that does not answer
yet is accepted: a stream may start after its session (it fails `source_unreachable` after `reconnect_s`).
A live session takes a worker for as long as it runs, so at most MAX_LIVE are unfinished at once.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx

from vidpulse.processing.live.options import LiveOptions
from vidpulse.server.config import Settings
from vidpulse.server.errors import TooManyRequests, Unprocessable
from vidpulse.server.live.sources import HLS_SCHEMES, check_source
from vidpulse.server.logs import bind_session
from vidpulse.server.models import LiveSource, Session, new_session_id
from vidpulse.server.outbound import OutboundRefused, outbound_client
from vidpulse.server.storage.base import safe_filename
from vidpulse.server.uploads.admission import Admission

log = logging.getLogger("vidpulse.live")

# How long the check that an http(s) URL is a playlist waits for it.
_LOOK_S = 5.0
# Live sessions last long: a client told "too many" should come back later than for a full queue.
RETRY_AFTER_S = 60


class LiveIngest:
    def __init__(self, settings: Settings, admission: Admission) -> None:
        self.settings = settings
        self.admission = admission

    async def create(self, url: str, raw_options: dict[str, Any], owner: str | None) -> Session:
        settings = self.settings
        allow_private = settings.allow_private_urls
        try:
            scheme = await check_source(url, allow_private=allow_private)
            if scheme in HLS_SCHEMES:
                await _refuse_non_playlist(url, allow_private)
        except OutboundRefused as exc:
            raise Unprocessable(str(exc), field="url") from exc
        options, callback_url = await self.admission.options(
            {"max_duration_s": settings.live_max_s, **raw_options}, LiveOptions)
        assert isinstance(options, LiveOptions)
        self.admission.lifecycle.webhooks.check_incidents(options, callback_url)
        if options.max_duration_s > settings.live_max_s:
            raise Unprocessable(f"max_duration_s is at most {settings.live_max_s:g} on this server (LIVE_MAX_S).",
                                field="options.max_duration_s")
        await self._check_slots()
        await self.admission.check_capacity()
        session_id = new_session_id()
        bind_session(session_id)
        session = Session(id=session_id, filename=safe_filename(_name(url), "live"), owner=owner, options=options,
                          kind="live", live=LiveSource(url=url))
        await self.admission.submit(session, callback_url)
        log.info("live session created (%s)", scheme)
        return session

    async def _check_slots(self) -> None:
        backend = self.admission.backend
        running = [s for s in await backend.sessions.all() if s.kind == "live" and not s.state.finished]
        # Without MAX_LIVE, the workers of the whole deployment: an API instance (WORKERS=0) in front of
        # worker hosts takes as many as they can run.
        slots = self.settings.max_live or await backend.signals.workers_alive(self.settings.workers)
        if len(running) >= slots:
            limit = f"MAX_LIVE={slots}" if self.settings.max_live else f"one per worker running, {slots}"
            raise TooManyRequests(f"{len(running)} live sessions are running, the most this deployment takes "
                                  f"({limit}); try again later.", retry_after_s=RETRY_AFTER_S)


async def _refuse_non_playlist(url: str, allow_private: bool) -> None:
    """OutboundRefused when the URL answers, and not with a playlist (or redirects where the guard refuses)."""
    async with outbound_client(allow_private=allow_private, timeout=httpx.Timeout(_LOOK_S)) as client:
        try:
            async with client.stream("GET", url) as response:
                if response.status_code != 200:
                    return  # not there yet: the stream may start after its session
                head = b""
                async for chunk in response.aiter_bytes():
                    head += chunk
                    if len(head) >= 64:
                        break
        except httpx.HTTPError:
            return
    if not head.lstrip(b"\xef\xbb\xbf").lstrip().startswith(b"#EXTM3U"):
        kind = response.headers.get("content-type", "something else").split(";")[0]
        raise OutboundRefused(f"The URL is not a live source: it answered {kind}, not an HLS playlist.")


def _name(url: str) -> str:
    path = urlsplit(url).path.rstrip("/")
    return unquote(path.rsplit("/", 1)[-1]) or urlsplit(url).hostname or "live"

