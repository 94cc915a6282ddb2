"""The pool of worker processes, the channel that carries their progress, and cancel.

Each worker is a process with a duplex pipe, forked from a fork server that imported the heavy
libraries (PyAV, OpenCV, numpy) once: a fresh or replaced worker is ready in milliseconds, not the
half second of CPU each import costs, and it is a clean process (the fork server is started by
exec, with no threads or event loop of the server's). The event loop watches the pipe's file
descriptor (`add_reader`), so progress arrives without polling. Cancel is a shared byte the
worker reads on every frame. A worker that dies (crash, kill -9, out of memory) fails only its
job and is replaced.

Workers and the fork server ignore SIGINT and SIGTERM (jobs/quiet.py): a signal to the server's
whole process group must not end a job before the server hands it back. The server ends them:
an idle worker is told to exit, a busy one is killed, and the fork server exits with the server.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import logging
import multiprocessing
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from vidpulse.server.jobs import child as protocol

log = logging.getLogger("vidpulse.jobs")

CRASHED = "crashed"
TIMED_OUT = "timeout"
INTERRUPTED = "interrupted"  # the host stops (WorkerPool.interrupt): its job goes back, not failed
# Imported by the fork server before anything else (see its docstring).
_QUIET_MODULE = "vidpulse.server.jobs.quiet"
_CANCEL_GRACE_S = 5.0
_START_TIMEOUT_S = 120.0

OnMessage = Callable[[str, Any], Awaitable[None]]


def _process_context() -> multiprocessing.context.ForkServerContext | multiprocessing.context.SpawnContext:
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")  # no fork (Windows): each worker imports for itself
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([_QUIET_MODULE, *protocol.HEAVY_MODULES])
    return context


_spawned: weakref.WeakSet[WorkerProcess] = weakref.WeakSet()


@atexit.register
def _kill_the_rest() -> None:
    """multiprocessing's exit handler terminates daemonic children (SIGTERM, which workers ignore)
    and then joins them: a busy worker left running by a server that exits without stopping its
    pool (a second Ctrl-C) would hold the exit up forever. Registered after that handler (imported
    with multiprocessing.connection above), so it runs before it."""
    for worker in list(_spawned):
        worker.kill()


@dataclass(frozen=True)
class Outcome:
    """How a job ended: kind is done, error, cancelled, crashed, timeout or interrupted."""

    kind: str
    payload: Any = None


class WorkerProcess:
    def __init__(self, index: int, progress_hz: float, pending_cancels: set[str], nice: int = 0) -> None:
        self.index = index
        self._nice = nice
        self._pending_cancels = pending_cancels
        self._progress_hz = progress_hz
        self._ctx = _process_context()
        self._process: Any = None
        self._conn: Connection | None = None
        self._cancel_flag: Any = None
        self._inbox: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self._ready = asyncio.Event()
        self._interrupted = False
        self.session_id: str | None = None

    @property
    def alive(self) -> bool:
        return self._ready.is_set() and self._process is not None and self._process.is_alive()

    def spawn(self) -> None:
        parent_conn, child_conn = self._ctx.Pipe()
        self._cancel_flag = self._ctx.Value("b", 0, lock=False)
        self._process = self._ctx.Process(
            target=protocol.worker_main,
            args=(child_conn, self._cancel_flag, self._progress_hz, self._nice),
            name=f"vidpulse-worker-{self.index}",
            daemon=True,
        )
        self._process.start()
        _spawned.add(self)
        child_conn.close()  # so that the worker's death reads as EOF here
        self._conn = parent_conn
        self._inbox = asyncio.Queue()
        self._ready.clear()
        asyncio.get_running_loop().add_reader(parent_conn.fileno(), self._on_readable)

    def _on_readable(self) -> None:
        conn = self._conn
        if conn is None:
            return
        try:
            while conn.poll():
                kind, payload = conn.recv()
                if kind == protocol.READY:
                    self._ready.set()
                else:
                    self._inbox.put_nowait((kind, payload))
        except (EOFError, OSError):
            self._detach()
            self._inbox.put_nowait((CRASHED, None))

    def _detach(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(ValueError, OSError):
                asyncio.get_running_loop().remove_reader(self._conn.fileno())
            self._conn.close()
            self._conn = None

    async def wait_ready(self) -> None:
        await asyncio.wait_for(self._ready.wait(), _START_TIMEOUT_S)

    async def run(self, session_id: str, job: dict[str, Any], on_message: OnMessage, timeout_s: float) -> Outcome:
        if not self._interrupted and (not self.alive or self._conn is None):
            await self.restart()
        if self._interrupted:  # checked after the last await: no job starts once the host stops
            return Outcome(INTERRUPTED)
        assert self._conn is not None
        self.session_id = session_id
        # A cancel that arrived while this job was being handed over still counts.
        self._cancel_flag.value = int(session_id in self._pending_cancels)
        self._pending_cancels.discard(session_id)
        self._drain_inbox()
        try:
            self._conn.send(job)
            async with asyncio.timeout(timeout_s):
                outcome = await self._follow(on_message)
        except TimeoutError:
            self.kill()
            return Outcome(TIMED_OUT)
        except (OSError, EOFError):
            outcome = Outcome(CRASHED)
        except BaseException:
            # Nobody follows the job any more (a write refused to a superseded attempt, a cancelled
            # task): its process must not go on writing files and taking a core.
            self.kill()
            raise
        finally:
            self.session_id = None
        return Outcome(INTERRUPTED) if outcome.kind == CRASHED and self._interrupted else outcome

    async def _follow(self, on_message: OnMessage) -> Outcome:
        while True:
            kind, payload = await self._inbox.get()
            if kind in protocol.RUNNING:
                await on_message(kind, payload)
            else:
                return Outcome(kind, payload)

    def _drain_inbox(self) -> None:
        while not self._inbox.empty():
            self._inbox.get_nowait()

    def cancel(self) -> None:
        """Ask the running job to stop; it checks the flag on every frame."""
        if self._cancel_flag is not None:
            self._cancel_flag.value = 1
        asyncio.get_running_loop().call_later(_CANCEL_GRACE_S, self._kill_if_still_running, self.session_id)

    def request_stop(self) -> None:
        """Ask a running live job to end with its report, as if its source had ended (the flag's STOP
        value, server/live/job.py; a cancel is 1 and wins)."""
        if self._cancel_flag is not None and not self._cancel_flag.value:
            self._cancel_flag.value = 2

    def _kill_if_still_running(self, session_id: str | None) -> None:
        # A decoder stuck inside one frame never reads the flag; the process must go.
        if session_id is not None and self.session_id == session_id and self._process is not None:
            log.warning("worker %s ignored cancel for %s; killing it", self.index, session_id)
            self.kill()

    def interrupt(self) -> None:
        """The host stops: the running job ends now (run answers INTERRUPTED) and none starts."""
        self._interrupted = True
        if self.session_id is not None:
            self.kill()

    def kill(self) -> None:
        self._ready.clear()  # not alive from now on, even before the process is reaped
        if self._process is not None:
            self._process.kill()

    async def restart(self) -> None:
        await self.stop()
        self.spawn()
        await self.wait_ready()

    async def stop(self, grace_s: float = 2.0) -> None:
        """An idle worker is asked to exit; a busy one is killed (the dispatcher handed its job
        back first, jobs/dispatch.py)."""
        process, conn = self._process, self._conn
        if process is not None and conn is not None and process.is_alive():
            if self.session_id is None:
                with contextlib.suppress(OSError):
                    conn.send(None)
            else:
                process.kill()
        self._detach()
        if process is None:
            return
        await asyncio.to_thread(process.join, grace_s)
        if process.is_alive():
            process.kill()
            await asyncio.to_thread(process.join, grace_s)
        self._process = None


class Prober:
    """Probes uploads in processes of their own, bounded in time: a hostile file that hangs the
    demuxer costs a killed process, never a stuck thread in the server. Several processes, so
    such a file holds up only its own upload; the others probe beside it."""

    def __init__(self, timeout_s: float, size: int = 2) -> None:
        """`size` 0: no probe processes, on an instance that takes no uploads (`vidpulse worker`)."""
        self.workers = [WorkerProcess(-1 - i, 1.0, set()) for i in range(size)]
        self._timeout_s = timeout_s
        self._idle: asyncio.Queue[WorkerProcess] = asyncio.Queue()
        self._restarts: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        for worker in self.workers:
            worker.spawn()
        await asyncio.gather(*(w.wait_ready() for w in self.workers))
        for worker in self.workers:
            self._idle.put_nowait(worker)

    async def stop(self) -> None:
        for task in self._restarts:
            task.cancel()
        await asyncio.gather(*(w.stop() for w in self.workers))

    async def probe(self, source: str) -> Outcome:
        async def ignore(kind: str, payload: Any) -> None:
            pass

        if not self.workers:
            raise RuntimeError("this instance has no probe processes: it takes no uploads")
        worker = await self._idle.get()
        try:
            return await worker.run("probe", {"kind": "probe", "source": source}, ignore, self._timeout_s)
        finally:
            if worker.alive:
                self._idle.put_nowait(worker)
            else:
                # Replaced in the background: the caller has its answer already.
                task = asyncio.create_task(self._replace(worker), name=f"probe-restart{worker.index}")
                self._restarts.add(task)
                task.add_done_callback(self._restarts.discard)

    async def _replace(self, worker: WorkerProcess) -> None:
        delay = 1.0
        while True:
            try:
                await worker.restart()
                break
            except Exception:
                log.exception("a probe process failed to start; trying again in %.0f s", delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
        self._idle.put_nowait(worker)


class WorkerPool:
    def __init__(self, size: int, progress_hz: float, nice: int = 0) -> None:
        self._pending_cancels: set[str] = set()
        self.workers = [WorkerProcess(i, progress_hz, self._pending_cancels, nice) for i in range(size)]

    async def start(self) -> None:
        for worker in self.workers:
            worker.spawn()
        await asyncio.gather(*(w.wait_ready() for w in self.workers))

    async def stop(self) -> None:
        await asyncio.gather(*(w.stop() for w in self.workers))

    def interrupt(self) -> None:
        """The host stops: every running job ends now, and none starts (see WorkerProcess.interrupt)."""
        for worker in self.workers:
            worker.interrupt()

    @property
    def size(self) -> int:
        return len(self.workers)

    @property
    def alive(self) -> int:
        return sum(1 for w in self.workers if w.alive)

    def cancel(self, session_id: str) -> bool:
        for worker in self.workers:
            if worker.session_id == session_id:
                worker.cancel()
                return True
        if self.workers:
            if len(self._pending_cancels) > 1000:
                self._pending_cancels.clear()  # stale notices for jobs that ran elsewhere
            self._pending_cancels.add(session_id)
        return False
