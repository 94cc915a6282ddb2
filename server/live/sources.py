"""What a live source is, and the items it hands to the analysis.

An http(s) URL is an HLS playlist, followed by server/live/hls.py; rtmp:// and rtsp:// are pulled by
FFmpeg (server/live/pull.py), srt:// by the ffmpeg command as a relay (server/live/srt.py), which a server
without it refuses. Anything else (file:, concat:, data:, pipe:, ...) is refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit

import httpx

from vidpulse.processing.live.items import Item
from vidpulse.processing.live.segments import Segment, SegmentQueue
from vidpulse.server.live.feed import Feed
from vidpulse.server.live.hls import HlsFollower
from vidpulse.server.live.pull import WHITELISTS, PullSource, pin
from vidpulse.server.live.srt import check_srt, relay
from vidpulse.server.outbound import OutboundRefused, Policy, check_url, outbound_client

HLS_SCHEMES = ("http", "https")


def scheme_of(url: str) -> str:
    """The source's scheme, once it is one this server follows (srt://: with the ffmpeg command's SRT, and
    options it takes); OutboundRefused says why not. The first srt:// URL waits for ffmpeg's answer."""
    scheme = urlsplit(url).scheme.lower()
    if scheme == "srt":
        check_srt(url)
    if scheme in HLS_SCHEMES or scheme in WHITELISTS:
        return scheme
    named = f"{scheme}:" if scheme else "a bare path"
    raise OutboundRefused(f"A live source is an http(s) HLS playlist, or an rtmp://, rtsp:// or srt:// stream, "
                          f"not {named}.")


async def check_source(url: str, *, allow_private: bool) -> str:
    """The guard's check of a live source's address before the session exists; its scheme."""
    scheme = await asyncio.to_thread(scheme_of, url)
    if scheme in HLS_SCHEMES:
        await check_url(url, allow_private=allow_private)
        return scheme
    await pin(url, Policy(allow_private=allow_private))
    return scheme


@contextlib.contextmanager
def live_items(url: str, *, allow_private: bool, reconnect_s: float, timeout_s: float,
               stopping: Callable[[], bool]) -> Iterator[Iterator[Item]]:
    """The source's items for LiveAnalysis.run; for HLS, fetched in a thread of their own meanwhile."""
    scheme = scheme_of(url)
    if scheme not in HLS_SCHEMES:
        run = relay(reconnect_s, stopping) if scheme == "srt" else None
        yield PullSource(url, Policy(allow_private=allow_private), reconnect_s=reconnect_s, stopping=stopping,
                         run=run).items()
        return
    inbox: queue.Queue[Segment | Item | BaseException] = queue.Queue()

    async def follow() -> None:
        async with outbound_client(allow_private=allow_private, timeout=httpx.Timeout(timeout_s)) as client:
            await HlsFollower(url, client, inbox.put, reconnect_s=reconnect_s, backlog=inbox.qsize).run()

    with Feed(follow, name="vidpulse-hls"):
        yield SegmentQueue(inbox, stopping).items()
