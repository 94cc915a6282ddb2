"""Third-party JavaScript clients under Node: tests/js, installed from its package-lock.json with
`npm ci` once per test session; each script takes one JSON argument and prints JSON lines."""

from __future__ import annotations

import json
import shutil
import subprocess
from typing import Any

from tests.support.servers import ROOT, need

JS_DIR = ROOT / "tests" / "js"


def install() -> str:
    """The `node` binary, once tests/js/node_modules matches package-lock.json."""
    node, npm = shutil.which("node"), shutil.which("npm")
    need("node and npm", node is not None and npm is not None)
    assert node is not None and npm is not None
    stamp = JS_DIR / "node_modules" / ".package-lock.json"
    if not stamp.exists() or stamp.stat().st_mtime < (JS_DIR / "package-lock.json").stat().st_mtime:
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=JS_DIR, check=True, capture_output=True,
                       timeout=300)
    return node


def run(node: str, script: str, timeout: float = 120, **args: Any) -> list[dict[str, Any]]:
    done = subprocess.run(_command(node, script, args), cwd=JS_DIR, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr
    return lines(done.stdout)


def start(node: str, script: str, **args: Any) -> subprocess.Popen[str]:
    """The script running in the background; read its lines from `stdout`."""
    return subprocess.Popen(_command(node, script, args), cwd=JS_DIR, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _command(node: str, script: str, args: dict[str, Any]) -> list[str]:
    return [node, str(JS_DIR / script), json.dumps(args)]


def lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]
