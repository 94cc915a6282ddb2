// The results of a finished session (report.json, see docs/report.schema.json): summary, timeline
// plot, scene thumbnails with timecodes and how each scene starts, the black / frozen / blurry
// segments, the annotated video.

import { h } from "./dom.js";
import { count, timecode } from "./format.js";
import { qcParts } from "./qc.js";
import { timelineFigure } from "./timeline.js";

// How a scene can start (`cuts[].kind`): the caption's word, and the spoken one.
const TRANSITIONS = { hard: ["Cut", "a cut"], fade: ["Fade", "a fade"], dissolve: ["Dissolve", "a dissolve"] };

/**
 * @param {object} report the body of GET /api/sessions/{id}/results
 * @param {(name: string) => string} fileUrl the URL of an artifact (with the access token)
 */
export function renderReport(report, fileUrl) {
  const artifacts = new Set(report.artifacts.map((artifact) => artifact.name));
  const video = artifacts.has("annotated.mp4")
    ? h("video", {
      class: "annotated", controls: true, preload: "none", src: fileUrl("annotated.mp4"),
      poster: report.scenes[0]?.thumbnail ? fileUrl(report.scenes[0].thumbnail) : null,
      width: report.video.width, height: report.video.height,
      "aria-label": "Annotated video: moving regions boxed, scene number and timecode drawn in",
    }, artifacts.has("chapters.vtt")
      ? h("track", { kind: "chapters", label: "Scenes", srclang: "en", src: fileUrl("chapters.vtt"), default: true })
      : null)
    : null;

  return h("div", { class: "report" },
    h("p", { class: "report-summary" }, summary(report)),
    timelineFigure(report, fileUrl, artifacts),
    scenes(report, fileUrl, video),
    quality(report.quality),
    report.audio !== undefined && sound(report.audio),
    qcParts(report),
    video && h("section", { class: "report-part" }, h("h4", {}, "Annotated video"), video),
    downloads(artifacts, fileUrl));
}

function summary(report) {
  const frames = report.analysed?.frames ?? report.video.frames;
  const { wall_s: wall, fps } = report.timing;
  return `${count(report.scenes.length, "scene")} · ${count(report.cuts.length, "cut")} · `
    + `${frames} frames analysed in ${wall.toFixed(1)} s (${Math.round(fps)} fps)`;
}

/** One thumbnail per scene, with how it starts; with the annotated video, a thumbnail seeks to its scene. */
function scenes(report, fileUrl, video) {
  const cuts = new Map(report.cuts.map((cut) => [cut.frame, cut]));
  const items = report.scenes.map((scene) => {
    const { label, parts } = sceneParts(scene, fileUrl, cuts);
    const body = video
      ? h("button", {
        type: "button", class: "scene", "aria-label": `Play ${label}`,
        onclick: () => {
          video.currentTime = scene.start_s;
          video.play().catch(() => {});
        },
      }, parts)
      : h("div", { class: "scene", role: "img", "aria-label": label }, parts);
    return h("li", {}, body);
  });
  return h("section", { class: "report-part" },
    h("h4", {}, "Scenes"),
    items.length ? fitThumbnails(h("ol", { class: "scenes" }, items), report.video) : h("p", {}, "No frames analysed."));
}

/**
 * A scene's thumbnail and caption, and its accessible name. With `cuts` (first frame -> cut of the
 * report), the caption also says how the scene starts and how sure the detector is.
 */
export function sceneParts(scene, fileUrl, cuts = null) {
  const start = cuts && opening(scene, cuts.get(scene.start_frame));
  const picture = scene.thumbnail
    ? h("img", { src: fileUrl(scene.thumbnail), alt: "", decoding: "async" })
    : h("span", { class: "no-thumb" }, "no thumbnail");
  const caption = h("span", { class: "scene-time" },
    h("strong", {}, `#${scene.index + 1}`), ` ${timecode(scene.start_s)}–${timecode(scene.end_s)}`);
  const label = `Scene ${scene.index + 1}, ${timecode(scene.start_s)} to ${timecode(scene.end_s)}`
    + (start ? `, ${start.spoken}` : "");
  return { label, parts: [picture, caption, start && h("span", { class: "scene-start", "data-kind": start.kind }, start.text)] };
}

/** How a scene starts: the cut at its first frame, or (the first scene) the start of the video. */
function opening(scene, cut) {
  if (!cut) return scene.index === 0 ? { text: "Opening", spoken: "opens the video", kind: "opening" } : null;
  const [word, spoken] = TRANSITIONS[cut.kind] ?? [cut.kind, cut.kind];
  const sure = pct(cut.confidence);
  return { text: `${word} · ${sure} sure`, spoken: `starts with ${spoken} (confidence ${sure})`, kind: cut.kind };
}

/** Thumbnail boxes of the video's shape (portrait stays portrait); `list` is returned. */
export function fitThumbnails(list, video) {
  if (video?.width && video?.height) {
    list.style.setProperty("--thumb-ratio", `${video.width} / ${video.height}`);
    list.classList.toggle("portrait", video.height > video.width);
  }
  return list;
}

/** Black, frozen and blurry segments (end exclusive), and the brightness range. */
function quality(report) {
  const rows = [["Black", report.black], ["Frozen", report.frozen], ["Blurry", report.blurry]];
  const { mean, min, max } = report.brightness;
  return h("section", { class: "report-part" },
    h("h4", {}, "Quality"),
    h("dl", { class: "quality" },
      rows.map(([name, segments]) => [
        h("dt", {}, name),
        h("dd", {}, segments.length
          ? h("ul", { class: "segments" }, segments.map((s) => h("li", { class: `segment ${name.toLowerCase()}` },
            `${timecode(s.start_s)}–${timecode(s.end_s)}`)))
          : "none"),
      ]),
      h("dt", {}, "Brightness"),
      h("dd", {}, `mean ${pct(mean)}, from ${pct(min)} to ${pct(max)}`)));
}

/** Loudness (EBU R128), silence and clipping; or that there is no sound. */
function sound(audio) {
  if (!audio) return h("section", { class: "report-part" }, h("h4", {}, "Audio"), h("p", {}, "No audio stream."));
  const { integrated_lufs: lufs, range_lu: range, true_peak_dbtp: peak } = audio.loudness;
  const spans = (list) => (list.length
    ? h("ul", { class: "segments" }, list.map((s) => h("li", { class: "segment" },
      `${timecode(s.start_s)}–${timecode(s.end_s)}`)))
    : "none");
  return h("section", { class: "report-part" },
    h("h4", {}, "Audio"),
    h("dl", { class: "quality audio" },
      h("dt", {}, "Loudness"),
      h("dd", {}, `${lufs == null ? "silent" : `${lufs.toFixed(1)} LUFS`}, range ${range.toFixed(1)} LU, `
        + `true peak ${peak == null ? "-∞" : peak.toFixed(1)} dBTP`),
      h("dt", {}, "Silence"), h("dd", {}, spans(audio.silence)),
      h("dt", {}, "Clipping"), h("dd", {}, spans(audio.clipping))));
}

function pct(value) {
  return `${Math.round(value * 100)} %`;
}

function downloads(artifacts, fileUrl) {
  const names = ["report.json", "frames.csv", "timeline.png", "contact-sheet.jpg", "annotated.mp4", "chapters.vtt", "cues.vtt", "scenes.edl", "scenes.otio"]
    .filter((n) => artifacts.has(n));
  return h("p", { class: "downloads" }, "Download: ",
    names.flatMap((name, i) => [i ? " · " : null, h("a", { href: fileUrl(name), download: name }, name)]));
}
