// Live updates for session cards, over one of three transports:
//   sse  - one EventSource per card; the browser resumes with Last-Event-ID by itself
//   ws   - one WebSocket for all cards; we resubscribe with `after` when it reconnects
//   poll - GET /api/sessions/{id} every second: the fallback when streaming does not work
// Every transport hands the card the same event objects ({id, type, data}); polling turns each
// session document into a `snapshot` event.

export const TERMINAL_EVENTS = new Set(["succeeded", "failed", "cancelled", "expired"]);
export const FINAL_STATES = new Set(["succeeded", "failed", "cancelled"]);
const EVENT_TYPES = ["snapshot", "queued", "started", "stage", "progress", "scene", "levels", "incident",
  ...TERMINAL_EVENTS];

// Browsers open at most 6 HTTP/1.1 connections per server, and each EventSource keeps one.
// Past this many, cards poll instead, so uploads and images still get through.
const MAX_EVENT_SOURCES = 4;
const POLL_MS = 1000;
const SSE_ERRORS_BEFORE_FALLBACK = 3;
const WS_FAILURES_BEFORE_FALLBACK = 4;

/** True when nothing more will come for the session after this event. */
function isLast(event) {
  return TERMINAL_EVENTS.has(event.type)
    || event.type === "gone"
    || (event.type === "snapshot" && FINAL_STATES.has(event.data.state));
}

/** One EventSource. `onBroken` when it closes for good or keeps failing to reconnect. */
class SseFeed {
  constructor(url, onEvent, onBroken) {
    this.source = new EventSource(url);
    let errors = 0;
    for (const type of EVENT_TYPES) {
      this.source.addEventListener(type, (message) => {
        errors = 0;
        onEvent(JSON.parse(message.data));
      });
    }
    // A dropped stream reconnects by itself (readyState CONNECTING). It is CLOSED after an
    // answer that is not a stream: 204 (nothing left to replay), 401, 404.
    this.source.addEventListener("error", () => {
      errors += 1;
      if (this.source.readyState === EventSource.CLOSED || errors >= SSE_ERRORS_BEFORE_FALLBACK) {
        this.close();
        onBroken();
      }
    });
  }

  close() {
    this.source.close();
  }
}

/** GET the session document until it reaches a final state. */
class PollFeed {
  constructor(api, id, onEvent) {
    this.closed = false;
    const tick = async (delay) => {
      if (this.closed) return;
      try {
        const doc = await api.session(id);
        if (this.closed) return;
        onEvent({ id: null, session: id, type: "snapshot", data: doc });
        if (!FINAL_STATES.has(doc.state)) this.timer = setTimeout(tick, POLL_MS, POLL_MS);
      } catch (error) {
        if (this.closed) return;
        if (error.status === 404) {
          onEvent({ id: null, session: id, type: "gone", data: {} });
          return;
        }
        // Offline, restarting, or waiting for an API key: back off, up to 10 s.
        const next = Math.min(delay * 2, 10_000);
        this.timer = setTimeout(tick, next, next);
      }
    };
    tick(POLL_MS);
  }

  close() {
    this.closed = true;
    clearTimeout(this.timer);
  }
}

/** One WebSocket multiplexing every subscribed session; reconnects and resubscribes with `after`. */
class SocketHub {
  #socket = null;
  #subs = new Map(); // session id -> {after, onEvent}
  #failures = 0;
  #timer = null;
  #closed = false;

  /** `onBroken(ids)` when the socket keeps failing: those sessions need another transport. */
  constructor(url, onBroken) {
    this.url = url;
    this.onBroken = onBroken;
  }

  watch(id, after, onEvent) {
    this.#subs.set(id, { after, onEvent });
    if (this.#socket?.readyState === WebSocket.OPEN) this.#subscribe(id);
    else this.#connect();
    return { close: () => this.#unwatch(id) };
  }

  close() {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#socket?.close(1000);
  }

  #unwatch(id) {
    if (this.#subs.delete(id)) this.#send({ op: "unsubscribe", session: id });
  }

  #subscribe(id) {
    const { after } = this.#subs.get(id);
    this.#send(after ? { op: "subscribe", session: id, after } : { op: "subscribe", session: id });
  }

  #send(message) {
    if (this.#socket?.readyState === WebSocket.OPEN) this.#socket.send(JSON.stringify(message));
  }

  #connect() {
    if (this.#socket || this.#closed) return;
    const socket = new WebSocket(this.url());
    this.#socket = socket;
    socket.addEventListener("open", () => {
      for (const id of this.#subs.keys()) this.#subscribe(id);
    });
    socket.addEventListener("message", (message) => {
      const event = JSON.parse(message.data);
      const sub = this.#subs.get(event.session);
      if (!sub) return;
      this.#failures = 0;
      if (event.id) sub.after = event.id;
      const refused = event.type === "error" && event.data.op === "subscribe";
      if (isLast(event) || refused) this.#subs.delete(event.session);
      sub.onEvent(event);
    });
    // 1013 (too slow), 1012 (server restart), a dropped network, or a refused handshake
    // (a missing key shows up as a failed connection): try again, then give up.
    socket.addEventListener("close", () => {
      this.#socket = null;
      if (this.#closed || this.#subs.size === 0) return;
      this.#failures += 1;
      if (this.#failures >= WS_FAILURES_BEFORE_FALLBACK) {
        const ids = [...this.#subs.keys()];
        this.#subs.clear();
        this.#failures = 0;
        this.onBroken(ids);
        return;
      }
      this.#timer = setTimeout(() => this.#connect(), Math.min(250 * 2 ** this.#failures, 8000));
    });
  }
}

const LABELS = {
  sse: "Live over Server-Sent Events",
  ws: "Live over the shared WebSocket",
  poll: "Polling every second",
  "poll-broken": "Streaming unavailable: polling every second",
  "poll-budget": "Polling (too many open streams: the WebSocket mode has no such limit)",
};

/**
 * Keeps one feed per unfinished card. A card needs: `id`, `lastEventId`, `apply(event)`,
 * `setTransport(kind, label)`.
 */
export class LiveUpdates {
  #entries = new Map(); // session id -> {card, feed, kind}
  #socketHub = null; // made on first use in the "ws" mode

  constructor(api, mode = "sse") {
    this.api = api;
    this.mode = mode;
  }

  follow(card) {
    this.unfollow(card.id);
    let kind = "poll";
    if (this.mode === "ws" && "WebSocket" in window) kind = "ws";
    else if (this.mode === "sse" && "EventSource" in window) {
      kind = this.#count("sse") < MAX_EVENT_SOURCES ? "sse" : "poll-budget";
    } else if (this.mode !== "poll") kind = "poll-broken";
    this.#start(card, kind);
  }

  unfollow(id) {
    const entry = this.#entries.get(id);
    if (!entry) return;
    this.#entries.delete(id);
    entry.feed.close();
    if (entry.kind === "sse") this.#promote();
  }

  /**
   * Switch every followed card to another transport (or reconnect them all on the same one, e.g.
   * with a new API key), resuming after the last event each card saw.
   */
  setMode(mode) {
    this.mode = mode;
    const cards = [...this.#entries.values()].map((entry) => entry.card);
    for (const card of cards) this.unfollow(card.id);
    this.#socketHub?.close();
    this.#socketHub = null;
    for (const card of cards) this.follow(card);
  }

  #start(card, kind) {
    const id = card.id;
    const onEvent = (event) => {
      if (this.#entries.get(id)?.card !== card) return; // a late event from a closed feed
      card.apply(event);
      if (isLast(event) || event.type === "error") this.unfollow(id);
    };
    const fallback = () => {
      if (this.#entries.get(id)?.card !== card) return;
      this.unfollow(id);
      this.#start(card, "poll-broken");
    };
    let feed;
    if (kind === "sse") {
      const url = this.api.url(`/api/sessions/${id}/events`, { last_event_id: card.lastEventId });
      feed = new SseFeed(url, onEvent, fallback);
    } else if (kind === "ws") {
      feed = this.#hub().watch(id, card.lastEventId, onEvent);
    } else {
      feed = new PollFeed(this.api, id, onEvent);
    }
    this.#entries.set(id, { card, feed, kind });
    card.setTransport(kind, LABELS[kind]);
  }

  #hub() {
    this.#socketHub ??= new SocketHub(() => this.api.socketUrl("/api/ws"), (ids) => {
      this.#socketHub = null;
      for (const id of ids) {
        const entry = this.#entries.get(id);
        if (entry) {
          this.#entries.delete(id);
          this.#start(entry.card, "poll-broken");
        }
      }
    });
    return this.#socketHub;
  }

  #count(kind) {
    let n = 0;
    for (const entry of this.#entries.values()) if (entry.kind === kind) n += 1;
    return n;
  }

  /** An EventSource closed: give its connection to a card that had to poll for lack of one. */
  #promote() {
    for (const entry of this.#entries.values()) {
      if (entry.kind === "poll-budget") {
        this.follow(entry.card);
        return;
      }
    }
  }
}
