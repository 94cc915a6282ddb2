// One session card: upload bar, processing bar (stage, percent, fps, ETA), queue place, error,
// cancel, retry, analyse again and delete, and the results once the session succeeded. It knows
// nothing of transports: whoever follows the session calls `apply(event)` with events as documented
// in docs/api.md.

import { h, uid } from "./dom.js";
import { cancelSession, ending } from "./endings.js";
import { bytes, duration, percent, videoSummary } from "./format.js";
import { fillOptions, readOptions } from "./options.js";
import { fitThumbnails, renderReport, sceneParts } from "./results.js";
import { FINAL_STATES } from "./stream.js";
import { TusUpload } from "./tus.js";

const STATE_LABELS = {
  uploading: "Uploading",
  checking: "Checking the file",
  "upload-failed": "Upload failed",
  refused: "Refused",
  queued: "Queued",
  running: "Running",
  cancelling: "Cancelling",
  succeeded: "Done",
  failed: "Failed",
  cancelled: "Cancelled",
  expired: "Expired",
  gone: "Removed",
};
// The badge of a file the server received whole and then refused (422 and its `code`).
const REFUSALS = { undecodable: "Not a video", probe_timeout: "Not a video", too_large: "Video too large" };
const CANCELLABLE = new Set(["uploading", "checking", "queued", "running"]);
// Nothing more happens to these cards, on the server or here.
const ENDED = new Set([...FINAL_STATES, "expired", "gone", "upload-failed", "refused"]);
// Ended before the end: the processing bar says where it stopped.
const STOPPED = new Set(["failed", "cancelled"]);

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
  attempt = null;
  progress = null; // the last progress shown: {fraction, stage, frame, total_frames, fps, eta_s}
  #skipUntil = null;
  #results = null;
  #upload = null;
  #again = null; // the "Analyse again" options form, made when first opened

  /**
   * @param {object} info `{filename, size}` for a new upload, or a session document
   * @param {object} deps `{api, announce(text), onDelete(card), follow(card), optionsForm}`: `follow`
   *   after a retry, when the session runs again; `optionsForm` the form that "Analyse again" copies
   */
  constructor(info, { api, announce, onDelete, follow, optionsForm }) {
    Object.assign(this, { api, announce, onDelete, follow, optionsForm });
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
    this.retryButton = h("button", { type: "button", "aria-label": `Retry ${info.filename}`,
      onclick: () => this.#retry(null) }, "Retry");
    this.againButton = h("button", { type: "button", "aria-expanded": "false",
      "aria-label": `Analyse ${info.filename} again`, onclick: () => this.#toggleAgain() }, "Analyse again");
    this.deleteButton = h("button", { type: "button", class: "danger", "aria-label": `Delete ${info.filename}`,
      onclick: () => this.onDelete(this) }, "Delete");
    this.againPanel = h("div", { class: "again", id: uid("again"), hidden: true });
    this.againButton.setAttribute("aria-controls", this.againPanel.id);
    this.resultsEl = h("div", { class: "card-results" });
    // Scenes as the analysis closes them (`scene` events), until the full results replace them.
    this.liveScenes = h("ol", { class: "live-scenes", "aria-label": `Scenes of ${info.filename} so far` });
    this.liveScenes.hidden = true;
    this.el = h("article", { class: "card", "aria-labelledby": titleId },
      h("header", { class: "card-head" }, h("h3", { id: titleId }, info.filename), this.badge),
      this.meta, this.uploadMeter.el, this.processMeter.el, this.status, this.transport,
      h("div", { class: "card-actions" }, this.cancelButton, this.retryButton, this.againButton, this.deleteButton),
      this.againPanel, this.liveScenes, this.resultsEl);

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
      this.#uploadFailed(error);
      return null;
    } finally {
      this.#upload = null;
    }
  }

  /** Every byte sent (or, seen from the server, received): the server probes the file before it queues it. */
  #showUpload(loaded, total) {
    const value = percent(loaded / total);
    this.uploadMeter.el.hidden = false;
    this.uploadMeter.set(value, `${bytes(loaded)} of ${bytes(total)}`, `${value} percent uploaded`);
    if (loaded >= total && this.state === "uploading") this.#setState("checking");
  }

  /** No session came of the upload: cancelled, refused once whole (not a video...), or failed. */
  #uploadFailed(error) {
    if (error.name === "AbortError") {
      this.#showError("Upload cancelled.");
      this.#setState("upload-failed");
    } else if (error.status === 422) {
      this.#showError(error.message);
      this.#setState("refused", REFUSALS[error.problem.code] ?? STATE_LABELS.refused);
    } else {
      this.#showError(uploadError(error));
      this.#setState("upload-failed");
    }
  }

  // ---- events ----

  apply(event) {
    // After a resubscription the snapshot comes first and already covers the replayed events up
    // to its `last_event_id`: skip those, or the card would step back in time for a moment.
    if (this.#skipUntil && event.id) {
      this.lastEventId = event.id;
      if (event.id === this.#skipUntil) this.#skipUntil = null;
      // Replayed scenes still count (drawn once each, like the snapshot's own), and a new attempt
      // among them drops the last one's.
      if (event.type === "scene") this.#addScene(event.data);
      if (event.type === "started") this.#noteAttempt(event.data.attempt, true);
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
        this.#noteAttempt(data.attempt);
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
      default: {
        const end = ending(event);
        if (end?.message) this.#showError(end.message);
        if (end?.state) this.#setState(end.state);
      }
    }
  }

  #snapshot(doc) {
    this.id = doc.id;
    this.el.dataset.sessionId = doc.id;
    const covered = doc.last_event_id;
    this.#skipUntil = this.lastEventId && covered && covered !== this.lastEventId ? covered : null;
    this.lastEventId = covered ?? this.lastEventId;
    this.#noteAttempt(doc.attempt);
    // The scenes found so far: a page that joins late draws them without replaying the log.
    for (const scene of doc.scenes ?? []) this.#addScene(scene);
    this.meta.textContent = [this.size, videoSummary(doc.video)].filter(Boolean).join(" · ");
    fitThumbnails(this.liveScenes, doc.video);
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
    this.processMeter.el.hidden = false;
    if (STOPPED.has(this.state)) { // no stage, speed or ETA: nothing runs any more
      this.processMeter.set(value, `stopped at ${value}%`, `stopped at ${value} percent`);
      return;
    }
    const parts = [progress.stage, `${value}%`];
    if (progress.fps > 0) parts.push(`${Math.round(progress.fps)} fps`);
    if (progress.eta_s != null && value < 100) parts.push(`ETA ${duration(progress.eta_s)}`);
    const spoken = `${progress.stage ?? "processing"}, ${value} percent`
      + (progress.eta_s != null && value < 100 ? `, about ${duration(progress.eta_s)} left` : "");
    this.processMeter.set(value, parts.filter(Boolean).join(" · "), spoken);
  }

  /** A scene just closed: its thumbnail and times, drawn while the analysis goes on. */
  #addScene(scene) {
    if (this.liveScenes.querySelector(`[data-index="${scene.index}"]`)) return; // replayed
    const { label, parts } = sceneParts(scene, (name) => this.api.fileUrl(this.id, name));
    this.liveScenes.append(h("li", {
      class: "live-scene", "data-index": scene.index, "data-arrived-while": this.state ?? "", "aria-label": label,
    }, parts));
    this.liveScenes.hidden = this.#results != null;
  }

  /**
   * A `started` or a snapshot names the attempt: a later one than shown starts the display over
   * (`covered`: a replayed `started` that the snapshot already shows; only the last attempt's scenes go).
   */
  #noteAttempt(attempt, covered = false) {
    if (attempt == null) return;
    if (this.attempt != null && attempt > this.attempt) {
      if (covered) this.liveScenes.replaceChildren();
      else this.#startOver();
    }
    this.attempt = attempt;
    this.el.dataset.attempt = attempt;
  }

  /** A new attempt: nothing of the last one's progress, scenes, results or error stays. */
  #startOver() {
    this.progress = null;
    this.processMeter.set(0, "", "not started");
    this.processMeter.el.hidden = true;
    this.liveScenes.replaceChildren();
    this.liveScenes.hidden = true;
    this.#results = null;
    this.resultsEl.replaceChildren();
    this.status.textContent = "";
    this.status.classList.remove("error");
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

  #setState(state, label = STATE_LABELS[state] ?? state) {
    if (state === this.state) return;
    const first = this.state == null;
    this.state = state;
    this.el.dataset.state = state;
    this.badge.textContent = label;
    this.cancelButton.disabled = !CANCELLABLE.has(state);
    this.cancelButton.hidden = ENDED.has(state);
    this.retryButton.hidden = !STOPPED.has(state);
    this.againButton.hidden = state !== "succeeded";
    if (state !== "succeeded") this.#closeAgain();
    this.deleteButton.textContent = this.onServer ? "Delete" : "Remove";
    const queueShown = state === "queued" && this.el.dataset.queuePosition;
    if (!queueShown && !this.status.classList.contains("error")) this.status.textContent = "";
    if (state === "checking") this.status.textContent = "All uploaded: the server is checking that it can read the video.";
    if (state === "running" || state === "queued") this.processMeter.el.hidden = false;
    if (STOPPED.has(state)) {
      if (this.progress) this.#showProgress(this.progress);
      else this.processMeter.el.hidden = true; // it never started
    }
    if (state === "succeeded") {
      this.#showProgress({ ...this.progress, fraction: 1, stage: "done", fps: 0, eta_s: null });
      this.#loadResults();
    }
    if (state === "expired" || state === "gone") {
      this.status.textContent = "This session is no longer on the server.";
    }
    if (ENDED.has(state)) this.transport.textContent = "";
    if (!first) this.announce(`${this.filename}: ${label}.`);
  }

  /** Nothing more will happen to this card's session. */
  get finished() {
    return ENDED.has(this.state);
  }

  /** The card has a session that a delete would remove from the server. */
  get onServer() {
    return this.id != null && !["expired", "gone", "refused"].includes(this.state);
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
    await cancelSession(this, { setState: (state) => this.#setState(state), showError: (text) => this.#showError(text) });
  }

  /** A new attempt on the stored source, with new `options` or (null) the last run's. */
  async #retry(options) {
    this.retryButton.disabled = true;
    this.againButton.disabled = true;
    try {
      const doc = await this.api.retry(this.id, options);
      const hadFocus = this.againPanel.contains(document.activeElement) || document.activeElement === this.retryButton;
      this.#startOver();
      this.apply({ id: null, type: "snapshot", data: doc });
      if (hadFocus) this.cancelButton.focus(); // the button pressed is gone: Cancel takes its place
      this.follow(this);
      this.announce(`${this.filename}: analysing again.`);
    } catch (error) {
      this.#showError(retryError(error));
      if (error.status === 410) this.retryButton.hidden = this.againButton.hidden = true;
    } finally {
      this.retryButton.disabled = false;
      this.againButton.disabled = false;
    }
  }

  #toggleAgain() {
    if (!this.againPanel.hidden) {
      this.#closeAgain();
      return;
    }
    this.#again ??= this.#againForm();
    this.againPanel.hidden = false;
    this.againButton.setAttribute("aria-expanded", "true");
    this.#results?.then((report) => fillOptions(this.#again, report.options), () => {});
    this.#again.querySelector("input").focus();
  }

  #closeAgain() {
    this.againPanel.hidden = true;
    this.againButton.setAttribute("aria-expanded", "false");
  }

  /** A copy of the upload panel's options form, with a button that starts the new analysis. */
  #againForm() {
    const form = this.optionsForm.cloneNode(true);
    form.removeAttribute("id");
    form.setAttribute("aria-label", `Options to analyse ${this.filename} again`);
    form.append(h("div", { class: "row" },
      h("button", { type: "submit" }, "Start the analysis"),
      h("button", { type: "button", class: "secondary", onclick: () => this.#closeAgain() }, "Close")));
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      const options = readOptions(form);
      if (options) this.#retry(options);
    });
    this.againPanel.append(form);
    return form;
  }

  async #loadResults() {
    if (this.#results) return;
    const pending = this.api.results(this.id);
    this.#results = pending;
    try {
      const report = await pending;
      if (this.#results !== pending) return; // a new attempt began meanwhile
      this.liveScenes.hidden = true;
      this.resultsEl.replaceChildren(renderReport(report, (name) => this.api.fileUrl(this.id, name)));
    } catch (error) {
      if (this.#results !== pending) return;
      this.resultsEl.replaceChildren(h("p", { class: "error" }, `Could not load the results: ${error.message}`));
    }
  }
}

function retryError(error) {
  if (error.status === 410) return "The uploaded file is no longer stored: upload the video again.";
  return `Could not analyse again: ${error.message}`;
}

function uploadError(error) {
  const detail = error.message;
  if (error.status === 429 && error.retryAfter) return `${detail} Try again in ${error.retryAfter} s.`;
  if (error.status === 401) return `${detail} Enter the API key above, then upload again.`;
  return detail;
}
