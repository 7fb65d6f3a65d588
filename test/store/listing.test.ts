/**
 * A table larger than one scan page (DynamoDB and dynalite stop a page at 1 MB): listShards pages
 * through it with its cursor, and listActiveWorkers reads every page.
 */
import { type AttributeValue, ScanCommand } from '@aws-sdk/client-dynamodb';
import { ManualClock } from '../../lib/core/clock';
import type { LeaseRow } from '../../lib/core/lease-row';
import { formatLeaseTime } from '../../lib/core/lease-time';
import { createTestTable, putRows, type TestTable } from '../support/dynamo';

const T0 = Date.parse('2026-11-24T19:00:00.000Z');
const ROWS = 3_000;
const PADDING = 'x'.repeat(1_000);
const WORKERS = 7;

let table: TestTable;
let clock: ManualClock;
const shardIds = Array.from({ length: ROWS }, (_, i) => `shardId-${String(i).padStart(12, '0')}`);

/** Every 10th shard has ended; the others are owned by one of the workers, live. */
function rowFor(i: number): LeaseRow {
  return {
    ShardID: shardIds[i] as string,
    AssignedTo: `worker-${i % WORKERS}`,
    LeaseTimeout: formatLeaseTime(T0 + 60_000),
    LeaseCounter: 1,
    Checkpoint: i % 10 === 0 ? 'SHARD_END' : String(1000 + i),
    Padding: PADDING,
  };
}

beforeAll(async () => {
  clock = new ManualClock(T0);
  table = await createTestTable('listing', { clock });
  await putRows(
    table.io.client,
    table.tableName,
    shardIds.map((_, i) => rowFor(i)),
  );
  table.io.reset();
});

async function rawScanPages(): Promise<number> {
  let pages = 0;
  let start: Record<string, AttributeValue> | undefined;
  do {
    const out = await table.io.client.send(
      new ScanCommand({
        TableName: table.tableName,
        ExclusiveStartKey: start,
        ProjectionExpression: 'ShardID',
      }),
    );
    // A projection does not shrink a page: its 1 MB counts the whole items read.
    pages++;
    start = out.LastEvaluatedKey;
  } while (start);
  return pages;
}

describe('listShards', () => {
  it('pages through a multi-megabyte table, every row exactly once, by cursor', async () => {
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await table.checkpointer.listShards({
        limit: 1000,
        ...(cursor !== undefined && { cursor }),
      });
      pages++;
      seen.push(...page.shards.map((s) => s.shardId));
      cursor = page.nextCursor;
      if (cursor !== undefined) expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);
    } while (cursor !== undefined && pages < 100);

    // 1,000 rows of ~1.1 KB exceed 1 MB, so some pages end early, by size, not by the limit.
    expect(pages).toBeGreaterThan(3);
    expect(seen).toHaveLength(ROWS);
    expect(new Set(seen).size).toBe(ROWS);
    expect([...seen].sort()).toEqual(shardIds);
  });

  it('shows the lease of each row, not the padding', async () => {
    const page = await table.checkpointer.listShards({ limit: 5 });
    expect(page.shards).toHaveLength(5);
    for (const lease of page.shards) {
      expect(Object.keys(lease).sort()).toEqual([
        'checkpoint',
        'leaseCounter',
        'leaseTimeout',
        'owner',
        'shardId',
      ]);
    }
  });
});

describe('listActiveWorkers', () => {
  it('reads every scan page, one request each, and counts every worker’s leases', async () => {
    const pages = await rawScanPages();
    expect(pages).toBeGreaterThan(1);
    table.io.reset();

    const active = await table.checkpointer.listActiveWorkers();

    expect(table.io.counts.get('Scan')).toBe(pages);
    expect(table.io.total()).toBe(pages);
    const live = shardIds.filter((_, i) => i % 10 !== 0);
    const listed = Object.values(active.workers).flatMap((leases) => leases.map((l) => l.shardId));
    expect(listed).toHaveLength(live.length);
    expect(listed.sort()).toEqual(live);
    expect(Object.keys(active.workers)).toHaveLength(WORKERS);
    expect(active.unassigned).toEqual([]);
  });

  it('finds the unassigned shards on every page once the leases expire', async () => {
    clock.advance(60_000);
    const active = await table.checkpointer.listActiveWorkers();
    expect(active.workers).toEqual({});
    expect(active.unassigned).toHaveLength(ROWS - ROWS / 10);
    clock.set(T0);
  });
});
