/**
 * Heartbeat on dynalite: renewals fenced by the held counters, the worker registry rows, and the
 * fleet plan each heartbeat returns, from a cold start to a settled fleet and a newcomer's steal.
 */

import type { HeartbeatResult } from '../../lib/core/checkpointer';
import { ManualClock } from '../../lib/core/clock';
import type { DynamoCheckpointer } from '../../lib/store/dynamo-checkpointer';
import { createTestTable, putRows, rawItem, type TestTable } from '../support/dynamo';

const LEASE = 9_000;
const PERIOD = LEASE / 3;

let clock: ManualClock;
let table: TestTable;

beforeEach(async () => {
  clock = new ManualClock(Date.parse('2026-11-30T00:00:00.000Z'));
  table = await createTestTable('heartbeat', { clock, leaseDurationMs: LEASE });
});

const shardIds = (count: number) =>
  Array.from({ length: count }, (_, i) => `shardId-${String(i).padStart(12, '0')}`);

/** Shard rows as discovery creates them: the key and the lineage, nobody holding them. */
async function discover(count: number): Promise<string[]> {
  const ids = shardIds(count);
  await putRows(
    table.io.client,
    table.tableName,
    ids.map((id) => ({ ShardID: id })),
  );
  return ids;
}

/** A worker that heartbeats and takes what its plan says, as the coordinator does. */
function worker(cp: DynamoCheckpointer, workerId: string) {
  const held = new Map<string, number>();
  return {
    held,
    async beat(): Promise<HeartbeatResult> {
      const result = await cp.heartbeat(workerId, {
        held: [...held].map(([shardId, leaseCounter]) => ({ shardId, leaseCounter })),
      });
      for (const lost of result.lost) held.delete(lost.shardId);
      for (const shardId of result.take) {
        const lease = await cp.getLease(shardId, { workerId });
        held.set(shardId, lease.leaseCounter);
      }
      return result;
    },
  };
}

describe('heartbeat', () => {
  it('renews the leases held with their counters and reports a lease taken again as lost', async () => {
    const cp = table.checkpointer;
    const [a, b] = await discover(2);
    const first = await cp.getLease(a as string, { workerId: 'w1' });
    await cp.getLease(b as string, { workerId: 'w1' });
    clock.advance(1_000);
    const result = await cp.heartbeat('w1', {
      held: [
        { shardId: a as string, leaseCounter: first.leaseCounter },
        { shardId: b as string, leaseCounter: 7 },
      ],
    });
    expect(result.renewed.map((l) => l.shardId)).toEqual([a]);
    expect(result.lost).toEqual([
      expect.objectContaining({
        shardId: b,
        code: 'LeaseLost',
        message: expect.stringMatching(/counter 1, not 7/),
      }),
    ]);
    expect(result.failed).toEqual([]);
  });

  it('records the worker in a registry row that listings never show', async () => {
    const cp = table.checkpointer;
    await discover(1);
    await cp.heartbeat('w 1/x', { held: [], capacity: 5 });
    const item = await rawItem(table.io.client, table.tableName, '@worker/w 1/x');
    expect(item).toMatchObject({
      LastSeen: { S: clock.iso() },
      FirstSeen: { S: clock.iso() },
      Capacity: { N: '5' },
    });
    expect((await cp.listShards()).shards.map((l) => l.shardId)).toEqual(['shardId-000000000000']);
    expect((await cp.listActiveWorkers()).unassigned).toEqual(['shardId-000000000000']);
  });

  it('plans workers that start together together: nothing the first period, then a fair, disjoint share', async () => {
    await discover(10);
    const workers = ['a', 'b', 'c'].map((id) => worker(table.checkpointer, id));
    for (const w of workers) expect((await w.beat()).take).toEqual([]);
    clock.advance(PERIOD);
    for (const w of workers) await w.beat();
    const sizes = workers.map((w) => w.held.size).sort();
    expect(sizes).toEqual([3, 3, 4]);
    expect(new Set(workers.flatMap((w) => [...w.held.keys()])).size).toBe(10);
    clock.advance(PERIOD);
    for (const w of workers) {
      const result = await w.beat();
      expect(result.take).toEqual([]);
      expect(result.steals).toEqual([]);
      expect(result.renewed).toHaveLength(w.held.size);
    }
  });

  it('lets a newcomer claim its whole share from the most loaded worker', async () => {
    await discover(4);
    const a = worker(table.checkpointer, 'a');
    await a.beat();
    clock.advance(PERIOD);
    await a.beat();
    expect(a.held.size).toBe(4);
    const b = worker(table.checkpointer, 'b');
    await b.beat();
    clock.advance(PERIOD);
    await a.beat();
    const advice = await b.beat();
    expect(advice.target).toBe(2);
    // The whole share in one handover: two shards to claim at once.
    expect(advice.steals).toEqual([
      { shardId: expect.any(String), victim: 'a' },
      { shardId: expect.any(String), victim: 'a' },
    ]);
  });
});
