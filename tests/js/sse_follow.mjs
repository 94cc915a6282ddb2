// Drives `eventsource` (the real npm package, a WHATWG EventSource for Node) for
// tests/server/test_sse_clients.py. One argument: a JSON object of
//   url, types (the event types to listen to), headers (sent on every connection),
//   closeOnEnd (close at a terminal event, as a page would; else let the client decide).
// Prints one JSON object per line: "open" per connection, "event" per event, "error" per error
// (with the client's readyState after it), then "closed" once the client gave up or was closed.
import { EventSource } from "eventsource";

const args = JSON.parse(process.argv[2]);
const say = (what, fields = {}) => process.stdout.write(JSON.stringify({ what, ...fields }) + "\n");
const terminal = new Set(["succeeded", "failed", "cancelled", "expired"]);

const source = new EventSource(args.url, {
  fetch: (input, init) => fetch(input, { ...init, headers: { ...init.headers, ...(args.headers ?? {}) } }),
});
const finished = new Promise((resolve) => {
  const end = () => {
    source.close();
    resolve(say("closed"));
  };
  source.addEventListener("open", () => say("open"));
  for (const type of args.types) {
    source.addEventListener(type, (event) => {
      say("event", { type, id: event.lastEventId, data: JSON.parse(event.data) });
      if (args.closeOnEnd && terminal.has(type)) end();
    });
  }
  source.addEventListener("error", (event) => {
    say("error", { code: event.code ?? null, message: event.message ?? null, readyState: source.readyState });
    if (source.readyState === EventSource.CLOSED) end();
  });
});
await finished;
