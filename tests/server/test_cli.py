"""`vidpulse analyze`: a progress bar on a terminal only; off one, the result line alone, or
exactly one error line and exit 1."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.terminal import run_on_a_terminal
from tests.videogen import Segment, write_video

_CLI = [sys.executable, "-m", "vidpulse.server.cli", "analyze"]


def _clip(tmp_path: Path) -> Path:
    path = tmp_path / "clip.mp4"
    write_video(path, [Segment("scene", 20, 1), Segment("scene", 20, 2)], size=(160, 120))
    return path


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*_CLI, *args], capture_output=True, text=True, timeout=120, check=False)


def test_off_a_terminal_only_the_result_line(tmp_path: Path) -> None:
    done = _run(str(_clip(tmp_path)), "--out", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    lines = (done.stdout + done.stderr).splitlines()
    assert len(lines) == 1 and lines[0].startswith("wrote ") and "2 scenes" in lines[0], lines
    assert (tmp_path / "out" / "report.json").is_file()


def test_a_failure_is_exactly_one_line_and_exit_1(tmp_path: Path) -> None:
    bad = tmp_path / "not-a-video.mp4"
    bad.write_bytes(b"hello, not a video" * 100)
    done = _run(str(bad), "--out", str(tmp_path / "out"))
    assert done.returncode == 1
    assert done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert line.startswith("vidpulse: ") and "Traceback" not in done.stderr
    missing = _run(str(tmp_path / "missing.mp4"))
    assert missing.returncode == 1 and len(missing.stderr.splitlines()) == 1


def test_a_bar_on_a_terminal(tmp_path: Path) -> None:
    code, text = run_on_a_terminal([*_CLI, str(_clip(tmp_path)), "--out", str(tmp_path / "out")])
    assert code == 0, text
    assert "\r[" in text and "#" in text  # redrawn in place
    assert text.rstrip().splitlines()[-1].replace("\x1b[K", "").startswith("wrote ")  # the bar cleared first
