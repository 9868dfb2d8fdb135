// Rendering of a detection result into the page (imported by app.js; no network).
//
// Every value from the server reaches the page as textContent or as an attribute value,
// never as HTML; images only from data:image/png URLs; the timeline SVG is parsed as XML
// and rebuilt from an allowlist.

// At most this many face explanations are shown, most suspicious first.
export const MAX_EXPLANATIONS = 12;
const SVG_NS = "http://www.w3.org/2000/svg";
// What the timeline SVG may contain once parsed: shapes and text, no scripts or links.
const SVG_ELEMENTS = new Set(["svg", "title", "g", "rect", "line", "polyline", "circle", "text"]);
const SVG_ATTRIBUTES = new Set([
  "xmlns", "viewBox", "width", "height", "role", "font-family", "font-size", "x", "y",
  "x1", "x2", "y1", "y2", "cx", "cy", "r", "points", "fill", "stroke", "stroke-width",
  "stroke-dasharray", "text-anchor", "id", "class", "data-track",
]);

export const $ = (id) => document.getElementById(id);

export function text(tag, content, className) {
  const el = document.createElement(tag);
  el.textContent = content;
  if (className) el.className = className;
  return el;
}

export function fillFacts(list, entries) {
  list.replaceChildren();
  for (const [name, value] of entries) {
    list.append(text("dt", name), text("dd", value));
  }
}

export function fmt(score) {
  return Number(score).toFixed(3);
}

// What each reason code of the API (contract/reasons.py) means for a reader of the page.
export const REASON_TEXT = {
  no_face: "no face found in enough frames",
  face_too_small: "the face is smaller than the model's input and was upscaled",
  too_few_frames: "too few frames were scored",
  heavy_compression: "the video is heavily compressed",
  near_threshold: "the score is too close to the threshold to call",
  frames_disagree: "the frames disagree with each other",
};

// The line under the verdict: the score's interval and why to be careful, as text.
export function reasonsLine(result) {
  const parts = [];
  const interval = result.score_interval;
  if (interval) {
    const level = Math.round(Number(interval.level) * 100);
    parts.push(`${level}% interval ${fmt(interval.low)}–${fmt(interval.high)}`);
  }
  const reasons = (result.reasons || []).map((code) => REASON_TEXT[code] || String(code));
  if (reasons.length) parts.push(`Careful: ${reasons.join("; ")}`);
  return parts.join(". ");
}

export function showSummary(job, result) {
  const verdict = $("verdict");
  verdict.textContent = result.verdict;
  verdict.className = `verdict ${result.verdict}`;
  verdict.dataset.verdict = result.verdict;
  const reasons = $("verdict-reasons");
  reasons.textContent = reasonsLine(result);
  reasons.dataset.reasons = (result.reasons || []).join(" ");
  $("score").textContent = fmt(result.score);
  $("score").dataset.value = String(result.score);
  $("threshold").textContent = fmt(result.threshold);
  $("threshold").dataset.value = String(result.threshold);
  $("aggregation").textContent = result.aggregation;
  $("model-name").textContent = result.model.name;
  $("model-version").textContent = String(result.model.version);
  $("model-kind").textContent = result.model.kind;
  // A still image is one frame at t = 0: say so rather than leave "1" unexplained.
  const still = result.video && result.video.kind === "image";
  $("frames").textContent = still ? `${result.frames_analyzed} (still image)` : String(result.frames_analyzed);
  $("frames").dataset.kind = still ? "image" : "video";
  $("track-count").textContent = String(result.tracks.length);
  $("job-id").textContent = job.id;
  const demo = $("demo-warning");
  demo.hidden = result.model.kind !== "demo";
  demo.textContent = "A demo model answered: a check of the plumbing, not a detector. Do not trust this verdict.";
  const warnings = $("warnings");
  warnings.replaceChildren(...(result.warnings || []).map((w) => text("li", w)));

  const members = result.members && typeof result.members === "object" ? Object.entries(result.members) : [];
  $("video-members").hidden = members.length === 0;
  fillFacts($("video-members-list"), members.map(([name, score]) => [name, fmt(score)]));
}

export function showProvenance(provenance) {
  const box = $("provenance");
  box.hidden = !provenance;
  if (!provenance) return;
  const yesNo = (v) => (v === true ? "yes" : v === false ? "no" : "unknown");
  const entries = [["Manifest present", yesNo(provenance.present)]];
  if (provenance.present) {
    entries.push(
      ["Signature valid", yesNo(provenance.valid)],
      ["Signer trusted", yesNo(provenance.trusted)],
      ["Signer", provenance.signer || "-"],
      ["Made with", provenance.claim_generator || "-"],
      ["Signed at", provenance.signed_at || "-"],
      ["Declared source", (provenance.digital_source_types || []).join(", ") || "-"],
      ["Declared AI-generated", yesNo(provenance.ai_generated)],
      ["Declared AI-edited", yesNo(provenance.ai_edited)],
    );
  }
  for (const problem of provenance.validation_errors || []) entries.push(["Validation error", problem]);
  fillFacts($("provenance-list"), entries);
}

export function showTracks(result) {
  const tracks = result.tracks || [];
  const names = [...new Set(tracks.flatMap((t) => Object.keys(t.members || {})))].sort();
  const head = $("tracks-head");
  head.replaceChildren(text("th", "Track"), text("th", "Score"), text("th", "Frames"));
  for (const name of names) head.append(text("th", name));
  const body = document.querySelector("#tracks tbody");
  body.replaceChildren();
  for (const track of tracks) {
    const row = document.createElement("tr");
    row.dataset.track = String(track.id);
    row.append(text("td", String(track.id)), text("td", fmt(track.score)), text("td", String(track.frames.length)));
    for (const name of names) {
      const score = (track.members || {})[name];
      row.append(text("td", score === undefined ? "-" : fmt(score)));
    }
    body.append(row);
  }
}

function cleanSvg(node) {
  // Keeps only the allowed elements and attributes of the parsed timeline.
  if (node.namespaceURI !== SVG_NS || !SVG_ELEMENTS.has(node.localName)) return null;
  const copy = document.createElementNS(SVG_NS, node.localName);
  for (const attr of node.attributes) {
    if (SVG_ATTRIBUTES.has(attr.name) && attr.name !== "xmlns") copy.setAttribute(attr.name, attr.value);
  }
  for (const child of node.childNodes) {
    if (child.nodeType === Node.TEXT_NODE) copy.append(child.data);
    else if (child.nodeType === Node.ELEMENT_NODE) {
      const clean = cleanSvg(child);
      if (clean) copy.append(clean);
    }
  }
  return copy;
}

export function showExplanations(result) {
  const gallery = $("explanations");
  gallery.replaceChildren();
  const items = [];
  for (const track of result.tracks || []) {
    for (const e of track.explanations || []) items.push({ ...e, track: track.id });
  }
  const isPng = (src) => typeof src === "string" && src.startsWith("data:image/png;base64,");
  const shown = items.filter((e) => isPng(e.face_png)).sort((a, b) => b.score - a.score);
  const note = $("explanations-note");
  if (shown.length === 0) {
    note.textContent = "This model version offers no face explanations (thumbnails and heatmaps).";
    return;
  }
  note.textContent = "Each face with the heatmap of what raised its score over it (hover to hide the heatmap).";
  for (const e of shown.slice(0, MAX_EXPLANATIONS)) {
    const figure = document.createElement("figure");
    figure.className = "explanation";
    const thumb = document.createElement("div");
    thumb.className = "thumb";
    const face = document.createElement("img");
    face.src = e.face_png;
    face.alt = `face of track ${e.track} at ${Number(e.t_s).toFixed(2)} s`;
    thumb.append(face);
    if (isPng(e.heatmap_png)) {
      const heat = document.createElement("img");
      heat.src = e.heatmap_png;
      heat.alt = "";
      heat.className = "heatmap";
      thumb.append(heat);
    }
    figure.append(
      thumb,
      text("figcaption", `track ${e.track}, ${Number(e.t_s).toFixed(2)} s, score ${fmt(e.score)}`),
    );
    gallery.append(figure);
  }
}

/** The timeline's SVG element from the server's SVG text, or null if it is not SVG. */
export function parseTimeline(body) {
  // Parsed as XML (which never runs anything), then rebuilt from the allowed parts.
  const doc = new DOMParser().parseFromString(body, "image/svg+xml");
  return doc.querySelector("parsererror") ? null : cleanSvg(doc.documentElement);
}
