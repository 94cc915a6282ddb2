"""A real webhook receiver on loopback for the tests: an http.server in a thread that records every
request and answers from a script (e.g. refuse twice, then accept)."""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    url: str = ""
    # Status codes for the next requests in order; then `default`.
    script: list[int] = field(default_factory=list)
    default: int = 200
    delay_s: float = 0.0  # before answering: a receiver that hangs
    requests: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self) -> int:
        with self.lock:
            return self.script.pop(0) if self.script else self.default

    def record(self, item: Received) -> None:
        with self.lock:
            self.requests.append(item)

    def wait_for(self, count: int, timeout: float = 60) -> list[Received]:
        deadline = time.monotonic() + timeout
        while len(self.requests) < count:
            assert time.monotonic() < deadline, f"{len(self.requests)} webhook requests, wanted {count}"
            time.sleep(0.05)
        return list(self.requests)


@contextmanager
def running_receiver(script: list[int] | None = None, default: int = 200,
                     delay_s: float = 0.0) -> Iterator[Receiver]:
    receiver = Receiver(script=list(script or []), default=default, delay_s=delay_s)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            receiver.record(Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body,
                                     time.time()))
            status = receiver.answer()
            time.sleep(receiver.delay_s)
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads, server.block_on_close = True, False  # a hanging answer does not hold up the test
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
