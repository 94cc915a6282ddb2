"""The HLS follower alone (server/live/hls.py) against playlists served on loopback: what it hands on as a
playlist changes, and the outbound guard on every request it makes (a redirect to a private address)."""

from __future__ import annotations

import asyncio
import ipaddress
import threading
from collections.abc import Iterator, Sequence
from http.server import ThreadingHTTPServer

import pytest

from tests.support.servers import QuietHandler, free_port
from vidpulse.processing.errors import SourceLost, SourceUnreachable
from vidpulse.processing.live.items import Back, Ended, Gap
from vidpulse.processing.live.segments import Segment
from vidpulse.server.live.hls import HlsFollower
from vidpulse.server.outbound import outbound_client

LOOPBACK = [ipaddress.ip_network("127.0.0.0/8")]


class Files:
    """What the origin answers: path -> (status, body, headers); anything else is a 404."""

    def __init__(self) -> None:
        self.answers: dict[str, tuple[int, bytes, dict[str, str]]] = {}
        self.hits: list[str] = []
        self.port = free_port()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}/{path}"

    def playlist(self, first: int, count: int, *, end: bool = False, discontinuity_at: int | None = None) -> None:
        lines = ["#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-TARGETDURATION:1", f"#EXT-X-MEDIA-SEQUENCE:{first}"]
        for sequence in range(first, first + count):
            if sequence == discontinuity_at:
                lines.append("#EXT-X-DISCONTINUITY")
            lines += ["#EXTINF:1.0,", f"s{sequence}.ts"]
            self.answers[f"s{sequence}.ts"] = (200, b"segment %d" % sequence, {})
        if end:
            lines.append("#EXT-X-ENDLIST")
        self.answers["live.m3u8"] = (200, "\n".join(lines).encode() + b"\n", {})


@pytest.fixture
def files() -> Iterator[Files]:
    served = Files()

    class Handler(QuietHandler):
        def do_GET(self) -> None:
            path = self.path.lstrip("/")
            served.hits.append(path)
            status, body, headers = served.answers.get(path, (404, b"no", {}))
            self.send(status, body, headers)

    httpd = ThreadingHTTPServer(("127.0.0.1", served.port), Handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield served
    httpd.shutdown()
    httpd.server_close()


def follow(files: Files, *, reconnect_s: float = 2.0, until: type = Ended, timeout: float = 20,
           change: Sequence[tuple[float, dict[str, object]]] = ()) -> list[object]:
    """Everything the follower hands on until an item of type `until` (or an error); `change` applies
    playlist changes at given times meanwhile."""
    got: list[object] = []

    async def main() -> None:
        done = asyncio.Event()

        def put(item: object) -> None:
            got.append(item)
            if isinstance(item, until | BaseException):
                done.set()

        async def changes() -> None:
            for at, playlist in change:
                await asyncio.sleep(at)
                files.playlist(**playlist)  # type: ignore[arg-type]

        async with outbound_client(allow_private=False, allowed=LOOPBACK, timeout=2.0) as client:
            follower = HlsFollower(files.url("live.m3u8"), client, put, reconnect_s=reconnect_s)
            task = asyncio.create_task(follower.run())
            changer = asyncio.create_task(changes())
            await asyncio.wait_for(done.wait(), timeout)
            task.cancel()
            changer.cancel()

    asyncio.run(main())
    return got


def names(items: list[object]) -> list[str]:
    return [item.data.decode() if isinstance(item, Segment) else type(item).__name__ for item in items]


def test_a_finished_playlist_is_handed_on_whole_then_ended(files: Files) -> None:
    files.playlist(0, 4, end=True)
    assert names(follow(files)) == ["segment 0", "segment 1", "segment 2", "segment 3", "Ended"]


def test_a_live_playlist_is_joined_three_segments_from_its_end_and_followed(files: Files) -> None:
    files.playlist(10, 6)
    items = follow(files, change=[(0.8, {"first": 10, "count": 8}), (0.8, {"first": 12, "count": 7, "end": True})])
    assert names(items) == ["segment 13", "segment 14", "segment 15", "segment 16", "segment 17", "segment 18",
                            "Ended"]
    assert [item.behind_s for item in items[:3]] == [2.0, 1.0, 0.0]  # type: ignore[attr-defined]


def test_segments_that_slid_out_unfetched_are_a_gap(files: Files) -> None:
    files.playlist(0, 2)
    items = follow(files, change=[(0.8, {"first": 6, "count": 2, "end": True})])
    assert names(items) == ["segment 0", "segment 1", "Gap", "segment 6", "segment 7", "Ended"]
    assert items[2] == Gap(4.0)


def test_a_discontinuity_tag_starts_a_new_run(files: Files) -> None:
    files.playlist(0, 4, end=True, discontinuity_at=2)
    items = follow(files)
    assert [item.discontinuity for item in items if isinstance(item, Segment)] == [False, False, True, False]


def test_a_playlist_that_never_answers_is_unreachable_after_reconnect_s(files: Files) -> None:
    items = follow(files, reconnect_s=1.0, until=SourceUnreachable)
    assert names(items) == ["SourceUnreachable"]
    assert "never answered in 1 s: live.m3u8 answered HTTP 404" in items[-1].message  # type: ignore[attr-defined]


def test_a_playlist_that_stays_gone_is_lost_then_given_up(files: Files) -> None:
    files.playlist(0, 2)
    threading.Timer(0.6, lambda: files.answers.pop("live.m3u8")).start()
    items = follow(files, reconnect_s=1.0, until=SourceLost)
    assert names(items) == ["segment 0", "segment 1", "Lost", "SourceLost"]


def test_a_redirect_to_a_private_address_is_refused(files: Files) -> None:
    files.answers["live.m3u8"] = (302, b"", {"Location": "http://10.20.30.40/live.m3u8"})
    items = follow(files, reconnect_s=1.0, until=SourceUnreachable)
    error = items[-1]
    assert isinstance(error, SourceUnreachable)
    assert "10.20.30.40 is a private address" in error.message
    assert set(files.hits) == {"live.m3u8"}


def test_a_lost_playlist_that_comes_back_continues_where_it_was(files: Files) -> None:
    files.playlist(0, 2)

    def outage() -> None:
        files.answers["live.m3u8"] = (503, b"down", {})

    threading.Timer(0.8, outage).start()
    threading.Timer(2.5, lambda: files.playlist(0, 4, end=True)).start()
    items = follow(files, reconnect_s=30)
    assert names(items) == ["segment 0", "segment 1", "Lost", "Back", "segment 2", "segment 3", "Ended"]
    assert items[3] == Back(0.0)


def test_an_analysis_behind_a_live_playlist_skips_ahead_but_not_on_a_finished_one(files: Files) -> None:
    got: list[object] = []
    waiting = [20]  # what the analysis has not taken yet, as the queue's size says

    async def main(end: bool) -> None:
        async with outbound_client(allow_private=False, allowed=LOOPBACK, timeout=2.0) as client:
            follower = HlsFollower(files.url("live.m3u8"), client, got.append, reconnect_s=2,
                                   backlog=lambda: waiting[0])
            task = asyncio.create_task(follower.run())
            await asyncio.sleep(0.6)
            waiting[0] = 0  # the analysis caught up
            if end:
                await asyncio.wait_for(task, 10)
                return
            files.playlist(0, 42)
            await asyncio.sleep(0.8)
            task.cancel()

    files.playlist(0, 40, end=True)
    asyncio.run(main(end=True))
    assert names(got) == [f"segment {n}" for n in range(40)] + ["Ended"]  # every one, in the end
    got.clear()
    waiting[0] = 20
    files.playlist(0, 40)
    asyncio.run(main(end=False))
    # A live one: the three segments it joined at went by while the analysis was 20 behind.
    assert names(got) == ["Gap", "segment 40", "segment 41"] and got[0] == Gap(3.0)
