"""Schemathesis (the real CLI) against a live server and its own /openapi.json: every check except
`positive_data_acceptance` (random bytes are schema-valid but not a video), every phase, a fixed
seed and a fixed number of examples per operation (no --max-time: with it, fuzzing and stateful
testing repeat until the budget is spent, so the test took that long however soon every operation
had been covered). Any failure fails the test with Schemathesis' report."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.client import upload, wait_state

SEED = 20261129
EXAMPLES = 25  # per operation and phase: about 1,300 requests, 13 s on a quiet machine
HOOKS = Path(__file__).with_name("fuzz_hooks.py")


@pytest.mark.slow
def test_schemathesis_finds_nothing(start_server, clip, tmp_path):
    server = start_server(WORKERS=1)
    client = server.client()
    session_id = upload(client, clip.path, {"width": 96}).json()["id"]
    wait_state(client, session_id, {"succeeded"})
    files = [a["name"] for a in client.get(f"/api/sessions/{session_id}/results").json()["artifacts"]]
    st = Path(sys.executable).with_name("schemathesis")
    command = [str(st), "run", f"{server.url}/openapi.json", "--checks", "all",
               "--exclude-checks", "positive_data_acceptance", "--phases", "examples,coverage,fuzzing,stateful",
               "--seed", str(SEED), "--max-examples", str(EXAMPLES), "--no-shrink",
               "--request-timeout", "30", "--report-dir", str(tmp_path)]
    env = {**os.environ, "SCHEMATHESIS_HOOKS": str(HOOKS), "VIDPULSE_FUZZ_SESSION": session_id,
           "VIDPULSE_FUZZ_FILES": ",".join(files)}
    done = subprocess.run(command, capture_output=True, text=True, timeout=150, cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stdout[-8000:] + done.stderr[-2000:]
    # The hooks reached the real session (reports, files, events), not only 404s.
    metrics = client.get("/metrics").text
    for route, status in (("/api/sessions/{id}/results", 200), ("/api/sessions/{id}/events", 200),
                          ("/api/sessions/{id}/files/{name:path}", 200), ("/api/sessions/{id}/cancel", 409)):
        assert f'route="{route}",status="{status}"' in metrics, (route, status, [
            line for line in metrics.splitlines() if "_count" in line and "/api/sessions/{id}" in line])
