#!/usr/bin/env bash
# The pods' file-system and user settings without a cluster: runs an API-only `vidpulse serve` and a
# `vidpulse worker` as uid 10001 with the root file system read-only and only DATA_DIR and /tmp
# writable (tmpfs, as the pods' emptyDir volumes), Redis beside them, uploads a clip and prints
# the session's end. Needs root (a private mount namespace), redis-server, ffmpeg and `make run`'s
# .venv. Not the image itself: the same code under the same constraints (docs/deployment.md).
#
#   sudo deploy/kubernetes/readonly-check.sh
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PY=$ROOT/.venv/bin/python
WORK=$(mktemp -d /var/tmp/vidpulse-ro.XXXXXX)   # /var/tmp: still readable once /tmp is replaced
chmod 755 "$WORK"
PORT=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
ffmpeg -loglevel error -y -f lavfi -i testsrc2=s=640x360:r=25:d=6 -c:v libx264 -preset ultrafast "$WORK/clip.mp4"
redis-server --port "$PORT" --bind 127.0.0.1 --save "" --appendonly no --daemonize yes --pidfile "$WORK/redis.pid" >/dev/null
trap 'kill "$(cat "$WORK/redis.pid")"; rm -rf "$WORK"' EXIT
sleep 0.5

# shellcheck disable=SC2016  # expanded inside the namespace
unshare -m bash -c '
set -uo pipefail
ROOT=$1 PY=$2 WORK=$3 PORT=$4
mount --make-rprivate /
# The interpreter may live under a home directory that uid 10001 cannot enter (pyenv in /root):
# the same tree, bind-mounted where it was, read-only, under a traversable tmpfs.
PYHOME=$(dirname "$(dirname "$(readlink -f "$PY")")")
case $PYHOME in /root/*)
    mount --bind /root /media && mount -t tmpfs -o mode=755 tmpfs /root
    mkdir -p "$PYHOME" && mount --bind "/media${PYHOME#/root}" "$PYHOME" && mount -o remount,bind,ro "$PYHOME"
    umount -l /media && mount -o remount,ro /root ;;
esac
mount -o remount,bind,ro /
mount -t tmpfs -o size=1g,mode=1777 tmpfs /tmp
mount -t tmpfs -o size=1g,mode=777 tmpfs /media
touch "$ROOT/.readonly-probe" 2>/dev/null && { echo "the root file system is writable"; exit 1; }
echo "root file system: read-only; writable: /tmp, /media (DATA_DIR)"
cd "$ROOT"
RUN=(setpriv --reuid=10001 --regid=10001 --clear-groups env -i PATH=/usr/bin:/bin HOME=/home/vidpulse
     PYTHONDONTWRITEBYTECODE=1 BACKEND=redis "REDIS_URL=redis://127.0.0.1:$PORT/0" DATA_DIR=/media
     HOST=127.0.0.1 PORT=18765 LOG_LEVEL=warning)
"${RUN[@]}" WORKERS=2 "$PY" -m vidpulse.server.cli worker 2>/tmp/worker.log &
"${RUN[@]}" WORKERS=0 "$PY" -m vidpulse.server.cli serve 2>/tmp/api.log &
"${RUN[@]}" "$PY" - "$WORK/clip.mp4" <<PYTHON
import sys, time, httpx
url, status = "http://127.0.0.1:18765", None
for _ in range(300):
    try:
        status = httpx.get(f"{url}/readyz", timeout=1)
        if status.status_code == 200 and status.json()["workers"]["alive"] >= 2:
            break
    except httpx.TransportError:
        pass
    time.sleep(0.2)
print("readyz:", status and status.status_code, status and status.json()["workers"])
with open(sys.argv[1], "rb") as fh:
    session = httpx.post(f"{url}/api/sessions", files={"file": ("clip.mp4", fh)}, timeout=60).json()["id"]
for _ in range(600):
    doc = httpx.get(f"{url}/api/sessions/{session}", timeout=5).json()
    if doc["state"] in ("succeeded", "failed", "cancelled"):
        break
    time.sleep(0.2)
print("session:", doc["state"], doc.get("error") or "")
PYTHON
kill %1 %2; wait
for log in /tmp/worker.log /tmp/api.log; do [ -s "$log" ] && { echo "$log:"; tail -5 "$log"; }; done
true
' check "$ROOT" "$PY" "$WORK" "$PORT"
