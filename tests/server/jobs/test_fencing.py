"""Fencing: only the current attempt of a job writes its session (server/backends/fencing.py).

The backends on their own (memory, and Redis with two instances), then the whole deployment: a worker
host frozen with SIGSTOP past JOB_VISIBILITY_S, its job taken over, the host thawed."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import os
import signal
import threading
import time
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.conftest import REDIS_KINDS, new_redis_target
from tests.support.client import Received, follow, upload_ok, wait_progress
from tests.support.receiver import new_secret, running_receiver
from tests.support.redisdb import job_holder
from tests.support.servers import Server
from vidpulse.server.backends import create_backend
from vidpulse.server.backends.fencing import Attempt, AttemptSuperseded, writing_as
from vidpulse.server.backends.protocols import Backend
from vidpulse.server.config import Settings
from vidpulse.server.models import Event, EventType, Session, SessionState, new_session_id
from vidpulse.server.notify.deliveries import RedisWebhookStore, create_webhook_store
from vidpulse.server.notify.webhooks import Webhooks
from vidpulse.server.ops.metrics import Metrics
from vidpulse.server.ops.tracing import Tracing
from vidpulse.server.storage.local import LocalStorage


class _NoSubscribers:
    def publish(self, event: Event) -> None:
        pass

    def count(self, session_id: str) -> int:
        return 0

    def close_all(self) -> None:
        pass


@contextlib.asynccontextmanager
async def _instances(request: pytest.FixtureRequest, kind: str, tmp_path: Path,
                     visibility_s: float = 0.2) -> AsyncIterator[tuple[Backend, Backend]]:
    """Two instances of one deployment (memory: the same one twice, as it has one process)."""
    settings = Settings(data_dir=tmp_path, job_visibility_s=visibility_s)
    if kind != "memory":
        target = new_redis_target(request, kind)
        settings = Settings(data_dir=tmp_path, job_visibility_s=visibility_s, **target.settings())
    storage = LocalStorage(tmp_path)
    first = create_backend(settings, storage, _NoSubscribers())
    second = create_backend(settings, storage, _NoSubscribers()) if kind != "memory" else first
    for backend in {id(first): first, id(second): second}.values():
        await backend.connection.start()
    try:
        yield first, second
    finally:
        for backend in {id(first): first, id(second): second}.values():
            await backend.connection.close()


async def _take_over(kind: str, first: Backend, second: Backend, session_id: str) -> None:
    """The second instance takes the job of a first one that went silent."""
    if kind != "memory":
        await asyncio.sleep(0.3)  # the first one's hold lapses (JOB_VISIBILITY_S 0.2): it froze
        assert await second.jobs.next_job() == session_id


@pytest.mark.parametrize("kind", ["memory", pytest.param("redis", marks=pytest.mark.redis), *REDIS_KINDS[1:]])
async def test_a_superseded_attempt_writes_nothing(request, tmp_path, kind):
    async with _instances(request, kind, tmp_path) as (first, second):
        session = Session(id=new_session_id(), filename="clip.mp4")
        await first.sessions.submit(session)
        assert await first.jobs.next_job() == session.id
        one = await first.jobs.begin_attempt(session)
        assert one == 1
        with writing_as(Attempt(session.id, 1)):
            session.state, session.attempts = SessionState.RUNNING, 1
            await first.sessions.save(session)
            await first.events.append(session, EventType.STARTED, {"attempt": 1})

        await _take_over(kind, first, second, session.id)
        taken = await second.sessions.get(session.id)
        assert taken is not None
        two = await second.jobs.begin_attempt(taken)
        assert two == 2
        before = [e.id for e in await second.events.events_after(session.id, None)]

        stale = await first.sessions.get(session.id) if kind != "memory" else session
        assert stale is not None
        with writing_as(Attempt(session.id, 1)):
            with pytest.raises(AttemptSuperseded):
                await first.events.append(stale, EventType.PROGRESS, {"fraction": 0.5})
            stale.state = SessionState.SUCCEEDED
            with pytest.raises(AttemptSuperseded):
                await first.sessions.save(stale)
        assert not await first.jobs.job_heartbeat(session.id, 1), "the stale host learns it lost the job"
        assert [e.id for e in await second.events.events_after(session.id, None)] == before, "nothing logged"
        if kind != "memory":
            assert (await second.sessions.get(session.id)).state is SessionState.RUNNING, "nothing saved"  # type: ignore[union-attr]
            with pytest.raises(AttemptSuperseded):
                await first.jobs.begin_attempt(stale)  # nor can it begin another
            await first.jobs.job_done(session.id)  # acknowledges nothing: the job is the second's

        assert await second.jobs.job_heartbeat(session.id, 2), "the current attempt holds the job"
        with writing_as(Attempt(session.id, 2)):
            await second.events.append(taken, EventType.STARTED, {"attempt": 2})
        writes_outside_attempts = await first.sessions.get(session.id)  # the API's: not fenced
        assert writes_outside_attempts is not None
        await first.sessions.save(writes_outside_attempts)


@pytest.mark.redis
@pytest.mark.parametrize("kind", REDIS_KINDS)
async def test_a_job_handed_back_is_taken_at_once_by_another_instance(request, tmp_path, kind):
    async with _instances(request, kind, tmp_path, visibility_s=600) as (first, second):
        session = Session(id=new_session_id(), filename="clip.mp4")
        await first.sessions.submit(session)
        assert await first.jobs.next_job() == session.id
        assert await first.jobs.begin_attempt(session) == 1
        await first.jobs.hand_back(session.id)
        assert await first.jobs.queued() == [session.id], "back at the head of the queue"
        # Without the hand-back the job would wait out JOB_VISIBILITY_S (600 s) first.
        assert await asyncio.wait_for(second.jobs.next_job(), 30) == session.id
        await first.jobs.job_done(session.id)  # too late: it is the second's now
        assert await second.jobs.job_heartbeat(session.id, None)


@pytest.mark.cluster
async def test_an_attempt_whose_second_step_comes_too_late_is_not_begun(redis_cluster, tmp_path, caplog):
    """Beginning an attempt is two steps on two shards: the job's entry held (the job stream's), then
    the attempt numbered (the session's). The session's master stalls (CLIENT PAUSE) between them
    for longer than JOB_VISIBILITY_S, and another instance claims the job meanwhile: the first
    instance's late second step numbers nothing and it begins no attempt; the other begins attempt 1."""
    target = redis_cluster.target()
    settings = Settings(data_dir=tmp_path, job_visibility_s=0.2, **target.settings())
    session = Session(id=new_session_id(), filename="clip.mp4")
    while redis_cluster.master_of(target.keys.session(session.id)) == redis_cluster.master_of(target.keys.jobs):
        session = Session(id=new_session_id(), filename="clip.mp4")
    first, second = (create_backend(settings, LocalStorage(tmp_path), _NoSubscribers()) for _ in range(2))
    for backend in (first, second):
        await backend.connection.start()
    try:
        await first.sessions.submit(session)
        assert await first.jobs.next_job() == session.id
        with redis.Redis(port=redis_cluster.master_of(target.keys.session(session.id))) as node:
            node.client_pause(1500, all=False)  # writes wait 1.5 s; a hold lasts 0.1 s

        async def claimed_meanwhile() -> int | None:
            await asyncio.sleep(0.5)
            assert await second.jobs.next_job() == session.id
            return await second.jobs.begin_attempt(session)

        late, other = await asyncio.gather(first.jobs.begin_attempt(session), claimed_meanwhile(),
                                           return_exceptions=True)
        assert isinstance(late, AttemptSuperseded), late
        assert other == 1
        assert "took longer than its hold on the job" in caplog.text
        with target.admin() as admin:
            assert admin.hget(target.keys.session(session.id), "attempt") == "1"
    finally:
        for backend in (first, second):
            await backend.connection.close()


# The whole deployment ---------------------------------------------------------------------------

def _ts(event: Received) -> float:
    return datetime.fromisoformat(event.body["ts"].replace("Z", "+00:00")).timestamp()


def _by_attempt(events: list[Received]) -> dict[int, list[Received]]:
    """The events of each attempt: those after its `started` (and before the next one)."""
    attempts: dict[int, list[Received]] = {}
    current = 0
    for event in events:
        if event.type == "started":
            current = event.data["attempt"]
        if event.type in ("stage", "progress", "scene"):
            attempts.setdefault(current, []).append(event)
            # Once the data names its attempt (sessions/lifecycle.py), it must be this one.
            assert event.data.get("attempt", current) == current, event.body
    return attempts


def _assert_each_attempt_is_whole(events: list[Received]) -> None:
    for attempt, own in _by_attempt(events).items():
        scenes = [e.data["index"] for e in own if e.type == "scene"]
        assert len(scenes) == len(set(scenes)), f"attempt {attempt} logged a scene twice: {scenes}"
        last: dict[str, int] = {}
        for event in (e for e in own if e.type == "progress"):
            stage, frame = event.data["stage"], event.data["frame"]
            assert frame >= last.get(stage, 0), f"attempt {attempt}: frame went back in {stage}: {event.body}"
            last[stage] = frame


@contextlib.contextmanager
def _frozen(server: Server) -> Iterator[float]:
    """The server's whole process group stopped (SIGSTOP: a paused VM, a stalled machine), then
    continued; yields the moment it froze."""
    assert server.process is not None
    os.killpg(server.process.pid, signal.SIGSTOP)
    try:
        yield time.time()
    finally:
        os.killpg(server.process.pid, signal.SIGCONT)


def _wait_for(condition: Any, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


@pytest.mark.slow
@pytest.mark.redis
def test_a_frozen_worker_host_is_taken_over_and_its_stale_attempt_writes_nothing(start_server, redis_server,
                                                                                  long_clip):
    target = redis_server.target()
    common = {**target.env(), "JOB_VISIBILITY_S": 3}
    api = start_server(WORKERS=0, **common)
    hosts = [start_server(data_dir=api.data_dir, command="worker", own_group=True, WORKERS=1, **common)
             for _ in range(2)]
    session = upload_ok(api.client(), long_clip.path, {"render": True})
    sid = session["id"]
    wait_progress(api.client(), sid, 10)  # mid-job
    stale = job_holder(hosts, target)
    seen: list[Received] = []
    watcher = threading.Thread(target=follow, args=(api.client(), sid), kwargs={"last_event_id": "0", "into": seen},
                               daemon=True)
    watcher.start()

    def second_attempt_progressed() -> bool:
        return len(_by_attempt(list(seen)).get(2, [])) >= 5

    with _frozen(stale) as froze_at:
        # Thawed only once the new attempt is well under way: the old one comes back into it.
        _wait_for(second_attempt_progressed, "another host took the job over and made progress")
    thawed_at = time.time()
    watcher.join(120)
    assert not watcher.is_alive()
    _wait_for(lambda: "is no longer current" in stale.log(), "the stale host said why it stopped", 30)

    events = follow(api.client(), sid, last_event_id="0")[1:]  # after the snapshot
    assert [e.body for e in events] == [e.body for e in seen[1:]], "the live stream was the log"
    assert [e.data["attempt"] for e in events if e.type == "started"] == [1, 2]
    terminal = [e for e in events if e.type in ("succeeded", "failed", "cancelled")]
    assert [e.type for e in terminal] == ["succeeded"] and events[-1] is terminal[0]
    _assert_each_attempt_is_whole(events)

    # The artifacts are the second attempt's: its folder alone, published by its `succeeded`.
    folder = api.data_dir / sid / "artifacts"
    assert sorted(p.name for p in folder.iterdir()) == ["2"]
    names = terminal[0].data["summary"]["artifacts"]
    assert "annotated.mp4" in names and sorted(p.name for p in (folder / "2").iterdir()) == sorted(names)
    served = api.client().get(f"/api/sessions/{sid}/files/report.json")
    assert served.status_code == 200 and served.content == (folder / "2" / "report.json").read_bytes()

    started = next(e for e in events if e.type == "started" and e.data["attempt"] == 2)
    first_progress = next(e for e in _by_attempt(events)[2] if e.type == "progress")
    stopped = next(r for r in stale.log_records() if "is no longer current" in r["message"])
    stopped_after = datetime.fromisoformat(stopped["ts"].replace("Z", "+00:00")).timestamp() - thawed_at
    print(f"\ntakeover: {_ts(first_progress) - froze_at:.1f} s from the freeze to attempt 2's first progress "
          f"({_ts(started) - froze_at:.1f} s to its `started`); the thawed host stopped after {stopped_after:.2f} s")


@pytest.mark.parametrize("kind", ["memory", pytest.param("redis", marks=pytest.mark.redis), *REDIS_KINDS[1:]])
async def test_a_superseded_attempt_announces_nothing(request, tmp_path, kind):
    """An attempt records its finish webhook before the fenced save of its state; when the save is
    refused, what it recorded is never sent, and the attempt that did finish is announced once."""
    async with _instances(request, kind, tmp_path) as (first, second):
        with running_receiver() as receiver:
            settings = Settings(data_dir=tmp_path, webhook_url=receiver.url, webhook_secret=new_secret(),
                                allow_private_urls=True)
            store = (create_webhook_store(settings, LocalStorage(tmp_path)) if kind == "memory"
                     else RedisWebhookStore(Settings(**new_redis_target(request, kind).settings())))
            webhooks = Webhooks(settings, store, second.sessions, Metrics(), Tracing({}))
            await webhooks.start()
            delivering = asyncio.create_task(webhooks.loops()["webhooks"]())
            try:
                session = Session(id=new_session_id(), filename="clip.mp4")
                await first.sessions.submit(session)
                assert await first.jobs.next_job() == session.id
                assert await first.jobs.begin_attempt(session) == 1
                with writing_as(Attempt(session.id, 1)):
                    session.state, session.attempts = SessionState.RUNNING, 1
                    await first.sessions.save(session)
                await _take_over(kind, first, second, session.id)
                taken = await second.sessions.get(session.id)
                assert taken is not None and await second.jobs.begin_attempt(taken) == 2

                stale = await first.sessions.get(session.id) if kind != "memory" else copy.copy(session)
                assert stale is not None
                with writing_as(Attempt(session.id, 1)):
                    stale.state = SessionState.FAILED  # its worker died with it, say
                    await webhooks.session_finished(stale)  # recorded: then the save is refused
                    with pytest.raises(AttemptSuperseded):
                        await first.sessions.save(stale)
                await asyncio.sleep(1.0)
                assert receiver.requests == [], "nothing is sent while the attempt that recorded it may yet save"

                with writing_as(Attempt(session.id, 2)):
                    taken.state, taken.attempts = SessionState.RUNNING, 2
                    await second.sessions.save(taken)
                    taken.state = SessionState.SUCCEEDED
                    await webhooks.session_finished(taken)
                    await second.sessions.save(taken)
                await asyncio.to_thread(receiver.wait_for, 1, 15)
                await asyncio.sleep(2.5)  # past a recheck of the stale one
                assert [(r.json["type"], r.json["data"]["attempt"]) for r in receiver.requests] == [
                    ("session.succeeded", 2)]
                deliveries = await webhooks.store.for_session(session.id)
                assert sorted(d.state.value for d in deliveries) == ["delivered", "superseded"]
            finally:
                delivering.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await delivering
                await webhooks.stop()
