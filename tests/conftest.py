"""Shared fixtures: generated videos, and real servers on free ports that clean up after themselves."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from videogen import Segment, Truth, standard_clip, write_video

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
class Clip:
    path: Path
    truth: Truth


@pytest.fixture(scope="session")
def clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("clips")


@pytest.fixture(scope="session")
def clip(clip_dir: Path) -> Clip:
    """About 4.5 s at 25 fps: three scenes, a black gap, a frozen span."""
    path = clip_dir / "standard.mp4"
    return Clip(path, standard_clip(path))


@pytest.fixture(scope="session")
def long_clip(clip_dir: Path) -> Clip:
    """Long enough (about 40 s at 640x360) that a job is still running when a test acts on it."""
    path = clip_dir / "long.mp4"
    segments = [Segment("scene", 250, seed=i) for i in range(4)]
    return Clip(path, write_video(path, segments, fps=25, size=(640, 360)))


@pytest.fixture
def make_clip(tmp_path: Path) -> Callable[..., Clip]:
    def make(name: str, segments: list[Segment], **kwargs: object) -> Clip:
        path = tmp_path / name
        return Clip(path, write_video(path, segments, **kwargs))  # type: ignore[arg-type]

    return make


@dataclass
class Server:
    url: str
    data_dir: Path
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    clients: list[httpx.Client] = field(default_factory=list)

    def client(self, **kwargs: object) -> httpx.Client:
        client = httpx.Client(base_url=self.url, timeout=30, **kwargs)  # type: ignore[arg-type]
        self.clients.append(client)
        return client

    def start(self) -> None:
        assert self.log_path is not None
        log = self.log_path.open("ab")
        self.process = subprocess.Popen([sys.executable, "-m", "server.cli", "serve"], cwd=ROOT,
                                        env=self.env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {self.log()}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"server did not become ready: {self.log()}")

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


def new_server(base: Path, data_dir: Path | None = None, **settings: object) -> Server:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIDPULSE_")}
    env.update({"HOST": "127.0.0.1", "PORT": str(free_port()), "DATA_DIR": str(data_dir or base / "data"),
                "WORKERS": "2", "LOG_LEVEL": "info", "PYTHONUNBUFFERED": "1"})
    env.update({key.upper(): str(value) for key, value in settings.items()})
    server = Server(f"http://127.0.0.1:{env['PORT']}", Path(env["DATA_DIR"]), env, log_path=base / "server.log")
    server.start()
    return server


def dispose(server: Server) -> None:
    for client in server.clients:
        client.close()
    server.stop()
    shutil.rmtree(server.data_dir, ignore_errors=True)


@pytest.fixture
def start_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Server]]:
    """Start a real `vidpulse serve` (uvicorn) on a free port; settings as keyword arguments."""
    servers: list[Server] = []

    def start(data_dir: Path | None = None, **settings: object) -> Server:
        server = new_server(tmp_path_factory.mktemp("server"), data_dir, **settings)
        servers.append(server)
        return server

    yield start
    for server in servers:
        dispose(server)


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server for a module's tests that do not care about each other's sessions."""
    server = new_server(tmp_path_factory.mktemp("shared"), MAX_UPLOAD_MB=20)
    yield server
    dispose(server)
