"""Attempts and the fence: only the current attempt of a session's job may write the session.

An attempt is one run of a job, numbered from 1. `JobQueue.begin_attempt` hands out the number to
the instance that holds the job and makes it the session's current attempt. The task that runs the
attempt then writes as it (`writing_as`): each write of the session's event log or document made
from that task carries the number, and the backend checks it in the same step as the write (Redis:
in the script that writes; memory: before anything is changed, with no await in between).

Invariants:
- a session's current attempt only grows;
- a write made as attempt N lands only while N is the session's current attempt; otherwise it
  raises `AttemptSuperseded` and changes nothing;
- writes made outside an attempt (the API: cancel, uploads, expiry) carry no number and are not
  fenced.

A task's number is a context variable, so every write of the attempt is fenced whichever layer
makes it (sessions/lifecycle.py logs and saves without knowing about attempts), and tasks that the
attempt's task starts inherit it.

The memory backend keeps one Session object per id, shared by every task: the fence refuses the
write, but a change a superseded attempt made to the object before writing stays on it. In one
process that attempt cannot run beside a newer one (the job is taken once, and queued again only
after its run ended), so there the fence is the same rule kept, not a path taken.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class Attempt:
    session_id: str
    number: int


_writing_as: contextvars.ContextVar[Attempt | None] = contextvars.ContextVar("attempt", default=None)


class AttemptSuperseded(Exception):
    """A write of an attempt that is no longer the session's current one (a newer attempt began
    elsewhere, after this host froze or lost Redis for longer than JOB_VISIBILITY_S). Whoever ran
    the attempt stops it quietly: the session belongs to the newer attempt."""

    def __init__(self, session_id: str, number: int | None, why: str = "a newer attempt has begun") -> None:
        what = f"the job of {session_id}" if number is None else f"attempt {number} of {session_id}"
        super().__init__(f"{what} is no longer current: {why}")
        self.session_id = session_id
        self.number = number
        self.why = why


@contextlib.contextmanager
def writing_as(attempt: Attempt) -> Iterator[None]:
    """Within this block, the task's writes of `attempt.session_id` are the attempt's, and fenced."""
    token = _writing_as.set(attempt)
    try:
        yield
    finally:
        _writing_as.reset(token)


def fence(session_id: str) -> int | None:
    """The attempt the running task writes `session_id` as; None when the write is not a job's."""
    attempt = _writing_as.get()
    return attempt.number if attempt is not None and attempt.session_id == session_id else None


def check(session_id: str, current: int | None) -> None:
    """Raise AttemptSuperseded when the running task writes `session_id` as an attempt other than
    `current` (for backends that read the current attempt in the same step as they write)."""
    number = fence(session_id)
    if number is not None and number != current:
        raise AttemptSuperseded(session_id, number)
