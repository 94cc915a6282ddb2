"""Webhooks against a real server and a real receiver on loopback, verified with the
`standardwebhooks` package (the reference implementation of the scheme)."""

from __future__ import annotations

import asyncio
import itertools
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from standardwebhooks import Webhook

from tests.conftest import backend_settings
from tests.support.client import assert_problem, tus_create, tus_created, tus_patch, upload, upload_ok, wait_state
from tests.support.receiver import Receiver, new_secret, running_receiver
from tests.support.servers import ROOT, Server, free_port
from vidpulse.server.config import ConfigError, Settings
from vidpulse.server.notify.deliveries import RedisWebhookStore
from vidpulse.server.notify.records import Delivery
from vidpulse.server.notify.signing import parse_secret, sign
from vidpulse.server.notify.webhooks import backoff_s
from vidpulse.server.schemas import DeliveryState, WebhookTarget, WebhookType

FAST_RETRIES = {"ALLOW_PRIVATE_URLS": 1, "WEBHOOK_RETRY_S": 0.2, "WORKERS": 1}


@pytest.fixture
def signing_server(start_server) -> Server:
    """WEBHOOK_SECRET set, private addresses refused: for the tests whose every request is refused."""
    return start_server(WEBHOOK_SECRET=new_secret())


@pytest.fixture(params=["memory", "redis"])
def backend(request: pytest.FixtureRequest) -> dict[str, object]:
    return backend_settings(request, request.param)


def metric(client, name: str) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "_total "):
            return float(line.split()[-1])
    raise AssertionError(f"no metric {name}")


def wait_attempts(client, session_id: str, count: int, timeout: float = 30) -> list[dict]:
    deadline = time.monotonic() + timeout
    while len(items := client.get(f"/api/sessions/{session_id}/webhooks").json()["items"]) < count:
        assert time.monotonic() < deadline, f"{len(items)} attempts listed, wanted {count}"
        time.sleep(0.05)
    return items


def verified(receiver: Receiver, secret: str) -> list[dict]:
    """Every request the receiver got, checked by the reference verifier; their payloads."""
    hook = Webhook(secret)
    return [hook.verify(r.body, r.headers) for r in receiver.requests]


def test_retries_after_refusals_under_one_id(start_server, backend, clip):
    secret = new_secret()
    with running_receiver(script=[503, 500]) as receiver:
        server = start_server(WEBHOOK_URL=receiver.url, WEBHOOK_SECRET=secret, **FAST_RETRIES, **backend)
        client = server.client()
        session = upload_ok(client, clip.path)
        wait_state(client, session["id"], {"succeeded"})
        requests = receiver.wait_for(3)
        time.sleep(0.5)  # nothing more comes once one is accepted
        assert len(receiver.requests) == 3
        payloads = verified(receiver, secret)
        assert {r.headers["webhook-id"] for r in requests} == {requests[0].headers["webhook-id"]}
        assert [r.body for r in requests] == [requests[0].body] * 3, "every attempt sends the same payload"
        payload = payloads[0]
        assert payload["type"] == "session.succeeded"
        assert payload["data"]["id"] == session["id"] and payload["data"]["state"] == "succeeded"
        assert payload["timestamp"].endswith("Z")
        # The retries wait (exponential from 0.2 s, with jitter: at least half of each step).
        gaps = [b.at - a.at for a, b in itertools.pairwise(requests)]
        assert gaps[0] >= 0.1 and gaps[1] >= 0.2

        items = wait_attempts(client, session["id"], 3)
        assert [i["status_code"] for i in items] == [503, 500, 200]
        assert [i["attempt"] for i in items] == [1, 2, 3]
        assert {i["webhook_id"] for i in items} == {requests[0].headers["webhook-id"]}
        assert {i["delivery_state"] for i in items} == {"delivered"}
        assert items[0]["target"] == "webhook_url" and receiver.url not in str(items)
        assert metric(client, "vidpulse_webhooks_delivered") == 1
        assert metric(client, "vidpulse_webhooks_retried") == 2
        # The delivery loop runs under the supervisor, which would start it again if it died.
        assert metric(client, 'vidpulse_task_restarts_total{task="webhooks"}') == 0


def test_callback_url_and_giving_up(start_server, clip):
    secret = new_secret()
    with running_receiver(default=500) as broken, running_receiver() as callback:
        server = start_server(WEBHOOK_URL=broken.url, WEBHOOK_SECRET=secret, WEBHOOK_MAX_ATTEMPTS=2, **FAST_RETRIES)
        client = server.client()
        session = upload_ok(client, clip.path, {"callback_url": callback.url})
        plain = upload_ok(client, clip.path)
        for s in (session, plain):
            wait_state(client, s["id"], {"succeeded"})
        callback.wait_for(1)
        broken.wait_for(4)
        time.sleep(1.0)
        assert len(broken.requests) == 4, "two sessions, WEBHOOK_MAX_ATTEMPTS=2 each"
        assert len(callback.requests) == 1, "callback_url belongs to one session only"
        assert verified(callback, secret)[0]["data"]["id"] == session["id"]
        assert callback.requests[0].headers["webhook-id"] != broken.requests[0].headers["webhook-id"]
        items = wait_attempts(client, session["id"], 3)
        by_target = {t: [i for i in items if i["target"] == t] for t in ("webhook_url", "callback_url")}
        assert [i["delivery_state"] for i in by_target["webhook_url"]] == ["gave_up", "gave_up"]
        assert [i["status_code"] for i in by_target["callback_url"]] == [200]
        assert metric(client, "vidpulse_webhooks_given_up") == 2


def test_a_hanging_receiver_holds_up_no_other(start_server, clip):
    secret = new_secret()
    timeout_s = 4  # WEBHOOK_TIMEOUT_S: the hanging attempt's window, in which the other deliveries go
    with running_receiver(delay_s=30) as hanging, running_receiver() as prompt:
        server = start_server(WEBHOOK_URL=prompt.url, WEBHOOK_SECRET=secret, WEBHOOK_TIMEOUT_S=timeout_s,
                              **FAST_RETRIES)
        client = server.client()
        first = upload_ok(client, clip.path, {"callback_url": hanging.url})
        wait_state(client, first["id"], {"succeeded"})
        stuck = hanging.wait_for(1)[0]
        second = upload_ok(client, clip.path)
        wait_state(client, second["id"], {"succeeded"})
        delivered = prompt.wait_for(2, timeout=timeout_s)
        assert {r.json["data"]["id"] for r in delivered} == {first["id"], second["id"]}
        assert max(r.at for r in delivered) < stuck.at + timeout_s, "delivered while the hanging attempt waited"
        items = wait_attempts(client, first["id"], 2, timeout=30)
        assert {i["target"]: i["error"] for i in items}["callback_url"] == f"no answer within {timeout_s} s"


def test_failed_and_cancelled_sessions_are_announced(start_server, tmp_path, long_clip):
    secret = new_secret()
    with running_receiver() as receiver:
        server = start_server(WEBHOOK_URL=receiver.url, WEBHOOK_SECRET=secret, **FAST_RETRIES)
        client = server.client()
        running = upload_ok(client, long_clip.path, {"render": True, "width": 640})
        assert client.post(f"/api/sessions/{running['id']}/cancel").status_code == 202
        wait_state(client, running["id"], {"cancelled"})
        # Fails in the worker whatever the machine's speed: the span starts past the end of the video.
        failing = upload_ok(client, long_clip.path, {"start_s": 1000})
        assert wait_state(client, failing["id"], {"failed", "succeeded"})["state"] == "failed"
        receiver.wait_for(2)
        by_session = {p["data"]["id"]: p for p in verified(receiver, secret)}
        assert by_session[running["id"]]["type"] == "session.cancelled"
        assert by_session[failing["id"]]["type"] == "session.failed"
        assert by_session[failing["id"]]["data"]["error"]["code"] == "invalid_options"


def test_delivery_after_a_restart(start_server, backend, tmp_path, clip):
    """A delivery still pending when the server is killed is made by the next server."""
    secret = new_secret()
    with running_receiver(default=503) as receiver:
        settings = dict(WEBHOOK_URL=receiver.url, WEBHOOK_SECRET=secret, **FAST_RETRIES, **backend)
        settings["WEBHOOK_RETRY_S"] = 2  # the second attempt is due after the kill
        first = start_server(data_dir=tmp_path / "data", **settings)
        client = first.client()
        session = upload_ok(client, clip.path)
        wait_attempts(client, session["id"], 1)  # the refusal is recorded; the next attempt is due in 1-2 s
        first.stop(sig=9)  # no chance to flush anything
        receiver.default = 200
        second = start_server(data_dir=tmp_path / "data", **settings)
        requests = receiver.wait_for(2)
        assert len({r.headers["webhook-id"] for r in requests}) == 1
        assert verified(receiver, secret)[-1]["data"]["id"] == session["id"]
        items = wait_attempts(second.client(), session["id"], 2)
        assert [i["status_code"] for i in items] == [503, 200]


def test_private_callback_url_is_refused(signing_server, clip):
    server = signing_server
    client = server.client()
    before = server.session_dirs()
    for url in ("http://127.0.0.1:9/hook", "http://169.254.169.254/latest", "file:///etc/passwd"):
        doc = assert_problem(upload(client, clip.path, {"callback_url": url}), 422)
        assert doc["field"] == "options.callback_url", doc
    assert server.session_dirs() == before, "a refused upload leaves nothing behind"


def test_callback_url_needs_a_secret(start_server, clip):
    server = start_server(ALLOW_PRIVATE_URLS=1)
    doc = assert_problem(upload(server.client(), clip.path, {"callback_url": "http://127.0.0.1:9/"}), 422)
    assert doc["field"] == "options.callback_url" and "WEBHOOK_SECRET" in doc["detail"]


@contextmanager
def serving(folder: Path) -> Iterator[str]:
    """A real HTTP origin on loopback serving `folder`, for URL ingest."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(SimpleHTTPRequestHandler, directory=str(folder)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_callback_url_on_tus_uploads_and_url_ingest(start_server, clip):
    secret = new_secret()
    data = clip.path.read_bytes()
    with running_receiver() as callback, serving(clip.path.parent) as origin:
        client = start_server(WEBHOOK_SECRET=secret, **FAST_RETRIES).client()
        tus_id = tus_created(client, len(data), options={"width": 160, "callback_url": callback.url})
        assert tus_patch(client, tus_id, 0, data).status_code == 204
        response = client.post("/api/sessions", json={"url": f"{origin}/{clip.path.name}",
                                                      "options": {"width": 160, "callback_url": callback.url}})
        assert response.status_code == 202, response.text
        ingest_id = response.json()["id"]
        for session_id in (tus_id, ingest_id):
            wait_state(client, session_id, {"succeeded"})
        callback.wait_for(2)
        time.sleep(0.3)  # one delivery each, nothing more
        payloads = verified(callback, secret)
        assert sorted(p["data"]["id"] for p in payloads) == sorted([tus_id, ingest_id])
        assert {p["type"] for p in payloads} == {"session.succeeded"}
        assert {p["data"]["state"] for p in payloads} == {"succeeded"}
        for session_id in (tus_id, ingest_id):
            items = wait_attempts(client, session_id, 1)
            assert [(i["target"], i["status_code"]) for i in items] == [("callback_url", 200)]


def test_private_callback_url_on_tus_is_refused(signing_server, clip):
    server = signing_server
    client = server.client()
    before = server.session_dirs()
    for url in ("http://127.0.0.1:9/hook", "http://10.0.0.7/hook", "file:///etc/passwd"):
        doc = assert_problem(tus_create(client, 100, options={"callback_url": url}), 422)
        assert doc["field"] == "options.callback_url", doc
    assert server.session_dirs() == before, "a refused upload leaves nothing behind"
    assert client.get("/api/sessions").json()["items"] == []


def test_ingest_options_refuse_unknown_fields(signing_server):
    client = signing_server.client()
    response = client.post("/api/sessions", json={"url": "http://127.0.0.1:9/clip.mp4", "options": {"bogus": 1}})
    assert assert_problem(response, 422)["field"] == "options.bogus"


@pytest.mark.parametrize(("env", "says"), [
    ({"WEBHOOK_URL": "http://127.0.0.1:9/hook", "WEBHOOK_SECRET": new_secret()}, "WEBHOOK_URL is refused"),
    ({"WEBHOOK_URL": "https://example.com/hook"}, "WEBHOOK_SECRET"),
    ({"WEBHOOK_SECRET": "whsec_not base64!"}, "WEBHOOK_SECRET"),
])
def test_bad_webhook_settings_stop_the_start_with_one_line(tmp_path, env, says):
    full = {**{k: v for k, v in os.environ.items() if not k.startswith(("VIDPULSE_", "WEBHOOK_"))},
            "PORT": str(free_port()), "DATA_DIR": str(tmp_path), **env}
    done = subprocess.run([sys.executable, "-m", "vidpulse.server.cli", "serve"], cwd=ROOT, env=full,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and says in lines[0], done.stderr


def test_signature_matches_the_reference_library():
    secret = new_secret()
    body = b'{"type":"session.succeeded"}'
    ours = sign(parse_secret(secret), "msg_1", 1_700_000_000, body)
    from datetime import UTC, datetime

    theirs = Webhook(secret).sign("msg_1", datetime.fromtimestamp(1_700_000_000, UTC), body.decode())
    assert ours == theirs


def test_secrets_and_settings():
    assert len(parse_secret(new_secret())) == 32
    for bad in ("whsec_%%%", "whsec_c2hvcnQ="):
        with pytest.raises(ConfigError):
            parse_secret(bad)
    for bad in ({"WEBHOOK_MAX_ATTEMPTS": "0"}, {"WEBHOOK_TIMEOUT_S": "0"}, {"WEBHOOK_TIMEOUT_S": "60"}):
        with pytest.raises(ConfigError):
            Settings.from_env(bad)


def test_backoff_grows_with_jitter():
    for failed in range(1, 8):
        delays = [backoff_s(5, failed) for _ in range(50)]
        step = 5 * 2 ** (failed - 1)
        assert all(step / 2 <= d <= step for d in delays)
        assert len(set(delays)) > 1


@pytest.mark.redis
async def test_redis_lease_lets_one_instance_deliver_and_another_take_over(redis_target):
    settings = Settings(**redis_target.settings())
    a, b = RedisWebhookStore(settings), RedisWebhookStore(settings)
    try:
        now = time.time()
        delivery = Delivery("msg_x", "s_" + "0" * 32, WebhookTarget.WEBHOOK_URL, "http://h/", WebhookType.SUCCEEDED,
                            "{}", "2026-01-01T00:00:00Z", now)
        await a.add([delivery])
        await b.add([delivery])  # recorded twice: one delivery
        claims = await asyncio.gather(a.claim(now, 0.5, 10), b.claim(now, 0.5, 10))
        assert sorted(len(c) for c in claims) == [0, 1], "one instance holds the lease"
        holder, other = (a, b) if claims[0] else (b, a)
        await asyncio.sleep(0.7)  # the holder "died": its lease lapses
        taken = await other.claim(time.time(), 30, 10)
        assert [d.id for d in taken] == ["msg_x"]
        # The first holder's late outcome must not overwrite the new owner's.
        late = Delivery(**{**delivery.__dict__, "state": DeliveryState.DELIVERED})
        await holder.settle(late)
        assert (await other.for_session(delivery.session))[0].state is DeliveryState.PENDING
        await other.settle(late)
        assert (await a.for_session(delivery.session))[0].state is DeliveryState.DELIVERED
        assert await a.claim(time.time() + 3600, 30, 10) == []

        # An instance that stops gives its leases back: another takes them at once.
        second = Delivery(**{**delivery.__dict__, "id": "msg_y"})
        await a.add([second])
        assert [d.id for d in await a.claim(time.time(), 60, 10)] == ["msg_y"]
        assert await b.claim(time.time(), 60, 10) == []
        await a.release()
        assert [d.id for d in await b.claim(time.time(), 60, 10)] == ["msg_y"]
    finally:
        await a.close()
        await b.close()
