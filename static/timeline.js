// The timeline of a finished session, drawn on the page from frames.csv (one row per frame) and the
// report (cuts, black / frozen / blurry segments): motion and brightness on a 0 to 1 scale, the cuts,
// and a loudness lane when the video has sound. Its colours come from style.css, so it follows the
// light and dark schemes. Without frames.csv, the server's timeline.png stands in.

import { h, svg } from "./dom.js";
import { count, timecode } from "./format.js";

const WIDTH = 1000; // the drawing's x extent: at most one point per column
const HEIGHT = 100;
const HEADROOM = 1.02; // the 0 to 1 scale keeps a little room above 1, so that 1 stays visible
const LOUDNESS_FLOOR = -60; // LUFS: quieter is drawn at the floor
const SHADED = ["black", "frozen", "blurry"];
const GRADUAL = new Set(["fade", "dissolve"]);

/**
 * @param {object} report the body of GET /api/sessions/{id}/results
 * @param {(name: string) => string} fileUrl the URL of an artifact (with the access token)
 * @param {Set<string>} artifacts the names of the session's artifacts
 */
export function timelineFigure(report, fileUrl, artifacts) {
  const figure = h("figure", { class: "timeline", "aria-busy": "true" },
    h("p", { class: "hint" }, "Drawing the timeline…"));
  const fallback = () => (artifacts.has("timeline.png") ? [picture(fileUrl)] : [h("p", { class: "hint" }, "No timeline.")]);
  const drawn = artifacts.has("frames.csv")
    ? fetch(fileUrl("frames.csv"))
      .then((response) => (response.ok ? response.text() : Promise.reject(new Error(`HTTP ${response.status}`))))
      .then((text) => drawing(report, parseFrames(text)))
    : Promise.reject(new Error("no frames.csv"));
  drawn.catch(fallback).then((children) => {
    figure.replaceChildren(...children);
    figure.removeAttribute("aria-busy");
  });
  return figure;
}

/** The server's PNG (light colours; style.css darkens it in the dark scheme). */
function picture(fileUrl) {
  return h("img", {
    src: fileUrl("timeline.png"), alt: "Timeline plot of motion and brightness, with the cuts marked",
    width: 1000, height: 360, decoding: "async",
  });
}

/** frames.csv's rows as {frame, t, motion, brightness, loudness} (loudness null where unmeasured). */
export function parseFrames(text) {
  const [header, ...rows] = text.trim().split("\n");
  const names = header.split(",");
  const [frame, t, motion, brightness, loudness] = ["frame", "time_s", "motion", "brightness", "loudness_lufs"]
    .map((name) => names.indexOf(name));
  return rows.map((row) => {
    const cells = row.split(",");
    return {
      frame: Number(cells[frame]), t: Number(cells[t]), motion: Number(cells[motion]),
      brightness: Number(cells[brightness]), loudness: loudness >= 0 && cells[loudness] ? Number(cells[loudness]) : null,
    };
  });
}

/** Seconds to the drawing's x, over the analysed span. */
function axisOf(report, frames) {
  const start = report.analysed?.start_s ?? frames[0]?.t ?? 0;
  const end = Math.max(report.analysed?.end_s ?? report.video.duration_s, start + 1e-3);
  return { start, end, x: (t) => ((Math.min(Math.max(t, start), end) - start) / (end - start)) * WIDTH };
}

/**
 * One point per column: the highest motion (peaks matter), the mean brightness and loudness. The
 * change at a cut's frame is a new picture, not motion: it counts as none (as in the report).
 */
function columns(frames, axis, cuts) {
  const cutFrames = new Set(cuts.map((cut) => cut.frame));
  const byColumn = new Map();
  for (const frame of frames) {
    const x = Math.min(WIDTH - 1, Math.floor(axis.x(frame.t)));
    let column = byColumn.get(x);
    if (!column) byColumn.set(x, column = { x: x + 0.5, motion: 0, brightness: 0, frames: 0, loudness: 0, heard: 0 });
    if (!cutFrames.has(frame.frame)) column.motion = Math.max(column.motion, frame.motion);
    column.brightness += frame.brightness;
    column.frames += 1;
    if (frame.loudness != null) {
      column.loudness += Math.max(LOUDNESS_FLOOR, Math.min(0, frame.loudness));
      column.heard += 1;
    }
  }
  return [...byColumn.values()];
}

function drawing(report, frames) {
  const axis = axisOf(report, frames);
  const points = columns(frames, axis, report.cuts);
  const heard = points.some((column) => column.heard > 0);
  const ticks = niceTicks(axis.start, axis.end);
  const level = (value) => HEIGHT * (1 - Math.min(Math.max(value, 0), HEADROOM) / HEADROOM);
  const plot = lane(report, axis, ticks, "plot",
    line("motion", points.map((c) => [c.x, level(c.motion)])),
    line("brightness", points.map((c) => [c.x, level(c.brightness / c.frames)])));
  const label = `Timeline of motion and brightness over ${timecode(axis.end - axis.start)}, `
    + `${count(report.cuts.length, "cut")} marked`;
  return [
    legend(report, heard),
    h("div", { class: "timeline-body", role: "img", "aria-label": label },
      yLabels([["1", 1], ["0.5", 0.5], ["0", 0]].map(([text, v]) => [text, 1 - v / HEADROOM])), plot,
      heard && yLabels([["0", 0], ["-60", 1]]),
      heard && lane(report, axis, ticks, "loudness",
        line("loudness", points.filter((c) => c.heard).map((c) => [c.x, (HEIGHT * (c.loudness / c.heard)) / LOUDNESS_FLOOR]))),
      h("span", {}), xLabels(ticks, axis)),
    h("figcaption", {},
      "Up the side, 0 to 1: motion is the share of pixels that changed since the frame before (0: nothing moves, "
      + "1: every pixel); brightness is the picture's mean level from black (0) to white (1)."
      + (heard ? " Under it, the loudness from -60 to 0 LUFS." : "") + " Across: time in seconds."),
  ];
}

/** One band of the plot: grid, shaded segments and transitions, cuts, then its lines. */
function lane(report, axis, ticks, kind, ...lines) {
  const x = axis.x;
  return svg("svg", { class: `lane ${kind}`, viewBox: `0 0 ${WIDTH} ${HEIGHT}`, preserveAspectRatio: "none", "aria-hidden": "true" },
    ticks.values.map((t) => svg("line", { class: "grid", x1: x(t), x2: x(t), y1: 0, y2: HEIGHT })),
    SHADED.flatMap((name) => report.quality[name].map((s) => band(`shade ${name}`, x(s.start_s), x(s.end_s)))),
    report.cuts.filter((cut) => GRADUAL.has(cut.kind) && cut.start_s != null)
      .map((cut) => band("shade gradual", x(cut.start_s), x(cut.end_s))),
    report.cuts.map((cut) => svg("line", {
      class: `cut${GRADUAL.has(cut.kind) ? " gradual" : ""}`, x1: x(cut.time_s), x2: x(cut.time_s), y1: 0, y2: HEIGHT,
    })),
    lines);
}

function band(className, left, right) {
  return svg("rect", { class: className, x: left, y: 0, width: Math.max(1, right - left), height: HEIGHT });
}

function line(kind, points) {
  return svg("polyline", { class: `series ${kind}`, points: points.map(([x, y]) => `${x.toFixed(1)},${y.toFixed(2)}`).join(" ") });
}

/** Labels up the side of a lane; `marks` are [text, share of the height from the top]. A label at
 *  an edge stays inside the lane's height, so that the labels of two lanes never meet. */
function yLabels(marks) {
  const edge = (top) => (top === 0 ? "top" : top === 1 ? "bottom" : null);
  return h("div", { class: "y-axis", "aria-hidden": "true" },
    marks.map(([text, top]) => h("span", { style: `top: ${(top * 100).toFixed(1)}%`, "data-edge": edge(top) }, text)));
}

function xLabels(ticks, axis) {
  return h("div", { class: "x-axis", "aria-hidden": "true" },
    ticks.values.map((t) => h("span", { style: `left: ${(axis.x(t) / WIDTH * 100).toFixed(2)}%` },
      t.toFixed(ticks.decimals))),
    h("span", { class: "x-title" }, "time (s)"));
}

function legend(report, heard) {
  const entries = [
    ["motion", "motion (share of pixels moving)"], ["brightness", "brightness (black 0, white 1)"],
    ["cut", "cut"], ["cut gradual", "fade or dissolve"],
    ...SHADED.filter((name) => report.quality[name].length).map((name) => [`shade ${name}`, name]),
  ];
  if (heard) entries.push(["loudness", "loudness (LUFS)"]);
  return h("ul", { class: "legend" },
    entries.map(([kind, text]) => h("li", {}, h("span", { class: `swatch ${kind}` }), text)));
}

/** Round tick values (1, 2 or 5 times a power of ten) across [start, end], at most `most` of them. */
function niceTicks(start, end, most = 10) {
  const raw = (end - start) / most;
  const power = raw > 0 ? 10 ** Math.floor(Math.log10(raw)) : 1;
  const step = [1, 2, 5, 10].map((m) => m * power).find((candidate) => candidate >= raw);
  const first = Math.ceil(start / step) * step;
  const values = [];
  for (let k = 0; first + k * step <= end + 1e-9; k += 1) values.push(first + k * step);
  return { values, decimals: Math.max(0, -Math.floor(Math.log10(step))) };
}
