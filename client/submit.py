"""`vidpulse submit FILE`: upload to a server, follow the analysis, fetch the report and artifacts.

Progress bars only when stderr is a terminal. Ctrl-C after the upload detaches: the session goes
on, and `--attach ID` picks it up again. Exit 0 when the analysis succeeded; 1 with one line on
stderr when the file was refused or the analysis failed or was cancelled; 130 when interrupted.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tqdm import tqdm

from vidpulse.server.models import SessionState
from vidpulse.server.schemas import Progress, StageData, StartedData, SucceededData, UploadProgress

from .errors import VidpulseError
from .options import add_option_argument, parse_options
from .sync import Client

DEFAULT_SERVER = "http://127.0.0.1:8000"
INTERRUPTED = 130


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, nargs="?", help="the video to upload")
    parser.add_argument("--server", default=os.environ.get("VIDPULSE_SERVER", DEFAULT_SERVER),
                        help=f"the server's URL (default: $VIDPULSE_SERVER or {DEFAULT_SERVER})")
    parser.add_argument("--api-key", default=os.environ.get("VIDPULSE_API_KEY"),
                        help="sent as Authorization: Bearer (default: $VIDPULSE_API_KEY)")
    add_option_argument(parser)
    parser.add_argument("--out", type=Path, help="folder for report.json and the artifacts (default: FILE.vidpulse/)")
    parser.add_argument("--attach", metavar="SESSION_ID", help="follow a session already uploaded (after Ctrl-C)")


def run(args: argparse.Namespace) -> int:
    if (args.file is None) == (args.attach is None):
        print("vidpulse: submit needs FILE or --attach SESSION_ID (one of them)", file=sys.stderr)
        return 2
    name = str(args.file or args.attach)
    try:
        with Client(args.server, args.api_key) as client:
            return _submit(client, args)
    except VidpulseError as exc:
        print(f"vidpulse: {name}: {_one_line(exc)}", file=sys.stderr)
        return 1
    except (OSError, ValueError) as exc:
        print(f"vidpulse: {exc}", file=sys.stderr)
        return 1


def _submit(client: Client, args: argparse.Namespace) -> int:
    tty = sys.stderr.isatty()
    if args.attach:
        session_id = args.attach
    else:
        options = parse_options(args.option)
        size = args.file.stat().st_size
        try:
            with _bar(tty, total=size, unit="B", unit_scale=True, unit_divisor=1024, desc="upload") as bar:
                session_id = client.upload(args.file, options or None, on_progress=_follow_bytes(bar)).id
        except KeyboardInterrupt:
            print("vidpulse: upload interrupted; nothing was queued", file=sys.stderr)
            return INTERRUPTED
        print(f"vidpulse: uploaded {args.file.name} as {session_id}", file=sys.stderr)
    try:
        _watch(client, session_id, tty)
    except KeyboardInterrupt:
        out = f" --out {args.out}" if args.out else ""
        print(f"vidpulse: detached from {session_id}; it goes on. Follow it again with: vidpulse submit "
              f"--server {client.base_url} --attach {session_id}{out}", file=sys.stderr)
        return INTERRUPTED
    # The outcome from the session document, which is saved before the terminal event is logged
    # (server/sessions.py, _finish).
    final = client.session(session_id)
    if final.state is not SessionState.SUCCEEDED:
        reason = final.error.message if final.error else final.state.value
        print(f"vidpulse: {args.file or session_id}: {final.state.value}: {reason}", file=sys.stderr)
        return 1
    folder: Path = args.out or (args.file.with_name(args.file.name + ".vidpulse") if args.file else Path(session_id))
    written = _fetch(client, session_id, folder)
    print(f"vidpulse: wrote {folder / 'report.json'} and {written - 1} more files", file=sys.stderr)
    return 0


def _watch(client: Client, session_id: str, tty: bool) -> None:
    """Until the session has ended, with a bar that follows its progress."""
    with _bar(tty, total=100, unit="%", desc="queued",
              bar_format="{desc:<10} {percentage:3.0f}%|{bar}| {elapsed}<{remaining}") as bar:
        for event in client.watch(session_id):
            data = event.data
            # By the data's model, so that mypy checks each field read (a getattr with a default
            # once read a wrapper's missing `stage` as "" and kept the bar at 0 %).
            if isinstance(data, Progress | UploadProgress):
                bar.set_description_str(str(data.stage), refresh=False)
                bar.update(max(0.0, round(data.fraction * 100, 1) - bar.n))
            elif isinstance(data, StartedData):
                bar.reset(total=100)  # a job run again (after a restart) starts over
            elif isinstance(data, StageData):
                bar.set_description_str(str(data.stage))
            elif isinstance(data, SucceededData):
                bar.update(100 - bar.n)


def _fetch(client: Client, session_id: str, out: Path) -> int:
    out.mkdir(parents=True, exist_ok=True)
    report = client.results(session_id)
    (out / "report.json").write_text(report.model_dump_json(indent=2))
    names = [a.name for a in report.artifacts if a.name != "report.json"]
    for name in names:
        client.download(session_id, name, out / name)
    return 1 + len(names)


@contextmanager
def _bar(tty: bool, **kwargs: Any) -> Iterator[Any]:
    bar = tqdm(disable=not tty, file=sys.stderr, leave=True, **kwargs)
    try:
        yield bar
    finally:
        bar.close()


def _follow_bytes(bar: Any) -> Any:
    def on_progress(sent: int) -> None:
        bar.update(sent - bar.n)

    return on_progress


def _one_line(exc: VidpulseError) -> str:
    problem = exc.problem or {}
    detail = problem.get("detail") or exc.message
    extra = problem.get("field") or problem.get("code")
    return f"{detail} ({extra})" if extra else str(detail)
