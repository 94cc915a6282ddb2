"""vidpulse.client.Client against a real server (memory and Redis)."""

from __future__ import annotations

import threading

import httpx
import pytest

from tests.conftest import backend_settings
from tests.support.client import follow, order
from tests.support.servers import Server
from tests.support.videogen import write_audio
from vidpulse.client import Client, Event, VidpulseError
from vidpulse.processing.schema import Report
from vidpulse.server.models import EventType
from vidpulse.server.schemas import Progress, Session


@pytest.fixture
def client(shared_server: Server):
    with Client(shared_server.url) as c:
        yield c


def test_upload_watch_results_download(client, shared_server, clip, tmp_path):
    sent: list[int] = []
    session = client.upload(clip.path, {"width": 160}, on_progress=sent.append)
    # Over tus the session is read after the last PATCH: its job may have started already.
    assert isinstance(session, Session) and session.state.value in ("queued", "running", "succeeded")
    assert sent and sent[-1] == clip.path.stat().st_size and sent == sorted(sent)

    events = list(client.watch(session.id))
    assert isinstance(events[0], Event) and events[0].type is EventType.SNAPSHOT and events[0].id is None
    assert isinstance(events[0].data, Session)
    ids = [e.id for e in events[1:]]
    assert all(ids) and [order(i) for i in ids] == sorted({order(i) for i in ids}), "in order, no duplicate"
    assert events[-1].type is EventType.SUCCEEDED and events[-1].terminal
    progress = [e.data for e in events if e.type is EventType.PROGRESS]
    assert progress and all(isinstance(p, Progress) for p in progress), "the model inside ProgressData"
    assert {p.stage for p in progress} >= {"analyze", "finalize"} and progress[-1].fraction == 1.0
    assert [e.id for e in follow(shared_server.client(), session.id, events[0].data.last_event_id)][1:] == ids

    final = client.wait(session.id)
    assert final.state.value == "succeeded" and final.progress is not None and final.progress.fraction == 1.0
    report = client.results(session.id)
    assert isinstance(report, Report) and report.video.frames == clip.truth.frames
    for artifact in report.artifacts:
        saved = client.download(session.id, artifact.name, tmp_path)
        assert saved == tmp_path / artifact.name and saved.stat().st_size == artifact.bytes
    served = shared_server.client().get(f"/api/sessions/{session.id}/files/timeline.png").content
    assert (tmp_path / "timeline.png").read_bytes() == served
    assert not list(tmp_path.glob(".*.part"))

    assert session.id in {s.id for s in client.sessions(limit=1)}, "pages are followed"
    assert client.webhook_attempts(session.id) == []
    with pytest.raises(VidpulseError) as refused:
        client.cancel(session.id)
    assert refused.value.status == 409 and refused.value.problem["state"] == "succeeded"
    client.delete(session.id)
    with pytest.raises(VidpulseError) as gone:
        client.session(session.id)
    assert gone.value.status == 404 and gone.value.problem["status"] == 404


def test_watch_a_finished_session(client, clip):
    session = client.upload(clip.path, {"width": 160})
    final = client.wait(session.id)
    events = list(client.watch(session.id))
    assert [e.type for e in events] == [EventType.SNAPSHOT, EventType.SUCCEEDED]
    assert events[0].data.state == final.state and events[1].id == final.last_event_id


def test_watch_a_finished_session_whose_stream_breaks_after_the_snapshot(shared_server, client, clip):
    """The snapshot already covers the terminal event, so resuming from its `last_event_id` gets a
    204: `watch` starts over once, and so still ends with the terminal event."""
    final = client.wait(client.upload(clip.path, {"width": 160}).id)
    asked: list[str | None] = []
    real = shared_server.client()

    def relay(request: httpx.Request) -> httpx.Response:
        answer = real.send(request)
        if not request.url.path.endswith("/events"):
            return answer
        asked.append(request.headers.get("last-event-id"))
        body = _through_snapshot(answer.content) if len(asked) == 1 else answer.content
        return httpx.Response(answer.status_code, headers={"content-type": "text/event-stream"}, content=body)

    relayed = httpx.Client(base_url=shared_server.url, transport=httpx.MockTransport(relay))
    with Client(shared_server.url, http=relayed) as watcher:
        events = list(watcher.watch(final.id))
    assert [e.type for e in events] == [EventType.SNAPSHOT, EventType.SUCCEEDED]
    assert asked == [None, final.last_event_id, None], "from the snapshot's id (204), then from the start"


def _through_snapshot(stream: bytes) -> bytes:
    """An SSE stream as it was when its connection broke right after the snapshot event."""
    blocks = stream.split(b"\r\n\r\n")
    snapshot = next(i for i, block in enumerate(blocks) if b"event: snapshot" in block)
    return b"\r\n\r\n".join(blocks[:snapshot + 1]) + b"\r\n\r\n"


def test_refusals_carry_the_problem(memory_server, tmp_path):
    # How the client raises problem documents; the server's side is tested on every backend.
    audio = tmp_path / "tone.m4a"
    write_audio(audio)
    with Client(memory_server.url) as client:
        with pytest.raises(VidpulseError) as refused:
            client.upload(audio)
        assert refused.value.status == 422 and refused.value.problem["code"] == "undecodable"
        with pytest.raises(VidpulseError) as bad:
            client.upload(audio, {"width": 5})
        assert bad.value.problem["field"] == "options.width"
        with pytest.raises(VidpulseError) as missing:
            list(client.watch("s_" + "0" * 32))
        assert missing.value.status == 404
        with pytest.raises(VidpulseError) as nothing:
            client.download("s_" + "0" * 32, "report.json", tmp_path)
        assert nothing.value.status == 404 and [p.name for p in tmp_path.iterdir()] == ["tone.m4a"]


def test_unreachable_server(tmp_path):
    with Client("http://127.0.0.1:9", reconnect_for_s=0.5) as client:
        with pytest.raises(VidpulseError) as down:
            client.session("s_" + "0" * 32)
        assert down.value.status is None
        with pytest.raises(VidpulseError, match="could not reconnect"):
            list(client.watch("s_" + "0" * 32))


def test_cancel_a_running_session(client, long_clip):
    session = client.upload(long_clip.path, {"render": True, "width": 640})
    for event in client.watch(session.id):
        if event.type is EventType.PROGRESS:
            break
    assert client.cancel(session.id).state.value in ("cancelling", "cancelled")
    assert client.wait(session.id).state.value == "cancelled"
    client.delete(session.id)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["memory", "redis"])
def test_watch_across_a_server_restart(request, start_server, tmp_path, long_clip, backend):
    """Every logged event once, in order, although the server restarts in the middle of the job."""
    server = start_server(data_dir=tmp_path / "data", WORKERS=1, **backend_settings(request, backend))
    watched: list[Event] = []
    progressed = threading.Event()
    errors: list[BaseException] = []

    with Client(server.url) as client:
        session = client.upload(long_clip.path, {"render": True, "width": 640})

        def watch() -> None:
            try:
                for event in client.watch(session.id):
                    watched.append(event)
                    if event.type is EventType.PROGRESS:
                        progressed.set()
            except BaseException as exc:
                errors.append(exc)

        thread = threading.Thread(target=watch)
        thread.start()
        assert progressed.wait(60), "the job made progress"
        server.restart()
        thread.join(180)
        assert not thread.is_alive() and not errors, errors

    assert watched[0].type is EventType.SNAPSHOT
    assert [e.type for e in watched[1:]].count(EventType.SNAPSHOT) == 0, "one snapshot, however many connections"
    assert watched[-1].type is EventType.SUCCEEDED
    ids = [e.id for e in watched[1:]]
    logged = follow(httpx.Client(base_url=server.url, timeout=30), session.id, watched[0].data.last_event_id)[1:]
    assert ids == [e.id for e in logged], "no gap, no duplicate: exactly the log"
    attempts = [e.data.attempt for e in watched if e.type is EventType.STARTED]
    assert attempts[-1] == 2, "the job ran again after the restart, and the watch saw it start"
