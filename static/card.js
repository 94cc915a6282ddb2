// One session card: upload bar, processing bar (stage, percent, fps, ETA), queue place, error,
// cancel and delete, and the results once the session succeeded. It knows nothing of transports:
// whoever follows the session calls `apply(event)` with events as documented in docs/api.md.

import { h, uid } from "./dom.js";
import { bytes, duration, percent, timecode, videoSummary } from "./format.js";
import { renderReport } from "./results.js";
import { FINAL_STATES } from "./stream.js";
import { TusUpload } from "./tus.js";

const STATE_LABELS = {
  uploading: "Uploading",
  "upload-failed": "Upload failed",
  queued: "Queued",
  running: "Running",
  cancelling: "Cancelling",
  succeeded: "Done",
  failed: "Failed",
  cancelled: "Cancelled",
  expired: "Expired",
  gone: "Removed",
};
const CANCELLABLE = new Set(["uploading", "queued", "running"]);

/** A role="progressbar" named like "Processing clip.mp4", with a visible text beside it. */
class Meter {
  constructor(label, kind, titleId) {
    const labelId = uid("meter");
    this.fill = h("span", { class: "meter-fill" });
    this.bar = h("div", {
      class: "meter-bar", role: "progressbar", "aria-labelledby": `${labelId} ${titleId}`,
      "aria-valuemin": 0, "aria-valuemax": 100, "aria-valuenow": 0, "data-meter": kind,
    }, this.fill);
    this.text = h("span", { class: "meter-text" });
    this.el = h("div", { class: `meter ${kind}` }, h("span", { class: "meter-label", id: labelId }, label),
      this.bar, this.text);
  }

  /** `value` 0..100; `text` shown beside the bar; `spoken` for screen readers. */
  set(value, text, spoken = text) {
    this.bar.setAttribute("aria-valuenow", value);
    this.bar.setAttribute("aria-valuetext", spoken);
    this.fill.style.width = `${value}%`;
    this.text.textContent = text;
  }
}

export class SessionCard {
  id = null;
  lastEventId = null;
  state = null;
  progress = null; // the last progress shown: {fraction, stage, frame, total_frames, fps, eta_s}
  #skipUntil = null;
  #results = null;
  #upload = null;

  /**
   * @param {object} info `{filename, size}` for a new upload, or a session document
   * @param {object} deps `{api, announce(text), onDelete(card)}`
   */
  constructor(info, { api, announce, onDelete }) {
    this.api = api;
    this.announce = announce;
    this.onDelete = onDelete;
    this.filename = info.filename;

    const titleId = uid("card");
    this.badge = h("span", { class: "badge" });
    this.size = info.size != null ? bytes(info.size) : "";
    this.meta = h("p", { class: "card-meta" }, this.size);
    this.uploadMeter = new Meter("Upload", "upload", titleId);
    this.processMeter = new Meter("Processing", "processing", titleId);
    this.processMeter.el.hidden = true;
    this.status = h("p", { class: "card-status" });
    this.transport = h("p", { class: "card-transport" });
    this.cancelButton = h("button", { type: "button", "aria-label": `Cancel ${info.filename}`,
      onclick: () => this.cancel() }, "Cancel");
    this.deleteButton = h("button", { type: "button", class: "danger", "aria-label": `Delete ${info.filename}`,
      onclick: () => this.onDelete(this) }, "Delete");
    this.resultsEl = h("div", { class: "card-results" });
    // Scenes as the analysis closes them (`scene` events), until the full results replace them.
    this.liveScenes = h("ol", { class: "live-scenes", "aria-label": `Scenes of ${info.filename} so far` });
    this.liveScenes.hidden = true;
    this.el = h("article", { class: "card", "aria-labelledby": titleId },
      h("header", { class: "card-head" }, h("h3", { id: titleId }, info.filename), this.badge),
      this.meta, this.uploadMeter.el, this.processMeter.el, this.status, this.transport,
      h("div", { class: "card-actions" }, this.cancelButton, this.deleteButton),
      this.liveScenes, this.resultsEl);

    if (info.id) {
      this.uploadMeter.el.hidden = true;
      this.apply({ id: null, type: "snapshot", data: info });
    } else {
      this.#setState("uploading");
    }
  }

  // ---- upload ----

  /** Upload `file` with tus (resumable: see tus.js); resolves with the session document, or null when
   *  it was refused or cancelled. */
  async upload(file, options) {
    const controller = new AbortController();
    const onProgress = (loaded, total) => this.#showUpload(loaded, total);
    const onSession = (id) => {
      this.id = id;
      this.el.dataset.sessionId = id;
    };
    this.#upload = { controller, tus: new TusUpload(file, { api: this.api, options, onProgress, onSession,
                                                            signal: controller.signal }) };
    onProgress(0, file.size || 1);
    try {
      const id = await this.#upload.tus.start();
      onProgress(file.size, file.size);
      const doc = await this.api.session(id);
      this.apply({ id: null, type: "snapshot", data: doc });
      return doc;
    } catch (error) {
      this.#showError(error.name === "AbortError" ? "Upload cancelled." : uploadError(error));
      this.#setState("upload-failed");
      return null;
    } finally {
      this.#upload = null;
    }
  }

  #showUpload(loaded, total) {
    const value = percent(loaded / total);
    this.uploadMeter.el.hidden = false;
    this.uploadMeter.set(value, `${bytes(loaded)} of ${bytes(total)}`, `${value} percent uploaded`);
  }

  // ---- events ----

  apply(event) {
    // After a resubscription the snapshot comes first and already covers the replayed events up
    // to its `last_event_id`: skip those, or the card would step back in time for a moment.
    if (this.#skipUntil && event.id) {
      this.lastEventId = event.id;
      if (event.id === this.#skipUntil) this.#skipUntil = null;
      // The snapshot holds no scenes: those replayed still count (drawn once each).
      if (event.type === "scene") this.#addScene(event.data);
      return;
    }
    if (event.id) this.lastEventId = event.id;
    const data = event.data;
    switch (event.type) {
      case "snapshot":
        this.#snapshot(data);
        break;
      case "queued":
        this.#setQueue(data.position);
        this.#setState("queued");
        break;
      case "started":
        this.#setQueue(null);
        this.#setState("running");
        break;
      case "stage":
        this.#showProgress({ ...this.progress, stage: data.stage });
        break;
      case "progress":
        this.#showProgress(data);
        break;
      case "scene":
        this.#addScene(data);
        break;
      case "failed":
        this.#showError(data.message);
        this.#setState("failed");
        break;
      case "succeeded":
      case "cancelled":
      case "expired":
      case "gone":
        this.#setState(event.type);
        break;
      case "error": // a WebSocket refusal, e.g. not-found
        this.#showError(data.message);
        if (data.code === "not-found") this.#setState("gone");
        break;
      default:
        break;
    }
  }

  #snapshot(doc) {
    this.id = doc.id;
    this.el.dataset.sessionId = doc.id;
    const covered = doc.last_event_id;
    this.#skipUntil = this.lastEventId && covered && covered !== this.lastEventId ? covered : null;
    this.lastEventId = covered ?? this.lastEventId;
    this.meta.textContent = [this.size, videoSummary(doc.video)].filter(Boolean).join(" · ");
    if (doc.progress) this.#showProgress(doc.progress);
    this.#setQueue(doc.state === "queued" ? doc.queue_position : null);
    if (doc.error) this.#showError(doc.error.message);
    this.#setState(doc.state);
  }

  #showProgress(progress) {
    if (progress.stage === "upload") { // a resumable upload or URL ingest, seen from the server
      if (progress.length) this.#showUpload(progress.offset, progress.length);
      return;
    }
    this.progress = progress;
    const value = percent(progress.fraction ?? 0);
    const parts = [progress.stage, `${value}%`];
    if (progress.fps > 0) parts.push(`${Math.round(progress.fps)} fps`);
    if (progress.eta_s != null && value < 100) parts.push(`ETA ${duration(progress.eta_s)}`);
    const spoken = `${progress.stage ?? "processing"}, ${value} percent`
      + (progress.eta_s != null && value < 100 ? `, about ${duration(progress.eta_s)} left` : "");
    this.processMeter.el.hidden = false;
    this.processMeter.set(value, parts.filter(Boolean).join(" · "), spoken);
  }

  /** A scene just closed: its thumbnail and times, drawn while the analysis goes on. */
  #addScene(scene) {
    if (this.liveScenes.querySelector(`[data-index="${scene.index}"]`)) return; // replayed
    const picture = scene.thumbnail
      ? h("img", { src: this.api.fileUrl(this.id, scene.thumbnail), alt: "", decoding: "async" })
      : h("span", { class: "no-thumb" }, "no thumbnail");
    this.liveScenes.append(h("li", {
      class: "live-scene", "data-index": scene.index, "data-arrived-while": this.state ?? "",
      "aria-label": `Scene ${scene.index + 1}, ${timecode(scene.start_s)} to ${timecode(scene.end_s)}`,
    }, picture, h("span", { class: "scene-time" }, h("strong", {}, `#${scene.index + 1}`),
      ` ${timecode(scene.start_s)}–${timecode(scene.end_s)}`)));
    this.liveScenes.hidden = this.#results != null;
  }

  #setQueue(position) {
    if (position == null) {
      delete this.el.dataset.queuePosition;
      return;
    }
    this.el.dataset.queuePosition = position;
    this.status.textContent = position === 1 ? "Next in the queue." : `Waiting: position ${position} in the queue.`;
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
    this.badge.textContent = STATE_LABELS[state] ?? state;
    this.cancelButton.disabled = !CANCELLABLE.has(state);
    this.cancelButton.hidden = FINAL_STATES.has(state) || state === "expired" || state === "gone";
    this.deleteButton.textContent = this.id ? "Delete" : "Remove";
    if (state !== "queued" && !this.status.classList.contains("error")) this.status.textContent = "";
    if (state === "running" || state === "queued") this.processMeter.el.hidden = false;
    if (state === "succeeded") {
      this.#showProgress({ ...this.progress, fraction: 1, stage: "done", fps: 0, eta_s: null });
      this.#loadResults();
    }
    if (state === "expired" || state === "gone") {
      this.status.textContent = "This session is no longer on the server.";
    }
    if (FINAL_STATES.has(state) || state === "expired" || state === "gone" || state === "upload-failed") {
      this.transport.textContent = "";
    }
    if (!first) this.announce(`${this.filename}: ${STATE_LABELS[state] ?? state}.`);
  }

  setTransport(kind, label) {
    this.el.dataset.transport = kind;
    this.transport.textContent = label;
  }

  // ---- actions ----

  async cancel() {
    if (this.#upload) {
      // Stop sending, and remove the upload and its session: nothing is left to resume.
      this.#upload.controller.abort();
      this.#upload.tus.terminate();
      return;
    }
    this.cancelButton.disabled = true;
    try {
      const doc = await this.api.cancel(this.id);
      // The live feed brings the final `cancelled`; only move forward from here.
      if (!FINAL_STATES.has(this.state)) this.#setState(doc.state);
    } catch (error) {
      if (error.status !== 409) this.#showError(`Could not cancel: ${error.message}`);
    }
  }

  async #loadResults() {
    if (this.#results) return;
    this.#results = this.api.results(this.id);
    try {
      const report = await this.#results;
      this.liveScenes.hidden = true;
      this.resultsEl.replaceChildren(renderReport(report, (name) => this.api.fileUrl(this.id, name)));
    } catch (error) {
      this.resultsEl.replaceChildren(h("p", { class: "error" }, `Could not load the results: ${error.message}`));
    }
  }
}

function uploadError(error) {
  const detail = error.message;
  if (error.status === 429 && error.retryAfter) return `${detail} Try again in ${error.retryAfter} s.`;
  if (error.status === 401) return `${detail} Enter the API key above, then upload again.`;
  return detail;
}
