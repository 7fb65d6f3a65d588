/**
 * `npm run demo` end to end, in this process: the consumers checkpoint, a killed consumer's shards go
 * to the others once its leases expire, and after a split the parent is read to its end before any
 * consumer takes a child. The page's data shows the same.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import type { DashboardSnapshot } from '../../lib/local/dashboard';
import { type Demo, startDemo } from '../../lib/local/demo';

const LEASE = 3_000;
let demo: Demo;
const said: string[] = [];

async function until(pattern: RegExp, timeoutMs: number): Promise<string> {
  const start = Date.now();
  for (;;) {
    const line = said.find((l) => pattern.test(l));
    if (line !== undefined) return line;
    if (Date.now() - start > timeoutMs) throw new Error(`no line like ${pattern} in:\n${said.join('\n')}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

beforeAll(async () => {
  demo = await startDemo({
    port: 0,
    shardCount: 3,
    leaseDurationMs: LEASE,
    say: (line) => said.push(line),
    logger: new Logger({ logLevel: 'SILENT' }),
  });
});
afterAll(() => demo?.close());

describe('the demo', () => {
  it('checkpoints, fails over from a killed consumer, and reads a split parent before its children', async () => {
    await until(/^first checkpoint: consumer-\d on shardId-\d+/, 20_000);

    // Kill the consumer that holds shard 0, so that the split below also moves shards.
    const holder = /^(consumer-\d) took shardId-000000000000/.exec(
      await until(/took shardId-000000000000/, 10_000),
    )?.[1];
    await demo.kill(Number(holder?.slice(-1)));
    await until(new RegExp(`took shardId-000000000000 over from ${holder}`), 6 * LEASE);
    const page = (await (await fetch(`${demo.server.url}/dashboard.json`)).json()) as DashboardSnapshot;
    expect(page.workers.map((w) => w.workerId)).not.toContain(holder);

    expect(await demo.split('shardId-000000000000')).toBe('shardId-000000000000');
    await until(/took shardId-000000000003 \(child of shardId-000000000000\)/, 8 * LEASE);
    await until(/took shardId-000000000004 \(child of shardId-000000000000\)/, 8 * LEASE);
    const ended = said.findIndex((l) => /read shardId-000000000000 to its end/.test(l));
    const firstChild = said.findIndex((l) => /took shardId-00000000000[34]/.test(l));
    expect(ended).toBeGreaterThanOrEqual(0);
    expect(ended).toBeLessThan(firstChild);

    // The child names its parent; the parent, while its row is still there, is listed first.
    const after = (await (await fetch(`${demo.server.url}/dashboard.json`)).json()) as DashboardSnapshot;
    const ids = after.shards.map((s) => s.shardId);
    const child = after.shards[ids.indexOf('shardId-000000000003')];
    expect(child?.parentShardIds).toEqual(['shardId-000000000000']);
    if (ids.includes('shardId-000000000000')) {
      expect(ids.indexOf('shardId-000000000000')).toBeLessThan(ids.indexOf('shardId-000000000003'));
      expect(child?.depth).toBe(1);
    }
    expect(Object.values(demo.processed()).reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
  }, 90_000);
});
