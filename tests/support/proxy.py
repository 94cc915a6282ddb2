"""A TCP proxy on loopback that cuts the connection once, after a number of request bytes: a real
dropped connection in the middle of an upload, for clients that must resume."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class CuttingProxy:
    url: str = ""
    cut_after: int = 0  # request bytes through the proxy before the one cut
    sent: int = 0
    cuts: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, size: int) -> bool:
        """Add `size` request bytes; True when the connection must be cut now (once)."""
        with self.lock:
            self.sent += size
            if self.cuts == 0 and self.sent >= self.cut_after:
                self.cuts = 1
                return True
            return False


def _pump(source: socket.socket, sink: socket.socket, proxy: CuttingProxy | None) -> None:
    try:
        while chunk := source.recv(65536):
            if proxy is not None and proxy.count(len(chunk)):
                break
            sink.sendall(chunk)
    except OSError:
        pass
    for sock in (source, sink):
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


@contextmanager
def cutting_proxy(target_port: int, cut_after: int) -> Iterator[CuttingProxy]:
    proxy = CuttingProxy(cut_after=cut_after)
    listener = socket.create_server(("127.0.0.1", 0))
    proxy.url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    open_sockets: list[socket.socket] = []

    def serve() -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", target_port))
            open_sockets.extend((client, upstream))
            threading.Thread(target=_pump, args=(client, upstream, proxy), daemon=True).start()
            threading.Thread(target=_pump, args=(upstream, client, None), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield proxy
    finally:
        listener.close()
        for sock in open_sockets:
            with contextlib.suppress(OSError):
                sock.close()
