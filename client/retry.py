"""How long to wait before trying again after a dropped connection, and when to stop trying."""

from __future__ import annotations

import time

from .errors import VidpulseError

FIRST_DELAY_S, MAX_DELAY_S = 0.25, 5.0


class Backoff:
    def __init__(self, give_up_after_s: float, what: str) -> None:
        self.give_up_after_s = give_up_after_s
        self.what = what
        self._failing_since: float | None = None
        self._delay = FIRST_DELAY_S

    def reset(self) -> None:
        """The server answered: the next failure starts the count afresh."""
        self._failing_since, self._delay = None, FIRST_DELAY_S

    def next_delay(self) -> float:
        """Seconds to wait before the next try (doubling up to 5 s); VidpulseError once the server
        has not answered for `give_up_after_s`."""
        now = time.monotonic()
        if self._failing_since is None:
            self._failing_since = now
        elif now - self._failing_since > self.give_up_after_s:
            raise VidpulseError(f"lost {self.what} and could not reconnect for {self.give_up_after_s:g} s")
        delay, self._delay = self._delay, min(self._delay * 2, MAX_DELAY_S)
        return delay
