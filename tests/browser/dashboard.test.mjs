// Headless-browser test of the records dashboard (the whole diamond on one page).
//
//   npm ci && node dashboard.test.mjs
//
// Run it against a live platform, e.g. the demo:
//   records demo --http 127.0.0.1:18383 --rate 300 --records 60000 --customers 5000 --partitions 2
//   RECORDS_DASHBOARD_URL=http://127.0.0.1:18383 node dashboard.test.mjs
//
// Environment:
//   RECORDS_DASHBOARD_URL          base URL of the dashboard (default http://127.0.0.1:8080)
//   RECORDS_DASHBOARD_SERVE_FILES  "1": serve "/" and "/dashboard.js" from apps/records/src/dashboard
//                                  via request interception (/api/roles still goes to the server)
//   RECORDS_DASHBOARD_ROLE         role whose instance page the test follows (default ingest)
//   RECORDS_DASHBOARD_SCREENSHOT   path: save a full-page screenshot (1400x900 viewport) after data loaded
//   RECORDS_DASHBOARD_TIMEOUT_MS   overall watchdog (default 180000)
//   CHROMIUM                       browser executable (default /usr/bin/chromium)
//
// Console policy: any console error/warning, uncaught page error, failed request or HTTP error
// answer fails the test, on the dashboard and on the followed instance page alike. The one
// exception is the instance page's documented probe of its optional endpoints /cluster and /logs
// (see ui.test.mjs): a single "404" for each is tolerated there.
import { chromium } from 'playwright-core';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const PAGE_DIR = path.resolve(here, '../../apps/records/src/dashboard');
const BASE = (process.env.RECORDS_DASHBOARD_URL || 'http://127.0.0.1:8080').replace(/\/+$/, '');
const ORIGIN = new URL(BASE).origin;
const SERVE_FILES = process.env.RECORDS_DASHBOARD_SERVE_FILES === '1';
const FOLLOW_ROLE = process.env.RECORDS_DASHBOARD_ROLE || 'ingest';
const SCREENSHOT = process.env.RECORDS_DASHBOARD_SCREENSHOT || '';
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const TOTAL_TIMEOUT_MS = Number(process.env.RECORDS_DASHBOARD_TIMEOUT_MS || 180000);
const STEP_TIMEOUT_MS = 30000;
const LIVE_TIMEOUT_MS = 60000;
const RATE_TIMEOUT_MS = 30000;
const STAGES = new Set(['ingest', 'detector', 'notify']);
const TOPICS = ['customer-records', 'records-enriched', 'alerts', 'notifications'];
const INSTANCE_PAGE_OPTIONAL = new Set(['/cluster', '/logs']);
// The two files the records binary serves (include_str) and where they live in the tree.
const ROUTES = new Map([
  ['/', { file: path.join(PAGE_DIR, 'page.html'), type: 'text/html; charset=utf-8' }],
  ['/dashboard.js', { file: path.join(PAGE_DIR, 'page.js'), type: 'text/javascript; charset=utf-8' }],
]);

const results = [];
let browser = null;

const watchdog = setTimeout(async () => {
  console.error(`FAIL  overall timeout after ${TOTAL_TIMEOUT_MS} ms`);
  printSummary();
  process.exit(1);
}, TOTAL_TIMEOUT_MS);

function log(msg) {
  console.log(msg);
}

function printSummary() {
  const failed = results.filter((r) => !r.ok);
  log(`\n${results.length - failed.length}/${results.length} checks passed${failed.length ? `; FAILED: ${failed.map((r) => r.name).join(', ')}` : ''}`);
}

async function check(name, fn) {
  try {
    const detail = await fn();
    results.push({ name, ok: true });
    log(`PASS  ${name}${detail ? ` — ${detail}` : ''}`);
    return true;
  } catch (e) {
    results.push({ name, ok: false });
    log(`FAIL  ${name} — ${e && e.message ? e.message : e}`);
    return false;
  }
}

function assert(cond, msg) {
  if (!cond) throw new Error(msg);
}

async function getJson(url) {
  const r = await fetch(url, { signal: AbortSignal.timeout(10000), headers: { accept: 'application/json' } });
  const text = await r.text();
  let json = null;
  try { json = JSON.parse(text); } catch (_) { /* not JSON */ }
  if (!r.ok || json === null) throw new Error(`GET ${url}: HTTP ${r.status} ${text.slice(0, 200)}`);
  return json;
}

const getRoles = () => getJson(BASE + '/api/roles');
const sleep = (ms) => new Promise((res) => setTimeout(res, ms));
const isLive = (i) => !i.stale && i.state === 'RUNNING';

// Numbers as the page formats them (toLocaleString in the en-US locale the context uses).
function num(text) {
  const t = String(text).trim().replace(/,/g, '');
  const v = Number(t);
  if (!t || !Number.isFinite(v)) throw new Error(`unparsable number "${text}"`);
  return v;
}

// Console, page errors, failed requests and HTTP errors of one page, tagged by phase.
function watch(page, { tolerate404 = new Set() } = {}) {
  const w = { phase: 'load', problems: [], tolerated: new Map() };
  const origin = () => { try { return new URL(page.url()).origin; } catch (_) { return ''; } };
  page.on('console', (msg) => {
    const type = msg.type();
    if (type !== 'error' && type !== 'warning') return;
    const text = msg.text();
    const url = (msg.location() && msg.location().url) || '';
    if (type === 'error' && / 404 /.test(text) && /^Failed to load resource/.test(text)) {
      let u = null;
      try { u = new URL(url); } catch (_) { /* no url */ }
      if (u && u.origin === origin() && tolerate404.has(u.pathname)) {
        w.tolerated.set(u.pathname, (w.tolerated.get(u.pathname) || 0) + 1);
        return;
      }
    }
    w.problems.push({ phase: w.phase, text: `console.${type}: ${text}${url ? ` (${url})` : ''}` });
  });
  page.on('pageerror', (err) => w.problems.push({ phase: w.phase, text: `pageerror: ${err.message}` }));
  page.on('requestfailed', (r) => w.problems.push({ phase: w.phase, text: `request failed: ${r.url()} ${r.failure() && r.failure().errorText}` }));
  page.on('response', (r) => {
    const u = new URL(r.url());
    if (r.status() >= 400 && !tolerate404.has(u.pathname)) w.problems.push({ phase: w.phase, text: `HTTP ${r.status()} ${u.pathname}` });
  });
  w.assertClean = (phase) => {
    const ps = phase ? w.problems.filter((p) => p.phase === phase) : w.problems;
    assert(!ps.length, ps.map((p) => `[${p.phase}] ${p.text}`).join(' | '));
    for (const [ep, n] of w.tolerated) assert(n <= 1, `${ep} 404 logged ${n} times: the page must stop polling it`);
  };
  return w;
}

// The instance table, read through its header so the test does not depend on column order.
async function readTable(page) {
  return page.evaluate(() => {
    const heads = [...document.querySelectorAll('#instances thead th')].map((th) => th.textContent.trim().toLowerCase());
    return [...document.querySelectorAll('#instances tbody tr[data-role]')].map((tr) => {
      const cells = [...tr.cells].map((td) => td.textContent.trim());
      const row = { role: tr.dataset.role, stale: tr.classList.contains('stale'), links: [...tr.querySelectorAll('a[href]')].map((a) => a.href) };
      heads.forEach((h, i) => { row[h] = cells[i]; });
      return row;
    });
  });
}

async function main() {
  log(`records dashboard test: ${BASE}${SERVE_FILES ? ` (page served from ${path.relative(process.cwd(), PAGE_DIR)})` : ''}`);

  let roles = null;
  await check('/api/roles lists the diamond', async () => {
    const deadline = Date.now() + 30000;
    let last = 'no answer';
    while (Date.now() < deadline) {
      try {
        roles = await getRoles();
        break;
      } catch (e) {
        last = e.message;
        await sleep(500);
      }
    }
    assert(roles, `no answer within 30 s (last: ${last})`);
    assert(Array.isArray(roles) && roles.length > 0, `not a non-empty array: ${JSON.stringify(roles).slice(0, 200)}`);
    for (const r of roles) {
      assert(typeof r.name === 'string' && r.name, `role without a name: ${JSON.stringify(r).slice(0, 200)}`);
      assert(STAGES.has(r.stage), `role ${r.name}: stage "${r.stage}"`);
      assert(typeof r.application_id === 'string' && r.application_id, `role ${r.name}: no application_id`);
      assert(Array.isArray(r.instances), `role ${r.name}: instances is not an array`);
    }
    const count = (s) => roles.filter((r) => r.stage === s).length;
    assert(count('ingest') === 1 && count('notify') === 1 && count('detector') >= 1,
      `stages: ${count('ingest')} ingest, ${count('detector')} detector, ${count('notify')} notify`);
    assert(new Set(roles.map((r) => r.name)).size === roles.length, 'role names are not unique');
    return roles.map((r) => r.name).join(', ');
  });
  if (!roles) return;

  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'], timeout: STEP_TIMEOUT_MS });
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 }, locale: 'en-US' });
  context.setDefaultTimeout(STEP_TIMEOUT_MS);
  if (SERVE_FILES) {
    await context.route((url) => url.origin === ORIGIN && ROUTES.has(url.pathname), async (route) => {
      const { file, type } = ROUTES.get(new URL(route.request().url()).pathname);
      await route.fulfill({ status: 200, contentType: type, body: await readFile(file) });
    });
  }

  const page = await context.newPage();
  const w = watch(page);

  const loaded = await check('dashboard loads without console errors', async () => {
    const resp = await page.goto(BASE + '/', { waitUntil: 'load' });
    assert(resp && resp.ok(), `GET / answered ${resp && resp.status()}`);
    await page.waitForSelector('#diamond g.role[data-role]');
    await page.waitForSelector('#instances tbody tr[data-role]');
    await page.waitForTimeout(4500); // two more poll cycles
    w.assertClean('load');
    const updated = (await page.textContent('#updated')).trim();
    assert(/^updated /.test(updated), `#updated reads "${updated}"`);
    return `no console messages; ${updated}`;
  });
  w.phase = 'run';
  if (!loaded && !(await page.$('#diamond g.role[data-role]'))) {
    results.push({ name: 'page usable', ok: false });
    log('FAIL  page usable — the page never drew the diamond; remaining checks skipped');
    return;
  }

  await check('diamond shows every role and topic', async () => {
    const missing = await page.evaluate(({ roles, topics }) => {
      const out = [];
      const svg = document.getElementById('diamond');
      const has = (attr, name) => [...svg.querySelectorAll(`[${attr}]`)].some((e) =>
        e.getAttribute(attr) === name && [...e.querySelectorAll('text')].some((t) => t.textContent.trim() === name));
      for (const r of roles) if (!has('data-role', r)) out.push(`role ${r}`);
      for (const t of topics) if (!has('data-topic', t)) out.push(`topic ${t}`);
      const drawn = [...svg.querySelectorAll('g.role[data-role]')].map((g) => g.dataset.role);
      for (const d of drawn) if (!roles.includes(d)) out.push(`unknown role ${d} drawn`);
      if (drawn.length !== roles.length) out.push(`${drawn.length} role boxes for ${roles.length} roles`);
      return out;
    }, { roles: roles.map((r) => r.name), topics: TOPICS });
    assert(!missing.length, `missing in #diamond: ${missing.join(', ')}`);
    return `${roles.length} roles, topics ${TOPICS.join(', ')}`;
  });

  await check('every role has a live (RUNNING, not stale) instance', async () => {
    const deadline = Date.now() + LIVE_TIMEOUT_MS;
    let last = '';
    while (true) {
      const api = await getRoles();
      const rows = await readTable(page);
      const notLive = [];
      for (const r of api) {
        if (!r.instances.some(isLive)) notLive.push(`${r.name} (api: ${r.instances.map((i) => (i.stale ? 'stale' : i.state)).join('/') || 'no instance'})`);
        else if (!rows.some((row) => row.role === r.name && !row.stale && row.state === 'RUNNING')) notLive.push(`${r.name} (no RUNNING row in #instances)`);
      }
      if (!notLive.length) {
        const n = api.reduce((a, r) => a + r.instances.filter(isLive).length, 0);
        return `${n} live instances, ${rows.length} rows`;
      }
      last = notLive.join(', ');
      if (Date.now() > deadline) throw new Error(`not live within ${LIVE_TIMEOUT_MS / 1000} s: ${last}`);
      await sleep(1000);
    }
  });

  await check('records flow: processed grows, ingest records/s > 0', async () => {
    const sum = (rows) => rows.reduce((a, r) => a + num(r.processed), 0);
    const api1 = (await getRoles()).flatMap((r) => r.instances).reduce((a, i) => a + i.processed, 0);
    const rows1 = await readTable(page);
    assert(rows1.length && rows1.every((r) => 'processed' in r && 'records/s' in r), 'no processed or records/s column in #instances');
    const s1 = sum(rows1);
    await page.waitForTimeout(5000);
    const s2 = sum(await readTable(page));
    const api2 = (await getRoles()).flatMap((r) => r.instances).reduce((a, i) => a + i.processed, 0);
    assert(s2 > s1, `sum of the processed column did not increase in 5 s: ${s1} → ${s2}`);
    assert(api2 > api1, `sum of processed in /api/roles did not increase in 5 s: ${api1} → ${api2}`);
    // Ingest's records/s, a difference of two polls: > 0 at some point while records flow.
    const deadline = Date.now() + RATE_TIMEOUT_MS;
    const seen = [];
    while (true) {
      const ingest = (await readTable(page)).filter((r) => r.role === roles.find((x) => x.stage === 'ingest').name);
      const rate = ingest.reduce((a, r) => a + num(r['records/s']), 0);
      seen.push(rate);
      if (rate > 0) return `processed ${s1} → ${s2} over 5 s (api ${api1} → ${api2}); ingest ${rate} records/s`;
      if (Date.now() > deadline) throw new Error(`ingest records/s never > 0 in ${RATE_TIMEOUT_MS / 1000} s (read ${seen.join(', ')})`);
      await page.waitForTimeout(1000);
    }
  });

  await check('each role box shows CPU % and MiB', async () => {
    const boxes = await page.$$eval('#diamond g.role[data-role]', (gs) => gs.map((g) => ({
      role: g.dataset.role,
      text: [...g.querySelectorAll('text')].map((t) => t.textContent).join(' | '),
    })));
    const bad = [];
    const shown = [];
    for (const r of roles) {
      const b = boxes.find((x) => x.role === r.name);
      if (!b) { bad.push(`${r.name}: no box`); continue; }
      const cpu = b.text.match(/(\d[\d,.]*)\s*%/);
      const mib = b.text.match(/(\d[\d,.]*)\s*MiB/);
      if (!cpu || !mib) { bad.push(`${r.name}: "${b.text}"`); continue; }
      // Every role is live by now, so its process has resident memory.
      if (!(num(mib[1]) > 0)) bad.push(`${r.name}: ${mib[0]}`);
      shown.push(`${r.name} ${cpu[0]} ${mib[0]}`);
    }
    assert(!bad.length, `no CPU %/MiB figure: ${bad.join('; ')}`);
    return shown.join(', ');
  });

  if (SCREENSHOT) {
    await check('screenshot', async () => {
      await page.evaluate(() => window.scrollTo(0, 0));
      await page.screenshot({ path: SCREENSHOT, fullPage: true });
      return SCREENSHOT;
    });
  }

  await check('no console errors on the dashboard during the whole run', async () => {
    w.assertClean();
  });

  const role = roles.find((r) => r.name === FOLLOW_ROLE);
  await check(`${FOLLOW_ROLE}'s http_address leads to its kstreams page`, async () => {
    assert(role, `no role ${FOLLOW_ROLE} in /api/roles`);
    const api = (await getRoles()).find((r) => r.name === FOLLOW_ROLE);
    const inst = api.instances.find((i) => isLive(i) && i.http_address);
    assert(inst, `${FOLLOW_ROLE} has no live instance with an http_address`);
    const url = `http://${inst.http_address}/`;
    // The dashboard shows the address on the instance's row (and links it, if the page does).
    const rows = (await readTable(page)).filter((r) => r.role === FOLLOW_ROLE && r.instance && r.instance.includes(inst.http_address));
    assert(rows.length === 1, `#instances has ${rows.length} ${FOLLOW_ROLE} rows showing ${inst.http_address}`);
    if (rows[0].links.length) assert(rows[0].links.includes(url), `row links to ${rows[0].links.join(', ')}, not ${url}`);

    const ipage = await context.newPage();
    const iw = watch(ipage, { tolerate404: INSTANCE_PAGE_OPTIONAL });
    try {
      const resp = await ipage.goto(url, { waitUntil: 'load' });
      assert(resp && resp.ok(), `GET ${url} answered ${resp && resp.status()}`);
      await ipage.waitForSelector('body[data-ready="1"]');
      await ipage.waitForFunction(() => {
        const b = document.querySelector('#client-state');
        return b && b.textContent.trim() && b.textContent.trim() !== 'loading';
      });
      await ipage.waitForTimeout(4500); // two poll cycles
      iw.assertClean();
      const appId = (await ipage.textContent('#app-id')).trim();
      const state = (await ipage.textContent('#client-state')).trim();
      assert(appId === role.application_id, `#app-id reads "${appId}", the role's application id is "${role.application_id}"`);
      return `${url} → ${appId} · ${state}${rows[0].links.length ? ' (linked from the table)' : ''}`;
    } finally {
      await ipage.close().catch(() => {});
    }
  });
}

let exitCode = 1;
try {
  await main();
  exitCode = results.length && results.every((r) => r.ok) ? 0 : 1;
} catch (e) {
  log(`FAIL  unexpected error — ${e && e.stack ? e.stack : e}`);
  exitCode = 1;
} finally {
  if (browser) await browser.close().catch(() => {});
  clearTimeout(watchdog);
  printSummary();
  process.exit(exitCode);
}
