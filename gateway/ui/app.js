// The web page at /ui: upload a video as a job, follow it, show its result.
//
// No build step, no other origin. The API key lives in sessionStorage (this tab only) and
// travels as an Authorization header on each call; the page sets no cookie. Text from the
// server only ever reaches the page as textContent or attribute values, never as HTML.

// Ask for face thumbnails and heatmaps; versions without them answer without them.
// (Unknown query parameters are ignored by the jobs API.)
const REQUEST_EXPLANATIONS = true;
// At most this many face explanations are shown, most suspicious first.
const MAX_EXPLANATIONS = 12;
const KEY_STORAGE = "deepfake-api-key";
const SVG_NS = "http://www.w3.org/2000/svg";
// What the timeline SVG may contain once parsed: shapes and text, no scripts or links.
const SVG_ELEMENTS = new Set(["svg", "title", "g", "rect", "line", "polyline", "circle", "text"]);
const SVG_ATTRIBUTES = new Set([
  "xmlns", "viewBox", "width", "height", "role", "font-family", "font-size", "x", "y",
  "x1", "x2", "y1", "y2", "cx", "cy", "r", "points", "fill", "stroke", "stroke-width",
  "stroke-dasharray", "text-anchor", "id", "class", "data-track",
]);

const $ = (id) => document.getElementById(id);

function setState(state) {
  document.body.dataset.state = state;
}

function authHeaders() {
  return { Authorization: `Bearer ${sessionStorage.getItem(KEY_STORAGE) || ""}` };
}

function errorText(status, body) {
  // The gateway's errors are {"error": {"code", "message"}}.
  try {
    const parsed = typeof body === "string" ? JSON.parse(body) : body;
    if (parsed && parsed.error) return `${parsed.error.message} (${parsed.error.code}, HTTP ${status})`;
  } catch (e) {
    // not JSON: fall through to the status
  }
  return `HTTP ${status}`;
}

function showError(message) {
  const el = $("error");
  el.textContent = message;
  el.hidden = false;
  setState("error");
  $("analyze").disabled = false;
}

function formatBytes(n) {
  if (n >= 1 << 20) return `${(n / (1 << 20)).toFixed(1)} MiB`;
  if (n >= 1 << 10) return `${(n / (1 << 10)).toFixed(1)} KiB`;
  return `${n} B`;
}

function createJob(file) {
  // XMLHttpRequest rather than fetch: it reports upload progress.
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    const params = new URLSearchParams();
    if (REQUEST_EXPLANATIONS) params.set("explain", "true");
    xhr.open("POST", `/v1/jobs?${params}`);
    for (const [name, value] of Object.entries(authHeaders())) xhr.setRequestHeader(name, value);
    const type = file.type && file.type.startsWith("video/") ? file.type : "application/octet-stream";
    xhr.setRequestHeader("Content-Type", type);
    xhr.responseType = "json";
    xhr.upload.addEventListener("progress", (event) => {
      if (!event.lengthComputable) return;
      $("upload-progress").value = event.loaded / event.total;
      $("upload-text").textContent = `${formatBytes(event.loaded)} of ${formatBytes(event.total)}`;
    });
    xhr.addEventListener("load", () => {
      if (xhr.status === 202 || xhr.status === 200) {
        $("upload-progress").value = 1;
        $("upload-text").textContent = `${formatBytes(file.size)} uploaded`;
        resolve(xhr.response);
      } else {
        reject(new Error(errorText(xhr.status, xhr.response)));
      }
    });
    xhr.addEventListener("error", () => reject(new Error("the upload failed (network error)")));
    xhr.send(file);
  });
}

function showProgress(job) {
  const p = job.progress || {};
  const total = p.frames_total || 0;
  const bar = $("analysis-progress");
  if (job.status === "succeeded") {
    bar.value = 1;
  } else if (total > 0) {
    bar.value = Math.min(1, (p.frames_done || 0) / total);
  }
  const frames = total > 0 ? `, ${p.frames_done || 0} of ${total} frames` : "";
  $("analysis-text").textContent = `${job.status} (${p.stage || "queued"}${frames})`;
}

async function* serverSentEvents(response) {
  // EventSource cannot send headers, so the stream is read and parsed here.
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value.replace(/\r\n/g, "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let event = "message";
      const data = [];
      for (const line of block.split("\n")) {
        if (line.startsWith(":")) continue; // a comment (keep-alive)
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        const text = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
        if (field === "event") event = text;
        else if (field === "data") data.push(text);
      }
      if (data.length) yield { event, data: data.join("\n") };
    }
  }
}

async function getJob(id) {
  const response = await fetch(`/v1/jobs/${encodeURIComponent(id)}`, { headers: authHeaders() });
  const body = await response.json();
  if (!response.ok) throw new Error(errorText(response.status, body));
  return body;
}

async function followJob(id) {
  // The event stream until its "end"; polling if the stream breaks off.
  try {
    const response = await fetch(`/v1/jobs/${encodeURIComponent(id)}/events`, {
      headers: { ...authHeaders(), Accept: "text/event-stream" },
    });
    if (!response.ok) throw new Error(errorText(response.status, await response.text()));
    for await (const { event, data } of serverSentEvents(response)) {
      if (event === "deleted") throw new Error("the job was deleted");
      const job = JSON.parse(data);
      showProgress(job);
      if (event === "end") return job;
    }
  } catch (error) {
    if (error.message === "the job was deleted") throw error;
  }
  for (;;) {
    const job = await getJob(id);
    showProgress(job);
    if (!["queued", "running"].includes(job.status)) return job;
    await new Promise((done) => setTimeout(done, 1000));
  }
}

function text(tag, content, className) {
  const el = document.createElement(tag);
  el.textContent = content;
  if (className) el.className = className;
  return el;
}

function fillFacts(list, entries) {
  list.replaceChildren();
  for (const [name, value] of entries) {
    list.append(text("dt", name), text("dd", value));
  }
}

function fmt(score) {
  return Number(score).toFixed(3);
}

function showSummary(job, result) {
  const verdict = $("verdict");
  verdict.textContent = result.verdict;
  verdict.className = `verdict ${result.verdict}`;
  verdict.dataset.verdict = result.verdict;
  $("score").textContent = fmt(result.score);
  $("score").dataset.value = String(result.score);
  $("threshold").textContent = fmt(result.threshold);
  $("threshold").dataset.value = String(result.threshold);
  $("aggregation").textContent = result.aggregation;
  $("model-name").textContent = result.model.name;
  $("model-version").textContent = String(result.model.version);
  $("model-kind").textContent = result.model.kind;
  $("frames").textContent = String(result.frames_analyzed);
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

function showProvenance(provenance) {
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

function showTracks(result) {
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

async function showTimeline(job) {
  const figure = $("timeline");
  figure.replaceChildren(text("p", "Loading the timeline...", "hint"));
  const response = await fetch(`/v1/jobs/${encodeURIComponent(job.id)}/timeline.svg`, { headers: authHeaders() });
  const body = await response.text();
  if (!response.ok) {
    figure.replaceChildren(text("p", `No timeline: ${errorText(response.status, body)}`, "error"));
    return;
  }
  // Parsed as XML (which never runs anything), then rebuilt from the allowed parts.
  const doc = new DOMParser().parseFromString(body, "image/svg+xml");
  const svg = doc.querySelector("parsererror") ? null : cleanSvg(doc.documentElement);
  figure.replaceChildren(svg || text("p", "The timeline could not be read.", "error"));
}

function showExplanations(result) {
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

async function analyse(event) {
  event.preventDefault();
  const key = $("api-key").value.trim();
  const file = $("video").files[0];
  $("error").hidden = true;
  if (!key) return showError("Enter an API key.");
  if (!file) return showError("Choose a video.");
  sessionStorage.setItem(KEY_STORAGE, key);
  $("analyze").disabled = true;
  $("result").hidden = true;
  $("progress").hidden = false;
  $("upload-progress").value = 0;
  $("analysis-progress").value = 0;
  $("analysis-text").textContent = "";
  try {
    setState("uploading");
    const created = await createJob(file);
    setState("analysing");
    showProgress(created);
    const job = await followJob(created.id);
    if (job.status !== "succeeded" || !job.result) {
      const why = job.error ? `${job.error.message} (${job.error.code})` : job.status;
      return showError(`The analysis did not succeed: ${why}`);
    }
    showSummary(job, job.result);
    showProvenance(job.result.provenance);
    showTracks(job.result);
    showExplanations(job.result);
    $("result").hidden = false;
    await showTimeline(job);
    $("analyze").disabled = false;
    setState("done");
  } catch (error) {
    showError(error.message);
  }
}

function start() {
  $("api-key").value = sessionStorage.getItem(KEY_STORAGE) || "";
  $("form").addEventListener("submit", analyse);
  document.body.dataset.ready = "true";
}

start();
