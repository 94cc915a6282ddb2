// The technical cues and the delivery verdict of a finished session (the report's `cues` and `qc`,
// docs/api.md): which profile the file was checked against, passed or failed check by check with
// what was measured against the limit, and where; then the cues the quality and audio parts do not
// already show (colour bars, interlacing, letterbox, levels, phase, silent channels, loudness).

import { h } from "./dom.js";
import { timecode } from "./format.js";

const PROFILES = {
  ebu_r128: "EBU R 128", atsc_a85: "ATSC A/85", streaming: "streaming (-14 LUFS)", broadcast_hd: "broadcast HD",
};
const CHECKS = {
  integrated_loudness: "Integrated loudness", true_peak: "True peak", out_of_range: "Levels out of range",
  interlace_flag: "Interlacing as flagged", color_bars: "Colour bars in the programme", black: "Black in the programme",
};
// Cue types the quality and audio parts show already.
const SHOWN = new Set(["black", "frozen", "blurry", "silence", "clipping"]);
const CUES = {
  color_bars: "Colour bars", interlaced: "Interlaced", letterbox: "Letterbox", pillarbox: "Pillarbox",
  out_of_range: "Out of range", audio_phase: "Audio out of phase", channel_silent: "Silent channel",
  loudness: "Loudness",
};

/** The delivery verdict and the technical cues: report parts, or null when there is nothing to say. */
export function qcParts(report) {
  return [verdict(report.qc), technicalCues(report.cues ?? [])];
}

function verdict(qc) {
  if (!qc) return null;
  const name = PROFILES[qc.profile] ?? qc.profile;
  return h("section", { class: "report-part qc", "data-passed": String(qc.passed) },
    h("h4", {}, "Delivery check"),
    h("p", { class: "qc-verdict" }, qc.passed ? `Passes ${name}.` : `Fails ${name}.`),
    h("dl", { class: "quality qc-checks" }, qc.checks.map((check) => [
      h("dt", { "data-passed": String(check.passed) }, `${check.passed ? "✓" : "✗"} ${CHECKS[check.id] ?? check.id}`),
      h("dd", {}, `${measured(check.value)} (limit ${limit(check.limit)})`, spans(check.segments)),
    ])));
}

function technicalCues(cues) {
  const shown = cues.filter((cue) => !SHOWN.has(cue.type));
  if (!shown.length) return null;
  return h("section", { class: "report-part" },
    h("h4", {}, "Technical cues"),
    h("ul", { class: "segments cues" }, shown.map((cue) => h("li", { class: "segment", "data-type": cue.type },
      `${CUES[cue.type] ?? cue.type} ${timecode(cue.start_s)}–${timecode(cue.end_s)}`, detail(cue)))));
}

/** A few words of a cue's detail. */
function detail(cue) {
  const d = cue.detail;
  const words = {
    color_bars: () => d.pattern,
    interlaced: () => `${d.field_order}${d.flag_disagrees ? `, flagged ${d.flagged}` : ""}`,
    letterbox: () => `${d.active.width}×${d.active.height}`,
    pillarbox: () => `${d.active.width}×${d.active.height}`,
    out_of_range: () => `luma ${d.luma_min}–${d.luma_max}, chroma ${d.chroma_min}–${d.chroma_max}`,
    audio_phase: () => `correlation ${d.correlation.toFixed(2)}`,
    channel_silent: () => d.name,
    loudness: () => `${d.short_term_lufs.toFixed(1)} LUFS`,
  }[cue.type];
  return words ? ` · ${words()}` : "";
}

function measured(value) {
  if (value == null) return "nothing to measure";
  return typeof value === "number" ? String(Math.round(value * 100) / 100) : value;
}

function limit(value) {
  return Array.isArray(value) ? `${value[0]} to ${value[1]}` : String(value);
}

function spans(segments) {
  return segments.length
    ? h("ul", { class: "segments" }, segments.map((s) => h("li", { class: "segment" },
      `${timecode(s.start_s)}–${timecode(s.end_s)}`)))
    : null;
}
