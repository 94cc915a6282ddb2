"""srt:// sources, pulled through a relay: the FFmpeg inside PyAV's wheels has no libsrt, so the `ffmpeg`
command (Debian's has it) connects to the pinned address as an SRT caller and copies the stream's video
and audio, untouched, into MPEG-TS on its stdout; PyAV demuxes that pipe as one run.

Invariant: a relay lives no longer than its run. It is killed and reaped when the analysis is done with
the run or could not open it; killed as soon as the job is asked to stop (its pipe then ends, so the
analysis never waits on a stalled source); and killed by the kernel when its worker dies (setpriv's
parent-death signal), which a worker killed with SIGKILL could not do itself.

Only SRT is reachable through it: the protocol whitelist holds srt alone (libsrt opens its UDP socket
itself), the input format is MPEG-TS (no demuxer that opens URLs of its own), the mode is caller, and of
the URL's query only the options in OPTIONS pass, as command-line options to a URL without a query.

How a run ended is read from the relay: a peer that closes the connection makes FFmpeg say "Input/output
error" and exit 0 (the stream's end); a timeout or a failed connection is a lost source. The read
timeout is below SRT's own peer idle timeout (5 s), so a sender that vanished reads as a timeout.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from typing import IO
from urllib.parse import parse_qsl, urlsplit

import av
from av.container import InputContainer

from vidpulse.processing.live.segments import TICK_S
from vidpulse.server.live.pull import WHITELISTS, UrlRun
from vidpulse.server.outbound import OutboundRefused

NO_RELAY = "srt:// needs the ffmpeg command with SRT support on this server."
# SRT's caller default; shorter when the source is retried for less.
CONNECT_TIMEOUT_S, READ_TIMEOUT_S = 3.0, 4.0
# How much of the stream the relay reads before it starts copying (FFmpeg's 5 s default delays the run).
PROBE_S = 1.0
MAX_LATENCY_US = 10_000_000
_CLOSED = "Input/output error"  # FFmpeg's words for libsrt's "connection lost"
_TAG = re.compile(r"^\[[^\]]* @ 0x[0-9a-f]+\] ")  # FFmpeg's "[srt @ 0x55…] " before a line
_REAP_S = 2.0

# The query options an srt:// URL may carry: what a value must be (None: it is fine), in FFmpeg's units.
OPTIONS: dict[str, Callable[[str], str | None]] = {
    "streamid": lambda v: None if len(v) <= 512 else "is at most 512 characters",
    "passphrase": lambda v: None if 10 <= len(v) <= 79 else "is 10 to 79 characters",
    "pbkeylen": lambda v: None if v in ("16", "24", "32") else "is 16, 24 or 32",
    "latency": lambda v: (None if v.isdigit() and int(v) <= MAX_LATENCY_US
                          else f"is a whole number of microseconds, at most {MAX_LATENCY_US}"),
    "mode": lambda v: None if v.lower() == "caller" else "is caller only: this server calls the source",
}

# The command's name for an option, where it differs (ffmpeg's own -streamid is an output option).
_FLAGS = {"streamid": "srt_streamid"}


def srt_options(query: str) -> dict[str, str]:
    """The SRT options an srt:// URL's query asks for (mode left out: it is always caller); OutboundRefused
    for any other option, twice the same, or a bad value."""
    options: dict[str, str] = {}
    for name, value in parse_qsl(query, keep_blank_values=True):
        check = OPTIONS.get(name)
        if check is None:
            raise OutboundRefused(f"srt:// takes only the query options {', '.join(OPTIONS)}; not {name!r}.")
        if name in options:
            raise OutboundRefused(f"The srt:// option {name} is given twice.")
        problem = check(value) if value.isprintable() else "has control characters"
        if problem:
            raise OutboundRefused(f"The srt:// option {name} {problem}.")
        options[name] = value
    options.pop("mode", None)
    return options


@functools.cache
def relay_problem() -> str | None:
    """Why this server cannot pull srt:// (NO_RELAY), or None; the ffmpeg command is asked once."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        return NO_RELAY
    try:
        listing = subprocess.run([ffmpeg, "-hide_banner", "-protocols"], capture_output=True, timeout=10,
                                 check=False).stdout.decode(errors="replace")
    except (OSError, subprocess.TimeoutExpired):
        return NO_RELAY
    inputs = listing.partition("Input:")[2].partition("Output:")[0].split()
    return None if "srt" in inputs else NO_RELAY


def check_srt(url: str) -> None:
    """OutboundRefused unless this server can pull the srt:// URL: the ffmpeg command has SRT, and the
    URL's options are the ones it takes."""
    problem = relay_problem()
    if problem:
        raise OutboundRefused(problem)
    srt_options(urlsplit(url).query)


def relay_command(pinned: str, *, connect_timeout_s: float) -> list[str]:
    """The relay for a pinned srt:// URL: MPEG-TS on its stdout, errors alone on its stderr."""
    parts = urlsplit(pinned)
    host = parts.hostname or ""
    address = f"[{host}]" if ":" in host else host
    flags = [arg for name, value in srt_options(parts.query).items() for arg in (f"-{_FLAGS.get(name, name)}", value)]
    die_with_worker = ["setpriv", "--pdeathsig", "KILL", "--"] if shutil.which("setpriv") else []
    # Every packet is passed on as it is written (-flush_packets): not once FFmpeg's 32 KB buffer is full.
    return [*die_with_worker, "ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error",
            "-protocol_whitelist", WHITELISTS["srt"], "-f", "mpegts", "-analyzeduration", str(round(PROBE_S * 1e6)),
            "-mode", "caller", "-connect_timeout", str(round(connect_timeout_s * 1000)),
            "-timeout", str(round(READ_TIMEOUT_S * 1e6)), *flags, "-i", f"srt://{address}:{parts.port}",
            "-map", "0:v?", "-map", "0:a?", "-c", "copy", "-flush_packets", "1", "-f", "mpegts", "pipe:1"]


def relay(reconnect_s: float, stopping: Callable[[], bool]) -> Callable[[str], RelayRun]:
    """PullSource's runs for an srt:// source: a connection fails within the time it is retried for."""
    connect_timeout_s = max(0.5, min(CONNECT_TIMEOUT_S, reconnect_s))
    return lambda pinned: RelayRun(pinned, connect_timeout_s=connect_timeout_s, stopping=stopping)


class _Pipe:
    """The relay's stdout as PyAV reads it: whatever has arrived (not a full buffer's worth), no seek."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self.ended = False

    def read(self, size: int) -> bytes:
        data = os.read(self._fd, size)
        self.ended = self.ended or not data
        return data


class RelayRun(UrlRun):
    """One connection to an SRT source, through a relay process."""

    def __init__(self, pinned: str, *, connect_timeout_s: float, stopping: Callable[[], bool]) -> None:
        super().__init__(pinned, "srt")
        self._command = relay_command(pinned, connect_timeout_s=connect_timeout_s)
        self._stopping = stopping
        self._process: subprocess.Popen[bytes] | None = None
        self._pipe: _Pipe | None = None
        self._log: IO[bytes] | None = None  # the relay's stderr (a pipe left unread could block it)
        self._done = threading.Event()
        self._stopped = False  # killed because the job was asked to stop
        self._finished = False
        self._said: str | None = None

    def open(self) -> InputContainer:
        # The clock runs from the connection: a live source sends from its live edge as the caller joins,
        # while the relay holds that media back for PROBE_S before it copies any (lag_s would miss it).
        connecting = time.monotonic()
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 (closed when the relay is reaped)
        try:
            self._process = process = subprocess.Popen(self._command, stdin=subprocess.DEVNULL,
                                                       stdout=subprocess.PIPE, stderr=self._log, bufsize=0)
            assert process.stdout is not None
            self._pipe = _Pipe(process.stdout.fileno())
            threading.Thread(target=self._watch, args=(process,), name="vidpulse-srt-relay", daemon=True).start()
            container = av.open(self._pipe, mode="r", format="mpegts")
        except BaseException:
            self._finish()
            raise
        self.opened = connecting
        return container

    def ended(self, error: str | None) -> None:
        said = self._finish()
        super().ended(said or error)

    def _watch(self, process: subprocess.Popen[bytes]) -> None:
        """Kill the relay as soon as the job is asked to stop: the analysis may be waiting on its pipe."""
        while not self._done.wait(TICK_S):
            if self._stopping() and process.poll() is None:
                self._stopped = True
                process.kill()

    def _finish(self) -> str | None:
        """Kill (unless it ended by itself) and reap the relay, once; why the stream broke off, if it did."""
        if not self._finished:
            self._finished = True
            self._done.set()
            self._said = self._reap()
        return self._said

    def _reap(self) -> str | None:
        process, log = self._process, self._log
        if process is None or log is None:
            if log is not None:
                log.close()  # the relay did not start
            return None
        ended_itself = self._pipe is not None and self._pipe.ended
        if ended_itself:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(_REAP_S)
        if process.poll() is None:
            ended_itself = False
            process.kill()
        process.wait()
        assert process.stdout is not None
        process.stdout.close()
        with log:
            lines = _last_lines(log)
        if self._stopped or not ended_itself:
            return None  # ended here: the analysis says why, if it broke off
        return _broke_off(process.returncode, lines)


def _last_lines(log: IO[bytes]) -> list[str]:
    log.seek(0, os.SEEK_END)
    log.seek(max(0, log.tell() - 4096))
    lines = (_TAG.sub("", line).strip() for line in log.read().decode("utf-8", "replace").splitlines())
    return [line for line in lines if line]


def _broke_off(returncode: int, lines: list[str]) -> str | None:
    """Why a relay that ended by itself did: None when the peer closed the stream (its end)."""
    if returncode == 0 and (not lines or lines[-1].endswith(_CLOSED)):
        return None
    said = next((line for line in reversed(lines) if "connection" in line.lower()), lines[-1] if lines else "")
    return f"the SRT relay said: {said[:200]}" if said else f"the SRT relay exited with status {returncode}"
