"""Follows an HLS playlist: reloads it, fetches each new segment once, in order, and hands it on.

Every request goes through the outbound guard (server/outbound.py: the playlist, each segment, every
redirect). It follows EXT-X-MEDIA-SEQUENCE (segments that slid out of the playlist before they were
fetched are a gap; a sequence that starts over is the origin starting over), EXT-X-DISCONTINUITY (a new
run), EXT-X-ENDLIST (the end, once every segment is handed on) and EXT-X-TARGETDURATION (how often to
reload, how long a playlist may stay unchanged before the source counts as lost). A master playlist's
variant with the least bandwidth is followed: the analysis looks at pictures 320 px wide anyway.

A playlist that does not answer (or stops growing) is a lost source: `Lost` at once, `Back` when it
answers again, and SourceLost after `reconnect_s`; one that never answered is SourceUnreachable after
`reconnect_s`.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
import m3u8

from vidpulse.processing.errors import AnalysisError, SourceLost, SourceUnreachable, UndecodableVideo
from vidpulse.processing.live.items import Back, Ended, Gap, Item, Lost
from vidpulse.processing.live.segments import Segment
from vidpulse.server.outbound import OutboundRefused

PLAYLIST_MAX_BYTES = 1 << 20
SEGMENT_MAX_BYTES = 64 << 20
# A playlist unchanged for this many target durations means the source stopped (RFC 8216 lets a
# client reload an unchanged playlist after half a target duration; three without news is a stall).
STALL_TARGETS = 3
# Segments waiting for the analysis, at most this many seconds of them: an analysis that cannot keep
# up skips ahead (a gap) rather than fall further and further behind the stream.
MAX_BACKLOG_S = 10.0
RETRY_FIRST_S, RETRY_MAX_S = 0.5, 4.0
JOIN_SEGMENTS = 3

Put = Callable[[Segment | Item | BaseException], None]


class PlaylistError(Exception):
    """The playlist or a segment could not be had; the message says why in one sentence."""


@dataclass
class _Position:
    """Where the follower is in the stream."""

    next_sequence: int | None = None  # the media sequence number of the next segment to hand on
    target_s: float = 2.0
    changed: float = field(default_factory=time.monotonic)  # when a new segment last appeared
    lost: float | None = None  # since when the source is lost
    discontinuity: bool = False  # the next segment starts a new run
    skipped_s: float = 0.0  # media skipped to keep up, not announced yet
    inits: dict[str, bytes] = field(default_factory=dict)


class HlsFollower:
    def __init__(self, url: str, client: httpx.AsyncClient, put: Put, *, reconnect_s: float,
                 backlog: Callable[[], int] = lambda: 0) -> None:
        self.url = url
        self._client = client
        self._put = put
        self._reconnect_s = reconnect_s
        self._backlog = backlog
        self._media_url: str | None = None  # the media playlist (a master playlist's variant)
        self._reached = False

    async def run(self) -> None:
        """Until the playlist ends (Ended), or the source is given up (SourceLost, SourceUnreachable and
        other AnalysisErrors are put, not raised)."""
        started = time.monotonic()
        position = _Position()
        delay = RETRY_FIRST_S
        while True:
            try:
                playlist = await self._playlist()
                ended = await self._follow(playlist, position)
            except (PlaylistError, OutboundRefused, httpx.HTTPError) as exc:
                give_up = self._trouble(position, started, _reason(exc))
                if give_up is not None:
                    self._put(give_up)
                    return
                await asyncio.sleep(delay)
                if self._reached:  # a source that has not started yet is asked as often as at first
                    delay = min(delay * 2, RETRY_MAX_S)
                continue
            except AnalysisError as exc:
                self._put(exc)
                return
            delay = RETRY_FIRST_S
            if ended:
                self._put(Ended())
                return
            await asyncio.sleep(max(0.2, min(position.target_s / 4, 1.0)))

    def _trouble(self, position: _Position, started: float, reason: str) -> AnalysisError | None:
        """The source failed to answer: lost (or still unreached); the error to end with once it has
        been tried for reconnect_s."""
        now = time.monotonic()
        if not self._reached:
            if now - started >= self._reconnect_s:
                return SourceUnreachable(f"The live source never answered in {self._reconnect_s:g} s: {reason}.")
            return None
        if position.lost is None:
            position.lost = now
            self._put(Lost(reason))
        if now - position.lost >= self._reconnect_s:
            return SourceLost(f"The live source was lost and did not come back in {self._reconnect_s:g} s: "
                              f"{reason}.")
        return None

    async def _playlist(self) -> m3u8.M3U8:
        if self._media_url is None:
            playlist = await self._load(self.url)
            if not playlist.is_variant:
                self._media_url = self.url
                return playlist
            variants = sorted(playlist.playlists, key=lambda v: v.stream_info.bandwidth or 0)
            if not variants:
                raise UndecodableVideo("The master playlist lists no variant stream.")
            self._media_url = variants[0].absolute_uri
        return await self._load(self._media_url)

    async def _load(self, url: str) -> m3u8.M3U8:
        body = await self._get(url, PLAYLIST_MAX_BYTES)
        text = body.decode("utf-8", errors="replace")
        if not text.lstrip("\ufeff").startswith("#EXTM3U"):
            raise PlaylistError("the URL does not answer with an HLS playlist")
        self._reached = True
        return m3u8.loads(text, uri=url)

    async def _get(self, url: str, limit: int) -> bytes:
        async with self._client.stream("GET", url) as response:
            if response.status_code != 200:
                raise PlaylistError(f"{_name(url)} answered HTTP {response.status_code}")
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > limit:
                    raise PlaylistError(f"{_name(url)} is larger than {limit >> 20} MB")
            return bytes(body)

    async def _follow(self, playlist: m3u8.M3U8, position: _Position) -> bool:
        """Hand on the playlist's new segments; True once it ended and every segment went."""
        if any(key is not None and key.method not in (None, "NONE") for key in playlist.keys):
            raise UndecodableVideo("The stream is encrypted (EXT-X-KEY); encrypted streams are not analysed.")
        position.target_s = float(playlist.target_duration or position.target_s)
        first = playlist.media_sequence or 0
        count = len(playlist.segments)
        missing = self._resume(position, first, count, playlist.is_endlist)
        new = False
        for offset, segment in enumerate(playlist.segments):
            sequence = first + offset
            assert position.next_sequence is not None
            if sequence < position.next_sequence:
                continue
            behind = sum(s.duration or 0.0 for s in playlist.segments[offset + 1:])
            await self._hand_on(segment, position, behind, missing, bool(playlist.is_endlist))
            missing = 0.0
            position.next_sequence = sequence + 1
            new = True
        now = time.monotonic()
        if new:
            position.changed = now
        elif count and not playlist.is_endlist and now - position.changed > STALL_TARGETS * position.target_s:
            raise PlaylistError(f"the playlist has not grown for {now - position.changed:.0f} s")
        return bool(playlist.is_endlist)

    def _resume(self, position: _Position, first: int, count: int, endlist: bool) -> float | None:
        """Where to go on from, given the playlist's window [first, first + count); the media missed since
        the last segment handed on (None: unknown, the origin started over)."""
        missing: float | None = 0.0
        if position.next_sequence is None:
            # A live stream is joined three target durations from its end (RFC 8216, 6.3.3: a stream
            # that just started, at its first segment); a finished one is analysed whole.
            position.next_sequence = first if endlist else first + max(0, count - JOIN_SEGMENTS)
        elif position.next_sequence < first:
            missing = (first - position.next_sequence) * position.target_s
            position.next_sequence = first
        elif position.next_sequence > first + count + 1:
            missing = None  # the sequence started over: the origin restarted
            position.next_sequence = first + count - 1 if count else first
            position.discontinuity = True
        if position.lost is not None and (count and position.next_sequence < first + count):
            self._put(Back(missing))
            position.lost = None
            position.changed = time.monotonic()
            position.discontinuity = True
            return 0.0
        return missing

    async def _hand_on(self, segment: m3u8.Segment, position: _Position, behind: float, missing: float | None,
                       finished: bool) -> None:
        duration = float(segment.duration or position.target_s)
        if missing:
            self._put(Gap(missing))
        if finished:  # no live edge to keep up with: the analysis takes its time
            await self._drained(position.target_s)
        if self._backlog() * position.target_s > MAX_BACKLOG_S:
            position.skipped_s += duration
            position.discontinuity = True
            return
        if position.skipped_s:
            self._put(Gap(position.skipped_s))
            position.skipped_s = 0.0
        try:
            data = await self._get(segment.absolute_uri, SEGMENT_MAX_BYTES)
        except PlaylistError:
            # Gone before it was fetched (a sliding window on a slow link): a gap, not a lost source.
            self._put(Gap(duration))
            position.discontinuity = True
            return
        init = await self._init(segment, position)
        discontinuity = position.discontinuity or bool(segment.discontinuity)
        position.discontinuity = False
        self._put(Segment(data, duration, discontinuity, behind, init))

    async def _drained(self, target_s: float) -> None:
        """Until the backlog is under MAX_BACKLOG_S (the analysis takes it in another thread: polled)."""
        for _ in itertools.count():
            if self._backlog() * target_s <= MAX_BACKLOG_S:
                return
            await asyncio.sleep(0.1)

    async def _init(self, segment: m3u8.Segment, position: _Position) -> bytes | None:
        """The fMP4 init section (EXT-X-MAP) a segment needs, fetched once."""
        section = segment.init_section
        if section is None:
            return None
        url = section.absolute_uri
        if url not in position.inits:
            position.inits[url] = await self._get(url, SEGMENT_MAX_BYTES)
        return position.inits[url]


def _name(url: str) -> str:
    return url.rsplit("/", 1)[-1].split("?", 1)[0] or url


def _reason(exc: Exception) -> str:
    if isinstance(exc, PlaylistError | OutboundRefused):
        return str(exc).rstrip(".")
    if isinstance(exc, httpx.TimeoutException):
        return "it did not answer in time"
    if isinstance(exc, httpx.ConnectError):
        return "could not connect"
    return "the connection broke off"

