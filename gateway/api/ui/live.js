// The web page at /ui/live: the camera scored live over the /v1/live WebSocket
// (docs/live.md). Frames are JPEGs drawn from the camera into a canvas, sent only while the
// server has granted credit; the rolling verdicts it sends are shown beside the picture and
// drawn over it (a canvas overlay: face boxes and the score).
//
// No build step, no other origin. The API key lives in sessionStorage (this tab only), as on
// /ui, and travels in the Sec-WebSocket-Protocol header, never in the URL. Text from the
// server only ever reaches the page as textContent or canvas text, never as HTML.

const KEY_STORAGE = "deepfake-api-key";
const SUBPROTOCOL = "deepfake-live.v1";
// Frames are sent at most this wide: enough for the face detector, light on the wire.
const MAX_FRAME_WIDTH = 640;
const JPEG_QUALITY = 0.85;
// A key may travel as a subprotocol only if it is an HTTP token; else it goes in the hello.
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const COLOURS = { fake: "#c62828", real: "#2e7d32", inconclusive: "#b26a00" };

const $ = (id) => document.getElementById(id);

const live = {
  ws: null,
  stream: null,
  timer: null,
  credit: 0,
  sent: 0,
  droppedHere: 0,
  encoding: false,
  verdicts: 0,
  last: null,
  grab: document.createElement("canvas"),
};

function setState(state) {
  document.body.dataset.state = state;
}

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = false;
}

function fixed(value, digits = 3) {
  return typeof value === "number" ? value.toFixed(digits) : "–";
}

function showCounters() {
  $("frames-sent").textContent = String(live.sent);
  $("frames-dropped-local").textContent = String(live.droppedHere);
  $("credit").textContent = String(live.credit);
}

function showVerdict(message) {
  const verdict = message.verdict || "waiting";
  $("verdict").textContent = verdict;
  $("verdict").className = `verdict ${message.verdict || ""}`.trim();
  $("score").textContent = fixed(message.score);
  $("score").dataset.value = message.score ?? "";
  $("threshold").textContent = fixed(message.threshold);
  $("t").textContent = `${fixed(message.t, 1)} s`;
  $("frames-seen").textContent = String(message.frames_seen);
  $("frames-scored").textContent = String(message.frames_scored);
  $("frames-dropped").textContent = String(message.frames_dropped);
  const latency = message.latency_ms || {};
  $("latency").textContent =
    typeof latency.last === "number"
      ? `${latency.last.toFixed(0)} ms (p95 ${fixed(latency.p95, 0)} ms)`
      : "–";
  const rows = (message.tracks || []).map((track) => {
    const row = document.createElement("tr");
    row.dataset.track = String(track.id);
    for (const value of [`#${track.id}`, fixed(track.score), track.verdict, String(track.frames)]) {
      const cell = document.createElement("td");
      cell.textContent = value;
      row.append(cell);
    }
    return row;
  });
  $("tracks").tBodies[0].replaceChildren(...rows);
}

function pictureRect(video, overlay) {
  // Where the picture lies in the overlay (CSS pixels): the video is letterboxed
  // (object-fit: contain) when its box is not of the picture's shape.
  const boxW = overlay.clientWidth;
  const boxH = overlay.clientHeight;
  const vw = video.videoWidth || boxW;
  const vh = video.videoHeight || boxH;
  const scale = Math.min(boxW / vw, boxH / vh);
  const w = vw * scale;
  const h = vh * scale;
  return { x: (boxW - w) / 2, y: (boxH - h) / 2, w, h };
}

function drawOverlay(message) {
  // The boxes are in the pixels of the frame the server scored last (frame_size); the
  // picture on screen is that frame scaled, so one factor per axis maps them.
  const overlay = $("overlay");
  const ratio = window.devicePixelRatio || 1;
  overlay.width = Math.round(overlay.clientWidth * ratio);
  overlay.height = Math.round(overlay.clientHeight * ratio);
  const ctx = overlay.getContext("2d");
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, overlay.clientWidth, overlay.clientHeight);
  const picture = pictureRect($("camera"), overlay);
  const drawn = [];
  const size = message.frame_size;
  const boxes = (message.tracks || [])
    .filter((track) => Array.isArray(track.box))
    .map((track) => ({ box: track.box, label: `#${track.id} ${fixed(track.score)}`,
      track: track.id, verdict: track.verdict }));
  if (Array.isArray(size) && size[0] > 0 && size[1] > 0) {
    const sx = picture.w / size[0];
    const sy = picture.h / size[1];
    ctx.lineWidth = 3;
    ctx.font = "bold 14px system-ui, sans-serif";
    for (const { box, label, track, verdict } of boxes) {
      const rect = {
        x: picture.x + box[0] * sx,
        y: picture.y + box[1] * sy,
        w: (box[2] - box[0]) * sx,
        h: (box[3] - box[1]) * sy,
      };
      const colour = COLOURS[verdict] || COLOURS.real;
      ctx.strokeStyle = colour;
      ctx.strokeRect(rect.x, rect.y, rect.w, rect.h);
      ctx.fillStyle = colour;
      ctx.fillRect(rect.x, rect.y - 18, ctx.measureText(label).width + 8, 18);
      ctx.fillStyle = "#fff";
      ctx.fillText(label, rect.x + 4, rect.y - 4);
      drawn.push({ track, ...rect });
    }
  }
  // The rolling score, top left of the picture.
  const headline = message.verdict ? `${message.verdict.toUpperCase()} ${fixed(message.score)}` : "…";
  ctx.font = "bold 20px system-ui, sans-serif";
  ctx.fillStyle = "rgba(0, 0, 0, 0.6)";
  ctx.fillRect(picture.x + 8, picture.y + 8, ctx.measureText(headline).width + 16, 30);
  ctx.fillStyle = COLOURS[message.verdict] || "#fff";
  ctx.fillText(headline, picture.x + 16, picture.y + 30);
  // What was drawn, in CSS pixels of the overlay: a canvas has no elements to read.
  overlay.dataset.boxes = JSON.stringify(drawn);
}

function showSummary(message) {
  $("summary-verdict").textContent = message.verdict || "no frame scored";
  $("summary-verdict").className = `verdict ${message.verdict || ""}`.trim();
  $("summary-score").textContent = fixed(message.score);
  $("summary-frames").textContent =
    `${message.frames_seen} / ${message.frames_scored} / ${message.frames_dropped}`;
  $("summary-tracks").textContent =
    (message.tracks || []).map((t) => `#${t.id} ${fixed(t.score)} ${t.verdict}`).join(", ") || "none";
  $("summary-sha256").textContent = message.sha256 || "–";
  $("summary-receipt").value = message.receipt || "";
  $("summary").hidden = false;
}

function sendFrame() {
  // One tick of the capture clock: a frame goes only against a credit; without one it is
  // dropped here (a camera does not wait). A tick that finds the last frame still being
  // encoded is skipped.
  const video = $("camera");
  if (!live.ws || live.ws.readyState !== WebSocket.OPEN || !video.videoWidth) return;
  if (live.encoding) return;
  if (live.credit <= 0) {
    live.droppedHere += 1;
    showCounters();
    return;
  }
  live.credit -= 1;
  live.encoding = true;
  const scale = Math.min(1, MAX_FRAME_WIDTH / video.videoWidth);
  live.grab.width = Math.round(video.videoWidth * scale);
  live.grab.height = Math.round(video.videoHeight * scale);
  live.grab.getContext("2d").drawImage(video, 0, 0, live.grab.width, live.grab.height);
  live.grab.toBlob(async (blob) => {
    try {
      if (blob && live.ws && live.ws.readyState === WebSocket.OPEN) {
        live.ws.send(await blob.arrayBuffer());
        live.sent += 1;
      }
    } finally {
      live.encoding = false;
      showCounters();
    }
  }, "image/jpeg", JPEG_QUALITY);
}

function onMessage(event) {
  if (typeof event.data !== "string") return;
  const message = JSON.parse(event.data);
  if (message.type === "ready") {
    live.credit = message.credit;
    $("model").textContent = `${message.model.name} version ${message.model.version}`;
    $("session").textContent = message.session;
    live.timer = setInterval(sendFrame, 1000 / (message.max_fps || 5));
    setState("live");
  } else if (message.type === "credit") {
    live.credit += message.frames; // a grant, added to what was left
  } else if (message.type === "verdict" || message.type === "summary") {
    live.last = message;
    live.verdicts += message.type === "verdict" ? 1 : 0;
    document.body.dataset.verdicts = String(live.verdicts);
    $("last-message").textContent = event.data;
    showVerdict(message);
    drawOverlay(message);
    if (message.type === "summary") showSummary(message);
  } else if (message.type === "error") {
    showError(`${message.message} (${message.code})`);
  }
  showCounters();
}

function stopCapture() {
  clearInterval(live.timer);
  live.timer = null;
  for (const track of live.stream ? live.stream.getTracks() : []) track.stop();
  live.stream = null;
}

function onClose(event) {
  stopCapture();
  live.ws = null;
  $("start").disabled = false;
  $("stop").disabled = true;
  const ended = live.last && live.last.type === "summary";
  if (!ended && $("error").hidden) {
    showError(`The session closed (${event.code}${event.reason ? ` ${event.reason}` : ""}).`);
  }
  document.body.dataset.closeCode = String(event.code);
  setState(ended ? "done" : "error");
}

async function start(event) {
  event.preventDefault();
  const key = $("api-key").value.trim();
  $("error").hidden = true;
  if (!key) return showError("Enter an API key.");
  sessionStorage.setItem(KEY_STORAGE, key);
  $("start").disabled = true;
  $("summary").hidden = true;
  Object.assign(live, { credit: 0, sent: 0, droppedHere: 0, verdicts: 0, last: null });
  showCounters();
  setState("connecting");
  try {
    live.stream = await navigator.mediaDevices.getUserMedia({ video: true, audio: false });
  } catch (error) {
    $("start").disabled = false;
    setState("error");
    return showError(`No camera: ${error.message}`);
  }
  $("camera").srcObject = live.stream;
  const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/v1/live`;
  const inHeader = TOKEN.test(key);
  const ws = new WebSocket(url, inHeader ? [SUBPROTOCOL, `key.${key}`] : [SUBPROTOCOL]);
  live.ws = ws;
  ws.binaryType = "arraybuffer";
  ws.addEventListener("open", () => {
    const hello = { type: "hello", input: "images", window: Number($("window").value) || 10 };
    if (!inHeader) hello.api_key = key;
    ws.send(JSON.stringify(hello));
    $("stop").disabled = false;
  });
  ws.addEventListener("message", onMessage);
  ws.addEventListener("close", onClose);
}

function stop() {
  // No more frames: the server scores what it holds and answers with the summary.
  clearInterval(live.timer);
  live.timer = null;
  $("stop").disabled = true;
  if (live.ws && live.ws.readyState === WebSocket.OPEN) {
    live.ws.send(JSON.stringify({ type: "end" }));
    setState("ending");
  }
}

function init() {
  $("api-key").value = sessionStorage.getItem(KEY_STORAGE) || "";
  // The boxes are drawn in the overlay's pixels: drawn again whenever its size changes.
  new ResizeObserver(() => {
    if (live.last) drawOverlay(live.last);
  }).observe($("overlay"));
  $("form").addEventListener("submit", start);
  $("stop").addEventListener("click", stop);
  document.body.dataset.ready = "true";
}

init();
