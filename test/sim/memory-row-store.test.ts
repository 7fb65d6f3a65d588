/**
 * The simulation's table must be DynamoDB, not a second opinion: the same LeaseEngine runs the same
 * random operations over MemoryRowStore and over DynamoDB (dynalite), on one clock, and every answer
 * and every row must agree. Then the store's own parts: updates, pages, and what it bills.
 */
import { ManualClock } from '../../lib/core/clock';
import { LeaseEngine } from '../../lib/core/engine';
import { Attr, type Lease, type LeaseRow } from '../../lib/core/lease-row';
import { fromItem } from '../../lib/store/item';
import { createTestTable, rawItem, type TestTable } from '../support/dynamo';
import { pick, randomInt, seededRandom } from '../support/seeded-random';
import { applyUpdate, itemBytes, MemoryRowStore } from './memory-row-store';

const LEASE = 1_000;
const CLAIM = 3_000;
const T0 = Date.parse('2026-11-30T00:00:00.000Z');
const WORKERS = ['w0', 'w1', 'w2'];
const SHARDS = ['s-0', 's-1', 's-2'];

type Outcome = { ok: unknown } | { code: string };

async function outcome(call: () => Promise<unknown>): Promise<Outcome> {
  try {
    return { ok: (await call()) ?? null };
  } catch (error) {
    return { code: String((error as { code?: unknown }).code ?? (error as Error).message) };
  }
}

/**
 * Every row, through pages of two. DynamoDB scans in the order of its key hashes, the memory store in
 * key order (nothing depends on the order), so the rows are compared sorted.
 */
async function allPages(engine: LeaseEngine): Promise<Lease[]> {
  const shards: Lease[] = [];
  let cursor: string | undefined;
  do {
    const page = await engine.listShards({ limit: 2, ...(cursor !== undefined && { cursor }) });
    shards.push(...page.shards);
    cursor = page.nextCursor;
  } while (cursor !== undefined);
  return shards.sort((a, b) => a.shardId.localeCompare(b.shardId));
}

describe('MemoryRowStore', () => {
  let table: TestTable;
  const clock = new ManualClock(T0);

  beforeAll(async () => {
    table = await createTestTable('sim-memory', { clock, leaseDurationMs: LEASE, claimTimeoutMs: CLAIM });
  });

  it('gives the lease engine the same answers and rows as DynamoDB, operation for operation', async () => {
    const memory = new MemoryRowStore({ clock });
    const engines = [
      new LeaseEngine({ store: memory, clock, leaseDurationMs: LEASE, claimTimeoutMs: CLAIM }),
      table.checkpointer,
    ] as const;
    const random = seededRandom(20261130, 'memory-row-store');
    const counters = new Map<string, number>();
    let checkpoint = 10;
    const codes = new Set<string>();

    for (let step = 0; step < 250; step++) {
      if (random() < 0.2) {
        clock.advance(randomInt(random, 1, 1_500));
        continue;
      }
      const shardId = pick(random, SHARDS);
      const workerId = pick(random, WORKERS);
      const counter = random() < 0.7 ? counters.get(`${workerId}/${shardId}`) : undefined;
      const kind = pick(random, [
        'take',
        'take',
        'renew',
        'checkpoint',
        'checkpoint',
        'release',
        'claim',
        'remove',
        'fetch',
        'owner',
        'list',
        'workers',
      ] as const);
      if (kind === 'checkpoint') checkpoint += randomInt(random, -3, 20);
      const withParent = random() < 0.3;
      const withInitial = random() < 0.3;
      const shardEnd = random() < 0.05;
      const asOwner = random() < 0.5;
      const run = (engine: (typeof engines)[number]): Promise<Outcome> =>
        outcome(() => {
          switch (kind) {
            case 'take':
              return engine.getLease(shardId, {
                workerId,
                ...(withParent && { parentShardId: 's-parent' }),
                ...(withInitial && { checkpoint: '5' }),
              });
            case 'renew':
              return engine.renewLeases(workerId, SHARDS);
            case 'checkpoint':
              return engine.checkpointSequence(shardId, {
                workerId,
                checkpoint: shardEnd ? 'SHARD_END' : String(Math.max(1, checkpoint)),
                ...(counter !== undefined && { leaseCounter: counter }),
              });
            case 'release':
              return engine.removeLeaseOwner(
                shardId,
                workerId,
                counter !== undefined ? { leaseCounter: counter } : {},
              );
            case 'claim':
              return engine.claimShard(shardId, workerId);
            case 'remove':
              return engine.removeLeaseInfo(shardId, asOwner ? { workerId } : {});
            case 'fetch':
              return engine.fetchCheckpoint(shardId);
            case 'owner':
              return engine.getLeaseOwner(shardId);
            case 'list':
              return allPages(engine);
            case 'workers':
              return engine.listActiveWorkers();
          }
        });
      const memoryOutcome = await run(engines[0]);
      const dynamoOutcome = await run(engines[1]);
      expect({ step, kind, shardId, workerId, outcome: memoryOutcome }).toEqual({
        step,
        kind,
        shardId,
        workerId,
        outcome: dynamoOutcome,
      });
      if ('code' in memoryOutcome) codes.add(memoryOutcome.code);
      if (kind === 'take' && 'ok' in memoryOutcome) {
        counters.set(`${workerId}/${shardId}`, (memoryOutcome.ok as { leaseCounter: number }).leaseCounter);
      }
      for (const id of SHARDS) {
        const stored = await rawItem(table.io.client, table.tableName, id);
        expect({ step, row: memory.peek(id) }).toEqual({ step, row: fromItem(stored) });
      }
    }
    // The sequence met the engine's refusals, not only its successes.
    expect([...codes].sort()).toEqual(
      expect.arrayContaining(['LeaseLost', 'LeaseNotAcquired', 'ShardClaimed']),
    );
  });

  it('applies set, setIfMissing, increment (from 0 when missing) and remove as an UpdateItem does', () => {
    const row: LeaseRow = { [Attr.ShardId]: 's', [Attr.Checkpoint]: '7', [Attr.ClaimRequest]: 'w1' };
    expect(
      applyUpdate(row, {
        set: [
          [Attr.AssignedTo, { kind: 'set', value: 'w0' }],
          [Attr.Checkpoint, { kind: 'setIfMissing', value: '1' }],
          [Attr.ParentShardId, { kind: 'setIfMissing', value: 'p' }],
          [Attr.LeaseCounter, { kind: 'increment', by: 1 }],
        ],
        remove: [Attr.ClaimRequest, Attr.ClaimedAt],
      }),
    ).toEqual({
      [Attr.ShardId]: 's',
      [Attr.AssignedTo]: 'w0',
      [Attr.Checkpoint]: '7',
      [Attr.ParentShardId]: 'p',
      [Attr.LeaseCounter]: 1,
    });
    expect(row[Attr.ClaimRequest]).toBe('w1');
  });

  it('creates a missing row on update, answers a refusal with the row as it stood, and pages in key order', async () => {
    const store = new MemoryRowStore();
    const refused = await store.update('b', () => ({
      condition: { kind: 'exists', name: Attr.ShardId },
      update: { set: [[Attr.AssignedTo, { kind: 'set', value: 'w0' }]], remove: [] },
    }));
    expect(refused).toEqual({ refused: undefined });
    for (const id of ['c', 'a', 'b']) {
      await store.update(id, () => ({
        update: { set: [[Attr.AssignedTo, { kind: 'set', value: 'w0' }]], remove: [] },
      }));
    }
    const first = await store.page(2);
    expect(first.rows.map((r) => r[Attr.ShardId])).toEqual(['a', 'b']);
    expect(first.lastShardId).toBe('b');
    const second = await store.page(2, first.lastShardId);
    expect(second.rows.map((r) => r[Attr.ShardId])).toEqual(['c']);
    expect(second.lastShardId).toBeUndefined();
    const all: LeaseRow[] = [];
    for await (const row of store.scan()) all.push(row);
    expect(all).toHaveLength(3);
  });

  it('counts requests by kind with the item bytes and capacity units DynamoDB would bill', async () => {
    const store = new MemoryRowStore();
    const write = () => ({
      update: { set: [[Attr.AssignedTo, { kind: 'set', value: 'w0' }]] as const, remove: [] },
    });
    await store.update('s-0', write);
    await store.update('s-0', () => ({ condition: { kind: 'missing', name: Attr.ShardId }, ...write() }));
    await store.read('s-0');
    await store.read('missing');
    await store.page(10);
    await store.delete('s-0', () => undefined);
    // ShardID (7) + "s-0" (3) + AssignedTo (10) + "w0" (2) = 22 bytes.
    expect(itemBytes({ [Attr.ShardId]: 's-0', [Attr.AssignedTo]: 'w0' })).toBe(22);
    // LeaseCounter (12) + 12345 (three bytes for five significant digits, plus one).
    expect(itemBytes({ [Attr.LeaseCounter]: 12345 })).toBe(12 + 4);
    expect(store.totals.UpdateItem).toEqual({
      count: 2,
      itemBytes: 44,
      readUnits: 0,
      writeUnits: 2,
      refused: 1,
    });
    expect(store.totals.GetItem).toEqual({
      count: 2,
      itemBytes: 22,
      readUnits: 2,
      writeUnits: 0,
      refused: 0,
    });
    expect(store.totals.Scan).toEqual({ count: 1, itemBytes: 22, readUnits: 1, writeUnits: 0, refused: 0 });
    expect(store.totals.DeleteItem).toEqual({
      count: 1,
      itemBytes: 22,
      readUnits: 0,
      writeUnits: 1,
      refused: 0,
    });
  });
});
