"""A session's analysis options from a client: processing/options.py validates, a 422 names the field."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vidpulse.processing import AnalysisOptions, OptionsError
from vidpulse.server.errors import Unprocessable


def parse_options(raw: Mapping[str, Any], kind: type[AnalysisOptions] = AnalysisOptions) -> AnalysisOptions:
    """`kind`: AnalysisOptions, or a subclass with more (processing/live's LiveOptions)."""
    try:
        return kind.from_mapping(raw)
    except OptionsError as exc:
        raise Unprocessable(str(exc), field=f"options.{exc.field}") from exc
