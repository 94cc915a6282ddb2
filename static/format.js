// Small formatting helpers shared by the card and the results view.

/** "0:01.48" for 1.48 s, "1:02:03.00" past an hour. */
export function timecode(seconds) {
  const total = Math.max(0, Number(seconds) || 0);
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const secs = (total % 60).toFixed(2).padStart(5, "0");
  return hours > 0
    ? `${hours}:${String(minutes).padStart(2, "0")}:${secs}`
    : `${minutes}:${secs}`;
}

/** "13 s", "2 min 05 s"; an em dash when unknown. */
export function duration(seconds) {
  if (seconds == null || !Number.isFinite(seconds)) return "—";
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, "0")} s`;
}

/** "20.1 MB". */
export function bytes(count) {
  const units = ["B", "KB", "MB", "GB"];
  let value = count;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}

/** "1 scene", "3 scenes". */
export function count(n, noun) {
  return `${n} ${noun}${n === 1 ? "" : "s"}`;
}

/** A whole percentage, 0 to 100, for a fraction 0 to 1. */
export function percent(fraction) {
  return Math.round(Math.min(1, Math.max(0, fraction)) * 100);
}

/** "1280×720 · 25 fps · 0:04.48" from the session's `video`. */
export function videoSummary(video) {
  if (!video) return "";
  return `${video.width}×${video.height} · ${Number(video.fps).toFixed(0)} fps · ${timecode(video.duration_s)}`;
}
