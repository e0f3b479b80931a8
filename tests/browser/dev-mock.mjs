// TEMP dev script (will be deleted): mock /cluster, /logs, richer topology.
import { chromium } from 'playwright-core';
import { readFile } from 'node:fs/promises';
const UI = '/work/main/crates/kstreams/src/runtime/kafka/http/ui/';
const BASE = 'http://127.0.0.1:18181';
const b = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox'] });
const ctx = await b.newContext({ viewport: { width: 1400, height: 900 } });
const page = await ctx.newPage();
page.on('console', m => console.log('CONSOLE', m.type(), m.text(), m.location().url));
page.on('pageerror', e => console.log('PAGEERROR', e.message));
const files = { '/': 'index.html', '/ui/app.js': 'app.js', '/ui/graph.js': 'graph.js', '/ui/style.css': 'style.css' };
const ct = { html: 'text/html', js: 'text/javascript', css: 'text/css' };
for (const [p, f] of Object.entries(files)) await page.route(BASE + p, async r => r.fulfill({ contentType: ct[f.split('.').pop()], body: await readFile(UI + f) }));
const topo = { subtopologies: [
  { id: 0, nodes: [
    { type: 'source', name: 'KSTREAM-SOURCE-0000000000', topics: ['orders'], successors: ['KSTREAM-BRANCH-0000000001'] },
    { type: 'processor', name: 'KSTREAM-BRANCH-0000000001', stores: [], successors: ['KSTREAM-BRANCHCHILD-0000000002', 'KSTREAM-BRANCHCHILD-0000000003'], predecessors: ['KSTREAM-SOURCE-0000000000'] },
    { type: 'processor', name: 'KSTREAM-BRANCHCHILD-0000000002', stores: [], successors: ['KSTREAM-SINK-0000000004'], predecessors: ['KSTREAM-BRANCH-0000000001'] },
    { type: 'processor', name: 'KSTREAM-BRANCHCHILD-0000000003', stores: [], successors: ['KSTREAM-SINK-0000000005'], predecessors: ['KSTREAM-BRANCH-0000000001'] },
    { type: 'sink', name: 'KSTREAM-SINK-0000000004', topic: 'big-orders', predecessors: ['KSTREAM-BRANCHCHILD-0000000002'] },
    { type: 'sink', name: 'KSTREAM-SINK-0000000005', topic: null, predecessors: ['KSTREAM-BRANCHCHILD-0000000003'] },
  ] },
  { id: 1, nodes: [
    { type: 'source', name: 'KSTREAM-SOURCE-0000000010', topics: ['payments'], successors: ['KSTREAM-JOINTHIS-0000000012'] },
    { type: 'source', name: 'KSTREAM-SOURCE-0000000011', topics: ['shipments', 'returns'], successors: ['KSTREAM-JOINOTHER-0000000013'] },
    { type: 'processor', name: 'KSTREAM-JOINTHIS-0000000012', stores: ['join-this-store', 'join-other-store'], successors: ['KSTREAM-MERGE-0000000014'], predecessors: ['KSTREAM-SOURCE-0000000010'] },
    { type: 'processor', name: 'KSTREAM-JOINOTHER-0000000013', stores: ['join-other-store', 'join-this-store'], successors: ['KSTREAM-MERGE-0000000014'], predecessors: ['KSTREAM-SOURCE-0000000011'] },
    { type: 'processor', name: 'KSTREAM-MERGE-0000000014', stores: [], successors: ['KSTREAM-SINK-0000000015'], predecessors: ['KSTREAM-JOINTHIS-0000000012', 'KSTREAM-JOINOTHER-0000000013'] },
    { type: 'sink', name: 'KSTREAM-SINK-0000000015', topic: 'app-joined-repartition', predecessors: ['KSTREAM-MERGE-0000000014'] },
  ] },
  { id: 2, nodes: [
    { type: 'source', name: 'KSTREAM-SOURCE-0000000020', topics: ['app-joined-repartition'], successors: ['KSTREAM-AGGREGATE-0000000021'] },
    { type: 'processor', name: 'KSTREAM-AGGREGATE-0000000021', stores: ['totals'], successors: [], predecessors: ['KSTREAM-SOURCE-0000000020'] },
  ] },
], global_stores: [{ id: 3, source: 'KSTREAM-SOURCE-0000000030', processor: 'KTABLE-SOURCE-0000000031', topic: 'customers', store: 'customers-store' }] };
await page.route(BASE + '/topology', r => r.fulfill({ contentType: 'application/json', body: JSON.stringify(topo) }));
let n = 0;
await page.route(BASE + '/cluster', async r => {
  const st = await (await fetch(BASE + '/state')).json();
  n++;
  const remote = structuredClone(st);
  remote.threads.forEach(t => t.active_tasks.forEach(k => { k.task_id = k.task_id.replace('_', '_1'); k.metrics.processed += n * 37; }));
  remote.threads[0].active_tasks[0].restoring = true;
  remote.threads[0].active_tasks[0].stores = [{ name: 'totals', changelog: 'app-totals-changelog', approximate_num_entries: 1234, restore: { topic: 'app-totals-changelog', partition: 3, start_offset: 100, end_offset: 5100, position: 100 + n * 900, restored: n * 900 } }];
  remote.metrics.tasks.dropped = 3; remote.metrics.tasks.dead_lettered = 2; remote.failed_stream_threads = 1;
  remote.state = 'REBALANCING';
  const stale = structuredClone(st); stale.threads = stale.threads.slice(0, 1); stale.threads[0].active_tasks = [];
  r.fulfill({ contentType: 'application/json', body: JSON.stringify({ instances: [
    { instance_id: 'b7d1c2a4-9f1e-4c55-8a2b-3d3f0c1e2a10', http_address: '127.0.0.1:18181', updated_ms: Date.now(), stale: false, state: st },
    { instance_id: '0f3e2d1c-1111-4c55-8a2b-3d3f0c1e2a11', http_address: '10.0.0.7:8080', updated_ms: Date.now() - 1000, stale: false, state: remote },
    { instance_id: '9a9a9a9a-2222-4c55-8a2b-3d3f0c1e2a12', http_address: null, updated_ms: Date.now() - 60000, stale: true, state: stale },
  ] }) });
});
const levels = ['INFO', 'WARN', 'ERROR', 'INFO', 'INFO'];
await page.route(BASE + '/logs', r => r.fulfill({ contentType: 'application/json', body: JSON.stringify({ dropped: 17, events: Array.from({ length: 30 }, (_, i) => ({ timestamp_ms: Date.now() - (30 - i) * 1000, level: levels[i % 5], target: 'kstreams::runtime::kafka::thread::restoration', message: `event number ${i} <b>not html</b> with a long message text to see how wrapping behaves in the table when messages are long`, application_id: 'word-count', instance_id: i % 2 ? 'b7d1c2a4-9f1e-4c55-8a2b-3d3f0c1e2a10' : '0f3e2d1c-1111-4c55-8a2b-3d3f0c1e2a11', thread: i % 3 ? 'word-count-StreamThread-0' : null, task: i % 4 ? `0_${i % 3}` : null })) }) }));
await page.goto(BASE + '/');
await page.waitForSelector('body[data-ready="1"]');
await page.waitForTimeout(4500);
await page.selectOption('#query-store', 'totals');
await page.fill('#query-key', 'x');
await page.click('#query-run');
await page.waitForTimeout(500);
await page.evaluate(() => window.scrollTo(0, 0)); await page.screenshot({ path: '/tmp/uidev/mock.png', fullPage: true });
await page.selectOption('#logs-level', 'WARN');
await page.fill('#logs-task', '0_1');
await page.locator('#instances-card').screenshot({ path: '/tmp/uidev/inst.png' }); await page.locator('#stores-card').screenshot({ path: '/tmp/uidev/stores.png' }); await page.locator('#topology-card').screenshot({ path: '/tmp/uidev/topo.png' });
console.log('logs count:', await page.textContent('#logs-count'));
await b.close();
