"""vidpulse.client.verify_webhook against messages signed by the reference `standardwebhooks` package."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks import Webhook

from tests.support.client import upload_ok, wait_state
from tests.support.receiver import new_secret
from tests.support.servers import ROOT, free_port
from vidpulse.client import WebhookVerificationError, verify_webhook


def signed(secret: str, body: str, when: datetime | None = None) -> dict[str, str]:
    when = when or datetime.now(UTC)
    return {"Webhook-Id": "msg_1", "Webhook-Timestamp": str(int(when.timestamp())),
            "Webhook-Signature": Webhook(secret).sign("msg_1", when, body)}


def test_verifies_what_the_reference_signs():
    secret = new_secret()
    body = json.dumps({"type": "session.succeeded", "timestamp": "2026-01-01T00:00:00.000Z", "data": {}})
    assert verify_webhook(body.encode(), signed(secret, body), secret)["type"] == "session.succeeded"
    rotated = signed(secret, body)
    rotated["Webhook-Signature"] = "v1,bm90IGl0 " + rotated["Webhook-Signature"]
    assert verify_webhook(body, rotated, secret)["type"] == "session.succeeded"


@pytest.mark.parametrize("tamper", ["body", "secret", "old", "headers"])
def test_refuses_what_is_not_authentic(tamper):
    secret = new_secret()
    body = '{"type": "session.failed"}'
    headers = signed(secret, body, datetime.now(UTC) - timedelta(minutes=10) if tamper == "old" else None)
    if tamper == "headers":
        del headers["Webhook-Signature"]
    with pytest.raises(WebhookVerificationError):
        verify_webhook(body.replace("failed", "succeeded") if tamper == "body" else body, headers,
                       new_secret() if tamper == "secret" else secret)


def test_the_receiver_in_the_docs(start_server, clip, tmp_path):
    """docs/client.md's Starlette receiver, run as written, takes a real server's webhooks."""
    docs = (ROOT / "docs" / "client.md").read_text()
    code = re.search(r"```python\n(import os\n.*?)```", docs, re.S).group(1)  # type: ignore[union-attr]
    (tmp_path / "receiver.py").write_text(code)
    secret, port = new_secret(), free_port()
    receiver = subprocess.Popen([sys.executable, "-m", "uvicorn", "receiver:app", "--port", str(port)],
                                cwd=tmp_path, env={**os.environ, "WEBHOOK_SECRET": secret, "PYTHONUNBUFFERED": "1"},
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        server = start_server(WEBHOOK_URL=f"http://127.0.0.1:{port}/hooks", WEBHOOK_SECRET=secret,
                              ALLOW_PRIVATE_URLS=1, WEBHOOK_RETRY_S=0.2)
        session = upload_ok(server.client(), clip.path)
        wait_state(server.client(), session["id"], {"succeeded"})
        assert receiver.stdout is not None
        assert receiver.stdout.readline().split() == ["session.succeeded", session["id"], "None"]
        deadline = time.monotonic() + 30
        while not (items := server.client().get(f"/api/sessions/{session['id']}/webhooks").json()["items"]):
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert items[-1]["status_code"] == 204
    finally:
        receiver.terminate()
        receiver.wait(10)
