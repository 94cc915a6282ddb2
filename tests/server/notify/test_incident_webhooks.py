"""A live session's incidents as webhooks (option notify_incidents): a real server following a real HLS
origin whose picture goes black at a known time, real receivers on loopback, every request verified with
the `standardwebhooks` package."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from standardwebhooks import Webhook

from tests.support.client import assert_problem, upload, wait_state
from tests.support.live import HlsOrigin, Schedule, Watch, go_live
from tests.support.receiver import Receiver, new_secret, running_receiver
from tests.support.servers import Server


def payloads(receiver: Receiver, secret: str) -> list[tuple[str, dict[str, Any]]]:
    """Every request the receiver got, verified: its webhook-id and payload."""
    hook = Webhook(secret)
    return [(r.headers["webhook-id"], hook.verify(r.body, r.headers)) for r in receiver.requests]


def test_incidents_are_signed_webhooks_retried_like_the_others(start_server: Callable[..., Server],
                                                              origins: Callable[..., HlsOrigin]) -> None:
    secret = new_secret()
    # The session may join up to three segments late; the black span is seen either way.
    origin = origins(Schedule(60, black=((4, 5.5),)))
    origin.wait_segments(1)
    with running_receiver() as hooks, running_receiver(script=[503, 503]) as flaky:
        server = start_server(WEBHOOK_URL=hooks.url, WEBHOOK_SECRET=secret, WEBHOOK_RETRY_S=0.2,
                              ALLOW_PRIVATE_URLS=1, WORKERS=2)
        client = server.client()
        notified = go_live(client, origin.url, incident_min_s=1, notify_incidents=True, callback_url=flaky.url)
        quiet = go_live(client, origin.url, incident_min_s=1)
        watches = {s["id"]: Watch(client, s["id"]) for s in (notified, quiet)}
        for session_id, watch in watches.items():
            watch.incident("black", "closed")
            assert client.post(f"/api/sessions/{session_id}/stop").status_code == 202
            assert watch.end().type == "succeeded"
        hooks.wait_for(4)  # the notified session's incident opened and closed, and both sessions' ends
        flaky.wait_for(5)  # the opening refused twice, then taken; the closing; the end
        time.sleep(0.5)  # nothing more comes

        received = payloads(hooks, secret)
        by_session: dict[str, list[str]] = {}
        for _, payload in received:
            owner = payload["data"].get("session") or payload["data"]["id"]
            by_session.setdefault(owner, []).append(payload["type"])
        assert by_session == {notified["id"]: ["session.incident.opened", "session.incident.closed",
                                               "session.succeeded"],
                              quiet["id"]: ["session.succeeded"]}
        # The data: the session's id and the incident, exactly as its `incident` events had it.
        events = [e.data for e in watches[notified["id"]].events if e.type == "incident"]
        sent = [payload["data"] for _, payload in received if payload["type"].startswith("session.incident.")]
        assert sent == [{"session": notified["id"], "incident": event} for event in events]
        assert [i["kind"] for i in events] == ["black", "black"] and events[0]["id"] == events[1]["id"]
        ids = [webhook_id for webhook_id, _ in received]
        assert len(set(ids)) == len(ids), "the opening and the closing are deliveries of their own"

        # The callback refused its first two requests (whichever came first): each is retried under the same
        # id and body, as any webhook is, until taken.
        attempts: dict[str, list[tuple[str, int]]] = {}
        for item in client.get(f"/api/sessions/{notified['id']}/webhooks").json()["items"]:
            if item["target"] == "callback_url":
                attempts.setdefault(item["webhook_id"], []).append((item["type"], item["status_code"]))
        assert sorted(tried[-1] for tried in attempts.values()) == [
            ("session.incident.closed", 200), ("session.incident.opened", 200), ("session.succeeded", 200)]
        assert sum(status == 503 for tried in attempts.values() for _, status in tried) == 2
        first = flaky.requests[0]
        again = [r for r in flaky.requests if r.headers["webhook-id"] == first.headers["webhook-id"]]
        assert len(again) >= 2 and {r.body for r in again} == {first.body}
        assert {p["type"] for _, p in payloads(flaky, secret)} == {
            "session.incident.opened", "session.incident.closed", "session.succeeded"}
        assert not set(attempts) & set(ids), "each URL has deliveries of its own"
        assert {i["type"] for i in client.get(f"/api/sessions/{quiet['id']}/webhooks").json()["items"]} == {
            "session.succeeded"}


def test_notify_incidents_is_a_live_option_that_needs_a_webhook(start_server: Callable[..., Server],
                                                                clip: Any) -> None:
    with running_receiver() as hooks:
        signing = start_server(WEBHOOK_SECRET=new_secret(), ALLOW_PRIVATE_URLS=1)
        client = signing.client()
        live = {"url": "http://127.0.0.1:9/live.m3u8", "live": True}
        for options, says in (({"notify_incidents": "yes"}, "boolean"),
                              ({"notify_incidents": True}, "callback_url")):
            problem = assert_problem(client.post("/api/sessions", json={**live, "options": options}), 422)
            assert problem["field"] == "options.notify_incidents" and says in problem["detail"], problem
        accepted = client.post("/api/sessions", json={**live, "options": {
            "notify_incidents": True, "callback_url": hooks.url, "reconnect_s": 0}})
        assert accepted.status_code == 202, accepted.text
        # New options on a retry are checked the same way, against the session's own callback_url.
        plain = go_live(client, live["url"], reconnect_s=0)
        for session in (accepted.json(), plain):
            wait_state(client, session["id"], {"failed"}, timeout=20)
        retried = client.post(f"/api/sessions/{plain['id']}/retry", json={"options": {"notify_incidents": True}})
        assert assert_problem(retried, 422)["field"] == "options.notify_incidents"
        again = {"options": {"notify_incidents": True, "reconnect_s": 0}}
        assert client.post(f"/api/sessions/{accepted.json()['id']}/retry", json=again).status_code == 202
        # A file session has no incidents: the option is refused, as every live one is.
        for response in (upload(client, clip.path, {"notify_incidents": True}),
                         client.post("/api/sessions", json={"url": "http://127.0.0.1:9/a.mp4",
                                                            "options": {"notify_incidents": True}})):
            assert assert_problem(response, 422)["field"] == "options.notify_incidents"
