"""Verify a webhook from a Vidpulse server (the Standard Webhooks scheme) without a dependency."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any

TOLERANCE_S = 300


class WebhookVerificationError(ValueError):
    """The webhook is not authentic (or too old to tell): answer it with 400 and drop it."""


def verify_webhook(body: bytes | str, headers: Mapping[str, str], secret: str,
                   *, tolerance_s: float = TOLERANCE_S) -> dict[str, Any]:
    """The payload (`type`, `timestamp`, `data`) of an authentic webhook; raises WebhookVerificationError.

    `headers` may be any mapping with case-insensitive or lower-case keys (Starlette's, Flask's,
    Django's `request.headers`); `secret` is the server's WEBHOOK_SECRET (`whsec_...`). A timestamp
    more than `tolerance_s` away from now is refused, so a captured request cannot be replayed later.
    """
    raw = body.encode() if isinstance(body, str) else body
    lowered = {k.lower(): v for k, v in headers.items()}
    try:
        webhook_id, stamp, signatures = (lowered[k] for k in ("webhook-id", "webhook-timestamp", "webhook-signature"))
        timestamp = int(stamp)
        key = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
    except (KeyError, ValueError, binascii.Error) as exc:
        raise WebhookVerificationError("missing or malformed webhook headers (or secret)") from exc
    if abs(time.time() - timestamp) > tolerance_s:
        raise WebhookVerificationError("the webhook timestamp is outside the tolerance")
    expected = base64.b64encode(hmac.new(key, f"{webhook_id}.{timestamp}.".encode() + raw,
                                         hashlib.sha256).digest()).decode()
    # Several space-separated signatures may come (e.g. while a secret is rotated); one must match.
    for candidate in signatures.split():
        version, _, value = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(value, expected):
            payload: dict[str, Any] = json.loads(raw)
            return payload
    raise WebhookVerificationError("no signature matches")
