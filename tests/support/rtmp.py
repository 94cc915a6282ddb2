"""Origins to pull from, on loopback ports, for the tests and the benchmark: nginx with its RTMP module
(Debian's libnginx-mod-rtmp), to which `ffmpeg -f flv` publishes at rtmp://127.0.0.1:PORT/live/NAME and
which relays it to players and writes it as HLS (http://127.0.0.1:HTTP_PORT/hls/NAME.m3u8); and an RTSP
server (Debian's rtsp-server-perl) that `ffmpeg -f rtsp` records to."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

from tests.support.live import Schedule
from tests.support.servers import free_port

MODULE = Path("/usr/lib/nginx/modules/ngx_rtmp_module.so")
_CONF = """
load_module {module};
user root;
worker_processes 1;
error_log {base}/error.log;
pid {base}/nginx.pid;
events {{ worker_connections 128; }}
rtmp {{
  server {{
    listen 127.0.0.1:{rtmp};
    application live {{
      live on;
      record off;
      hls on;
      hls_path {base}/hls;
      hls_fragment 1s;
      hls_playlist_length 10s;
    }}
  }}
}}
http {{
  access_log off;
  client_body_temp_path {base}/tmp;
  proxy_temp_path {base}/tmp;
  fastcgi_temp_path {base}/tmp;
  uwsgi_temp_path {base}/tmp;
  scgi_temp_path {base}/tmp;
  server {{
    listen 127.0.0.1:{http};
    location /hls {{
      root {base};
      types {{ application/vnd.apple.mpegurl m3u8; video/mp2t ts; }}
      add_header Cache-Control no-cache;
    }}
  }}
}}
"""


def stop_all(processes: list[subprocess.Popen[bytes] | None]) -> None:
    """SIGTERM first: nginx's master stops its workers then (killed, it would leave them running)."""
    for process in processes:
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def available() -> bool:
    return shutil.which("nginx") is not None and MODULE.exists()


class NginxRtmp:
    def __init__(self, base: Path) -> None:
        self.base = base
        self.rtmp_port, self.http_port = free_port(), free_port()
        self._nginx: subprocess.Popen[bytes] | None = None
        self._publishers: list[subprocess.Popen[bytes]] = []

    def rtmp(self, name: str = "stream") -> str:
        return f"rtmp://127.0.0.1:{self.rtmp_port}/live/{name}"

    def hls(self, name: str = "stream") -> str:
        return f"http://127.0.0.1:{self.http_port}/hls/{name}.m3u8"

    def start(self) -> NginxRtmp:
        (self.base / "hls").mkdir(parents=True, exist_ok=True)
        (self.base / "tmp").mkdir(exist_ok=True)
        conf = self.base / "nginx.conf"
        conf.write_text(_CONF.format(module=MODULE, base=self.base, rtmp=self.rtmp_port, http=self.http_port))
        command = ["nginx", "-p", str(self.base), "-c", str(conf), "-e", str(self.base / "error.log"),
                   "-g", "daemon off;"]
        self._nginx = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.rtmp_port)) == 0:
                    return self
            assert time.monotonic() < deadline, (self.base / "error.log").read_text()
            time.sleep(0.05)

    def publish(self, schedule: Schedule, name: str = "stream") -> subprocess.Popen[bytes]:
        """`ffmpeg -re` publishing the schedule's media as FLV over RTMP."""
        command = schedule.ffmpeg("-f", "flv", self.rtmp(name))
        publisher = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self._publishers.append(publisher)
        return publisher

    def stop(self) -> None:
        stop_all([*self._publishers, self._nginx])


def rtsp_available() -> bool:
    return shutil.which("rtsp-server-perl") is not None


class RtspServer:
    """Debian's rtsp-server-perl on loopback ports: `ffmpeg -f rtsp` records to rtsp://…:SOURCE/NAME
    (RTP over UDP, all it takes), players read rtsp://…:CLIENT/NAME."""

    def __init__(self) -> None:
        self.client_port, self.source_port = free_port(), free_port()
        self._server: subprocess.Popen[bytes] | None = None
        self._publishers: list[subprocess.Popen[bytes]] = []

    def url(self, name: str = "cam") -> str:
        return f"rtsp://127.0.0.1:{self.client_port}/{name}"

    def start(self) -> RtspServer:
        command = ["rtsp-server-perl", "-c", str(self.client_port), "-s", str(self.source_port),
                   "--client_listen_address", "127.0.0.1", "--source_listen_address", "127.0.0.1",
                   "--rtp_start_port", str(20000 + free_port() % 20000), "-l", "1"]
        self._server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.client_port)) == 0:
                    return self
            assert time.monotonic() < deadline, "rtsp-server-perl did not start"
            time.sleep(0.05)

    def publish(self, schedule: Schedule, name: str = "cam") -> subprocess.Popen[bytes]:
        command = schedule.ffmpeg("-f", "rtsp", "-rtsp_transport", "udp", f"rtsp://127.0.0.1:{self.source_port}/{name}")
        publisher = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self._publishers.append(publisher)
        return publisher

    def stop(self) -> None:
        stop_all([*self._publishers, self._server])
