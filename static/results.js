// The results of a finished session (report.json, see docs/report.schema.json): summary, timeline
// plot, scene thumbnails with timecodes, the black / frozen / blurry segments, the annotated video.

import { h } from "./dom.js";
import { timecode } from "./format.js";

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
    artifacts.has("timeline.png") && h("figure", { class: "timeline" },
      h("img", {
        src: fileUrl("timeline.png"), alt: "Timeline plot of motion and brightness, with the cuts marked",
        width: 1000, height: 360, decoding: "async",
      }),
      h("figcaption", {}, "Motion and brightness over time; cuts marked.")),
    scenes(report.scenes, fileUrl, video),
    quality(report.quality),
    report.audio !== undefined && sound(report.audio),
    video && h("section", { class: "report-part" }, h("h4", {}, "Annotated video"), video),
    downloads(artifacts, fileUrl));
}

function summary(report) {
  const frames = report.analysed?.frames ?? report.video.frames;
  const { wall_s: wall, fps } = report.timing;
  return `${count(report.scenes.length, "scene")} · ${count(report.cuts.length, "cut")} · `
    + `${frames} frames analysed in ${wall.toFixed(1)} s (${Math.round(fps)} fps)`;
}

function count(n, noun) {
  return `${n} ${noun}${n === 1 ? "" : "s"}`;
}

/** One thumbnail per scene; with the annotated video, a thumbnail seeks to its scene. */
function scenes(list, fileUrl, video) {
  const items = list.map((scene) => {
    const label = `Scene ${scene.index + 1}, ${timecode(scene.start_s)} to ${timecode(scene.end_s)}`;
    const picture = scene.thumbnail
      ? h("img", { src: fileUrl(scene.thumbnail), alt: "", decoding: "async" })
      : h("span", { class: "no-thumb" }, "no thumbnail");
    const caption = h("span", { class: "scene-time" },
      h("strong", {}, `#${scene.index + 1}`), ` ${timecode(scene.start_s)}–${timecode(scene.end_s)}`);
    const body = video
      ? h("button", {
        type: "button", class: "scene", "aria-label": `Play ${label}`,
        onclick: () => {
          video.currentTime = scene.start_s;
          video.play().catch(() => {});
        },
      }, picture, caption)
      : h("div", { class: "scene", role: "img", "aria-label": label }, picture, caption);
    return h("li", {}, body);
  });
  return h("section", { class: "report-part" },
    h("h4", {}, "Scenes"),
    items.length ? h("ol", { class: "scenes" }, items) : h("p", {}, "No frames analysed."));
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
  const names = ["report.json", "frames.csv", "contact-sheet.jpg", "annotated.mp4", "chapters.vtt", "scenes.edl", "scenes.otio"]
    .filter((n) => artifacts.has(n));
  return h("p", { class: "downloads" }, "Download: ",
    names.flatMap((name, i) => [i ? " · " : null, h("a", { href: fileUrl(name), download: name }, name)]));
}
