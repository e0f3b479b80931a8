// Headless-browser test of the kstreams instance web UI.
//
//   npm ci && node ui.test.mjs
//
// Environment:
//   KSTREAMS_UI_URL          base URL of a running instance (default http://127.0.0.1:8080)
//   KSTREAMS_UI_SERVE_FILES  "1": serve "/", "/ui/*" from crates/kstreams/src/runtime/kafka/http/ui
//                            via request interception (API calls still go to the server)
//   KSTREAMS_UI_STORE        store for the interactive-query check (default word-counts)
//   KSTREAMS_UI_KEY          key for the interactive-query check (default kafka)
//   KSTREAMS_UI_SCREENSHOT   path: save a full-page screenshot (1400x900 viewport) after data loaded
//   KSTREAMS_UI_TIMEOUT_MS   overall watchdog (default 120000)
//   KSTREAMS_UI_INSTANCES    instances of the application the checks wait for (default 1): all
//                            RUNNING in /cluster, with tasks, and no task held by two of them
//   CHROMIUM                 browser executable (default /usr/bin/chromium)
//
// Console policy: any console error/warning or uncaught page error fails the test, with one
// exception: Chromium logs "Failed to load resource: ... 404" for a fetch that answers 404, and
// the page probes the optional endpoints /cluster and /logs once (older servers answer 404) and
// then stops polling them. Exactly those messages are tolerated, at most once per endpoint.
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import {
  SETTLE_MS, assert, baseUrl, check, fail, fetchJson, getJson as getJsonUrl, gotoOk, log, newContext, run,
  screenshot, serveFiles, sleep, waitFor, watch,
} from './common.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const UI_DIR = path.resolve(here, '../../crates/kstreams/src/runtime/kafka/http/ui');
const BASE = baseUrl('KSTREAMS_UI_URL');
const ORIGIN = new URL(BASE).origin;
const SERVE_FILES = process.env.KSTREAMS_UI_SERVE_FILES === '1';
const STORE = process.env.KSTREAMS_UI_STORE || 'word-counts';
const KEY = process.env.KSTREAMS_UI_KEY || 'kafka';
const SCREENSHOT = process.env.KSTREAMS_UI_SCREENSHOT || '';
const TOTAL_TIMEOUT_MS = Number(process.env.KSTREAMS_UI_TIMEOUT_MS || 120000);
const OPTIONAL_ENDPOINTS = new Set(['/cluster', '/logs']);
const INSTANCES = Number(process.env.KSTREAMS_UI_INSTANCES || 1);

// The instance's API, by path.
const http = (p) => fetchJson(BASE + p);
const getJson = (p) => getJsonUrl(BASE + p);

// Waits for this instance, and then for every instance of the application, to run its tasks.
// The later instances join after the first one serves; each join is a rebalance, during which
// the checks below would see tasks move or queries answer REBALANCING. A joiner reports
// RUNNING only once every member has rejoined, so a task listed twice is a status published
// before the last rebalance. An instance may hold no task, this one included: librdkafka's
// mock broker names a member by the address of its struct, and the range assignor orders
// members by that name, so the threads that get a partition may all be in the other two
// instances (on Kafka, member ids start with the client id, StreamThread-N first). With
// several instances, tasks are therefore counted across the application.
async function waitForRunning() {
  const st = await waitFor(async (note) => {
    const st = await getJson('/state');
    const tasks = taskIds(st).length;
    note(`${st.state}, ${tasks} tasks`);
    if (st.state === 'RUNNING' && (tasks > 0 || INSTANCES > 1)) return st;
  }, { what: `instance not RUNNING${INSTANCES > 1 ? '' : ' with tasks'}`, timeoutMs: 60000 });
  if (INSTANCES <= 1) return st;
  await waitFor(async (note) => {
    const { instances } = await getJson('/cluster');
    const seen = instances.map((i) => `${i.state.state}${i.stale ? ' (stale)' : ''}: ${taskIds(i.state).length} tasks`);
    note(`${instances.length} of ${INSTANCES} instances: ${seen.join(', ')}`);
    const ids = instances.flatMap((i) => taskIds(i.state));
    const settled = instances.length === INSTANCES
      && instances.every((i) => !i.stale && i.state.state === 'RUNNING')
      && ids.length > 0 && new Set(ids).size === ids.length;
    if (settled) return true;
  }, { what: `${INSTANCES} instances not all RUNNING, each task held once`, timeoutMs: 90000 });
  return getJson('/state');
}

async function assetRoutes() {
  const routes = new Map([['/', path.join(UI_DIR, 'index.html')]]);
  for (const f of await readdir(UI_DIR)) {
    if (f !== 'index.html') routes.set(`/ui/${f}`, path.join(UI_DIR, f));
  }
  return routes;
}

const taskIds = (state) => (state.threads || []).flatMap((t) => (t.active_tasks || []).map((k) => k.task_id));

async function main() {
  log(`kstreams UI test: ${BASE}${SERVE_FILES ? ` (assets served from ${path.relative(process.cwd(), UI_DIR)})` : ''}`);

  let state = null;
  await check('instance is RUNNING', async () => {
    state = await waitForRunning();
    const here = `${state.application_id}: ${taskIds(state).length} active tasks here`;
    if (INSTANCES <= 1) return here;
    const all = (await getJson('/cluster')).instances.flatMap((i) => taskIds(i.state));
    return `${here}, ${all.length} in its ${INSTANCES} instances`;
  });
  if (!state) return;
  const topology = await getJson('/topology');
  const clusterStatus = (await http('/cluster')).status;
  const logsStatus = (await http('/logs')).status;
  log(`      /cluster → ${clusterStatus}, /logs → ${logsStatus}`);

  const context = await newContext();
  if (SERVE_FILES) await serveFiles(context, ORIGIN, await assetRoutes());

  const page = await context.newPage();
  // The page probes /cluster and /logs once; the missing-key query below provokes an expected 404.
  const w = watch(page, { tolerate404: OPTIONAL_ENDPOINTS });

  await check('page loads without console errors', async () => {
    await gotoOk(page, BASE + '/');
    await page.waitForSelector('body[data-ready="1"]');
    await page.waitForSelector('#tasks tr[data-task]');
    await page.waitForTimeout(SETTLE_MS); // optional endpoints must not be re-polled
    w.assertClean('load');
    w.assertProbedOnce();
    const tol = [...w.tolerated].map(([ep, n]) => `${ep} 404 ×${n}`);
    return tol.length ? `tolerated: ${tol.join(', ')} (optional endpoints probed once)` : 'no console messages';
  });
  w.phase = 'run';
  if (!(await page.$('body[data-ready="1"]'))) {
    fail('page usable', 'the page never rendered its data; remaining checks skipped');
    return;
  }

  await check('header shows application id and state', async () => {
    const appId = (await page.textContent('#app-id')).trim();
    const badge = (await page.textContent('#client-state')).trim();
    assert(appId === state.application_id, `#app-id is "${appId}", /state says "${state.application_id}"`);
    assert(badge.length > 0 && badge !== 'loading', `#client-state is "${badge}"`);
    return `${appId} · ${badge} · CPU ${(await page.textContent('#cpu')).trim()} · RSS ${(await page.textContent('#rss')).trim()}`;
  });

  await check('optional panels follow endpoint availability', async () => {
    const logsHidden = await page.$eval('#logs-card', (e) => e.hidden);
    assert(logsHidden === (logsStatus === 404), `/logs → ${logsStatus} but logs panel hidden=${logsHidden}`);
    if (logsStatus === 200) {
      const dropped = (await page.textContent('#logs-dropped')).trim();
      assert(/^dropped: [\d,]+$/.test(dropped), `logs dropped counter reads "${dropped}"`);
    }
    const rows = await page.$$eval('#instances tbody tr', (r) => r.length);
    if (clusterStatus === 200) {
      const n = (await getJson('/cluster')).instances.length;
      assert(rows === n, `${rows} instance rows, /cluster lists ${n}`);
    } else {
      assert(rows === 1, `/cluster → ${clusterStatus}: expected 1 (local) instance row, got ${rows}`);
    }
    return `logs panel ${logsHidden ? 'hidden' : 'shown'}, ${rows} instance row(s)`;
  });

  await check('topology graph shows every node, store and topic', async () => {
    const nodes = [];
    const stores = new Set();
    const topics = new Set();
    for (const sub of topology.subtopologies || []) {
      for (const n of sub.nodes || []) {
        nodes.push(n.name);
        for (const s of n.stores || []) stores.add(s);
        for (const t of n.topics || []) topics.add(t);
        if (n.type === 'sink' && n.topic) topics.add(n.topic);
      }
    }
    for (const g of topology.global_stores || []) {
      nodes.push(g.source, g.processor);
      stores.add(g.store);
      topics.add(g.topic);
    }
    assert(nodes.length > 0, '/topology has no nodes');
    const missing = await page.evaluate(({ nodes, stores, topics }) => {
      const out = [];
      const has = (attr, name) => [...document.querySelectorAll(`svg [${attr}]`)].some((e) =>
        e.getAttribute(attr) === name && [...e.querySelectorAll('text')].some((t) => t.textContent === name));
      for (const n of nodes) if (!has('data-node', n)) out.push(`node ${n}`);
      for (const s of stores) if (!has('data-store', s)) out.push(`store ${s}`);
      for (const t of topics) if (!has('data-topic', t)) out.push(`topic ${t}`);
      return out;
    }, { nodes, stores: [...stores], topics: [...topics] });
    assert(!missing.length, `missing in SVG: ${missing.join(', ')}`);
    const boxes = await page.$$eval('svg [data-subtopology]', (e) => e.length);
    const want = (topology.subtopologies || []).length + ((topology.global_stores || []).length ? 1 : 0);
    assert(boxes === want, `${boxes} sub-topology boxes, expected ${want}`);
    return `${nodes.length} nodes, ${stores.size} stores, ${topics.size} topics, ${boxes} boxes`;
  });

  await check('task table lists the active tasks', async () => {
    let last = '';
    for (let attempt = 0; attempt < 4; attempt++) {
      const live = clusterStatus === 200
        ? (await getJson('/cluster')).instances.flatMap((i) => (i.state ? taskIds(i.state) : []))
        : taskIds(await getJson('/state'));
      const shown = await page.$$eval('#tasks tr[data-task]', (rows) => rows.map((r) => r.dataset.task));
      const a = [...new Set(live)].sort().join(',');
      const b = [...new Set(shown)].sort().join(',');
      if (a === b && a) return `${shown.length} rows: ${b}`;
      last = `table [${b}] vs server [${a}]`;
      await sleep(2000);
    }
    throw new Error(last);
  });

  await check('processed counts grow as records flow', async () => {
    const read = () => page.$$eval('#tasks tr[data-task] td.processed', (tds) => tds.map((td) => td.textContent));
    const sum = (cells) => cells.reduce((a, c) => {
      const v = Number(c.replace(/[^0-9]/g, ''));
      if (!c.trim() || !Number.isFinite(v)) throw new Error(`unparsable processed cell "${c}"`);
      return a + v;
    }, 0);
    const first = await read();
    assert(first.length > 0, 'no processed cells in #tasks');
    const s1 = sum(first);
    await page.waitForTimeout(5000);
    const s2 = sum(await read());
    assert(s2 > s1, `sum of processed did not increase in 5 s: ${s1} → ${s2}`);
    const rates = await page.$$eval('#tasks tr[data-task] td.rate', (tds) => tds.map((td) => td.textContent.trim()));
    assert(rates.some((r) => /\/s$/.test(r)), `no computed rate shown (rates: ${rates.join(' ')})`);
    return `${s1} → ${s2} over 5 s (throughput ${(await page.textContent('#throughput')).trim()})`;
  });

  await check(`interactive query ${STORE}/${KEY} returns the stored value`, async () => {
    const direct1 = await http(`/stores/${encodeURIComponent(STORE)}/${encodeURIComponent(KEY)}`);
    assert(direct1.ok, `direct GET answered ${direct1.status}: ${direct1.text}`);
    const options = await page.$$eval('#query-store option', (o) => o.map((x) => x.value));
    assert(options.includes(STORE), `#query-store options [${options.join(', ')}] lack ${STORE}`);
    await page.selectOption('#query-store', STORE);
    await page.fill('#query-key', KEY);
    await page.click('#query-run');
    await page.waitForFunction(() => ['ok', 'error'].includes(document.querySelector('#query-result').dataset.state));
    const st = await page.$eval('#query-result', (e) => e.dataset.state);
    const text = await page.textContent('#query-result');
    assert(st === 'ok', `page shows an error: ${text}`);
    const direct2 = await http(`/stores/${encodeURIComponent(STORE)}/${encodeURIComponent(KEY)}`);
    let shown;
    try { shown = JSON.parse(text); } catch (_) { throw new Error(`#query-result is not JSON: ${text}`); }
    const v1 = direct1.json.value;
    const v2 = direct2.json && direct2.json.value;
    if (typeof v1 === 'number') {
      // A live count may grow between the calls; it never shrinks: direct1 ≤ page ≤ direct2.
      assert(typeof shown === 'number' && shown >= 1, `page value ${text} is not a number ≥ 1`);
      assert(shown >= v1 && shown <= v2, `page value ${shown} outside [${v1}, ${v2}] (direct before/after)`);
      return `page ${shown}, direct ${v1} before / ${v2} after`;
    }
    assert(isDeepStrictEqual(shown, v1) || isDeepStrictEqual(shown, v2), `page value ${text} ≠ direct ${JSON.stringify(v1)}`);
    return `value ${JSON.stringify(shown)}`;
  });

  await check('interactive query shows the error code for a missing key', async () => {
    const key = `no-such-key-${Date.now()}`;
    const p = `/stores/${encodeURIComponent(STORE)}/${encodeURIComponent(key)}`;
    w.expected.add(BASE + p);
    const direct = await http(p);
    assert(!direct.ok && direct.json && direct.json.code, `direct GET answered ${direct.status}: ${direct.text}`);
    await page.fill('#query-key', key);
    await page.click('#query-run');
    await page.waitForFunction(() => document.querySelector('#query-result').dataset.state === 'error');
    const text = await page.textContent('#query-result');
    assert(text.startsWith(direct.json.code), `#query-result "${text}" does not start with ${direct.json.code}`);
    return `${direct.json.code} (HTTP ${direct.status}) shown`;
  });

  if (SCREENSHOT) {
    await check('screenshot', async () => {
      await page.fill('#query-key', KEY);
      await page.click('#query-run');
      await page.waitForFunction(() => document.querySelector('#query-result').dataset.state === 'ok');
      return screenshot(page, SCREENSHOT);
    });
  }

  await check('no console errors during the whole run', async () => {
    w.assertClean();
  });
}

await run(main, { timeoutMs: TOTAL_TIMEOUT_MS });
