"""`vidpulse analyze`: a progress bar on a terminal only; off one, the result line alone, or
exactly one error line and exit 1."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

from tests.support.terminal import run_on_a_terminal
from tests.support.videogen import Segment, write_video

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


def test_a_failure_leaves_no_folder_behind(tmp_path: Path) -> None:
    bad = tmp_path / "not-a-video.mp4"
    bad.write_bytes(b"hello, not a video" * 100)
    made = tmp_path / "made"
    assert _run(str(bad), "--out", str(made / "out")).returncode == 1
    assert not made.exists(), "the folders the run created are gone"
    kept = tmp_path / "kept"
    kept.mkdir()
    (kept / "notes.txt").write_text("mine")
    assert _run(str(bad), "--out", str(kept)).returncode == 1
    assert [p.name for p in kept.iterdir()] == ["notes.txt"], "a folder the user had stays as it was"


def test_options_as_submit_takes_them(tmp_path: Path) -> None:
    done = _run(str(_clip(tmp_path)), "--out", str(tmp_path / "out"), "--json",
                "--option", "width=96", "--option", "max_frames=10")
    assert done.returncode == 0, done.stderr
    options = json.loads(done.stdout)["options"]
    assert options["width"] == 96 and options["max_frames"] == 10
    refused = _run(str(_clip(tmp_path)), "--out", str(tmp_path / "refused"), "--option", "nonsense")
    assert refused.returncode == 1 and len(refused.stderr.splitlines()) == 1 and "NAME=VALUE" in refused.stderr
    assert not (tmp_path / "refused").exists()


def test_json_into_a_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    """`vidpulse analyze --json | head`: the reader may be gone before the report is written."""
    out = tmp_path / "out"
    process = subprocess.Popen([*_CLI, str(_clip(tmp_path)), "--out", str(out), "--json"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()  # nobody reads: each write to the pipe fails with EPIPE
    said = process.stderr.read().decode()
    assert process.wait(timeout=120) == 1
    assert said == "", said
    assert (out / "report.json").is_file(), "the analysis itself succeeded"


def test_a_busy_port_is_one_line_and_no_start(tmp_path: Path) -> None:
    env = {**os.environ, "HOST": "127.0.0.1", "DATA_DIR": str(tmp_path / "data"), "LOG_LEVEL": "info"}
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        done = subprocess.run([sys.executable, "-m", "vidpulse.server.cli", "serve", "--port", str(port),
                               "--workers", "0"], env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode != 0
    lines = (done.stdout + done.stderr).splitlines()
    assert len(lines) == 1 and lines[0].startswith("vidpulse: ") and f":{port}" in lines[0], lines
    assert "in use" in lines[0]
