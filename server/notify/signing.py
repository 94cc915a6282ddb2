"""Standard Webhooks signatures: HMAC-SHA256 over `id.timestamp.body`, with a `whsec_` secret."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

from vidpulse.server.config import ConfigError

SECRET_PREFIX = "whsec_"

def parse_secret(value: str) -> bytes:
    """The HMAC key of a `whsec_` + base64 secret (the prefix is optional, as in the reference libraries)."""
    try:
        key = base64.b64decode(value.removeprefix(SECRET_PREFIX), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ConfigError("WEBHOOK_SECRET must be 'whsec_' followed by base64") from exc
    if len(key) < 16:
        raise ConfigError("WEBHOOK_SECRET must hold at least 16 random bytes (24 base64 characters)")
    return key


def sign(key: bytes, webhook_id: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(key, f"{webhook_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def signed_headers(key: bytes, webhook_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "content-type": "application/json",
        "user-agent": "vidpulse-webhooks",
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(key, webhook_id, timestamp, body),
    }
