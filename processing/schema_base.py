"""The building blocks the report's models share (processing/schema.py, processing/schema_cues.py)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

Seconds = Annotated[float, Field(ge=0)]
Unit = Annotated[float, Field(ge=0, le=1)]


class Closed(BaseModel):
    """A JSON object with exactly these fields: anything else is a bug on the producing side."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Span(Closed):
    start_s: Seconds
    end_s: Seconds = Field(description="exclusive")
