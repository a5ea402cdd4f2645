// The vemd page: send one image or video to /v1/predict and draw the group-level result.
// Everything the server returns is written as text (textContent, SVG attributes), never as HTML,
// except the model card: HTML the server rendered from Markdown with raw HTML dropped
// (vemd.serve.card_html). Nothing is fetched from another host.
"use strict";

const SVG_NS = "http://www.w3.org/2000/svg"; // an XML namespace name, never fetched
// Okabe–Ito colours: distinguishable with the common colour-vision deficiencies.
const COLOURS = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442"];

const $ = (id) => document.getElementById(id);
let pending = null; // AbortController of the request in flight
let chosen = null; // the File chosen or dropped, sent again by "Apply"
let previewUrl = null; // its object URL (a local blob: the preview uploads nothing)
let caveat = null; // the model's caveat line, from /v1/model
let shown = null; // the timeline on the page, redrawn when the page resizes

function colour(index) {
  return COLOURS[index % COLOURS.length];
}

function element(tag, attrs = {}, text = null) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  if (text !== null) node.textContent = text;
  return node;
}

function svg(tag, attrs = {}, text = null) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  if (text !== null) node.textContent = text;
  return node;
}

function percent(p) {
  return (100 * p).toFixed(1) + "%";
}

function seconds(s) {
  return Number.isInteger(s) ? String(s) : s.toFixed(1);
}

function signed(v) {
  return (v >= 0 ? "+" : "−") + Math.abs(v).toFixed(2);
}

function sentence(text) {
  return text.charAt(0).toUpperCase() + text.slice(1).replace(/\.?$/, ".");
}

// ---- model header --------------------------------------------------------------------------

async function loadModel() {
  const box = $("model");
  try {
    const response = await fetch("/v1/model");
    const info = await response.json();
    if (!response.ok) throw new Error(info.error || "HTTP " + response.status);
    const classNames = info.class_names || [];
    box.textContent = "";
    const parts = [
      info.arousal ? ["Outputs", "valence, arousal"] : ["Classes", classNames.join(", ")],
      info.mode ? ["Mode", info.mode] : ["System", info.system],
      ["Input", info.image_size + " px"],
      ["Window", seconds(info.window) + " s"],
      ["vemd", info.vemd_version],
    ];
    for (const [name, value] of parts) {
      const item = element("span", { class: "model-item" });
      item.append(element("span", { class: "caption" }, name + " "), element("strong", {}, String(value)));
      box.append(item);
    }
    $("window").placeholder = seconds(info.window);
    $("stride").placeholder = seconds(info.stride);
    if (info.caveat) {
      caveat = info.caveat;
      const note = $("caveat");
      note.textContent = "";
      note.append(
        element("strong", {}, "Caveat: "),
        document.createTextNode(
          sentence(info.caveat) + " Its results on real photos or videos say nothing about real people's emotions.",
        ),
      );
      note.hidden = false;
    }
    if (info.model_card_html) {
      $("model-card-body").innerHTML = info.model_card_html; // rendered by the server, raw HTML dropped
      $("model-card").hidden = false;
    }
  } catch (err) {
    box.textContent = "Model information unavailable (" + err.message + ").";
  }
}

// ---- input ---------------------------------------------------------------------------------

function choose(file) {
  chosen = file;
  showPreview(file);
  $("choose").textContent = "Choose another image or video";
  $("apply").disabled = false;
  predict(file);
}

function showPreview(file) {
  if (previewUrl) URL.revokeObjectURL(previewUrl);
  previewUrl = null;
  const media = $("preview-media");
  media.textContent = "";
  const kind = file.type.split("/")[0];
  if (kind === "image" || kind === "video") {
    previewUrl = URL.createObjectURL(file);
    const node =
      kind === "image"
        ? element("img", { src: previewUrl, alt: "Preview of " + file.name })
        : element("video", { src: previewUrl, controls: "", muted: "", playsinline: "", preload: "metadata" });
    node.addEventListener("error", () =>
      node.replaceWith(element("p", { class: "hint" }, "No preview: this browser cannot show this file.")),
    );
    media.append(node);
  }
  $("preview-name").textContent = file.name + " · " + size(file.size);
  $("preview").hidden = false;
}

function size(bytes) {
  if (bytes < 1e3) return bytes + " B";
  if (bytes < 1e6) return (bytes / 1e3).toFixed(0) + " kB";
  return (bytes / 1e6).toFixed(1) + " MB";
}

// ---- request -------------------------------------------------------------------------------

function clearResult() {
  shown = null;
  $("result").hidden = true;
  for (const id of ["label", "valence", "probs", "timeline", "input-name", "result-caveat"]) $(id).textContent = "";
  $("valence-box").hidden = true;
  $("result-caveat").hidden = true;
}

function showError(message) {
  clearResult();
  $("error").textContent = message.split("\n")[0];
  $("error").hidden = false;
}

function setStatus(text, busy) {
  const status = $("status");
  status.textContent = "";
  if (busy) status.append(element("span", { class: "spinner", "aria-hidden": "true" }));
  status.append(document.createTextNode(text));
  status.classList.toggle("busy", busy);
  $("form").setAttribute("aria-busy", String(busy));
}

async function predict(file) {
  if (pending) pending.abort();
  const controller = new AbortController();
  pending = controller;
  $("error").hidden = true;
  $("error").textContent = "";
  clearResult();
  setStatus("Analysing " + file.name + "…", true);
  const started = performance.now();
  const form = new FormData();
  form.append("file", file, file.name);
  for (const name of ["window", "stride"]) {
    const value = $(name).value.trim();
    if (value !== "") form.append(name, value); // empty: the model's own
  }
  let response, body = null;
  try {
    response = await fetch("/v1/predict", { method: "POST", body: form, signal: controller.signal });
    body = await response.json();
  } catch (err) {
    if (err.name === "AbortError") return; // replaced by a newer request
    if (!response) {
      failed(controller, "Could not reach the server (" + err.message + ").");
      return;
    }
    // not JSON (a proxy's error page): the status line is all there is
  }
  if (pending !== controller) return;
  pending = null;
  if (!response.ok || body === null) {
    const reason = body && body.error ? body.error : "HTTP " + response.status + " " + response.statusText;
    failed(controller, reason.startsWith(file.name) ? reason : file.name + ": " + reason);
    return;
  }
  showResult(body);
  setStatus("Done in " + ((performance.now() - started) / 1000).toFixed(1) + " s.", false);
}

function failed(controller, message) {
  if (pending === controller) pending = null;
  showError(message);
  setStatus("", false);
}

// ---- result --------------------------------------------------------------------------------

function showResult(result) {
  $("input-name").textContent = "for " + result.input;
  const note = result.caveat || caveat;
  if (note) {
    $("result-caveat").textContent = "Demonstration only: the model was " + note.replace(/\.$/, "") + ".";
    $("result-caveat").hidden = false;
  }
  if (!result.probs) return showValenceArousal(result); // a regression system: no class
  const names = Object.keys(result.probs);
  $("label").textContent = result.label;
  if (typeof result.valence === "number") {
    $("valence").textContent = signed(result.valence);
    $("valence-box").hidden = false;
  }
  drawBars($("probs"), names, result.probs, result.label);
  const windows = (result.windows || []).filter((w) => w.end > w.start); // an image's window has no span
  $("result").hidden = false; // before the timeline, which takes the width it is shown at
  if (windows.length) {
    shown = { names, windows };
    drawTimeline($("timeline"), names, windows);
  }
}

function showValenceArousal(result) {
  $("label").textContent = "valence " + signed(result.valence) + " · arousal " + signed(result.arousal);
  $("result").hidden = false;
  const windows = result.windows || [];
  if (windows.length < 2) return;
  const table = element("table", { class: "windows" });
  table.append(element("caption", {}, "Windows"));
  const head = element("tr");
  for (const title of ["Start (s)", "End (s)", "Valence", "Arousal"]) head.append(element("th", { scope: "col", class: "num" }, title));
  const thead = element("thead");
  thead.append(head);
  table.append(thead);
  const body = element("tbody");
  for (const w of windows) {
    const row = element("tr");
    for (const value of [w.start.toFixed(1), w.end.toFixed(1), signed(w.valence), signed(w.arousal)]) {
      row.append(element("td", { class: "num" }, value));
    }
    body.append(row);
  }
  table.append(body);
  const wrap = element("div", { class: "table-wrap" });
  wrap.append(table);
  $("timeline").append(wrap);
}

function drawBars(box, names, probs, label) {
  names.forEach((name, i) => {
    const row = element("div", { class: "bar", "data-class": name });
    if (name === label) row.classList.add("top");
    const track = element("div", {
      class: "track",
      role: "meter",
      "aria-label": name,
      "aria-valuemin": "0",
      "aria-valuemax": "100",
      "aria-valuenow": (100 * probs[name]).toFixed(1),
    });
    const fill = element("div", { class: "fill" });
    fill.style.width = Math.max(0, Math.min(100, 100 * probs[name])) + "%";
    fill.style.background = colour(i);
    track.append(fill);
    row.append(element("span", { class: "name" }, name), track, element("span", { class: "pct" }, percent(probs[name])));
    box.append(row);
  });
}

// ---- timeline ------------------------------------------------------------------------------

function niceStep(span, maxTicks) {
  for (const step of [0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600]) {
    if (span / step <= maxTicks) return step;
  }
  return Math.ceil(span / maxTicks / 3600) * 3600;
}

// As `vemd predict --out` plots it (vemd.eval.plots.timeline_figure): the time the windows
// cover, cut at every window's start and end, each piece holding the mean probabilities of the
// windows that cover it (steps: no change is drawn where none was measured, and nothing between
// windows that leave a gap), stacked; below them a band of each piece's most probable label.
function windowPieces(windows, names) {
  const edges = [...new Set(windows.flatMap((w) => [w.start, w.end]))].sort((a, b) => a - b);
  const pieces = [];
  for (let i = 0; i + 1 < edges.length; i++) {
    const a = edges[i], b = edges[i + 1];
    const covering = windows.filter((w) => w.start <= a && w.end >= b);
    if (!covering.length) continue;
    const probs = {};
    for (const name of names) probs[name] = covering.reduce((sum, w) => sum + w.probs[name], 0) / covering.length;
    const label = names.reduce((best, name) => (probs[name] > probs[best] ? name : best), names[0]);
    pieces.push({ start: a, end: b, probs, label });
  }
  return pieces;
}

// Drawn at the box's own width (text stays 12 px on any screen) and again when the page resizes.
function drawTimeline(box, names, windows) {
  box.textContent = "";
  const sorted = [...windows].sort((a, b) => a.start - b.start || a.end - b.end);
  const pieces = windowPieces(sorted, names);
  const runs = [];  // pieces that touch, each run one closed outline per class
  for (const piece of pieces) {
    const run = runs[runs.length - 1];
    if (run && run[run.length - 1].end === piece.start) run.push(piece);
    else runs.push([piece]);
  }
  const width = Math.max(280, Math.round(box.clientWidth));
  const m = { left: 44, right: 10, top: 8 };
  const plotHeight = 180, bandTop = m.top + plotHeight + 8, bandHeight = 16, height = bandTop + bandHeight + 38;
  const t0 = pieces[0].start, t1 = pieces[pieces.length - 1].end;
  const x = (t) => m.left + ((t - t0) / (t1 - t0)) * (width - m.left - m.right);
  const y = (p) => m.top + (1 - p) * plotHeight;

  box.append(element("h3", { id: "timeline-title" }, "Timeline"));
  const chart = svg("svg", {
    width,
    height,
    viewBox: `0 0 ${width} ${height}`,
    role: "img",
    "aria-labelledby": "timeline-title timeline-desc",
    class: "chart",
  });
  chart.append(
    svg("desc", { id: "timeline-desc" }, "Probability of each class over time, stacked, above a band of the predicted label; the table below holds the same values."),
  );

  const grid = svg("g", { class: "grid" });
  for (const p of [0, 0.25, 0.5, 0.75, 1]) {
    grid.append(svg("line", { x1: m.left, x2: width - m.right, y1: y(p), y2: y(p) }));
    grid.append(svg("text", { x: m.left - 6, y: y(p) + 4, "text-anchor": "end" }, Math.round(100 * p) + "%"));
  }
  chart.append(grid);

  // Areas: class 0 at the bottom, as matplotlib's stackplot; each run of pieces one outline.
  const below = pieces.map(() => 0);
  names.forEach((name, i) => {
    const above = below.map((b, k) => b + pieces[k].probs[name]);
    let k = 0;
    const outlines = runs.map((run) => {
      const ks = run.map(() => k++);
      const edge = (values) => ks.flatMap((j) => [pieces[j].start, pieces[j].end].map((t) => `${x(t).toFixed(1)},${y(values[j]).toFixed(1)}`));
      return `M${edge(above).join("L")}L${edge(below).reverse().join("L")}Z`;
    });
    const area = svg("path", { class: "area", "data-class": name, d: outlines.join(""), fill: colour(i) });
    area.append(svg("title", {}, name));
    chart.append(area);
    above.forEach((value, j) => (below[j] = value));
  });

  const band = svg("g", { class: "band" });
  pieces.forEach((piece) => {
    const rect = svg("rect", {
      x: x(piece.start),
      y: bandTop,
      width: Math.max(0.5, x(piece.end) - x(piece.start)),
      height: bandHeight,
      fill: colour(names.indexOf(piece.label)),
      "data-class": piece.label,
    });
    rect.append(svg("title", {}, `${seconds(piece.start)}–${seconds(piece.end)} s: ${piece.label}`));
    band.append(rect);
  });
  band.append(svg("text", { x: m.left - 6, y: bandTop + bandHeight - 4, "text-anchor": "end" }, "label"));
  chart.append(band);

  const axis = svg("g", { class: "grid" });
  const axisY = bandTop + bandHeight;
  axis.append(svg("line", { class: "axis", x1: m.left, x2: width - m.right, y1: axisY, y2: axisY }));
  const step = niceStep(t1 - t0, Math.max(2, Math.floor((width - m.left - m.right) / 60)));
  for (let t = Math.ceil(t0 / step) * step; t <= t1 + 1e-9; t += step) {
    axis.append(svg("line", { class: "tick", x1: x(t), x2: x(t), y1: axisY, y2: axisY + 5 }));
    axis.append(svg("text", { x: x(t), y: axisY + 18, "text-anchor": "middle" }, seconds(Math.round(t * 10) / 10)));
  }
  axis.append(svg("text", { x: (m.left + width - m.right) / 2, y: height - 4, "text-anchor": "middle" }, "time (s)"));
  chart.append(axis);
  box.append(chart);

  const legend = element("ul", { class: "legend", "aria-label": "Legend" });
  names.forEach((name, i) => {
    const item = element("li");
    const swatch = element("span", { class: "swatch", "aria-hidden": "true" });
    swatch.style.background = colour(i);
    item.append(swatch, document.createTextNode(name));
    legend.append(item);
  });
  box.append(legend);
  box.append(windowTable(names, sorted));
}

function windowTable(names, windows) {
  const withValence = windows.some((w) => typeof w.valence === "number");
  const table = element("table", { class: "windows" });
  table.append(element("caption", {}, "Windows"));
  const head = element("tr");
  for (const title of ["Start (s)", "End (s)"]) head.append(element("th", { scope: "col", class: "num" }, title));
  head.append(element("th", { scope: "col" }, "Label"));
  for (const title of [...names, ...(withValence ? ["Valence"] : [])]) {
    head.append(element("th", { scope: "col", class: "num" }, title));
  }
  const thead = element("thead");
  thead.append(head);
  table.append(thead);
  const body = element("tbody");
  for (const w of windows) {
    const row = element("tr");
    row.append(element("td", { class: "num" }, w.start.toFixed(1)), element("td", { class: "num" }, w.end.toFixed(1)));
    row.append(element("td", {}, w.label));
    for (const name of names) row.append(element("td", { class: "num" }, percent(w.probs[name])));
    if (withValence) row.append(element("td", { class: "num" }, typeof w.valence === "number" ? signed(w.valence) : "–"));
    body.append(row);
  }
  table.append(body);
  const wrap = element("div", { class: "table-wrap" });
  wrap.append(table);
  return wrap;
}

// ---- setup ---------------------------------------------------------------------------------

function setup() {
  const input = $("file");
  const drop = $("drop");
  input.addEventListener("change", () => {
    if (input.files.length) choose(input.files[0]);
  });
  $("form").addEventListener("submit", (event) => {
    event.preventDefault(); // "Apply": the chosen file again, with the window and stride now set
    if (chosen) predict(chosen);
  });
  for (const type of ["dragenter", "dragover"]) {
    drop.addEventListener(type, (event) => {
      event.preventDefault();
      drop.classList.add("over");
    });
  }
  for (const type of ["dragleave", "drop"]) {
    drop.addEventListener(type, () => drop.classList.remove("over"));
  }
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    const files = event.dataTransfer.files;
    if (files.length) choose(files[0]);
  });
  let resizing = null;
  window.addEventListener("resize", () => {
    clearTimeout(resizing);
    resizing = setTimeout(() => {
      if (shown) drawTimeline($("timeline"), shown.names, shown.windows);
    }, 150);
  });
  loadModel();
}

document.addEventListener("DOMContentLoaded", setup);
