// A live session's card (docs/api.md, "Live sources"): a running clock of the timeline analysed and
// of how far behind the source the analysis is, meters of brightness, motion and loudness over the
// last 60 s (`levels`), the incidents as they open and close (highlighted while open), scene
// thumbnails as scenes close, and Stop. It offers what SessionCard (card.js) offers to LiveUpdates
// (stream.js) and app.js: `id`, `lastEventId`, `apply(event)`, `setTransport()`, `finished`, `onServer`,
// `cancel()`. Every event may come twice (a replay after a reconnection): each is applied by its key.

import { h, svg, uid } from "./dom.js";
import { cancelSession, ending } from "./endings.js";
import { timecode } from "./format.js";
import { fitThumbnails, renderReport, sceneParts } from "./results.js";
import { FINAL_STATES } from "./stream.js";

const WINDOW_S = 60;
const METERS = [
  { key: "brightness", name: "Brightness", low: 0, high: 1, text: (v) => `${Math.round(v * 100)} %` },
  { key: "motion", name: "Motion", low: 0, high: 0.3, text: (v) => `${Math.round(v * 100)} %` },
  { key: "loudness_momentary_lufs", name: "Loudness", low: -60, high: 0,
    text: (v) => (v == null ? "silent" : `${v.toFixed(1)} LUFS`) },
];
const WIDTH = 240;
const HEIGHT = 36;
const LABELS = {
  queued: "Queued", running: "Live", cancelling: "Cancelling", succeeded: "Ended", failed: "Failed",
  cancelled: "Cancelled", expired: "Expired", gone: "Removed",
};
const KINDS = { black: "Black", frozen: "Frozen picture", silence: "Silence", source_lost: "Source lost", gap: "Gap",
  blurry: "Blurry", clipping: "Clipping", color_bars: "Colour bars", interlaced: "Interlaced", letterbox: "Letterbox",
  pillarbox: "Pillarbox", out_of_range: "Out of range", audio_phase: "Audio out of phase",
  channel_silent: "Channel silent", loudness: "Loudness out of range" };
// A failing delivery check (kind `qc`) is named by its check.
const CHECKS = { integrated_loudness: "loudness", true_peak: "true peak", out_of_range: "levels out of range",
  interlace_flag: "interlace flag", color_bars: "colour bars over 2 s", black: "black over 2 s" };
const ENDED = new Set([...FINAL_STATES, "expired", "gone"]);

/** One level over the last 60 s of the timeline, drawn as a line, with its value now beside it. */
class LevelMeter {
  constructor({ key, name, low, high, text }) {
    Object.assign(this, { key, name, low, high, text });
    this.line = svg("polyline", { class: "level-line", fill: "none", points: "" });
    this.graph = svg("svg", { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, width: WIDTH, height: HEIGHT, class: "level-graph",
      "aria-hidden": "true" }, svg("rect", { class: "level-frame", x: 0, y: 0, width: WIDTH, height: HEIGHT }), this.line);
    this.now = h("span", { class: "level-now" });
    this.el = h("div", { class: "level", role: "img", "data-level": key }, h("span", { class: "level-name" }, name),
      this.graph, this.now);
  }

  draw(levels, latest) {
    const from = latest - WINDOW_S;
    const shown = levels.filter((l) => l.t_s > from);
    const y = (value) => {
      const v = value == null ? this.low : Math.min(this.high, Math.max(this.low, value));
      return (HEIGHT - 2 - ((v - this.low) / (this.high - this.low)) * (HEIGHT - 4)).toFixed(1);
    };
    this.line.setAttribute("points", shown.map((l) => `${(((l.t_s - from) / WINDOW_S) * WIDTH).toFixed(1)},${y(l[this.key])}`).join(" "));
    this.el.dataset.points = shown.length;
    const value = shown.length ? shown[shown.length - 1][this.key] : null;
    this.now.textContent = shown.length ? this.text(value) : "";
    this.el.setAttribute("aria-label", `${this.name} over the last minute: ${shown.length ? this.text(value) : "nothing yet"}`);
  }
}

export class LiveCard {
  id = null;
  lastEventId = null;
  state = null;
  #levels = new Map(); // t_s -> levels
  #incidents = new Map(); // incident id -> its element
  #results = null;

  /** @param {object} info a live session's document; @param {object} deps `{api, announce, onDelete}` */
  constructor(info, { api, announce, onDelete }) {
    Object.assign(this, { api, announce, onDelete });
    this.filename = info.filename;
    const titleId = uid("live");
    this.badge = h("span", { class: "badge" });
    this.clock = h("p", { class: "live-clock", "aria-live": "off" }, "Waiting for the stream…");
    this.meters = METERS.map((meter) => new LevelMeter(meter));
    this.incidentList = h("ol", { class: "incidents", "aria-label": `Incidents of ${info.filename}` });
    this.noIncidents = h("p", { class: "hint" }, "No incidents yet.");
    this.scenes = h("ol", { class: "live-scenes", "aria-label": `Scenes of ${info.filename} so far` });
    this.status = h("p", { class: "card-status" });
    this.transport = h("p", { class: "card-transport" });
    this.stopButton = h("button", { type: "button", "aria-label": `Stop ${info.filename}`, onclick: () => this.stop() },
      "Stop");
    this.cancelButton = h("button", { type: "button", class: "secondary", "aria-label": `Cancel ${info.filename}`,
      onclick: () => this.cancel() }, "Cancel");
    this.deleteButton = h("button", { type: "button", class: "danger", "aria-label": `Delete ${info.filename}`,
      onclick: () => this.onDelete(this) }, "Delete");
    this.resultsEl = h("div", { class: "card-results" });
    this.el = h("article", { class: "card live-card", "aria-labelledby": titleId, "data-kind": "live" },
      h("header", { class: "card-head" }, h("h3", { id: titleId }, info.filename), this.badge),
      this.clock,
      h("div", { class: "levels" }, this.meters.map((meter) => meter.el)),
      h("section", { class: "live-part" }, h("h4", {}, "Incidents"), this.noIncidents, this.incidentList),
      this.scenes, this.status, this.transport,
      h("div", { class: "card-actions" }, this.stopButton, this.cancelButton, this.deleteButton),
      this.resultsEl);
    this.apply({ id: null, type: "snapshot", data: info });
  }

  apply(event) {
    if (event.id) this.lastEventId = event.id;
    const handle = this.#handlers[event.type];
    if (handle) {
      handle(event.data);
      return;
    }
    const end = ending(event);
    if (end?.message) this.#showError(end.message);
    if (end?.state) this.#setState(end.state);
  }

  // What each event other than an ending does to the card.
  #handlers = {
    snapshot: (doc) => this.#snapshot(doc),
    queued: () => this.#setState("queued"),
    started: () => this.#setState("running"),
    progress: (progress) => progress.stage === "live" && this.#showClock(progress),
    levels: (levels) => this.#addLevels(levels),
    incident: (incident) => this.#showIncident(incident),
    scene: (scene) => this.#addScene(scene),
  };

  #snapshot(doc) {
    this.id = doc.id;
    this.el.dataset.sessionId = doc.id;
    this.lastEventId = doc.last_event_id ?? this.lastEventId;
    fitThumbnails(this.scenes, doc.video);
    if (doc.progress?.stage === "live") this.#showClock(doc.progress);
    if (doc.error) this.#showError(doc.error.message);
    this.#setState(doc.state);
  }

  #showClock(progress) {
    this.el.dataset.mediaS = progress.media_s;
    this.el.dataset.lagS = progress.lag_s;
    this.clock.textContent = `${timecode(progress.media_s)} analysed · ${progress.lag_s.toFixed(1)} s behind the stream`
      + (progress.fps > 0 ? ` · ${Math.round(progress.fps)} fps` : "");
  }

  #addLevels(levels) {
    this.#levels.set(levels.t_s, levels);
    const latest = Math.max(...this.#levels.keys());
    for (const t of [...this.#levels.keys()]) if (t <= latest - WINDOW_S) this.#levels.delete(t);
    const ordered = [...this.#levels.values()].sort((a, b) => a.t_s - b.t_s);
    for (const meter of this.meters) meter.draw(ordered, latest);
  }

  #showIncident(incident) {
    const open = incident.state === "open";
    const name = incident.kind === "qc"
      ? `QC failed: ${CHECKS[incident.check] ?? incident.check}`
      : KINDS[incident.kind] ?? incident.kind;
    const span = open
      ? `since ${timecode(incident.start_s)}`
      : `${timecode(incident.start_s)}–${timecode(incident.end_s)} (${(incident.end_s - incident.start_s).toFixed(1)} s)`;
    const item = h("li", { class: `incident${open ? " open" : ""}`, "data-incident-id": incident.id,
      "data-kind": incident.kind, "data-state": incident.state },
    h("strong", {}, name), " ", span, open ? h("span", { class: "incident-open" }, " · open") : null);
    const shown = this.#incidents.get(incident.id);
    if (shown && shown.dataset.state === "closed") return; // a replay of an older word
    if (shown) shown.replaceWith(item);
    else this.incidentList.prepend(item);
    this.#incidents.set(incident.id, item);
    this.noIncidents.hidden = true;
    if (this.state === "running") this.announce(`${this.filename}: ${name.toLowerCase()} ${open ? "began" : "ended"}.`);
  }

  #addScene(scene) {
    if (this.scenes.querySelector(`[data-index="${scene.index}"]`)) return;
    const { label, parts } = sceneParts(scene, (name) => this.api.fileUrl(this.id, name));
    this.scenes.append(h("li", { class: "live-scene", "data-index": scene.index, "aria-label": label }, parts));
  }

  #showError(message) {
    this.status.textContent = message;
    this.status.classList.add("error");
  }

  #setState(state) {
    if (state === this.state) return;
    const first = this.state == null;
    this.state = state;
    this.el.dataset.state = state;
    const label = LABELS[state] ?? state;
    this.badge.textContent = label;
    this.stopButton.hidden = !["queued", "running"].includes(state);
    this.cancelButton.hidden = ENDED.has(state);
    this.cancelButton.disabled = state === "cancelling";
    if (ENDED.has(state)) {
      this.transport.textContent = "";
      for (const item of this.incidentList.querySelectorAll(".incident.open")) item.classList.remove("open");
    }
    if (state === "succeeded") this.#loadResults();
    if (state === "expired" || state === "gone") this.status.textContent = "This session is no longer on the server.";
    if (!first) this.announce(`${this.filename}: ${label}.`);
  }

  get finished() {
    return ENDED.has(this.state);
  }

  get onServer() {
    return this.id != null && !["expired", "gone"].includes(this.state);
  }

  setTransport(kind, label) {
    this.el.dataset.transport = kind;
    this.transport.textContent = label;
  }

  /** The session ends with a report of what it saw (it becomes `succeeded` within a second or two). */
  async stop() {
    this.stopButton.disabled = true;
    try {
      await this.api.stop(this.id);
      this.status.textContent = "Stopping: the report of what was seen follows.";
      this.announce(`${this.filename}: stopping.`);
    } catch (error) {
      if (error.status !== 409) this.#showError(`Could not stop: ${error.message}`);
    } finally {
      this.stopButton.disabled = false;
    }
  }

  async cancel() {
    await cancelSession(this, { setState: (state) => this.#setState(state), showError: (text) => this.#showError(text) });
  }

  async #loadResults() {
    if (this.#results) return;
    this.#results = this.api.results(this.id);
    try {
      const report = await this.#results;
      this.scenes.hidden = true;
      this.resultsEl.replaceChildren(renderReport(report, (name) => this.api.fileUrl(this.id, name)));
    } catch (error) {
      this.resultsEl.replaceChildren(h("p", { class: "error" }, `Could not load the report: ${error.message}`));
    }
  }
}
