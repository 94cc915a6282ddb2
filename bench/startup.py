"""How long `vidpulse serve` takes from exec to a 200 on /readyz (workers and probers ready).

    .venv/bin/python bench/startup.py [--starts 4]

Each start uses a fresh data folder and a free port; the server is stopped with SIGTERM after.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time

import httpx

from common import free_port


def start_once() -> float:
    port = free_port()
    env = dict(os.environ, PORT=str(port), DATA_DIR=tempfile.mkdtemp(prefix="vidpulse-start-"), LOG_LEVEL="warning")
    started = time.monotonic()
    process = subprocess.Popen([sys.executable, "-m", "vidpulse.server.cli", "serve"], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                    return time.monotonic() - started
            except httpx.HTTPError:
                pass
            if process.poll() is not None:
                raise SystemExit("the server exited before it was ready")
            time.sleep(0.02)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--starts", type=int, default=4)
    args = parser.parse_args()
    times = [start_once() for _ in range(args.starts)]
    print(f"ready after {', '.join(f'{t:.2f}' for t in times)} s (best {min(times):.2f} s); "
          f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
