"""Schemathesis (the real CLI) against a live server and its own /openapi.json: every check except
`positive_data_acceptance` (random bytes are schema-valid but not a video), every phase, a fixed
seed and a time budget. Any failure fails the test with Schemathesis' report."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SEED = 20261129
BUDGET_S = 40


@pytest.mark.slow
def test_schemathesis_finds_nothing(start_server, tmp_path):
    server = start_server(WORKERS=1)
    st = Path(sys.executable).with_name("schemathesis")
    command = [str(st), "run", f"{server.url}/openapi.json", "--checks", "all",
               "--exclude-checks", "positive_data_acceptance", "--phases", "examples,coverage,fuzzing,stateful",
               "--seed", str(SEED), "--max-examples", "10", "--max-time", str(BUDGET_S), "--no-shrink",
               "--request-timeout", "30", "--report-dir", str(tmp_path)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=BUDGET_S * 4, cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-8000:] + done.stderr[-2000:]
    assert "No issues found" in done.stdout or " passed" in done.stdout
