// The records dashboard: polls /api/roles every second, draws the diamond and the instances.
//
// Rates come from the counters each instance publishes to its status topic every 2 s. The
// page keeps, per instance, the moments it first saw each new set of counters and computes a
// rate over the last WINDOW_MS of them: a difference between two consecutive polls would
// read 0 whenever no new status arrived in between, and double the next time.
"use strict";

const NS = "http://www.w3.org/2000/svg";
const POLL_MS = 1000;
const WINDOW_MS = 10000;
const history = new Map(); // instance id -> [{t, processed, produced, cpu}], oldest first

// Geometry of the diamond (SVG user units; the SVG scales to the page width).
const BOX_W = 220, BOX_H = 92, RX = 72, RY = 20, GAP = 50, DET_GAP = 18;
const X_RECORDS = 12 + RX;                      // customer-records
const X_INGEST = X_RECORDS + RX + GAP + 18;     // ingest box (left edge)
const X_ENRICHED = X_INGEST + BOX_W + GAP + RX; // records-enriched
const X_DETECTORS = X_ENRICHED + RX + GAP;      // detector boxes (left edge)
const X_ALERTS = X_DETECTORS + BOX_W + GAP + RX; // alerts
const X_NOTIFY = X_ALERTS + RX + GAP;           // notify box (left edge)
const WIDTH = X_NOTIFY + BOX_W + 12;

function el(name, attrs, parent, text) {
  const e = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  if (parent) parent.appendChild(e);
  return e;
}

// Per-second rates of one instance's counters over the last WINDOW_MS.
function instanceRates(i, now) {
  let h = history.get(i.instance_id) || [];
  const last = h[h.length - 1];
  if (last && (i.processed < last.processed || i.produced < last.produced || i.cpu_seconds < last.cpu)) h = [];
  const latest = h[h.length - 1];
  if (!latest || i.processed !== latest.processed || i.produced !== latest.produced || i.cpu_seconds !== latest.cpu) {
    h.push({ t: now, processed: i.processed, produced: i.produced, cpu: i.cpu_seconds });
  }
  // Keep the newest sample older than the window as the base of the difference.
  while (h.length > 2 && h[1].t <= now - WINDOW_MS) h.shift();
  history.set(i.instance_id, h);
  const a = h[0], b = h[h.length - 1];
  const dt = (b.t - a.t) / 1000;
  // No new counters for a whole window: the instance is idle (or silent; then it turns stale).
  if (dt <= 0 || now - b.t > WINDOW_MS) return { rate: 0, outRate: 0, cpuPct: 0 };
  return {
    rate: Math.max(0, (b.processed - a.processed) / dt),
    outRate: Math.max(0, (b.produced - a.produced) / dt),
    cpuPct: Math.max(0, (b.cpu - a.cpu) / dt * 100),
  };
}

function rates(role, now) {
  let processed = 0, produced = 0, cpu = 0, live = 0, lag = 0, rss = 0;
  const states = new Set();
  for (const i of role.instances) {
    Object.assign(i, instanceRates(i, now));
    if (i.stale) continue;
    states.add(i.state);
    live += 1; processed += i.rate; produced += i.outRate; cpu += i.cpuPct; lag += i.lag; rss += i.rss_bytes;
  }
  return { live, rate: processed, outRate: produced, cpu, lag, rss, states: [...states] };
}

function fmt(n, digits = 0) {
  return Number(n).toLocaleString(undefined, { maximumFractionDigits: digits });
}

function topic(svg, cx, cy, name, extra = "") {
  const g = el("g", { class: "topic" + (extra ? " " + extra : ""), "data-topic": name }, svg);
  el("ellipse", { cx, cy, rx: RX, ry: RY }, g);
  el("text", { x: cx, y: cy + 4, "text-anchor": "middle" }, g, name);
  return g;
}

// Shrinks a text to `width` if the font makes it longer (long role names).
function fit(text, width) {
  try {
    if (text.getComputedTextLength() > width) {
      text.setAttribute("textLength", width);
      text.setAttribute("lengthAdjust", "spacingAndGlyphs");
    }
  } catch (_) { /* not laid out */ }
}

function box(svg, x, y, role, s) {
  if (!role) return;
  const down = s.live === 0;
  const idle = !down && s.rate < 0.5;
  const status = down ? "down" : idle ? "idle" : "busy";
  const g = el("g", { class: "role " + status, "data-role": role.name }, svg);
  el("title", {}, g, `${role.application_id}: ${s.live} live instance${s.live === 1 ? "" : "s"}`);
  el("rect", { x, y, width: BOX_W, height: BOX_H }, g);
  el("circle", { class: "dot", cx: x + BOX_W - 16, cy: y + 19, r: 5 }, g);
  fit(el("text", { x: x + 12, y: y + 24, class: "name" }, g, role.name), BOX_W - 44);
  const state = down ? "no live instance" : s.states.join(" / ");
  el("text", { x: x + 12, y: y + 44, class: "sub" }, g,
    `${s.live} instance${s.live === 1 ? "" : "s"}${state ? " · " + state : ""}`);
  el("text", { x: x + 12, y: y + 63 }, g, `${fmt(s.rate)} rec/s in · ${fmt(s.outRate, 1)}/s out`);
  el("text", { x: x + 12, y: y + 81 }, g, `lag ${fmt(s.lag)} · CPU ${fmt(s.cpu)}% · ${fmt(s.rss / 1048576)} MiB`);
}

function edge(svg, x1, y1, x2, y2, cls = "") {
  let d;
  if (x1 === x2) d = `M${x1},${y1} L${x2},${y2}`;
  else {
    const mx = (x1 + x2) / 2;
    d = `M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2},${y2}`;
  }
  el("path", { class: "edge" + (cls ? " " + cls : ""), d }, svg);
}

function label(svg, x, y, text, anchor = "middle") {
  el("text", { class: "edge-label", x, y, "text-anchor": anchor }, svg, text);
}

function draw(roles, now) {
  const svg = document.getElementById("diamond");
  svg.replaceChildren();
  const defs = el("defs", {}, svg);
  const marker = el("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5, markerWidth: 6, markerHeight: 6, orient: "auto" }, defs);
  el("path", { d: "M0,0 L10,5 L0,10 z", class: "arrow-head" }, marker);
  const stats = new Map(roles.map(r => [r.name, rates(r, now)]));
  const none = { live: 0, rate: 0, outRate: 0, cpu: 0, lag: 0, rss: 0, states: [] };
  const stat = (r) => (r && stats.get(r.name)) || none;
  const ingest = roles.find(r => r.stage === "ingest");
  const notify = roles.find(r => r.stage === "notify");
  const dets = roles.filter(r => r.stage === "detector");

  const n = Math.max(1, dets.length);
  const height = Math.max(380, n * BOX_H + (n - 1) * DET_GAP + 48);
  const mid = Math.round(height / 2);
  svg.setAttribute("viewBox", `0 0 ${WIDTH} ${height}`);

  // customer-records → ingest → records-enriched, with customers (a table) above and the
  // dead letters below.
  const ingestCx = X_INGEST + BOX_W / 2;
  topic(svg, X_RECORDS, mid, "customer-records");
  edge(svg, X_RECORDS + RX, mid, X_INGEST, mid);
  box(svg, X_INGEST, mid - BOX_H / 2, ingest, stat(ingest));
  topic(svg, ingestCx, mid - BOX_H / 2 - 62, "customers", "side");
  edge(svg, ingestCx, mid - BOX_H / 2 - 62 + RY, ingestCx, mid - BOX_H / 2, "side");
  topic(svg, ingestCx, mid + BOX_H / 2 + 62, "records-dlq", "side dlq");
  edge(svg, ingestCx, mid + BOX_H / 2, ingestCx, mid + BOX_H / 2 + 62 - RY, "side");
  topic(svg, X_ENRICHED, mid, "records-enriched");
  edge(svg, X_INGEST + BOX_W, mid, X_ENRICHED - RX, mid);
  label(svg, X_INGEST + BOX_W + GAP / 2, mid - 7, `${fmt(stat(ingest).outRate)}/s`);

  // records-enriched → each detector → alerts.
  const top = (height - (n * BOX_H + (n - 1) * DET_GAP)) / 2;
  dets.forEach((d, i) => {
    const y = top + i * (BOX_H + DET_GAP);
    const yc = y + BOX_H / 2;
    // Fan the edges out along the topics' borders so their arrow heads do not pile up.
    const dy = (i - (dets.length - 1) / 2) * Math.min(6, 28 / Math.max(1, dets.length - 1));
    const dx = RX * Math.sqrt(Math.max(0, 1 - (dy / RY) ** 2));
    box(svg, X_DETECTORS, y, d, stat(d));
    edge(svg, X_ENRICHED + dx, mid + dy, X_DETECTORS, yc);
    edge(svg, X_DETECTORS + BOX_W, yc, X_ALERTS - dx, mid + dy);
    label(svg, X_DETECTORS + BOX_W + 5, yc - 6, `${fmt(stat(d).outRate, 1)}/s`, "start");
  });

  // alerts → notify → notifications (below notify).
  topic(svg, X_ALERTS, mid, "alerts");
  edge(svg, X_ALERTS + RX, mid, X_NOTIFY, mid);
  box(svg, X_NOTIFY, mid - BOX_H / 2, notify, stat(notify));
  const notifyCx = X_NOTIFY + BOX_W / 2;
  topic(svg, notifyCx, mid + BOX_H / 2 + 62, "notifications");
  edge(svg, notifyCx, mid + BOX_H / 2, notifyCx, mid + BOX_H / 2 + 62 - RY);
  label(svg, notifyCx + 8, mid + BOX_H / 2 + 26, `${fmt(stat(notify).outRate, 1)}/s`, "start");
  return stats;
}

function cell(tr, text, cls) {
  const td = document.createElement("td");
  if (cls) td.className = cls;
  if (text instanceof Node) td.appendChild(text);
  else td.textContent = text;
  tr.appendChild(td);
  return td;
}

function table(roles) {
  const body = document.querySelector("#instances tbody");
  body.replaceChildren();
  for (const r of roles) {
    for (const i of r.instances) {
      const tr = document.createElement("tr");
      tr.dataset.role = r.name;
      cell(tr, r.name, "role-name");
      const id = document.createDocumentFragment();
      const short = document.createElement("code");
      short.textContent = i.instance_id.slice(0, 8);
      short.title = i.instance_id;
      id.appendChild(short);
      if (i.http_address) {
        id.appendChild(document.createTextNode(" ("));
        const a = document.createElement("a");
        a.href = `http://${i.http_address}/`;
        a.textContent = i.http_address;
        a.title = `the kstreams page of this ${r.application_id} instance`;
        id.appendChild(a);
        id.appendChild(document.createTextNode(")"));
      }
      cell(tr, id, "instance");
      cell(tr, i.stale ? "STALE" : i.state, "state" + (i.stale ? "" : i.state === "RUNNING" ? " ok" : " warn"));
      cell(tr, fmt(i.processed), "processed");
      cell(tr, fmt(i.rate), "rate");
      cell(tr, fmt(i.produced), "produced");
      cell(tr, fmt(i.lag), "lag");
      cell(tr, fmt(i.cpuPct), "cpu");
      cell(tr, fmt(i.rss_bytes / 1048576), "rss");
      if (i.stale) tr.classList.add("stale");
      body.appendChild(tr);
    }
  }
  if (!body.children.length) {
    const tr = document.createElement("tr");
    const td = cell(tr, "no instance has published its state yet", "empty");
    td.colSpan = 9;
    body.appendChild(tr);
  }
}

function summary(roles) {
  const live = roles.reduce((a, r) => a + r.instances.filter(i => !i.stale).length, 0);
  const down = roles.filter(r => !r.instances.some(i => !i.stale)).map(r => r.name);
  const s = document.getElementById("summary");
  s.textContent = `${roles.length} roles · ${live} live instance${live === 1 ? "" : "s"}` +
    (down.length ? ` · down: ${down.join(", ")}` : "");
  s.classList.toggle("bad", down.length > 0);
}

async function refresh() {
  const updated = document.getElementById("updated");
  try {
    const response = await fetch("/api/roles");
    if (!response.ok) throw new Error(`/api/roles: ${response.status}`);
    const roles = await response.json();
    const now = Date.now();
    draw(roles, now);
    table(roles);
    summary(roles);
    updated.textContent = `updated ${new Date(now).toLocaleTimeString()}`;
    updated.classList.remove("bad");
    document.body.dataset.ready = "1";
  } catch (e) {
    updated.textContent = `not updated: ${e.message}`;
    updated.classList.add("bad");
  }
}

refresh();
setInterval(refresh, POLL_MS);
