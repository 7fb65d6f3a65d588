/**
 * The local page as a person sees it, in a real headless Chromium (Debian's, driven by playwright-core;
 * `.ci/run` installs it when missing): rows in lineage order with states at a glance, a summary per
 * worker that leaves expired owners out, checkpoint ages, everything visible at 800 px without wrapped
 * ids, and a lease taken through the API showing up without a reload. The server runs on a manual
 * clock, so every state and age on the page is exact. A screenshot is kept in test-results/.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Logger } from '@aws-lambda-powertools/logger';
import { type Browser, chromium, type Page } from 'playwright-core';
import { ManualClock } from '../../lib/core/clock';
import { type LocalServer, startLocalServer } from '../../lib/local/server';
import { testEndpoint, uniqueTableName } from '../support/dynamo';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const SCREENSHOTS = join(__dirname, '..', '..', 'test-results');
const T0 = Date.parse('2026-11-24T19:00:00.000Z');
const LEASE = 10_000;
const SEQUENCE = '49590338271490256608559692538361571095921575989136588898';
const id = (n: number) => `shardId-${String(n).padStart(12, '0')}`;

let clock: ManualClock;
let server: LocalServer;
let browser: Browser;
let page: Page;

async function api(method: string, path: string, body?: unknown): Promise<void> {
  const response = await fetch(`${server.url}${path}`, {
    method,
    headers: { 'content-type': 'application/json' },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${await response.text()}`);
}
const take = (shard: number, workerId: string, parent?: number) =>
  api('POST', `/shards/${id(shard)}/lease`, { workerId, ...(parent && { parentShardId: id(parent) }) });

/** What the table shows, row by row: the shard cell's first line, the state badges, the owner. */
const visibleRows = () =>
  page.$$eval('#rows tr', (rows) =>
    rows.map((row) => ({
      shard: row.querySelector('.sid')?.textContent,
      state: [...row.querySelectorAll('.state .badge')].map((b) => b.textContent).join(' '),
      owner: row.querySelector('.owner')?.textContent,
    })),
  );

beforeAll(async () => {
  clock = new ManualClock(T0);
  server = await startLocalServer({
    port: 0,
    dynamoDbEndpoint: testEndpoint(),
    tableName: uniqueTableName('dashboard'),
    createTable: true,
    leaseDurationMs: LEASE,
    reaperIntervalMs: 0,
    clock,
    logger: new Logger({ logLevel: 'SILENT' }),
  });
  // A crashed worker's lease, expired by the time the page is read.
  await take(2, 'worker-gone');
  clock.advance(5_000);
  // worker-b renewed last 9 s before the page is read: 1 s left, a missed renewal (expiring).
  await take(4, 'worker-b', 1);
  await take(5, 'worker-b');
  await api('DELETE', `/shards/${id(5)}/lease?workerId=worker-b`);
  clock.advance(5_000);
  // A split: parent 1 ended, children 3 and 4; 10 is claimed by worker-b.
  await take(10, 'worker-a');
  await take(1, 'worker-a');
  await api('PUT', `/shards/${id(1)}/checkpoint`, { workerId: 'worker-a', checkpoint: 'SHARD_END' });
  await take(3, 'worker-a', 1);
  await api('PUT', `/shards/${id(3)}/checkpoint`, { workerId: 'worker-a', checkpoint: SEQUENCE });
  await api('POST', `/shards/${id(10)}/claim`, { workerId: 'worker-b' });
  clock.advance(4_000);

  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--no-first-run',
      '--disable-sync',
    ],
  });
  page = await browser.newPage({ viewport: { width: 800, height: 900 } });
  await page.goto(`${server.url}/`);
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

describe('the local page in a browser', () => {
  it('lists shards parents first, with their state, owner, and pending claims', async () => {
    expect(await visibleRows()).toEqual([
      { shard: id(1), state: 'ended', owner: 'worker-a' },
      { shard: `↳ ${id(3)}`, state: 'live', owner: 'worker-a' },
      { shard: `↳ ${id(4)}`, state: 'expiring', owner: 'worker-b' },
      { shard: id(2), state: 'expired', owner: 'worker-gone' },
      { shard: id(5), state: 'free', owner: '—' },
      { shard: id(10), state: 'live', owner: 'worker-a' },
    ]);
    const child = page.locator(`tr[data-shard="${id(3)}"]`);
    expect(await child.locator('.lineage').textContent()).toBe(`child of ${id(1)}`);
    expect(await child.locator('.lease').textContent()).toBe('in 6.0 s');
    expect(await child.locator('.age').textContent()).toBe('4.0 s ago');
    expect(await child.locator('.checkpoint').textContent()).toBe(`…${SEQUENCE.slice(-12)}`);
    expect(await page.locator(`tr[data-shard="${id(2)}"] .lease`).textContent()).toBe('4.0 s ago');
    expect(await page.locator(`tr[data-shard="${id(10)}"] .claim`).textContent()).toBe('worker-b');
  });

  it('sums up live leases per worker, counting no expired owner as a worker', async () => {
    const workers = await page.$$eval('#workers li', (items) =>
      items.map(
        (li) => `${li.querySelector('.wname')?.textContent}: ${li.querySelector('.wcount')?.textContent}`,
      ),
    );
    expect(workers).toEqual(['worker-a: 2 leases', 'worker-b: 1 lease, 1 expiring']);
    expect(await page.locator('#worker-count').textContent()).toBe('2');
    const counts = await page.$$eval('#counts .badge', (badges) => badges.map((b) => b.textContent));
    expect(counts).toEqual(['live 2', 'expiring 1', 'expired 1', 'free 1', 'ended 1', 'claimed 1']);
    const bars = await page.$$eval('#workers .bar span', (spans) =>
      spans.map((s) => s.getBoundingClientRect().width / (s.parentElement?.clientWidth ?? 1)),
    );
    // worker-a's bar is full; worker-b holds half as many leases.
    expect(bars.map((b) => b.toFixed(2))).toEqual(['1.00', '0.50']);
  });

  it('shows every column at 800 px, without wrapping an id or scrolling sideways', async () => {
    mkdirSync(SCREENSHOTS, { recursive: true });
    await page.screenshot({ path: join(SCREENSHOTS, 'dashboard-800px.png'), fullPage: true });
    const claimHeader = await page.locator('th', { hasText: 'claim' }).boundingBox();
    expect(claimHeader).not.toBeNull();
    expect((claimHeader?.x ?? 0) + (claimHeader?.width ?? 0)).toBeLessThanOrEqual(800);
    expect(await page.evaluate('document.documentElement.scrollWidth')).toBeLessThanOrEqual(800);
    const lines = await page.$$eval('.sid, td.owner, td.claim', (cells) =>
      cells.map((c) => c.getClientRects().length),
    );
    expect(lines.every((n) => n === 1)).toBe(true);
  });

  it('shows a lease taken through the API within seconds, without reloading the page', async () => {
    await page.evaluate("window.kept = 'same document'");
    await take(5, 'worker-b');
    await page.waitForSelector(`tr[data-shard="${id(5)}"][data-state="live"]`, { timeout: 10_000 });
    expect(await page.locator(`tr[data-shard="${id(5)}"] .owner`).textContent()).toBe('worker-b');
    expect(await page.locator('[data-worker="worker-b"] .wcount').textContent()).toBe('2 leases, 1 expiring');
    expect(await page.evaluate('window.kept')).toBe('same document');
    expect(await page.evaluate("performance.getEntriesByType('navigation').length")).toBe(1);
  });
});
