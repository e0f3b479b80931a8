// kstreams web UI: polling, tables, logs and interactive queries. Needs /ui/graph.js.
(() => {
  'use strict';

  const POLL_MS = 2000;
  const $ = (sel) => document.querySelector(sel);

  // ---------- DOM + formatting helpers ----------
  function h(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === 'class') e.className = v;
      else if (k === 'style') e.setAttribute('style', v);
      else e.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children.flat(Infinity)) {
      if (c === null || c === undefined || c === false) continue;
      e.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  }
  const num = (v) => (typeof v === 'number' && Number.isFinite(v) ? v : null);
  const fmtInt = (v) => (num(v) === null ? '–' : Math.round(v).toLocaleString('en-US'));
  function fmtNum(v, digits = 1) {
    if (num(v) === null) return '–';
    if (v !== 0 && Math.abs(v) < 0.1) return v.toPrecision(2);
    return v.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: 0 });
  }
  const fmtRate = (v) => (num(v) === null ? '–' : `${fmtNum(v)}/s`);
  const fmtPct = (v) => (num(v) === null ? '–' : `${fmtNum(v * 100, v < 0.1 ? 2 : 1)}%`);
  const fmtMiB = (b) => (num(b) === null ? '–' : `${fmtNum(b / 1048576, 1)} MiB`);
  const pad2 = (n) => String(n).padStart(2, '0');
  function fmtTime(ms) {
    if (num(ms) === null || ms < 0) return '–';
    const d = new Date(ms);
    return `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}.${String(d.getMilliseconds()).padStart(3, '0')}`;
  }
  function fmtDuration(sec) {
    if (num(sec) === null || sec < 0) return '–';
    sec = Math.floor(sec);
    const d = Math.floor(sec / 86400);
    const hh = Math.floor((sec % 86400) / 3600);
    const mm = Math.floor((sec % 3600) / 60);
    const ss = sec % 60;
    if (d) return `${d}d ${hh}h`;
    if (hh) return `${hh}h ${mm}m`;
    return mm ? `${mm}m ${ss}s` : `${ss}s`;
  }
  function fmtAgo(ms) {
    if (num(ms) === null) return '–';
    const s = (Date.now() - ms) / 1000;
    return s < 1.5 ? 'just now' : `${fmtDuration(s)} ago`;
  }
  const shortId = (id) => (id && id.length > 12 ? id.slice(0, 8) + '…' : id || '–');
  function taskCmp(a, b) {
    const pa = String(a).split('_').map(Number);
    const pb = String(b).split('_').map(Number);
    for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
      const d = (pa[i] || 0) - (pb[i] || 0);
      if (d) return d;
    }
    return String(a).localeCompare(String(b));
  }
  function stateClass(s) {
    switch (String(s || '').toUpperCase()) {
      case 'RUNNING': return 'ok';
      case 'REBALANCING': case 'PARTITIONS_REVOKED': case 'PARTITIONS_ASSIGNED': case 'STARTING': case 'CREATED': return 'warn';
      case 'ERROR': case 'PENDING_ERROR': case 'DEAD': case 'FAILED': return 'bad';
      default: return 'idle';
    }
  }
  const badge = (s, cls) => h('span', { class: `badge ${cls || stateClass(s)}` }, s || 'unknown');
  function bar(frac, cls, title) {
    const f = Math.max(0, Math.min(1, num(frac) === null ? 0 : frac));
    return h('span', { class: `bar ${cls || ''}`, title }, h('span', { class: 'fill', style: `width:${(f * 100).toFixed(2)}%` }));
  }
  function twoLine(top, bottom, title) {
    return h('div', { class: 'two', title }, h('div', {}, top), h('div', { class: 'sub' }, bottom));
  }

  // ---------- fetching ----------
  async function getJson(path) {
    const r = await fetch(path, { cache: 'no-store', headers: { accept: 'application/json' } });
    if (!r.ok) {
      await r.text().catch(() => ''); // drain the body (an unread body shows up as an aborted request)
      const e = new Error(`${path}: HTTP ${r.status}`);
      e.status = r.status;
      throw e;
    }
    return r.json();
  }
  // Optional endpoints (older servers answer 404): probed once, then never polled again.
  const optional = { '/cluster': undefined, '/logs': undefined };
  async function getOptional(path) {
    if (optional[path] === false) return null;
    try {
      const v = await getJson(path);
      optional[path] = true;
      return v;
    } catch (e) {
      if (e.status === 404 || e.status === 405 || e.status === 501) optional[path] = false;
      return null;
    }
  }

  // ---------- derived rates ----------
  const prevTask = new Map(); // `${inst}/${task}` -> {t, processed, rate}
  const prevCpu = new Map(); // inst -> {t, cpu, pct}
  function delta(map, key, t, value) {
    const p = map.get(key);
    let rate = null;
    if (p && t > p.t) rate = value >= p.v ? ((value - p.v) * 1000) / (t - p.t) : null;
    else if (p && t === p.t) rate = p.rate;
    map.set(key, { t, v: value, rate });
    return rate;
  }

  // ---------- model ----------
  function instancesFrom(local, cluster, now) {
    if (cluster && Array.isArray(cluster.instances) && cluster.instances.length) {
      return cluster.instances
        .map((i) => ({
          id: i.instance_id, addr: i.http_address, t: num(i.updated_ms) ?? now, stale: !!i.stale,
          state: i.state || null, local: !!i.http_address && i.http_address === location.host,
        }))
        .sort((a, b) => (b.local - a.local) || String(a.id).localeCompare(String(b.id)));
    }
    return local ? [{ id: 'local', addr: location.host, t: now, stale: false, state: local, local: true }] : [];
  }

  function computeRates(instances) {
    for (const inst of instances) {
      const st = inst.state;
      inst.rate = 0;
      inst.taskCount = 0;
      inst.threadCount = st ? (st.threads || []).length : 0;
      if (!st) continue;
      for (const th of st.threads || []) {
        for (const task of th.active_tasks || []) {
          inst.taskCount++;
          task._rate = delta(prevTask, `${inst.id}/${task.task_id}`, inst.t, (task.metrics || {}).processed || 0);
          if (task._rate !== null) inst.rate += task._rate;
        }
      }
      const cpu = st.process && num(st.process.cpu_seconds);
      inst.cpuPct = cpu === null ? null : delta(prevCpu, inst.id, inst.t, cpu * 1000);
      if (inst.cpuPct !== null) inst.cpuPct /= 1000; // (cpu-ms / s) / 1000 = fraction of one core
    }
  }

  // ---------- rendering ----------
  let topology = null;
  let graph = null;
  let appId = null;

  function renderHeader(local, instances) {
    const st = local || (instances[0] && instances[0].state) || {};
    appId = st.application_id || appId;
    $('#app-id').textContent = appId || '–';
    document.title = `${appId || 'kstreams'} · kstreams`;
    const cs = $('#client-state');
    cs.textContent = st.state || 'unknown';
    cs.className = `badge big ${stateClass(st.state)}`;
    const stale = instances.filter((i) => i.stale).length;
    $('#instance-count').textContent = `${instances.length}${stale ? ` (${stale} stale)` : ''}`;
    $('#thread-count').textContent = fmtInt(instances.reduce((a, i) => a + i.threadCount, 0));
    $('#task-count').textContent = fmtInt(instances.reduce((a, i) => a + i.taskCount, 0));
    $('#throughput').textContent = fmtRate(instances.reduce((a, i) => a + i.rate, 0));
    const me = instances.find((i) => i.local) || instances[0];
    const proc = st.process || {};
    $('#cpu').textContent = me && me.cpuPct !== null && me.cpuPct !== undefined ? fmtPct(me.cpuPct) : '–';
    $('#rss').textContent = fmtMiB(proc.resident_memory_bytes);
    $('#uptime').textContent = num(proc.start_time_seconds) === null ? '–' : fmtDuration(Date.now() / 1000 - proc.start_time_seconds);
  }

  function instanceLabel(inst) {
    return h('span', { class: 'inst', title: inst.id },
      inst.local ? h('span', { class: 'tag' }, 'this') : null, shortId(inst.id),
      inst.addr ? h('span', { class: 'muted' }, ` · ${inst.addr}`) : null,
      inst.stale ? h('span', { class: 'badge warn' }, 'stale') : null);
  }

  function renderInstances(instances) {
    $('#cluster-hint').textContent = optional['/cluster'] ? 'from /cluster' : 'local instance only (no /cluster endpoint)';
    $('#instances tbody').replaceChildren(...instances.map((i) => {
      const p = (i.state && i.state.process) || {};
      return h('tr', { class: i.stale ? 'stale' : null, 'data-instance': i.id },
        h('td', { class: 'mono', title: i.id }, i.local ? h('span', { class: 'tag' }, 'this') : null, shortId(i.id),
          h('div', { class: 'muted small' }, i.addr || 'no HTTP address')),
        h('td', { class: 'nowrap' }, badge(i.state ? i.state.state : 'no state'), i.stale ? h('span', { class: 'badge warn' }, 'stale') : null,
          optional['/cluster'] ? h('div', { class: 'muted small' }, `updated ${fmtAgo(i.t)}`) : null),
        h('td', { class: 'num' }, `${fmtInt(i.threadCount)} · ${fmtInt(i.taskCount)}`),
        h('td', { class: 'num' }, fmtRate(i.rate)),
        h('td', { class: 'num' }, i.cpuPct === null || i.cpuPct === undefined ? '–' : fmtPct(i.cpuPct)),
        h('td', { class: 'num' }, fmtMiB(p.resident_memory_bytes)));
    }));
  }

  const threadShort = (name) => (appId && name && name.startsWith(appId + '-') ? name.slice(appId.length + 1) : name);
  const sortedThreads = (st) => [...((st && st.threads) || [])].sort((a, b) => String(a.thread_name).localeCompare(String(b.thread_name)));

  function renderTasks(instances) {
    const rows = [];
    const COLS = 13;
    for (const inst of instances) {
      rows.push(h('tr', { class: 'group' }, h('td', { colspan: COLS }, instanceLabel(inst))));
      for (const th of sortedThreads(inst.state)) {
        const tasks = [...(th.active_tasks || [])].sort((a, b) => taskCmp(a.task_id, b.task_id));
        if (!tasks.length) {
          rows.push(h('tr', { class: 'empty-row' }, h('td', { colspan: COLS, class: 'muted' }, `${threadShort(th.thread_name)}: no active tasks (${th.thread_state})`)));
        }
        for (const t of tasks) {
          const m = t.metrics || {};
          const parts = [...(t.partitions || [])].sort((a, b) => String(a.topic).localeCompare(String(b.topic)) || a.partition - b.partition);
          const col = (f, cls) => h('td', { class: `num lines ${cls || ''}` }, parts.map((p) => h('div', { class: f === 'lag' && p.lag > 0 ? 'lagging' : null }, fmtInt(p[f]))));
          rows.push(h('tr', { 'data-task': t.task_id, class: inst.stale ? 'stale' : null },
            h('td', { class: 'mono strong' }, t.task_id),
            h('td', { class: 'mono', title: th.thread_name }, threadShort(th.thread_name)),
            h('td', {}, t.restoring ? badge('restoring', 'warn') : badge('running', 'ok')),
            h('td', { class: 'mono lines' }, parts.map((p) => h('div', { title: `${p.topic}-${p.partition}` }, `${p.topic}-${p.partition}`))),
            col('committed_offset'), col('position'), col('end_offset'), col('lag'),
            h('td', { class: 'num processed' }, fmtInt(m.processed)),
            h('td', { class: 'num rate' }, fmtRate(t._rate)),
            h('td', { class: `num ${m.dropped ? 'bad-text' : ''}` }, fmtInt(m.dropped)),
            h('td', { class: `num ${m.dead_lettered ? 'bad-text' : ''}` }, fmtInt(m.dead_lettered)),
            h('td', { class: 'mono muted' }, fmtTime(t.stream_time))));
        }
      }
    }
    $('#tasks tbody').replaceChildren(...rows);
  }

  function latencyCell(s) {
    s = s || {};
    const ms = (v) => fmtNum(v, num(v) !== null && v >= 10 ? 1 : 2);
    return twoLine(fmtRate(s.rate), `${ms(s.avg)} / ${ms(s.max)} ms`, `total ${fmtInt(s.total)}`);
  }

  function renderThreads(instances) {
    const rows = [];
    for (const inst of instances) {
      if (instances.length > 1) rows.push(h('tr', { class: 'group' }, h('td', { colspan: 10 }, instanceLabel(inst))));
      for (const th of sortedThreads(inst.state)) {
        const m = th.metrics || {};
        const pr = m.poll_records || {};
        const ratios = [['poll', m.poll_ratio], ['process', m.process_ratio], ['commit', m.commit_ratio], ['punctuate', m.punctuate_ratio]];
        rows.push(h('tr', { 'data-thread': th.thread_name },
          h('td', { class: 'mono', title: th.thread_name }, threadShort(th.thread_name)),
          h('td', {}, badge(th.thread_state)),
          h('td', { class: 'num' }, fmtInt((th.active_tasks || []).length)),
          h('td', { class: 'num' }, latencyCell(m.poll)),
          h('td', { class: 'num' }, twoLine(fmtNum(pr.avg, 2) + ' avg', `${fmtNum(pr.max, 0)} max`, `total ${fmtInt(pr.total)}`)),
          h('td', { class: 'num' }, latencyCell(m.process)),
          h('td', { class: 'num' }, latencyCell(m.commit)),
          h('td', { class: 'num' }, latencyCell(m.punctuate)),
          h('td', {}, h('div', { class: 'ratios' }, ratios.map(([k, v]) => [
            h('span', { class: 'rk' }, k), bar(v, `r-${k}`, `${k} ratio ${fmtPct(v)}`), h('span', { class: 'rv' }, fmtPct(v)),
          ]))),
          h('td', { class: 'num' }, `${fmtInt(m.task_created_total)} / ${fmtInt(m.task_closed_total)}`)));
      }
    }
    $('#threads tbody').replaceChildren(...rows);
  }

  function renderStores(instances) {
    const rows = [];
    for (const inst of instances) {
      for (const th of sortedThreads(inst.state)) {
        for (const t of th.active_tasks || []) {
          for (const s of t.stores || []) rows.push({ inst, task: t.task_id, s });
        }
      }
    }
    rows.sort((a, b) => String(a.s.name).localeCompare(String(b.s.name)) || taskCmp(a.task, b.task));
    const multi = instances.length > 1;
    $('#stores tbody').replaceChildren(...(rows.length ? rows.map(({ inst, task, s }) => {
      const r = s.restore;
      let restore;
      if (r) {
        const span = r.end_offset - r.start_offset;
        const frac = span > 0 ? (r.position - r.start_offset) / span : 1;
        restore = h('div', { class: 'restore', title: `${r.topic}-${r.partition}: offsets ${r.start_offset}…${r.end_offset}, ${r.restored} records restored` },
          h('div', {}, bar(frac, 'r-restore'), h('span', { class: 'pct' }, fmtPct(frac))),
          h('div', { class: 'muted' }, `${fmtInt(r.position)} / ${fmtInt(r.end_offset)}`));
      } else {
        restore = h('span', { class: 'muted' }, 'ready');
      }
      return h('tr', { 'data-store-row': s.name, class: inst.stale ? 'stale' : null },
        h('td', { class: 'mono strong' }, s.name),
        h('td', { class: 'mono' }, task, multi ? h('div', { class: 'muted small', title: inst.id }, shortId(inst.id)) : null),
        h('td', { class: 'mono muted' }, s.changelog || '(no changelog)'),
        h('td', { class: 'num' }, fmtInt(s.approximate_num_entries)),
        h('td', {}, restore));
    }) : [h('tr', {}, h('td', { colspan: 5, class: 'muted' }, 'No state stores in the active tasks.'))]));
  }

  const ERRORS = [
    ['dropped', 'Dropped records', (m) => m.tasks.dropped],
    ['deserialization_errors', 'Deserialization errors', (m) => m.tasks.deserialization_errors],
    ['processing_errors', 'Processing errors', (m) => m.tasks.processing_errors],
    ['production_errors', 'Production errors', (m) => m.tasks.production_errors],
    ['dead_lettered', 'Dead-lettered', (m) => m.tasks.dead_lettered],
    ['failed_stream_threads', 'Failed threads', (m, st) => st.failed_stream_threads],
    ['delivery_errors_skipped', 'Delivery errors skipped', (m) => m.delivery_errors_skipped],
    ['transactions_aborted', 'Transactions aborted', (m) => m.transactions_aborted],
  ];
  function renderErrors(instances) {
    $('#errors').replaceChildren(...ERRORS.map(([key, label, get]) => {
      let total = 0;
      for (const i of instances) {
        const st = i.state;
        if (!st) continue;
        const m = { tasks: {}, ...(st.metrics || {}) };
        total += num(get(m, st)) || 0;
      }
      return h('div', { class: `tile ${total > 0 ? 'hot' : ''}`, 'data-counter': key }, h('div', { class: 'v' }, fmtInt(total)), h('div', { class: 'k' }, label));
    }));
  }

  function updateGraph(instances) {
    if (!graph) return;
    const subs = new Map();
    const topicLag = new Map();
    const inTopics = new Set();
    for (const s of (topology && topology.subtopologies) || []) {
      for (const n of s.nodes || []) for (const t of n.topics || []) inTopics.add(t);
    }
    for (const inst of instances) {
      for (const th of (inst.state && inst.state.threads) || []) {
        for (const t of th.active_tasks || []) {
          const sid = String(t.task_id).split('_')[0];
          const s = subs.get(sid) || { tasks: 0, rate: 0 };
          s.tasks++;
          s.rate += t._rate || 0;
          subs.set(sid, s);
          for (const p of t.partitions || []) {
            let topic = p.topic;
            if (!inTopics.has(topic) && appId && topic.startsWith(appId + '-')) topic = topic.slice(appId.length + 1);
            topicLag.set(topic, (topicLag.get(topic) || 0) + (num(p.lag) || 0));
          }
        }
      }
    }
    for (const s of subs.values()) s.rateText = fmtRate(s.rate);
    graph.update({ subs, topicLag });
  }

  // ---------- logs ----------
  let lastLogs = null;
  const LEVELS = { ERROR: 0, WARN: 1, INFO: 2, DEBUG: 3, TRACE: 4 };
  function renderLogs() {
    const card = $('#logs-card');
    if (optional['/logs'] === false) {
      card.hidden = true;
      return;
    }
    if (!lastLogs) return;
    card.hidden = false;
    const events = Array.isArray(lastLogs.events) ? lastLogs.events : [];
    $('#logs-dropped').textContent = `dropped: ${fmtInt(lastLogs.dropped || 0)}`;
    $('#logs-dropped').classList.toggle('hot', (lastLogs.dropped || 0) > 0);
    const sel = $('#logs-instance');
    const ids = [...new Set(events.map((e) => e.instance_id).filter(Boolean))].sort();
    const known = [...sel.options].map((o) => o.value).filter(Boolean);
    if (ids.some((id) => !known.includes(id))) {
      const cur = sel.value;
      sel.replaceChildren(h('option', { value: '' }, 'all instances'), ...[...new Set([...known, ...ids])].sort().map((id) => h('option', { value: id }, shortId(id))));
      sel.value = cur;
    }
    const level = $('#logs-level').value;
    const inst = sel.value;
    const task = $('#logs-task').value.trim();
    const max = level ? LEVELS[level] : Infinity;
    const shown = events.filter((e) => (LEVELS[String(e.level).toUpperCase()] ?? 5) <= max
      && (!inst || e.instance_id === inst)
      && (!task || (e.task && (e.task === task || e.task.startsWith(task)))));
    const MAX_ROWS = 500;
    const rows = shown.slice(-MAX_ROWS).reverse().map((e) => h('tr', { class: `row-${String(e.level).toLowerCase()}` },
      h('td', { class: 'mono muted nowrap' }, fmtTime(e.timestamp_ms)),
      h('td', {}, h('span', { class: `lvl lvl-${String(e.level).toLowerCase()}` }, e.level)),
      h('td', { class: 'mono', title: e.instance_id || '' }, shortId(e.instance_id)),
      h('td', { class: 'mono', title: e.thread || '' }, threadShort(e.thread) || '–'),
      h('td', { class: 'mono' }, e.task || '–'),
      h('td', { class: 'mono muted', title: e.target || '' }, String(e.target || '').replace(/^kstreams::runtime::/, '…::')),
      h('td', { class: 'msg' }, e.message, e.fields && typeof e.fields === 'object'
        ? Object.entries(e.fields).map(([k, v]) => h('span', { class: 'field' }, ` ${k}=${v}`)) : null)));
    $('#logs-count').textContent = `${shown.length} of ${events.length} events${shown.length > MAX_ROWS ? ` (latest ${MAX_ROWS} shown)` : ''}`;
    $('#logs tbody').replaceChildren(...(rows.length ? rows : [h('tr', {}, h('td', { colspan: 7, class: 'muted' }, 'No matching events.'))]));
  }

  // ---------- interactive query ----------
  function fillStores() {
    const names = new Set();
    for (const s of topology.subtopologies || []) for (const n of s.nodes || []) for (const st of n.stores || []) names.add(st);
    for (const g of topology.global_stores || []) names.add(g.store);
    const sel = $('#query-store');
    const cur = sel.value;
    const sorted = [...names].sort();
    sel.replaceChildren(...(sorted.length ? sorted.map((n) => h('option', { value: n }, n)) : [h('option', { value: '', disabled: true }, 'no stores')]));
    if (sorted.includes(cur)) sel.value = cur;
    $('#query-run').disabled = !sorted.length;
  }

  async function runQuery(ev) {
    ev.preventDefault();
    const store = $('#query-store').value;
    const key = $('#query-key').value;
    const out = $('#query-result');
    const status = $('#query-status');
    if (!store) return;
    const path = `/stores/${encodeURIComponent(store)}/${encodeURIComponent(key)}`;
    out.dataset.state = 'pending';
    out.textContent = '…';
    status.textContent = `GET ${path}`;
    const t0 = performance.now();
    try {
      const r = await fetch(path, { cache: 'no-store', headers: { accept: 'application/json' } });
      const ms = Math.round(performance.now() - t0);
      const body = await r.text();
      let json = null;
      try { json = JSON.parse(body); } catch (_) { /* non-JSON body */ }
      if (r.ok && json && 'value' in json) {
        out.dataset.state = 'ok';
        out.textContent = JSON.stringify(json.value, null, 2);
        status.textContent = `GET ${path} → ${r.status} · ${ms} ms`;
      } else {
        out.dataset.state = 'error';
        const code = (json && json.code) || `HTTP ${r.status}`;
        out.textContent = `${code} (HTTP ${r.status})\n${(json && json.error) || body || r.statusText}`;
        status.textContent = `GET ${path} → ${r.status} · ${ms} ms`;
      }
    } catch (e) {
      out.dataset.state = 'error';
      out.textContent = `request failed\n${e.message}`;
    }
  }

  // ---------- main loop ----------
  function setConn(ok, msg) {
    $('#conn').className = `conn ${ok ? 'ok' : 'bad'}`;
    $('#conn-text').textContent = msg;
  }

  async function loadTopology() {
    try {
      topology = await getJson('/topology');
      graph = window.KsGraph.render($('#graph'), topology);
      fillStores();
    } catch (e) {
      $('#graph').replaceChildren(h('p', { class: 'empty' }, `Topology unavailable: ${e.message}`));
    }
  }

  async function tick() {
    try {
      if (!topology) await loadTopology();
      const [local, cluster, logs] = await Promise.all([getJson('/state'), getOptional('/cluster'), getOptional('/logs')]);
      const now = Date.now();
      const instances = instancesFrom(local, cluster, now);
      computeRates(instances);
      renderHeader(local, instances);
      renderInstances(instances);
      renderErrors(instances);
      renderTasks(instances);
      renderThreads(instances);
      renderStores(instances);
      updateGraph(instances);
      if (logs) lastLogs = logs;
      renderLogs();
      setConn(true, `live · ${fmtTime(now).slice(0, 8)}`);
      if (topology) document.body.dataset.ready = '1';
    } catch (e) {
      setConn(false, `disconnected · ${e.message}`);
    } finally {
      setTimeout(tick, POLL_MS);
    }
  }

  function init() {
    $('#query-form').addEventListener('submit', runQuery);
    for (const id of ['#logs-level', '#logs-instance']) $(id).addEventListener('change', renderLogs);
    $('#logs-task').addEventListener('input', renderLogs);
    tick();
  }
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
