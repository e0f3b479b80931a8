// Helpers shared by the headless-browser tests (ui.test.mjs, dashboard.test.mjs): the PASS/FAIL
// report, the watchdog, JSON fetches, polling, Chromium with one context, local files served
// through request interception, and the console/error watch of a page.
//
// Environment:
//   CHROMIUM  browser executable (default /usr/bin/chromium)
import { chromium } from 'playwright-core';
import { readFile } from 'node:fs/promises';
import path from 'node:path';

// Browser executable, and the default timeout of each Playwright step.
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
export const STEP_TIMEOUT_MS = 30000;
// How long to watch a page after it rendered: two more of its 2 s poll cycles.
export const SETTLE_MS = 4500;
const CONTENT_TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8' };

// One entry {name, ok} per check, in order; printSummary counts them.
export const results = [];
let browser = null;

// Prints one line of the report.
export function log(msg) {
  console.log(msg);
}

// Throws msg unless cond holds; a throw inside check() fails that check.
export function assert(cond, msg) {
  if (!cond) throw new Error(msg);
}

// Resolves after ms milliseconds.
export const sleep = (ms) => new Promise((res) => setTimeout(res, ms));

// Base URL from environment variable envVar (or fallback), without trailing slashes.
export const baseUrl = (envVar, fallback = 'http://127.0.0.1:8080') => (process.env[envVar] || fallback).replace(/\/+$/, '');

// The final line: "n/m checks passed", plus the names of the failed checks.
export function printSummary() {
  const failed = results.filter((r) => !r.ok);
  log(`\n${results.length - failed.length}/${results.length} checks passed${failed.length ? `; FAILED: ${failed.map((r) => r.name).join(', ')}` : ''}`);
}

// Runs one named check: PASS with fn's returned detail, or FAIL with its error; returns whether it passed.
export async function check(name, fn) {
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

// Records a failed check without running anything (e.g. why the remaining checks are skipped).
export function fail(name, why) {
  results.push({ name, ok: false });
  log(`FAIL  ${name} — ${why}`);
}

// Runs main under a watchdog of timeoutMs, closes the browser, prints the summary and exits 0 iff every check passed.
export async function run(main, { timeoutMs }) {
  const watchdog = setTimeout(() => {
    console.error(`FAIL  overall timeout after ${timeoutMs} ms`);
    printSummary();
    process.exit(1);
  }, timeoutMs);
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
}

// GET url as JSON: {status, ok, json (null if the body is not JSON), text}; never throws on an HTTP error.
export async function fetchJson(url) {
  const r = await fetch(url, { signal: AbortSignal.timeout(10000), headers: { accept: 'application/json' } });
  const text = await r.text();
  let json = null;
  try { json = JSON.parse(text); } catch (_) { /* not JSON */ }
  return { status: r.status, ok: r.ok, json, text };
}

// GET url and return its JSON body; throws on an HTTP error or a body that is not JSON.
export async function getJson(url) {
  const r = await fetchJson(url);
  if (!r.ok || r.json === null) throw new Error(`GET ${url}: HTTP ${r.status} ${r.text.slice(0, 200)}`);
  return r.json;
}

// Calls fn(note) every intervalMs until it returns something other than undefined, and returns that;
// fn's errors retry too. On timeout throws "<what> within N s (last: <last error or note(text)>)".
export async function waitFor(fn, { what, timeoutMs, intervalMs = 500 }) {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  const note = (text) => { last = text; };
  while (Date.now() < deadline) {
    try {
      const value = await fn(note);
      if (value !== undefined) return value;
    } catch (e) {
      last = e.message;
    }
    await sleep(intervalMs);
  }
  throw new Error(`${what} within ${timeoutMs / 1000} s (last: ${last})`);
}

// Launches headless Chromium (closed by run()) and returns a 1400x900 context; options are added to the context's.
export async function newContext(options = {}) {
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'], timeout: STEP_TIMEOUT_MS });
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 }, ...options });
  context.setDefaultTimeout(STEP_TIMEOUT_MS);
  return context;
}

// Answers requests for origin + a path in routes (Map path -> local file) from the file, typed by its extension.
export async function serveFiles(context, origin, routes) {
  await context.route((url) => url.origin === origin && routes.has(url.pathname), async (route) => {
    const file = routes.get(new URL(route.request().url()).pathname);
    await route.fulfill({ status: 200, contentType: CONTENT_TYPES[path.extname(file)] || 'application/octet-stream', body: await readFile(file) });
  });
}

// Opens url in page and asserts the document answered 2xx.
export async function gotoOk(page, url) {
  const resp = await page.goto(url, { waitUntil: 'load' });
  assert(resp && resp.ok(), `GET ${url} answered ${resp && resp.status()}`);
  return resp;
}

// Scrolls to the top (headers may be sticky) and saves a full-page screenshot to file.
export async function screenshot(page, file) {
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

// Collects a page's console errors/warnings, page errors, failed requests and HTTP error answers, tagged
// with w.phase. Tolerated: a "404" console error for a same-origin path in tolerate404 (counted in
// w.tolerated; HTTP errors of those paths are ignored), and any error for a URL added to w.expected.
export function watch(page, { tolerate404 = new Set() } = {}) {
  const w = { phase: 'load', problems: [], tolerated: new Map(), expected: new Set() };
  const origin = () => { try { return new URL(page.url()).origin; } catch (_) { return ''; } };
  page.on('console', (msg) => {
    const type = msg.type();
    if (type !== 'error' && type !== 'warning') return;
    const text = msg.text();
    const url = (msg.location() && msg.location().url) || '';
    if (type === 'error' && /^Failed to load resource: the server responded with a status of \d+/.test(text)) {
      let u = null;
      try { u = new URL(url); } catch (_) { /* no url */ }
      if (u && u.origin === origin() && tolerate404.has(u.pathname) && / 404 /.test(text)) {
        w.tolerated.set(u.pathname, (w.tolerated.get(u.pathname) || 0) + 1);
        return;
      }
      if (w.expected.has(url)) return;
    }
    w.problems.push({ phase: w.phase, text: `console.${type}: ${text}${url ? ` (${url})` : ''}` });
  });
  page.on('pageerror', (err) => w.problems.push({ phase: w.phase, text: `pageerror: ${err.message}` }));
  page.on('requestfailed', (r) => w.problems.push({ phase: w.phase, text: `request failed: ${r.url()} ${r.failure() && r.failure().errorText}` }));
  page.on('response', (r) => {
    const u = new URL(r.url());
    if (r.status() >= 400 && !tolerate404.has(u.pathname) && !w.expected.has(r.url())) w.problems.push({ phase: w.phase, text: `HTTP ${r.status()} ${u.pathname}` });
  });
  // Asserts no problem was seen (in phase, if given).
  w.assertClean = (phase) => {
    const ps = phase ? w.problems.filter((p) => p.phase === phase) : w.problems;
    assert(!ps.length, ps.map((p) => `[${p.phase}] ${p.text}`).join(' | '));
  };
  // Asserts each tolerated path was logged at most once, i.e. the page stopped polling it.
  w.assertProbedOnce = () => {
    for (const [ep, n] of w.tolerated) assert(n <= 1, `${ep} 404 logged ${n} times: the page must stop polling it`);
  };
  return w;
}
