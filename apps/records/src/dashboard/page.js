// The records dashboard: polls /api/roles every 2 s, draws the diamond and the instances.
// Rates come from the difference between two polls of the counters.
"use strict";

const NS = "http://www.w3.org/2000/svg";
const previous = new Map(); // instance id -> {t, processed, produced, cpu}

function el(name, attrs, parent, text) {
  const e = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  if (parent) parent.appendChild(e);
  return e;
}

function rates(role, now) {
  let processed = 0, produced = 0, cpu = 0, live = 0, lag = 0, rss = 0;
  for (const i of role.instances) {
    const p = previous.get(i.instance_id);
    i.rate = 0; i.cpuPct = 0; i.outRate = 0;
    if (p && now > p.t) {
      const dt = (now - p.t) / 1000;
      i.rate = Math.max(0, (i.processed - p.processed) / dt);
      i.outRate = Math.max(0, (i.produced - p.produced) / dt);
      i.cpuPct = Math.max(0, (i.cpu_seconds - p.cpu) / dt * 100);
    }
    previous.set(i.instance_id, { t: now, processed: i.processed, produced: i.produced, cpu: i.cpu_seconds });
    if (i.stale) continue;
    live += 1; processed += i.rate; produced += i.outRate; cpu += i.cpuPct; lag += i.lag; rss += i.rss_bytes;
  }
  return { live, rate: processed, outRate: produced, cpu, lag, rss };
}

function fmt(n, digits = 0) {
  return Number(n).toLocaleString(undefined, { maximumFractionDigits: digits });
}

function topic(svg, x, y, name) {
  const g = el("g", { class: "topic", "data-topic": name }, svg);
  el("ellipse", { cx: x, cy: y, rx: 78, ry: 20 }, g);
  el("text", { x, y: y + 4, "text-anchor": "middle" }, g, name);
}

function box(svg, x, y, role, s) {
  const down = s.live === 0;
  const g = el("g", { class: "role" + (down ? " down" : s.rate < 0.5 ? " idle" : ""), "data-role": role.name }, svg);
  el("rect", { x, y, width: 200, height: 74 }, g);
  el("text", { x: x + 10, y: y + 20, class: "name" }, g, role.name);
  el("text", { x: x + 190, y: y + 20, "text-anchor": "end" }, g, `${s.live} instance${s.live === 1 ? "" : "s"}`);
  el("text", { x: x + 10, y: y + 40 }, g, `${fmt(s.rate)} rec/s in · ${fmt(s.outRate, 1)} /s out`);
  el("text", { x: x + 10, y: y + 60 }, g, `lag ${fmt(s.lag)} · CPU ${fmt(s.cpu)}% · ${fmt(s.rss / 1048576)} MiB`);
}

function edge(svg, x1, y1, x2, y2, label) {
  const mx = (x1 + x2) / 2;
  el("path", { class: "edge", d: `M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2},${y2}` }, svg);
  if (label) el("text", { class: "edge-label", x: mx, y: (y1 + y2) / 2 - 4, "text-anchor": "middle" }, svg, label);
}

function draw(roles, now) {
  const svg = document.getElementById("diamond");
  svg.replaceChildren();
  const defs = el("defs", {}, svg);
  const marker = el("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5, markerWidth: 6, markerHeight: 6, orient: "auto" }, defs);
  el("path", { d: "M0,0 L10,5 L0,10 z", fill: "#4b5563" }, marker);
  const stats = new Map(roles.map(r => [r.name, rates(r, now)]));
  const ingest = roles.find(r => r.stage === "ingest");
  const notify = roles.find(r => r.stage === "notify");
  const dets = roles.filter(r => r.stage === "detector");
  const mid = 280;
  topic(svg, 90, mid, "customer-records");
  box(svg, 190, mid - 37, ingest, stats.get(ingest.name));
  edge(svg, 168, mid, 190, mid);
  topic(svg, 500, mid, "records-enriched");
  edge(svg, 390, mid, 422, mid, `${fmt(stats.get(ingest.name).outRate)}/s`);
  const step = 520 / Math.max(1, dets.length);
  dets.forEach((d, i) => {
    const y = 20 + i * step + (step - 74) / 2;
    box(svg, 620, y, d, stats.get(d.name));
    edge(svg, 578, mid, 620, y + 37);
    edge(svg, 820, y + 37, 862, mid, `${fmt(stats.get(d.name).outRate, 1)}/s`);
  });
  topic(svg, 900, mid - 60, "alerts");
  box(svg, 870, mid + 10, notify, stats.get(notify.name));
  edge(svg, 900, mid - 40, 960, mid + 10);
  topic(svg, 1110, mid + 47, "notifications");
  edge(svg, 1070, mid + 47, 1032, mid + 47);
  return stats;
}

function table(roles) {
  const body = document.querySelector("#instances tbody");
  body.replaceChildren();
  for (const r of roles) {
    for (const i of r.instances) {
      const tr = document.createElement("tr");
      tr.dataset.role = r.name;
      const cells = [r.name, i.instance_id.slice(0, 8) + (i.http_address ? ` (${i.http_address})` : ""),
        i.stale ? "STALE" : i.state, fmt(i.processed), fmt(i.rate), fmt(i.produced), fmt(i.lag),
        fmt(i.cpuPct), fmt(i.rss_bytes / 1048576)];
      for (const c of cells) {
        const td = document.createElement("td");
        td.textContent = c;
        tr.appendChild(td);
      }
      if (i.stale) tr.classList.add("stale");
      body.appendChild(tr);
    }
  }
}

async function refresh() {
  try {
    const response = await fetch("/api/roles");
    if (!response.ok) throw new Error(`/api/roles: ${response.status}`);
    const roles = await response.json();
    const now = Date.now();
    draw(roles, now);
    table(roles);
    document.getElementById("updated").textContent = `updated ${new Date(now).toLocaleTimeString()}`;
  } catch (e) {
    document.getElementById("updated").textContent = `not updated: ${e.message}`;
  }
}

refresh();
setInterval(refresh, 2000);
