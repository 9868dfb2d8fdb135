// The analysed file in the page: the video played (or the image shown) from a local object
// URL, the answer's face boxes drawn over it, and a playhead on the timeline that follows
// the video and seeks it (imported by app.js; no network).
//
// Boxes in the answer are [y1, x1, y2, x2] fractions of the upright picture (the gateway
// undoes its scaling and letterboxing, gateway/pipeline/video.py), and the browser shows the file
// upright too, so a box is placed by multiplying by the size the picture is displayed at.

import { $, fmt } from "./render.js";

const SVG_NS = "http://www.w3.org/2000/svg";
// Times closer than this are the same frame (the answer's times have millisecond digits).
const SAME_TIME_S = 1e-3;

// The one object URL the page holds (revoked before the next is made), and what is shown.
let objectUrl = null;
let shown = null; // { result, times, still, image, svg, plot, line } once an answer is in
let frameKey = ""; // what the overlay holds now (frame and layout), to redraw only on change
let animation = 0;

/** Index of the sampled time nearest ``t`` in the sorted ``times``, or -1 if empty. */
export function nearestIndex(times, t) {
  if (!times.length) return -1;
  let lo = 0;
  let hi = times.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (times[mid] < t) lo = mid + 1;
    else hi = mid;
  }
  // lo is the first time >= t; the one before it may be nearer.
  if (lo > 0 && t - times[lo - 1] <= times[lo] - t) return lo - 1;
  return lo;
}

/** The sampled frame whose boxes belong at ``t``: the nearest one, if ``t`` is within half
 * the spacing between it and its neighbour on ``t``'s side; else -1. A single frame (a
 * still image) is shown at every time. */
export function frameAt(times, t) {
  const i = nearestIndex(times, t);
  if (i < 0) return i;
  // One decoded frame may stand for several samples (sampling faster than the fps): the
  // spacing is to the nearest other time, on t's side when there is one.
  const later = times.find((s) => s > times[i] + SAME_TIME_S);
  const earlier = [...times].reverse().find((s) => s < times[i] - SAME_TIME_S);
  const side = t >= times[i] ? (later ?? earlier) : (earlier ?? later);
  if (side === undefined) return i; // a single time (a still image): shown throughout
  return Math.abs(t - times[i]) <= Math.abs(side - times[i]) / 2 + SAME_TIME_S ? i : -1;
}

/** Where the picture is drawn inside ``media`` (object-fit: contain), in the stage's pixels. */
function pictureRect(media, naturalWidth, naturalHeight) {
  const boxWidth = media.clientWidth;
  const boxHeight = media.clientHeight;
  if (!naturalWidth || !naturalHeight || !boxWidth || !boxHeight) return null;
  const scale = Math.min(boxWidth / naturalWidth, boxHeight / naturalHeight);
  const width = naturalWidth * scale;
  const height = naturalHeight * scale;
  return {
    left: media.offsetLeft + (boxWidth - width) / 2,
    top: media.offsetTop + (boxHeight - height) / 2,
    width,
    height,
  };
}

function currentTime() {
  return shown && !shown.still ? $("player").currentTime : 0;
}

function trackScores(result) {
  return new Map((result.tracks || []).map((track) => [track.id, track.score]));
}

/** Draws the boxes of the frame at the current time over the picture (if it changed). */
function drawOverlay() {
  const overlay = $("overlay");
  if (!shown) return;
  const media = shown.still ? shown.image : $("player");
  const rect = shown.still
    ? pictureRect(media, media.naturalWidth, media.naturalHeight)
    : pictureRect(media, media.videoWidth, media.videoHeight);
  const index = frameAt(shown.times, currentTime());
  const key = rect ? `${index} ${rect.left} ${rect.top} ${rect.width} ${rect.height}` : "none";
  if (key === frameKey) return;
  frameKey = key;
  overlay.replaceChildren();
  overlay.dataset.frame = rect && index >= 0 ? String(index) : "";
  const caption = $("frame-caption");
  if (!rect || index < 0) {
    caption.textContent = index < 0 && rect ? "No sampled frame at this time." : "";
    return;
  }
  const point = shown.result.timeline[index];
  const tracks = trackScores(shown.result);
  const threshold = Number(shown.result.threshold);
  const faces = point.faces || [];
  for (const face of faces) {
    const [y1, x1, y2, x2] = face.box.map(Number);
    const box = document.createElement("div");
    box.className = `face-box ${Number(face.score) >= threshold ? "fake" : "real"}`;
    box.dataset.track = String(face.track);
    box.dataset.frame = String(index);
    box.dataset.box = face.box.join(" ");
    // Positions through the CSSOM: the policy forbids style attributes, not this.
    box.style.left = `${rect.left + x1 * rect.width}px`;
    box.style.top = `${rect.top + y1 * rect.height}px`;
    box.style.width = `${(x2 - x1) * rect.width}px`;
    box.style.height = `${(y2 - y1) * rect.height}px`;
    const track = tracks.get(face.track);
    const label = document.createElement("span");
    label.textContent = `track ${face.track}: face ${fmt(face.score)}`
      + (track === undefined ? "" : `, track ${fmt(track)}`);
    box.append(label);
    overlay.append(box);
  }
  const at = `${Number(point.t_s).toFixed(2)} s`;
  caption.textContent = faces.length
    ? `Frame at ${at}: score ${fmt(point.score)}, ${faces.length} face${faces.length > 1 ? "s" : ""}.`
    : `Frame at ${at}: score ${fmt(point.score)}, no face found.`;
}

/** Moves the playhead to the current time and says where it is to assistive technology. */
function drawPlayhead() {
  if (!shown || !shown.plot) return;
  const t = currentTime();
  const { plot, line } = shown;
  const x = plot.left + (Math.min(Math.max(t, 0), plot.end) / plot.end) * (plot.right - plot.left);
  line.setAttribute("x1", String(x));
  line.setAttribute("x2", String(x));
  const figure = $("timeline");
  figure.setAttribute("aria-valuenow", t.toFixed(2));
  const index = frameAt(shown.times, t);
  const score = index >= 0 ? `, frame score ${fmt(shown.result.timeline[index].score)}` : "";
  figure.setAttribute("aria-valuetext", `${t.toFixed(2)} s${score}`);
  figure.dataset.time = String(t);
}

function update() {
  drawPlayhead();
  drawOverlay();
}

function animate() {
  // timeupdate fires a few times a second; while playing, every displayed frame.
  cancelAnimationFrame(animation);
  const tick = () => {
    update();
    const video = $("player");
    if (!video.paused && !video.ended) animation = requestAnimationFrame(tick);
  };
  animation = requestAnimationFrame(tick);
}

function duration() {
  const video = $("player");
  if (Number.isFinite(video.duration) && video.duration > 0) return video.duration;
  return shown && shown.plot ? shown.plot.end : 0;
}

function seek(t) {
  const video = $("player");
  video.currentTime = Math.min(Math.max(t, 0), duration());
  update();
}

/** The time under the pointer's x on the timeline (client pixels), clamped to the plot. */
function timeAtClientX(clientX) {
  const { svg, plot } = shown;
  const bounds = svg.getBoundingClientRect();
  const width = svg.viewBox.baseVal.width || bounds.width;
  const x = ((clientX - bounds.left) / bounds.width) * width;
  const fraction = (x - plot.left) / (plot.right - plot.left);
  return Math.min(Math.max(fraction, 0), 1) * plot.end;
}

function onPointer(event) {
  if (!shown || !shown.plot || (event.type === "pointermove" && !(event.buttons & 1))) return;
  if (event.type === "pointerdown") {
    if (event.button !== 0) return;
    // Dragging keeps seeking even when the pointer leaves the timeline.
    $("timeline").setPointerCapture(event.pointerId);
  }
  event.preventDefault();
  seek(timeAtClientX(event.clientX));
}

function onKey(event) {
  if (!shown || !shown.plot) return;
  const t = currentTime();
  const times = shown.times;
  let target = null;
  // The arrows step from one sampled frame to the next: where the answer has evidence.
  if (event.key === "ArrowRight" || event.key === "ArrowUp") {
    target = times.find((s) => s > t + SAME_TIME_S) ?? duration();
  } else if (event.key === "ArrowLeft" || event.key === "ArrowDown") {
    target = [...times].reverse().find((s) => s < t - SAME_TIME_S) ?? 0;
  } else if (event.key === "PageUp") {
    target = t + duration() / 10;
  } else if (event.key === "PageDown") {
    target = t - duration() / 10;
  } else if (event.key === "Home") {
    target = 0;
  } else if (event.key === "End") {
    target = duration();
  }
  if (target === null) return;
  event.preventDefault();
  seek(target);
}

/** Forgets the shown file: the object URL is revoked, the media emptied, the boxes cleared. */
export function clearMedia() {
  shown = null;
  frameKey = "";
  cancelAnimationFrame(animation);
  const video = $("player");
  video.pause();
  video.removeAttribute("src");
  video.load(); // drops the old file's decoder and buffers
  video.hidden = true;
  // The image element exists only while a still is shown: every other image on the page
  // is a data: URL from the answer.
  const still = $("still");
  if (still) still.remove();
  $("overlay").replaceChildren();
  $("frame-caption").textContent = "";
  if (objectUrl) URL.revokeObjectURL(objectUrl);
  objectUrl = null;
  const figure = $("timeline");
  for (const name of ["role", "tabindex", "aria-valuemin", "aria-valuemax", "aria-valuenow", "aria-valuetext"]) {
    figure.removeAttribute(name);
  }
}

/** Shows ``file`` (the one analysed, read locally) with ``result``'s boxes over it. */
export function showMedia(file, result) {
  clearMedia();
  const still = !!(result.video && result.video.kind === "image");
  objectUrl = URL.createObjectURL(file);
  let image = null;
  if (still) {
    image = document.createElement("img");
    image.id = "still";
    image.alt = "The analysed image";
    image.addEventListener("load", update);
    $("overlay").before(image);
  }
  const media = image || $("player");
  media.src = objectUrl;
  media.hidden = false;
  shown = {
    result,
    still,
    image,
    times: (result.timeline || []).map((p) => Number(p.t_s)),
    svg: null,
    plot: null,
    line: null,
  };
  update();
}

/** Puts a playhead on the timeline ``svg`` (the server's, as drawn in the page) and makes
 * the timeline a slider over the video. Stills have no time to move through. */
export function bindTimeline(svg) {
  if (!shown || shown.still || !svg) return;
  // The plot's horizontal extent is the threshold line's (gateway/pipeline/timeline_svg.py); its time
  // scale ends where the server's does: at the duration, or the last sample if later.
  const threshold = svg.querySelector("line#threshold");
  if (!threshold) return;
  const video = shown.result.video || {};
  const end = Math.max(Number(video.duration_s) || 0, ...shown.times, 0) || 1;
  const height = svg.viewBox.baseVal.height || 0;
  const line = document.createElementNS(SVG_NS, "line");
  line.setAttribute("id", "playhead");
  line.setAttribute("class", "playhead");
  line.setAttribute("y1", "0");
  line.setAttribute("y2", String(height));
  svg.append(line);
  shown.svg = svg;
  shown.line = line;
  shown.plot = {
    left: Number(threshold.getAttribute("x1")),
    right: Number(threshold.getAttribute("x2")),
    end,
  };
  const figure = $("timeline");
  figure.setAttribute("role", "slider");
  figure.setAttribute("tabindex", "0");
  figure.setAttribute("aria-valuemin", "0");
  figure.setAttribute("aria-valuemax", end.toFixed(2));
  update();
}

/** Listens once to the player, the image, the timeline and the page's size. */
export function startPlayer() {
  const video = $("player");
  for (const name of ["timeupdate", "seeking", "seeked", "loadedmetadata", "loadeddata", "pause", "ended"]) {
    video.addEventListener(name, update);
  }
  video.addEventListener("play", animate);
  const figure = $("timeline");
  figure.addEventListener("pointerdown", onPointer);
  figure.addEventListener("pointermove", onPointer);
  figure.addEventListener("keydown", onKey);
  // The boxes follow the picture when the page (and so the video) is resized.
  new ResizeObserver(() => update()).observe($("stage"));
}
