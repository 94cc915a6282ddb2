"""The Python client of a Vidpulse server: `Client` (sync) and `AsyncClient`, over httpx.

    from vidpulse.client import Client

    with Client("http://127.0.0.1:8000") as client:
        session = client.upload("clip.mp4", {"render": True})
        for event in client.watch(session.id):
            print(event.type, event.data)
        report = client.results(session.id)

Results are the server's own pydantic models (vidpulse.server.schemas, vidpulse.processing.schema).
See docs/client.md.
"""

from __future__ import annotations

from .aio import AsyncClient
from .errors import VidpulseError
from .events import Event
from .sync import Client
from .webhooks import WebhookVerificationError, verify_webhook

__all__ = ["AsyncClient", "Client", "Event", "VidpulseError", "WebhookVerificationError", "verify_webhook"]
