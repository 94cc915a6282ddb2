"""The hub: bounded queues, progress merged (latest wins), nothing else ever dropped."""

from __future__ import annotations

import asyncio

import pytest

from vidpulse.server.models import Event, EventType
from vidpulse.server.streams.hub import Hub, SubscriberOverflow


def _event(n: int, type: EventType = EventType.PROGRESS) -> Event:
    return Event.create(str(n), "s_1", type, {"n": n})


async def test_fan_out_in_order():
    hub = Hub(queue_size=8)
    a, b = hub.subscribe("s_1"), hub.subscribe("s_1")
    other = hub.subscribe("s_2")
    for n in range(1, 4):
        hub.publish(_event(n, EventType.STAGE))
    for sub in (a, b):
        assert [(await sub.get()).id for _ in range(3)] == ["1", "2", "3"]
    assert other.drain() == []


async def test_slow_subscriber_gets_progress_merged_latest_wins():
    hub = Hub(queue_size=4)
    slow = hub.subscribe("s_1")
    hub.publish(_event(1, EventType.STARTED))
    for n in range(2, 50):
        hub.publish(_event(n))
    hub.publish(_event(50, EventType.SUCCEEDED))
    got = slow.drain()
    assert got[0].type is EventType.STARTED and got[-1].type is EventType.SUCCEEDED
    assert [e.type for e in got].count(EventType.PROGRESS) <= 2
    assert got[-2].id == "49", "the newest progress survives"
    assert [int(e.id) for e in got] == sorted(int(e.id) for e in got)
    assert hub.stats.coalesced > 40


async def test_subscriber_that_cannot_keep_up_overflows():
    hub = Hub(queue_size=3)
    sub = hub.subscribe("s_1")
    for n in range(1, 6):
        hub.publish(_event(n, EventType.QUEUED))
    assert sub.overflowed and hub.stats.overflowed == 1
    sub.drain()
    with pytest.raises(SubscriberOverflow):
        await sub.get()


async def test_get_waits_for_publish_and_unsubscribe_stops_delivery():
    hub = Hub(queue_size=4)
    sub = hub.subscribe("s_1")
    waiter = asyncio.create_task(sub.get())
    await asyncio.sleep(0)
    hub.publish(_event(1, EventType.STAGE))
    assert (await waiter).id == "1"
    hub.unsubscribe(sub)
    hub.publish(_event(2, EventType.STAGE))
    assert sub.drain() == [] and hub.count() == 0
