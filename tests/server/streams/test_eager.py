"""Stepping a coroutine by hand: done at once, or its rest awaited later with the same effects."""

from __future__ import annotations

import asyncio

import pytest

from vidpulse.server.streams.eager import step


async def test_a_coroutine_that_never_waits_is_done_in_the_call():
    log: list[str] = []

    async def write() -> None:
        log.append("written")

    assert step(write()) is None
    assert log == ["written"]


async def test_the_rest_of_a_waiting_coroutine_resumes_where_it_stopped():
    gate: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    log: list[str] = []

    async def write() -> None:
        log.append("before")
        await gate
        log.append("after")

    rest = step(write())
    assert rest is not None and log == ["before"]
    gate.set_result(None)
    await rest
    assert log == ["before", "after"]


async def test_errors_come_out_of_step_or_of_the_await():
    async def fails_at_once() -> None:
        raise OSError("gone")

    with pytest.raises(OSError):
        step(fails_at_once())

    async def fails_later() -> None:
        await asyncio.sleep(0)
        raise RuntimeError("closed")

    rest = step(fails_later())
    assert rest is not None
    with pytest.raises(RuntimeError):
        await rest


async def test_cancelling_the_awaiting_task_reaches_the_coroutine():
    log: list[str] = []

    async def write() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            log.append("cancelled")
            raise

    rest = step(write())
    assert rest is not None

    async def finish() -> None:
        await rest

    task = asyncio.create_task(finish())
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert log == ["cancelled"]


async def test_close_abandons_it_and_runs_its_cleanup():
    log: list[str] = []

    async def write() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            log.append("cleaned up")

    rest = step(write())
    assert rest is not None
    rest.close()
    assert log == ["cleaned up"]
