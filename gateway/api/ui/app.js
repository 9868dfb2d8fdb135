// The web page at /ui: upload a video (or a still image) as a job, follow it, show its result
// over the file itself, played from this computer (player.js).
//
// No build step, no other origin. The API key lives in sessionStorage (this tab only) and
// travels as an Authorization header on each call; the page sets no cookie. Text from the
// server only ever reaches the page as textContent or attribute values, never as HTML
// (render.js).

import {
  $, parseTimeline, showExplanations, showProvenance, showSummary, showTracks, text,
} from "./render.js";
import { bindTimeline, clearMedia, showMedia, startPlayer } from "./player.js";

// Ask for face thumbnails and heatmaps; versions without them answer without them.
// (Unknown query parameters are ignored by the jobs API.)
const REQUEST_EXPLANATIONS = true;
const KEY_STORAGE = "deepfake-api-key";

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
    // The gateway reads what the file is from its bytes; the type only has to admit it.
    const type = file.type && /^(video|image)\//.test(file.type) ? file.type : "application/octet-stream";
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

async function showTimeline(job) {
  const figure = $("timeline");
  figure.replaceChildren(text("p", "Loading the timeline...", "hint"));
  const response = await fetch(`/v1/jobs/${encodeURIComponent(job.id)}/timeline.svg`, { headers: authHeaders() });
  const body = await response.text();
  if (!response.ok) {
    figure.replaceChildren(text("p", `No timeline: ${errorText(response.status, body)}`, "error"));
    return;
  }
  const svg = parseTimeline(body);
  figure.replaceChildren(svg || text("p", "The timeline could not be read.", "error"));
  bindTimeline(svg);
}

async function analyse(event) {
  event.preventDefault();
  const key = $("api-key").value.trim();
  const file = $("video").files[0];
  $("error").hidden = true;
  if (!key) return showError("Enter an API key.");
  if (!file) return showError("Choose a video or an image.");
  sessionStorage.setItem(KEY_STORAGE, key);
  $("analyze").disabled = true;
  $("result").hidden = true;
  clearMedia();
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
    // The file the answer is about, from memory: it is not uploaded again.
    showMedia(file, job.result);
    await showTimeline(job);
    $("analyze").disabled = false;
    setState("done");
  } catch (error) {
    showError(error.message);
  }
}

function carriesFiles(event) {
  return !!event.dataTransfer && [...event.dataTransfer.types].includes("Files");
}

function acceptDrops() {
  // A file dropped anywhere on the page becomes the file input's choice, as if picked in
  // its dialog; the drop zone shows while a file is dragged over the page.
  let depth = 0; // dragenter and dragleave come for every element crossed
  const over = (on) => {
    if (on) document.body.dataset.drop = "over";
    else delete document.body.dataset.drop;
  };
  document.addEventListener("dragenter", (event) => {
    if (!carriesFiles(event)) return;
    depth += 1;
    over(true);
  });
  document.addEventListener("dragleave", (event) => {
    if (!carriesFiles(event)) return;
    depth = Math.max(0, depth - 1);
    if (depth === 0) over(false);
  });
  document.addEventListener("dragover", (event) => {
    if (!carriesFiles(event)) return;
    event.preventDefault(); // allows the drop
    event.dataTransfer.dropEffect = "copy";
    over(true);
  });
  document.addEventListener("drop", (event) => {
    if (!carriesFiles(event)) return;
    event.preventDefault(); // else the browser opens the file in place of the page
    depth = 0;
    over(false);
    const file = event.dataTransfer.files[0];
    if (!file) return;
    // The input takes one file: the first dropped.
    const chosen = new DataTransfer();
    chosen.items.add(file);
    $("video").files = chosen.files;
    $("drop-hint").textContent = `${file.name} (${formatBytes(file.size)}), dropped: press Analyse`;
  });
}

function start() {
  $("api-key").value = sessionStorage.getItem(KEY_STORAGE) || "";
  $("form").addEventListener("submit", analyse);
  // A file picked in the dialog replaces one dropped before: the hint says so no more.
  const hint = $("drop-hint").textContent;
  $("video").addEventListener("change", () => {
    $("drop-hint").textContent = hint;
  });
  acceptDrops();
  startPlayer();
  document.body.dataset.ready = "true";
}

start();
