// Wiring: the drop zone and file input, the options form, the transport switch, the API key,
// and the list of session cards (restored from GET /api/sessions on load), deleted one by one or all
// finished ones at once, each after a confirmation.

import { Api } from "./api.js";
import { SessionCard } from "./card.js";
import { count } from "./format.js";
import { LiveCard } from "./live.js";
import { readOptions } from "./options.js";
import { FINAL_STATES, LiveUpdates } from "./stream.js";

const $ = (selector) => document.querySelector(selector);

/** What this browser remembers between visits. */
const prefs = {
  get key() {
    return localStorage.getItem("vidpulse.apiKey") ?? "";
  },
  set key(value) {
    if (value) localStorage.setItem("vidpulse.apiKey", value);
    else localStorage.removeItem("vidpulse.apiKey");
  },
  get transport() {
    return localStorage.getItem("vidpulse.transport") ?? ("EventSource" in window ? "sse" : "poll");
  },
  set transport(value) {
    localStorage.setItem("vidpulse.transport", value);
  },
};

const cardsEl = $("#cards");
const cards = new Map(); // session id -> SessionCard
const cardOf = new WeakMap(); // card element -> SessionCard, for every card shown
let keyRequested = false;

const api = new Api({ getKey: () => prefs.key, onUnauthorized: askForKey });
const live = new LiveUpdates(api, prefs.transport);
const cardDeps = { api, announce, onDelete: deleteCard, follow, optionsForm: $("#options-form") };

function newCard(info) {
  const card = info.kind === "live" ? new LiveCard(info, cardDeps) : new SessionCard(info, cardDeps);
  cardOf.set(card.el, card);
  return card;
}

/** Follow a card's session live (a new upload's, or one that runs again). */
function follow(card) {
  cards.set(card.id, card);
  live.follow(card);
}

/** The visible status line is also the page's aria-live region. */
function announce(text) {
  $("#status").textContent = text;
}

function updateEmpty() {
  $("#empty").hidden = cardsEl.childElementCount > 0;
}

// ---- uploads ----

/** The upload panel's options; null (and the panel open, saying why) when a field is out of range. */
function uploadOptions() {
  const form = $("#options-form");
  if (!form.checkValidity()) $("#options-panel").open = true; // so that the browser can point at the field
  const options = readOptions(form);
  if (options === null) announce("Fix the analysis options first.");
  return options;
}

async function uploadFiles(fileList) {
  const files = [...fileList];
  const options = uploadOptions();
  if (!files.length || options === null) return;
  const fresh = files.map((file) => [file, newCard({ filename: file.name, size: file.size })]);
  cardsEl.prepend(...fresh.map(([, card]) => card.el));
  updateEmpty();
  announce(files.length === 1 ? `Uploading ${files[0].name}.` : `Uploading ${files.length} videos.`);
  await Promise.all(fresh.map(async ([file, card]) => {
    const doc = await card.upload(file, options);
    if (doc) {
      // A resumed upload (picked again after a reload) may already have its card from the list.
      const listed = cards.get(doc.id);
      if (listed && listed !== card) {
        live.unfollow(doc.id);
        listed.el.remove();
      }
      follow(card);
    }
  }));
}

function setUpDropZone() {
  const zone = $("#dropzone");
  const input = $("#file-input");
  input.addEventListener("change", () => {
    uploadFiles(input.files);
    input.value = ""; // so that picking the same file again uploads it again
  });
  zone.addEventListener("dragenter", (e) => {
    e.preventDefault();
    zone.classList.add("dragging");
  });
  zone.addEventListener("dragover", (e) => {
    e.preventDefault();
    e.dataTransfer.dropEffect = "copy";
  });
  zone.addEventListener("dragleave", (e) => {
    if (!zone.contains(e.relatedTarget)) zone.classList.remove("dragging");
  });
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("dragging");
    uploadFiles(e.dataTransfer.files);
  });
  // A file dropped beside the zone would otherwise replace the page.
  for (const type of ["dragover", "drop"]) window.addEventListener(type, (e) => e.preventDefault());
}

// ---- live streams ----

/** "Watch a live stream": a live session for the URL, and its card, followed live. */
async function watchLive(event) {
  event.preventDefault();
  const form = event.target;
  const message = $("#live-message");
  const url = form.elements.url.value.trim();
  const minimum = form.elements.incident_min_s.value;
  const options = minimum === "" ? {} : { incident_min_s: Number(minimum) };
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  try {
    const doc = await api.live(url, options);
    const card = newCard(doc);
    cardsEl.prepend(card.el);
    updateEmpty();
    follow(card);
    message.textContent = "";
    message.classList.remove("warning");
    form.reset();
    announce(`Watching ${doc.filename}.`);
  } catch (error) {
    const retry = error.status === 429 && error.retryAfter ? ` Try again in ${error.retryAfter} s.` : "";
    message.textContent = `${error.message}${retry}`;
    message.classList.add("warning");
    announce(`Could not watch the stream: ${error.message}`);
    form.elements.url.focus();
  } finally {
    button.disabled = false;
  }
}

// ---- sessions ----

/** List every session (newest first, all pages) and follow the unfinished ones. */
async function loadSessions() {
  try {
    for await (const doc of api.sessions()) {
      // A tus upload in progress on this page has its card (and its session) before it is in `cards`.
      if (cards.has(doc.id) || cardsEl.querySelector(`[data-session-id="${doc.id}"]`)) continue;
      const card = newCard(doc);
      cards.set(doc.id, card);
      cardsEl.append(card.el);
      if (!FINAL_STATES.has(doc.state)) live.follow(card);
    }
  } catch (error) {
    if (error.status !== 401) announce(`Could not list the sessions: ${error.message}`);
  }
  updateEmpty();
}

/** Asks on the page's <dialog>; true when the action is confirmed (Escape and "Keep" say no). */
function confirmed(question, action) {
  const dialog = $("#confirm");
  $("#confirm-question").textContent = question;
  $("#confirm-yes").textContent = action;
  dialog.returnValue = "";
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "yes"), { once: true });
  });
}

async function deleteCard(card) {
  const question = `Delete ${card.filename}? Its results and files are removed from the server.`;
  if (card.onServer && !(await confirmed(question, "Delete"))) return;
  const neighbour = card.el.nextElementSibling ?? card.el.previousElementSibling;
  if (!(await removeCard(card))) return;
  updateEmpty();
  (neighbour?.querySelector("button:not(:disabled)") ?? $("#file-input")).focus();
  announce(`${card.filename} deleted.`);
}

/** Every finished card goes, and its session on the server, after one confirmation. */
async function clearFinished() {
  const finished = [...cardsEl.children].map((el) => cardOf.get(el)).filter((card) => card?.finished);
  if (!finished.length) {
    announce("No finished sessions to clear.");
    return;
  }
  const stored = finished.filter((card) => card.onServer).length;
  const question = `Delete ${count(stored, "finished session")}? Their results and files are removed from the server.`;
  if (stored && !(await confirmed(question, `Delete ${stored}`))) return;
  const removed = (await Promise.all(finished.map(removeCard))).filter(Boolean).length;
  updateEmpty();
  $("#clear-finished").focus();
  announce(`${count(removed, "finished card")} cleared.`);
}

/** Remove a card, and its session from the server; false (and why, announced) when the server refuses. */
async function removeCard(card) {
  if (card.state === "uploading" || card.state === "checking") card.cancel();
  if (card.id) {
    try {
      await api.remove(card.id);
    } catch (error) {
      if (error.status !== 404) {
        announce(`Could not delete ${card.filename}: ${error.message}`);
        return false;
      }
    }
    live.unfollow(card.id);
    cards.delete(card.id);
  }
  card.el.remove();
  return true;
}

// ---- transport and API key ----

function setUpTransport() {
  for (const radio of document.querySelectorAll("input[name=transport]")) {
    radio.checked = radio.value === live.mode;
    radio.addEventListener("change", () => {
      prefs.transport = radio.value;
      live.setMode(radio.value);
      announce(`Live updates now use ${radio.parentElement.textContent.trim()}.`);
    });
  }
}

/** Called on every 401: open the key panel once and say why. */
function askForKey(error) {
  const message = prefs.key
    ? `${error.message} Enter a valid API key below.`
    : "This server needs an API key: enter it below.";
  $("#key-message").textContent = message;
  $("#key-message").classList.add("warning");
  if (keyRequested) return;
  keyRequested = true;
  $("#key-panel").open = true;
  $("#key-input").focus();
  announce(message);
}

function setUpKey() {
  const input = $("#key-input");
  input.value = prefs.key;
  $("#key-form").addEventListener("submit", (e) => {
    e.preventDefault();
    prefs.key = input.value.trim();
    keyRequested = false;
    $("#key-message").textContent = prefs.key ? "Key saved in this browser." : "No key saved.";
    $("#key-message").classList.remove("warning");
    announce($("#key-message").textContent);
    live.setMode(live.mode); // reopen streams with the new access_token
    loadSessions();
  });
  $("#key-forget").addEventListener("click", () => {
    prefs.key = "";
    input.value = "";
    $("#key-message").textContent = "The key is forgotten.";
    announce("The API key is forgotten.");
  });
}

$("#options-form").addEventListener("submit", (e) => e.preventDefault()); // Enter in a field
$("#live-form").addEventListener("submit", watchLive);
setUpDropZone();
setUpTransport();
setUpKey();
$("#refresh").addEventListener("click", loadSessions);
$("#clear-finished").addEventListener("click", clearFinished);
loadSessions();
