"""Real servers for the tests: `vidpulse serve` / `vidpulse worker` subprocesses on free ports,
and redis-server. Plain helpers (fixtures live in conftest.py), importable from any test folder."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent
REQUIRE_ALL = os.environ.get("VIDPULSE_REQUIRE_ALL") == "1"


def need(tool: str, available: bool) -> None:
    """Skip when a tool is missing on a laptop; fail under CI, which must have installed it."""
    if available:
        return
    message = f"missing {tool}"
    if REQUIRE_ALL:
        pytest.fail(f"{message} (VIDPULSE_REQUIRE_ALL=1: .ci/run should have installed it)")
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    url: str
    data_dir: Path
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    command: str = "serve"
    clients: list[httpx.Client] = field(default_factory=list)

    def client(self, **kwargs: object) -> httpx.Client:
        client = httpx.Client(base_url=self.url, timeout=30, **kwargs)  # type: ignore[arg-type]
        self.clients.append(client)
        return client

    def start(self) -> None:
        assert self.log_path is not None
        log = self.log_path.open("ab")
        self.process = subprocess.Popen([sys.executable, "-m", "vidpulse.server.cli", self.command], cwd=ROOT,
                                        env=self.env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {self.log()}")
            if self._ready():
                return
            time.sleep(0.1)
        raise RuntimeError(f"server did not become ready: {self.log()}")

    def _ready(self) -> bool:
        if self.command == "worker":
            return "vidpulse ready" in self.log()
        try:
            return httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    def stop(self, sig: int = signal.SIGTERM) -> int | None:
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        self.process.send_signal(sig)
        try:
            return self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()

    def restart(self) -> None:
        self.stop()
        self.start()

    def log(self) -> str:
        return self.log_path.read_text()[-4000:] if self.log_path and self.log_path.exists() else ""

    def session_dirs(self) -> set[str]:
        return {p.name for p in self.data_dir.iterdir()} if self.data_dir.exists() else set()


def new_server(base: Path, data_dir: Path | None = None, command: str = "serve", **settings: object) -> Server:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIDPULSE_")}
    env.update({"HOST": "127.0.0.1", "PORT": str(free_port()), "DATA_DIR": str(data_dir or base / "data"),
                "WORKERS": "2", "LOG_LEVEL": "info", "PYTHONUNBUFFERED": "1"})
    env.update({key.upper(): str(value) for key, value in settings.items()})
    server = Server(f"http://127.0.0.1:{env['PORT']}", Path(env["DATA_DIR"]), env, log_path=base / "server.log",
                    command=command)
    server.start()
    return server


def owned_sessions(server: Server) -> set[str]:
    """Every session id the server lists, for every key it knows."""
    keys = [k for k in server.env.get("API_KEYS", "").split(",") if k] or [None]
    ids: set[str] = set()
    for key in keys:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        cursor: str | None = None
        while True:
            params = {"limit": "200", **({"cursor": cursor} if cursor else {})}
            page = httpx.get(f"{server.url}/api/sessions", params=params, headers=headers, timeout=10).json()
            ids.update(item["id"] for item in page["items"])
            if not (cursor := page["next_cursor"]):
                break
    return ids


def assert_data_dir_owned(server: Server) -> None:
    """After every test, DATA_DIR holds only what live sessions own."""
    if server.command != "serve" or server.process is None or server.process.poll() is not None:
        return
    if httpx.get(f"{server.url}/readyz", timeout=10).status_code != 200:
        return  # its backend is gone (an outage test): nothing can be listed
    deadline = time.monotonic() + 5
    while (stray := server.session_dirs() - owned_sessions(server)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not stray, f"DATA_DIR holds folders no session owns: {stray}"


def dispose(server: Server) -> None:
    try:
        assert_data_dir_owned(server)
    finally:
        for client in server.clients:
            client.close()
        server.stop()
        shutil.rmtree(server.data_dir, ignore_errors=True)


@dataclass
class RedisServer:
    port: int
    process: subprocess.Popen[bytes]
    next_db: int = 0

    def url(self) -> str:
        """A fresh database per call, so tests never see each other's keys."""
        self.next_db += 1
        return f"redis://127.0.0.1:{self.port}/{self.next_db % 256}"

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)

    def start(self) -> None:
        self.process = spawn_redis(self.port)


def spawn_redis(port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                "--appendonly", "no", "--databases", "256"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return process
        time.sleep(0.05)
    raise RuntimeError("redis-server did not start")
