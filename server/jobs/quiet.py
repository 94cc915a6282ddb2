"""Imported first by the fork server (pool.py's preload), and by nothing else: from then on the fork
server, and every worker and probe process forked from it, ignore SIGINT and SIGTERM.

A signal sent to the server's whole process group (Ctrl-C in a terminal, systemd's
KillMode=control-group, an init that forwards signals) reaches these processes too. Left to the
default, the fork server would die of SIGTERM and take every worker with it (their parent-death
signal, child.py), and a worker would die before its server could hand its job back: the session
would fail with `worker_crashed`. Ignoring from the fork server's start leaves no window after a
fork (the fork server restores only the handlers it changed itself, SIGINT to this SIG_IGN).

The server ends these processes itself (pool.py): an idle worker is told to exit, a busy one is
killed, and the fork server exits once the server is gone.
"""

from __future__ import annotations

import signal

signal.signal(signal.SIGINT, signal.SIG_IGN)
signal.signal(signal.SIGTERM, signal.SIG_IGN)
