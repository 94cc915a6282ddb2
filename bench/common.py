"""Helpers shared by the benchmarks: a real server in a subprocess, test videos, RSS."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
# The tests package (its video generator) lives at the repository top, beside bench/.
sys.path.insert(0, str(ROOT))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class BenchServer:
    def __init__(self, data_dir: Path, command: list[str] | None = None, *, app_in_child: bool = False,
                 cwd: Path = ROOT, **settings: Any) -> None:
        """`command`: what serves the app (default `vidpulse serve`), configured from the environment.
        `app_in_child`: the command supervises a worker process that runs the app (Granian). `cwd`: the
        checkout it runs (`python -m` imports from there first)."""
        self.app_in_child = app_in_child
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ, HOST="127.0.0.1", PORT=str(self.port), DATA_DIR=str(data_dir), LOG_LEVEL="warning")
        env.update({k.upper(): str(v) for k, v in settings.items()})
        command = command or [sys.executable, "-m", "vidpulse.server.cli", "serve"]
        self.process = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError("server did not start")

    def upload(self, path: Path, options: dict[str, Any] | None = None) -> str:
        with path.open("rb") as fh:
            response = httpx.post(f"{self.url}/api/sessions", files={"file": (path.name, fh)},
                                  data={"options": json.dumps(options or {})}, timeout=60)
        response.raise_for_status()
        return str(response.json()["id"])

    def wait_state(self, session_id: str, states: set[str], timeout: float = 600) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            doc = httpx.get(f"{self.url}/api/sessions/{session_id}", timeout=10).json()
            if doc["state"] in states:
                return doc  # type: ignore[no-any-return]
            time.sleep(0.1)
        raise TimeoutError(session_id)

    def wait(self, session_id: str) -> dict[str, Any]:
        return self.wait_state(session_id, {"succeeded", "failed", "cancelled"})

    def cancel(self, session_id: str) -> None:
        httpx.post(f"{self.url}/api/sessions/{session_id}/cancel", timeout=10)

    def report(self, session_id: str) -> dict[str, Any]:
        return httpx.get(f"{self.url}/api/sessions/{session_id}/results", timeout=10).json()  # type: ignore[no-any-return]

    @property
    def app_pid(self) -> int:
        """The process that runs the app's event loop (the analysis workers are its children)."""
        if not self.app_in_child:
            return self.process.pid
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text().split()
        return int(children[0])

    def rss_mb(self) -> float:
        return rss_mb(self.app_pid)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system) of one process, not counting its children."""
    return sum(cpu_split_s(pid))


def cpu_split_s(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds of one process: the system part is the kernel working for it."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def thread_cpu_s(pid: int, tid: int) -> float:
    """CPU seconds of one thread of a process (the event loop runs in the main thread, tid == pid)."""
    fields = Path(f"/proc/{pid}/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]
