"""Pulled live sources: rtmp:// and rtsp://, opened by FFmpeg (PyAV) itself, and srt:// through a relay
(server/live/srt.py).

The guard cannot sit in FFmpeg's sockets, so the address is checked here, before every connection,
and the URL given to FFmpeg names the checked address instead of the host (pinned: a DNS answer that
changes in between cannot steer it elsewhere). A protocol whitelist keeps FFmpeg to the protocol asked
for (an RTSP description or an RTMP redirect must not make it open anything else).

A stream that ends cleanly is the end of the session; one that breaks off (or does not open) is a lost
source, retried with growing delays for `reconnect_s`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from typing import Protocol
from urllib.parse import urlsplit, urlunsplit

import av
from av.container import InputContainer

from vidpulse.processing.errors import SourceLost, SourceUnreachable
from vidpulse.processing.live.items import Ended, Item, Lost, Run, Tick
from vidpulse.processing.live.segments import TICK_S
from vidpulse.server.outbound import OutboundRefused, Policy, resolve

# What FFmpeg may open for each scheme (libsrt opens its UDP socket itself, not through FFmpeg's udp),
# and the scheme's default port (SRT has none).
WHITELISTS = {"rtmp": "rtmp,tcp", "rtsp": "rtsp,rtp,tcp,udp", "srt": "srt"}
PORTS = {"rtmp": 1935, "rtsp": 554}
# A pulled stream silent for READ_TIMEOUT_S is lost (nginx-rtmp keeps a player connected, silent, when
# its publisher goes away).
OPEN_TIMEOUT_S, READ_TIMEOUT_S = 10.0, 5.0
RETRY_FIRST_S, RETRY_MAX_S = 0.5, 4.0


async def pin(url: str, policy: Policy) -> str:
    """`url` with its host replaced by the first address it resolves to, every address checked."""
    parts = urlsplit(url)
    if parts.scheme not in WHITELISTS:
        raise OutboundRefused(f"{parts.scheme or 'A bare path'} is not a live source this server pulls from.")
    host = parts.hostname
    if not host:
        raise OutboundRefused("The URL has no host.")
    try:
        port = parts.port or PORTS.get(parts.scheme)
    except ValueError as exc:
        raise OutboundRefused("The URL's port is not a port number.") from exc
    if port is None:
        raise OutboundRefused(f"A {parts.scheme}:// URL names its port.")
    addresses = await resolve(host, port)
    for ip in addresses:
        policy.check_address(host, ip)
    ip = addresses[0]
    address = f"[{ip}]" if ip.version == 6 else str(ip)
    credentials = parts.netloc.rpartition("@")[0]
    netloc = f"{credentials}@{address}:{port}" if credentials else f"{address}:{port}"
    return urlunsplit(parts._replace(netloc=netloc))


class PulledRun(Run, Protocol):
    """One connection to a pulled stream, as PullSource follows it."""

    opened: float | None  # when the connection that delivered media began, for lag_s (None: none did)
    error: str | None  # why it broke off (None: it ended cleanly, or was stopped)


class UrlRun:
    """One connection to a pulled stream, opened by PyAV."""

    def __init__(self, url: str, scheme: str) -> None:
        self._url = url
        self._scheme = scheme
        self.opened: float | None = None
        self.error: str | None = None

    def open(self) -> InputContainer:
        # RTSP: RTP over UDP from the address pinned, else interleaved in the TCP connection (FFmpeg's
        # default order); some servers speak only one of them.
        options = {"protocol_whitelist": WHITELISTS[self._scheme]}
        container = av.open(self._url, mode="r", options=options, timeout=(OPEN_TIMEOUT_S, READ_TIMEOUT_S))
        self.opened = time.monotonic()
        return container

    def lag_s(self, played_s: float) -> float:
        """How far the analysis is behind real time since the connection opened."""
        return 0.0 if self.opened is None else max(0.0, time.monotonic() - self.opened - played_s)

    def ended(self, error: str | None) -> None:
        self.error = error if self.opened is not None else error or "it did not open"


class PullSource:
    """`run`: the connection to the pinned URL (default: PyAV's own, UrlRun)."""

    def __init__(self, url: str, policy: Policy, *, reconnect_s: float, stopping: Callable[[], bool],
                 run: Callable[[str], PulledRun] | None = None) -> None:
        self._url = url
        scheme = urlsplit(url).scheme
        self._run = run or (lambda pinned: UrlRun(pinned, scheme))
        self._policy = policy
        self._reconnect_s = reconnect_s
        self._stopping = stopping

    def items(self) -> Iterator[Item]:
        started = time.monotonic()
        reached = False
        lost: float | None = None
        delay = RETRY_FIRST_S
        while not self._stopping():
            try:
                run = self._run(asyncio.run(pin(self._url, self._policy)))
            except OutboundRefused as exc:
                reason = str(exc).rstrip(".")
            else:
                yield run
                if run.opened is not None:
                    reached, lost, delay = True, None, RETRY_FIRST_S
                    if run.error is None:
                        yield Ended()
                        return
                reason = run.error or "it did not open"
            now = time.monotonic()
            if not reached and now - started >= self._reconnect_s:
                raise SourceUnreachable(f"The live source never answered in {self._reconnect_s:g} s: {reason}.")
            if reached and lost is None:
                lost = now
                yield Lost(reason)
            if lost is not None and now - lost >= self._reconnect_s:
                raise SourceLost(f"The live source was lost and did not come back in {self._reconnect_s:g} s: "
                                 f"{reason}.")
            yield from _wait(delay, self._stopping)
            delay = min(delay * 2, RETRY_MAX_S)


def _wait(seconds: float, stopping: Callable[[], bool]) -> Iterator[Item]:
    """Sleep in ticks, so the analysis keeps its clocks (and a stop is seen) meanwhile."""
    until = time.monotonic() + seconds
    while not stopping() and time.monotonic() < until:
        time.sleep(min(TICK_S, max(0.0, until - time.monotonic())))
        yield Tick()
