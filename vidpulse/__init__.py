"""Vidpulse: video uploads analysed in the background, with live progress over SSE and WebSocket."""

from __future__ import annotations

__version__ = "0.1.0"
