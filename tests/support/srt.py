"""An SRT origin for the tests and the benchmark: `ffmpeg` itself as an SRT listener on a loopback UDP port,
sending the schedule's media as MPEG-TS to the first caller (its -re clock starts when one connects, so
the schedule's times are the caller's media times); and the relays (server/live/srt.py) running for it."""

from __future__ import annotations

import shutil
import socket
import subprocess
from pathlib import Path

from tests.support.live import Schedule
from tests.support.rtmp import stop_all


def srt_available() -> bool:
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        return False
    listing = subprocess.run([ffmpeg, "-hide_banner", "-protocols"], capture_output=True, check=False).stdout
    return "srt" in listing.decode().partition("Output:")[2].split()


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class SrtOrigin:
    def __init__(self, schedule: Schedule) -> None:
        self.schedule = schedule
        self.port = free_udp_port()
        self.process: subprocess.Popen[bytes] | None = None

    def url(self, query: str = "") -> str:
        return f"srt://127.0.0.1:{self.port}" + (f"?{query}" if query else "")

    def start(self) -> SrtOrigin:
        command = self.schedule.ffmpeg("-f", "mpegts", f"srt://127.0.0.1:{self.port}?mode=listener")
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return self

    def kill(self) -> None:
        """Gone without a word: the caller hears nothing more (no SRT shutdown)."""
        assert self.process is not None
        self.process.kill()
        self.process.wait()

    def stop(self) -> None:
        stop_all([self.process])


def relays(port: int) -> list[int]:
    """The pids of the relays pulling from srt://127.0.0.1:PORT (zombies included: a zombie keeps its
    /proc entry, with an empty command line, so it is found by its pid in `alive`)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"-protocol_whitelist" in argv and f"srt://127.0.0.1:{port}".encode() in argv:
            found.append(int(entry.name))
    return found


def alive(pids: list[int], *, zombies: bool = True) -> list[int]:
    """Those of `pids` that still have a /proc entry: running, or (with `zombies`) dead and not reaped."""
    found = []
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
        except (OSError, IndexError):
            continue
        if zombies or state != "Z":
            found.append(pid)
    return found
