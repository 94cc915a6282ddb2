"""`--option NAME=VALUE`: analysis options on the command line, the same for `vidpulse submit`
(sent to a server) and `vidpulse analyze` (run here)."""

from __future__ import annotations

import argparse
import json
from typing import Any


def add_option_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--option", action="append", default=[], metavar="NAME=VALUE",
                        help="an analysis option, e.g. render=true or width=640 (repeatable)")


def parse_options(pairs: list[str]) -> dict[str, Any]:
    """`NAME=VALUE` pairs; VALUE is JSON when it parses (true, 640, 0.5, null), else a string."""
    options: dict[str, Any] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"--option {pair!r} is not NAME=VALUE")
        try:
            options[name.strip()] = json.loads(value)
        except ValueError:
            options[name.strip()] = value
    return options
