/**
 * At most one owner per shard at any instant, with many workers racing on GetLease against the real
 * dynalite. Each worker has its own DynamoCheckpointer and its own SDK client (its own sockets), as
 * separate processes would.
 *
 * The first race is 5,000 GetLease calls and 4,900 reads of refused rows. This file starts its own
 * dynalite in a child process, so that server and clients use both cores: with the run's dynalite in
 * the test's own process the race took ~27 s, apart ~15 s (up to ~30 s while the machine is busy).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { type AttributeValue, type DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb';
import { ManualClock } from '../../lib/core/clock';
import { LeaseNotAcquiredError } from '../../lib/core/errors';
import type { Lease } from '../../lib/core/lease-row';
import { formatLeaseTime, parseLeaseTime } from '../../lib/core/lease-time';
import { DynamoCheckpointer } from '../../lib/store/dynamo-checkpointer';
import { createDynamoClient } from '../../lib/store/dynamo-client';
import { fromItem } from '../../lib/store/item';
import { uniqueTableName } from '../support/dynamo';

const T0 = Date.parse('2026-11-24T19:00:00.000Z');
const LEASE = 1_000;

/** A deterministic PRNG, so a failing interleaving of choices can be replayed from its seed. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let x = Math.imul(s ^ (s >>> 15), 1 | s);
    x ^= x + Math.imul(x ^ (x >>> 7), 61 | x);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

function shuffled<T>(items: readonly T[], random: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

interface RaceTable {
  readonly tableName: string;
  readonly client: DynamoDBClient;
}

let server: ChildProcess | undefined;
let endpoint = '';

beforeAll(async () => {
  const script = [
    `const server = require(${JSON.stringify(require.resolve('dynalite'))})({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });`,
    "server.listen(0, '127.0.0.1', () => process.stdout.write(String(server.address().port) + '\\n'));",
    // It exits when its stdin closes, so that it cannot outlive this test process, even a crashed one.
    "process.stdin.on('end', () => process.exit(0)); process.stdin.resume();",
  ].join('\n');
  const child = spawn(process.execPath, ['-e', script], { stdio: ['pipe', 'pipe', 'inherit'] });
  server = child;
  const port = await new Promise<string>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`dynalite exited with ${code}`)));
    child.stdout?.once('data', (chunk: Buffer) => resolve(chunk.toString().trim()));
  });
  endpoint = `http://127.0.0.1:${port}`;
});

afterAll(() => {
  server?.stdin?.end();
  server?.kill();
});

async function createRaceTable(prefix: string): Promise<RaceTable> {
  const client = createDynamoClient({ endpoint });
  const tableName = uniqueTableName(prefix);
  await new DynamoCheckpointer({ client, tableName, createTableIfMissing: true }).init();
  return { tableName, client };
}

function workers(table: RaceTable, count: number, clock: ManualClock): DynamoCheckpointer[] {
  return Array.from(
    { length: count },
    () =>
      new DynamoCheckpointer({
        client: createDynamoClient({ endpoint }),
        tableName: table.tableName,
        clock,
        leaseDurationMs: LEASE,
        claimTimeoutMs: 60_000,
      }),
  );
}

async function allRows(table: RaceTable) {
  const rows = [];
  let start: Record<string, AttributeValue> | undefined;
  do {
    const out = await table.client.send(
      new ScanCommand({ TableName: table.tableName, ConsistentRead: true, ExclusiveStartKey: start }),
    );
    rows.push(...(out.Items ?? []).map((item) => fromItem(item)));
    start = out.LastEvaluatedKey;
  } while (start);
  return rows;
}

describe('concurrent GetLease', () => {
  it('gives each of 100 shards to exactly one of 50 racing workers, whose lease is the row', async () => {
    const clock = new ManualClock(T0);
    const table = await createRaceTable('races');
    const shardIds = Array.from({ length: 100 }, (_, i) => `shardId-${String(i).padStart(12, '0')}`);
    const random = prng(42);
    const racers = workers(table, 50, clock);

    const wins = new Map<string, Array<{ worker: string; lease: Lease }>>();
    const refusals: unknown[] = [];
    await Promise.all(
      racers.map(async (cp, w) => {
        for (const shardId of shuffled(shardIds, random)) {
          try {
            const lease = await cp.getLease(shardId, { workerId: `worker-${w}` });
            wins.set(shardId, [...(wins.get(shardId) ?? []), { worker: `worker-${w}`, lease }]);
          } catch (error) {
            refusals.push(error);
          }
        }
      }),
    );

    expect(refusals.every((e) => e instanceof LeaseNotAcquiredError)).toBe(true);
    expect(refusals).toHaveLength(50 * 100 - 100);
    const rows = await allRows(table);
    expect(rows).toHaveLength(100);
    for (const row of rows) {
      const shardId = String(row?.ShardID);
      const winners = wins.get(shardId) ?? [];
      expect(winners).toHaveLength(1);
      const [{ worker, lease }] = winners as [{ worker: string; lease: Lease }];
      expect(lease).toEqual({
        shardId,
        owner: worker,
        leaseTimeout: formatLeaseTime(T0 + LEASE),
        leaseCounter: 1,
      });
      expect(row).toEqual({
        ShardID: shardId,
        AssignedTo: worker,
        LeaseTimeout: lease.leaseTimeout,
        LeaseCounter: 1,
      });
    }
  });

  it('never lets two owners’ lease intervals overlap while leases expire and are taken over', async () => {
    const clock = new ManualClock(T0);
    const table = await createRaceTable('races-expiry');
    const shardIds = Array.from({ length: 8 }, (_, i) => `shard-${i}`);
    const random = prng(7);
    const racers = workers(table, 16, clock);
    const intervals = new Map<string, Array<{ owner: string; from: number; to: number; counter: number }>>();
    let refused = 0;

    await Promise.all(
      racers.map(async (cp, w) => {
        for (let step = 0; step < 60; step++) {
          const shardId = shardIds[Math.floor(random() * shardIds.length)] as string;
          // Time moves on between calls, so leases keep expiring under the racers.
          clock.advance(Math.floor(random() * 40));
          try {
            const lease = await cp.getLease(shardId, { workerId: `worker-${w}` });
            const to = parseLeaseTime(lease.leaseTimeout ?? '') as number;
            const list = intervals.get(shardId) ?? [];
            list.push({ owner: `worker-${w}`, from: to - LEASE, to, counter: lease.leaseCounter });
            intervals.set(shardId, list);
          } catch (error) {
            expect(error).toBeInstanceOf(LeaseNotAcquiredError);
            refused++;
          }
        }
      }),
    );

    let takeovers = 0;
    for (const [shardId, list] of intervals) {
      // The lease counter orders the takes of a shard: each take is exactly one increment, and a
      // renewal by the holder keeps it, so every counter value belongs to one owner.
      const ordered = [...list].sort((a, b) => a.counter - b.counter || a.to - b.to);
      const counters = [...new Set(ordered.map((i) => i.counter))];
      expect(counters).toEqual(counters.map((_, i) => i + 1));
      for (const counter of counters) {
        expect(new Set(ordered.filter((i) => i.counter === counter).map((i) => i.owner)).size).toBe(1);
      }
      for (let i = 0; i < ordered.length; i++) {
        for (let j = i + 1; j < ordered.length; j++) {
          const [a, b] = [ordered[i], ordered[j]] as [(typeof ordered)[0], (typeof ordered)[0]];
          if (a.owner === b.owner) continue;
          const overlap = a.from < b.to && b.from < a.to;
          if (overlap) throw new Error(`${shardId}: ${JSON.stringify(a)} overlaps ${JSON.stringify(b)}`);
        }
        if (i > 0 && ordered[i]?.owner !== ordered[i - 1]?.owner) takeovers++;
      }
    }
    // The run must have exercised both outcomes and real takeovers, or it proves nothing.
    expect(refused).toBeGreaterThan(50);
    expect(takeovers).toBeGreaterThan(20);
  });
});
