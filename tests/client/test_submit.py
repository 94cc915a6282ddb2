"""`vidpulse submit` as a user runs it, against a real server."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.servers import ROOT
from tests.support.terminal import run_on_a_terminal
from tests.support.videogen import write_audio

SUBMIT = [sys.executable, "-m", "vidpulse.server.cli", "submit"]


def submit(*args: str | Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*SUBMIT, *map(str, args)], cwd=ROOT, env=_env(), capture_output=True, text=True,
                          timeout=timeout)


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("VIDPULSE_")}


def test_submit_a_video(shared_server, clip, tmp_path):
    out = tmp_path / "out"
    done = submit(clip.path, "--server", shared_server.url, "--option", "width=160", "--option", "render=true",
                  "--out", out)
    assert done.returncode == 0, done.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["options"]["width"] == 160 and report["video"]["frames"] == clip.truth.frames
    for artifact in report["artifacts"]:
        assert (out / artifact["name"]).stat().st_size == artifact["bytes"] or artifact["name"] == "report.json"
    assert (out / "annotated.mp4").exists()
    assert "\r" not in done.stderr, "no progress bar when stderr is not a terminal"
    assert re.search(r"uploaded \S+ as s_[0-9a-f]{32}", done.stderr)


def test_submit_a_non_video(shared_server, tmp_path):
    audio = tmp_path / "tone.m4a"
    write_audio(audio)
    done = submit(audio, "--server", shared_server.url)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"vidpulse: {audio}: ") and "undecodable" in lines[0], lines
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(("args", "says"), [
    (["--option", "width=5"], "options.width"),
    (["--option", "nonsense"], "NAME=VALUE"),
])
def test_submit_refusals_are_one_line(memory_server, clip, args, says):
    # How the command shows a refusal; the server's side of it is tested on every backend.
    done = submit(clip.path, "--server", memory_server.url, *args)
    assert done.returncode == 1 and len(done.stderr.strip().splitlines()) == 1 and says in done.stderr, done.stderr


def test_submit_with_no_server(clip):
    done = submit(clip.path, "--server", "http://127.0.0.1:9")
    assert done.returncode == 1 and len(done.stderr.strip().splitlines()) == 1 and "cannot reach" in done.stderr


def test_ctrl_c_detaches_and_attach_resumes(start_server, long_clip, tmp_path):
    server = start_server(WORKERS=1)
    process = subprocess.Popen([*SUBMIT, str(long_clip.path), "--server", server.url, "--option", "render=true",
                                "--option", "width=640"], cwd=ROOT, env=_env(), stderr=subprocess.PIPE, text=True)
    assert process.stderr is not None
    first = process.stderr.readline()
    session_id = re.search(r"s_[0-9a-f]{32}", first).group(0)  # type: ignore[union-attr]
    time.sleep(0.5)
    process.send_signal(signal.SIGINT)
    rest = process.stderr.read()
    assert process.wait(30) == 130
    assert f"--attach {session_id}" in rest and "Traceback" not in rest, rest
    assert server.client().get(f"/api/sessions/{session_id}").json()["state"] in ("queued", "running", "succeeded")

    out = tmp_path / "attached"
    done = submit("--attach", session_id, "--server", server.url, "--out", out)
    assert done.returncode == 0, done.stderr
    assert json.loads((out / "report.json").read_text())["video"]["frames"] == long_clip.truth.frames


def test_progress_bars_on_a_terminal(shared_server, clip, tmp_path):
    code, text = run_on_a_terminal([*SUBMIT, str(clip.path), "--server", shared_server.url,
                                    "--out", str(tmp_path / "out")], cwd=ROOT, env=_env())
    assert code == 0, text
    assert "upload" in text and "100%" in text and "\r" in text, text


def test_the_analysis_bar_moves_through_the_stages(memory_server, long_clip, tmp_path):
    code, text = run_on_a_terminal([*SUBMIT, str(long_clip.path), "--server", memory_server.url,
                                    "--out", str(tmp_path / "out")], cwd=ROOT, env=_env())
    assert code == 0, text
    drawn = _analysis_bars(text)
    stages = [stage for stage, _ in drawn]
    assert {"analyze", "finalize"} <= set(stages) and "" not in stages, drawn
    between = [percent for _, percent in drawn if 0 < percent < 100]
    assert len(set(between)) >= 3 and between == sorted(between), drawn
    assert drawn[-1][1] == 100


def _analysis_bars(text: str) -> list[tuple[str, int]]:
    """(stage, percent) of each drawing of the analysis bar: `{stage:<10} {percent:3}%|...` (the
    upload bar's label ends in a colon)."""
    found = (re.match(r"(\w*) +(\d+)%\|", line) for line in re.split(r"[\r\n]", text))
    return [(match.group(1), int(match.group(2))) for match in found if match]


def test_attach_to_a_finished_session(memory_server, clip, tmp_path):
    first = submit(clip.path, "--server", memory_server.url, "--out", tmp_path / "first")
    assert first.returncode == 0, first.stderr
    session_id = re.search(r"s_[0-9a-f]{32}", first.stderr).group(0)  # type: ignore[union-attr]

    again = submit("--attach", session_id, "--server", memory_server.url, "--out", tmp_path / "again")
    assert again.returncode == 0, again.stderr
    first_files, again_files = (sorted((tmp_path / name).iterdir()) for name in ("first", "again"))
    assert [p.name for p in again_files] == [p.name for p in first_files]
    assert [p.read_bytes() for p in again_files] == [p.read_bytes() for p in first_files]
