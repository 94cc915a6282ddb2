"""`vidpulse watch URL`: a live analysis without a server, its incidents one line each as they open and
close, the report written when the source ends or at the first Ctrl-C."""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.live import HlsOrigin, Schedule
from tests.support.servers import free_port, need

WATCH = [sys.executable, "-m", "vidpulse.server.cli", "watch"]
LINE = re.compile(r"^\d+\.\ds (black|frozen|silence|source_lost|gap) (open|closed \(\d+\.\d-\d+\.\ds, \d+\.\ds\))$")


@pytest.fixture
def origin(tmp_path: Path) -> Iterator[HlsOrigin]:
    need("ffmpeg", shutil.which("ffmpeg") is not None)
    made = HlsOrigin(tmp_path / "origin", Schedule(8, black=((2, 4),), silence=((5, 7.5),)), realtime=False)
    yield made
    made.stop()


def test_incidents_are_one_line_each_and_the_report_is_written(origin: HlsOrigin, tmp_path: Path) -> None:
    origin.start()
    origin.wait_ffmpeg()  # a finished playlist: analysed whole, as fast as it decodes
    done = subprocess.run([*WATCH, origin.url, "--out", str(tmp_path / "out"), "--option", "incident_min_s=1"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines == ["2.0s black open", "4.0s black closed (2.0-4.0s, 2.0s)", "5.0s silence open",
                     "7.5s silence closed (5.0-7.5s, 2.5s)"], lines
    assert all(LINE.match(line) for line in lines)
    assert done.stderr.splitlines() == [f"wrote {tmp_path / 'out' / 'report.json'}: 3 scenes, 2 incidents, 8.0 s"]
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert [i["kind"] for i in report["incidents"]] == ["black", "silence"]


def test_ctrl_c_stops_with_the_report_of_what_was_seen(tmp_path: Path) -> None:
    need("ffmpeg", shutil.which("ffmpeg") is not None)
    origin = HlsOrigin(tmp_path / "origin", Schedule(60)).start()
    try:
        origin.wait_segments(1)
        process = subprocess.Popen([*WATCH, origin.url, "--out", str(tmp_path / "out")], stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
        time.sleep(4)
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=30)
    finally:
        origin.stop()
    assert process.returncode == 0, stderr
    assert stdout == "" and stderr.startswith("wrote ") and "0 incidents" in stderr
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert 1 <= report["analysed"]["end_s"] <= 6


def test_a_source_never_reachable_is_one_line_and_exit_1(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}/live.m3u8"
    done = subprocess.run([*WATCH, url, "--out", str(tmp_path / "out"), "--option", "reconnect_s=1"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1
    assert done.stderr.splitlines() == [f"vidpulse: {url}: The live source never answered in 1 s: could not connect."]
    assert not (tmp_path / "out").exists()


def test_what_is_not_a_live_source_is_one_line_and_exit_1(tmp_path: Path) -> None:
    done = subprocess.run([*WATCH, "file:///etc/passwd"], capture_output=True, text=True, timeout=60, check=False,
                          cwd=tmp_path)
    assert done.returncode == 1 and len(done.stderr.splitlines()) == 1 and "not file:" in done.stderr
