// The vemd page: send one image or video to /v1/predict and draw the group-level result.
// Everything the server returns is written as text (textContent, SVG attributes), never as HTML.
"use strict";

const SVG_NS = "http://www.w3.org/2000/svg";
// Okabe–Ito colours: distinguishable with the common colour-vision deficiencies.
const COLOURS = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442"];

const MAX_DOTS = 60; // windows beyond which the series are drawn as lines only
const $ = (id) => document.getElementById(id);
let pending = null; // AbortController of the request in flight
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
      ["vemd", info.vemd_version],
    ];
    for (const [name, value] of parts) {
      const item = element("span", { class: "model-item" });
      item.append(element("span", { class: "caption" }, name + " "), element("strong", {}, String(value)));
      box.append(item);
    }
    if (info.caveat) {
      $("caveat").textContent = "This model was " + info.caveat + ".";
      $("caveat").hidden = false;
    }
    if (info.model_card) {
      $("model-card-text").textContent = info.model_card;
      $("model-card").hidden = false;
    }
  } catch (err) {
    box.textContent = "Model information unavailable (" + err.message + ").";
  }
}

// ---- request -------------------------------------------------------------------------------

function clearResult() {
  shown = null;
  $("result").hidden = true;
  for (const id of ["label", "valence", "probs", "timeline", "input-name"]) $(id).textContent = "";
  $("valence-box").hidden = true;
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
  $("drop").setAttribute("aria-busy", String(busy));
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
    failed(controller, reason);
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
  if (!result.probs) return showValenceArousal(result); // a regression system: no class
  const names = Object.keys(result.probs);
  $("input-name").textContent = "for " + result.input;
  $("label").textContent = result.label;
  if (typeof result.valence === "number") {
    $("valence").textContent = signed(result.valence);
    $("valence-box").hidden = false;
  }
  drawBars($("probs"), names, result.probs, result.label);
  const windows = result.windows || [];
  $("result").hidden = false; // before the timeline, which takes the width it is shown at
  if (windows.length > 1) {
    drawTimeline($("timeline"), names, windows, result.duration);
    shown = { names, windows, duration: result.duration };
  }
}

function showValenceArousal(result) {
  $("input-name").textContent = "for " + result.input;
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
  for (const step of [0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600]) {
    if (span / step <= maxTicks) return step;
  }
  return Math.ceil(span / maxTicks / 3600) * 3600;
}

// Drawn at the box's own width (text stays 12 px on any screen) and again when the page resizes.
function drawTimeline(box, names, windows, duration) {
  box.textContent = "";
  const width = Math.max(300, Math.round(box.clientWidth)), height = 260;
  const m = { left: 48, right: 16, top: 12, bottom: 40 };
  const end = windows.reduce((last, w) => Math.max(last, w.end), duration || 0) || 1;
  const x = (t) => m.left + (t / end) * (width - m.left - m.right);
  const y = (p) => m.top + (1 - p) * (height - m.top - m.bottom);

  box.append(element("h3", { id: "timeline-title" }, "Timeline"));
  const chart = svg("svg", {
    width,
    height,
    viewBox: `0 0 ${width} ${height}`,
    role: "img",
    "aria-labelledby": "timeline-title timeline-desc",
    class: "chart",
  });
  chart.append(svg("desc", { id: "timeline-desc" }, "Probability of each class per window over time; the table below holds the same values."));

  const grid = svg("g", { class: "grid" });
  for (const p of [0, 0.25, 0.5, 0.75, 1]) {
    grid.append(svg("line", { x1: m.left, x2: width - m.right, y1: y(p), y2: y(p) }));
    grid.append(svg("text", { x: m.left - 6, y: y(p) + 4, "text-anchor": "end" }, Math.round(100 * p) + "%"));
  }
  const step = niceStep(end, Math.max(2, Math.floor((width - m.left - m.right) / 60)));
  for (let t = 0; t <= end + 1e-9; t += step) {
    grid.append(svg("line", { class: "tick", x1: x(t), x2: x(t), y1: height - m.bottom, y2: height - m.bottom + 5 }));
    grid.append(svg("text", { x: x(t), y: height - m.bottom + 18, "text-anchor": "middle" }, seconds(t)));
  }
  grid.append(svg("text", { x: (m.left + width - m.right) / 2, y: height - 4, "text-anchor": "middle" }, "time (s)"));
  grid.append(svg("line", { class: "axis", x1: m.left, x2: width - m.right, y1: y(0), y2: y(0) }));
  chart.append(grid);

  // One series per class through the window centres, a dot on each window.
  names.forEach((name, i) => {
    const series = svg("g", { class: "series", "data-class": name, stroke: colour(i), fill: colour(i) });
    const points = windows.map((w) => [x((w.start + w.end) / 2), y(w.probs[name])]);
    series.append(svg("polyline", { points: points.map((p) => p.join(",")).join(" "), fill: "none" }));
    if (windows.length <= MAX_DOTS) for (const [cx, cy] of points) series.append(svg("circle", { cx, cy, r: 3.5 }));
    series.append(svg("title", {}, name));
    chart.append(series);
  });
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
  box.append(windowTable(names, windows));
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

// ---- input ---------------------------------------------------------------------------------

function setup() {
  const input = $("file");
  const drop = $("drop");
  input.addEventListener("change", () => {
    if (input.files.length) predict(input.files[0]);
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
    if (files.length) predict(files[0]);
  });
  let resizing = null;
  window.addEventListener("resize", () => {
    clearTimeout(resizing);
    resizing = setTimeout(() => {
      if (shown) drawTimeline($("timeline"), shown.names, shown.windows, shown.duration);
    }, 150);
  });
  loadModel();
}

document.addEventListener("DOMContentLoaded", setup);
