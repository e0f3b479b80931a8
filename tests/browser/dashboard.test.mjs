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
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  SETTLE_MS, assert, baseUrl, check, fail, getJson, gotoOk, log, newContext, run, screenshot, serveFiles, sleep,
  waitFor, watch,
} from './common.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const PAGE_DIR = path.resolve(here, '../../apps/records/src/dashboard');
const BASE = baseUrl('RECORDS_DASHBOARD_URL');
const ORIGIN = new URL(BASE).origin;
const SERVE_FILES = process.env.RECORDS_DASHBOARD_SERVE_FILES === '1';
const FOLLOW_ROLE = process.env.RECORDS_DASHBOARD_ROLE || 'ingest';
const SCREENSHOT = process.env.RECORDS_DASHBOARD_SCREENSHOT || '';
const TOTAL_TIMEOUT_MS = Number(process.env.RECORDS_DASHBOARD_TIMEOUT_MS || 180000);
const LIVE_TIMEOUT_MS = 60000;
const RATE_TIMEOUT_MS = 30000;
const STAGES = new Set(['ingest', 'detector', 'notify']);
const TOPICS = ['customer-records', 'records-enriched', 'alerts', 'notifications'];
const INSTANCE_PAGE_OPTIONAL = new Set(['/cluster', '/logs']);
// The two files the records binary serves (include_str) and where they live in the tree.
const ROUTES = new Map([
  ['/', path.join(PAGE_DIR, 'page.html')],
  ['/dashboard.js', path.join(PAGE_DIR, 'page.js')],
]);

const getRoles = () => getJson(BASE + '/api/roles');
const isLive = (i) => !i.stale && i.state === 'RUNNING';

// Numbers as the page formats them (toLocaleString in the en-US locale the context uses).
function num(text) {
  const t = String(text).trim().replace(/,/g, '');
  const v = Number(t);
  if (!t || !Number.isFinite(v)) throw new Error(`unparsable number "${text}"`);
  return v;
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
    roles = await waitFor(getRoles, { what: 'no answer', timeoutMs: 30000 });
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

  const context = await newContext({ locale: 'en-US' });
  if (SERVE_FILES) await serveFiles(context, ORIGIN, ROUTES);

  const page = await context.newPage();
  const w = watch(page);

  const loaded = await check('dashboard loads without console errors', async () => {
    await gotoOk(page, BASE + '/');
    await page.waitForSelector('#diamond g.role[data-role]');
    await page.waitForSelector('#instances tbody tr[data-role]');
    await page.waitForTimeout(SETTLE_MS);
    w.assertClean('load');
    const updated = (await page.textContent('#updated')).trim();
    assert(/^updated /.test(updated), `#updated reads "${updated}"`);
    return `no console messages; ${updated}`;
  });
  w.phase = 'run';
  if (!loaded && !(await page.$('#diamond g.role[data-role]'))) {
    fail('page usable', 'the page never drew the diamond; remaining checks skipped');
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
      return screenshot(page, SCREENSHOT);
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
      await gotoOk(ipage, url);
      await ipage.waitForSelector('body[data-ready="1"]');
      await ipage.waitForFunction(() => {
        const b = document.querySelector('#client-state');
        return b && b.textContent.trim() && b.textContent.trim() !== 'loading';
      });
      await ipage.waitForTimeout(SETTLE_MS);
      iw.assertClean();
      iw.assertProbedOnce();
      const appId = (await ipage.textContent('#app-id')).trim();
      const state = (await ipage.textContent('#client-state')).trim();
      assert(appId === role.application_id, `#app-id reads "${appId}", the role's application id is "${role.application_id}"`);
      return `${url} → ${appId} · ${state}${rows[0].links.length ? ' (linked from the table)' : ''}`;
    } finally {
      await ipage.close().catch(() => {});
    }
  });
}

await run(main, { timeoutMs: TOTAL_TIMEOUT_MS });
