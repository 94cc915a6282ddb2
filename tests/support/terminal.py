"""A command run with its stderr on a pseudo-terminal: what a user at a terminal sees of it."""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import termios
from typing import Any


def run_on_a_terminal(command: list[str], *, timeout: float = 120, **popen: Any) -> tuple[int, str]:
    """The exit code, and every byte the command wrote to its terminal (stdout goes nowhere)."""
    controller, terminal = pty.openpty()
    try:
        # A terminal's size: tqdm sizes its bars from it (a pty starts at 0 x 0).
        fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
        process = subprocess.Popen(command, stderr=terminal, stdout=subprocess.DEVNULL, **popen)
        os.close(terminal)
        terminal = -1
        shown = _read_until_closed(controller)
        return process.wait(timeout), shown.decode(errors="replace")
    finally:
        os.close(controller)
        if terminal >= 0:
            os.close(terminal)


def _read_until_closed(controller: int) -> bytes:
    shown = b""
    while True:
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # EIO: every process holding the terminal has closed it
            return shown
        if not chunk:
            return shown
        shown += chunk
