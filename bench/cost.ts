/**
 * Issue 21: what checkpoints cost, per million shard-minutes, side by side in one run, for an
 * application that checkpoints every second, every renewal period, every 10 s and every minute:
 * shardlease as it is (each checkpoint its own call; a checkpoint renews its lease in the same write)
 * in heartbeat mode over HTTP and in listing mode on the table directly, and the model of the Java KCL
 * and vmware-go-kcl-v2 (a renewal write per lease per renewal period, a checkpoint write per checkpoint,
 * no HTTP). Real coordinators, engine and rules on virtual time over the simulation's in-memory table,
 * which bills every request as on-demand DynamoDB would.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { LeaseCoordinator, type ShardLease } from '../lib/client/coordinator';
import { discoveryWrite } from '../lib/core/discovery';
import { LeaseEngine } from '../lib/core/engine';
import { isWorkerRow, toLease } from '../lib/core/lease-row';
import { leaseIsLive, ruleTimes } from '../lib/core/rules';
import { sleep, VirtualScheduler } from '../lib/core/scheduler';
import type { ShardSource, StreamShard } from '../lib/store/kinesis-shard-source';
import { MemoryRowStore } from '../test/sim/memory-row-store';
import { billedUnits, PRICE, requestDollars } from './prices';
import { viaService } from './scale';
import type { BenchSection } from './section';

const LEASE_MS = 10_000;
const RENEW_MS = LEASE_MS / 3;
const WORKERS = 10;
const SHARDS_PER_WORKER = 10;
const SHARDS = WORKERS * SHARDS_PER_WORKER;
const T0 = Date.parse('2026-12-01T00:00:00.000Z');
const silent = new Logger({ logLevel: 'SILENT' });

const INTERVALS: ReadonlyArray<readonly [string, number]> = [
  ['1 s', 1_000],
  [`renewal period (${(RENEW_MS / 1000).toFixed(1)} s)`, RENEW_MS],
  ['10 s', 10_000],
  ['60 s', 60_000],
];

type Design = 'heartbeat' | 'listing';

/** Per million shard-minutes. */
interface Cost {
  readonly http: number;
  readonly readUnits: number;
  readonly writeUnits: number;
  readonly dollars: number;
}

const perMillionShardMinutes = (perMinute: number) => (perMinute / SHARDS) * 1e6;

function dollars(http: number, readUnits: number, writeUnits: number): number {
  return (
    requestDollars(http) +
    (writeUnits * PRICE.writeUnitsPerMillion + readUnits * PRICE.readUnitsPerMillion) / 1e6
  );
}

/** One steady minute of a settled fleet whose processors checkpoint every `intervalMs`. */
async function measured(design: Design, intervalMs: number): Promise<Cost> {
  const clock = new VirtualScheduler(T0);
  const store = new MemoryRowStore({ clock });
  const engine = new LeaseEngine({ store, clock, leaseDurationMs: LEASE_MS });
  const shards: StreamShard[] = Array.from({ length: SHARDS }, (_, i) => ({
    shardId: `shardId-${String(i).padStart(12, '0')}`,
    closed: false,
  }));
  if (design === 'heartbeat') {
    const t = ruleTimes(clock.now(), { leaseDurationMs: LEASE_MS, claimTimeoutMs: 120_000 });
    for (const shard of shards) await store.update(shard.shardId, () => discoveryWrite(shard, t));
  }
  const source: ShardSource = { listShards: async () => shards };
  const counts = { http: 0, renewed: 0 };
  // Sequence numbers only grow, whoever holds the shard.
  const sequence = new Map<string, number>();
  const processShard = async (lease: ShardLease) => {
    while (!lease.signal.aborted) {
      await sleep(clock, intervalMs);
      if (lease.signal.aborted) return;
      const next = (sequence.get(lease.shardId) ?? 0) + 1;
      sequence.set(lease.shardId, next);
      await lease.checkpoint(String(next)).catch(() => undefined);
    }
  };
  const coordinators = Array.from(
    { length: WORKERS },
    (_, i) =>
      new LeaseCoordinator({
        checkpointer: design === 'heartbeat' ? viaService([engine], counts, () => 0) : engine,
        ...(design === 'listing' && { shardSource: source }),
        workerId: `worker-${i}`,
        leaseDurationMs: LEASE_MS,
        scheduler: clock,
        logger: silent,
        onLeaseGained: (lease) => processShard(lease),
      }),
  );
  // Not awaited: a cycle may wait on virtual timers, which run only as the clock advances.
  for (const coordinator of coordinators) void coordinator.start();
  const settled = () => {
    const now = clock.now();
    const byWorker = new Map<string, number>();
    for (const row of store.snapshot()) {
      if (isWorkerRow(row)) continue;
      const lease = toLease(row);
      if (lease.owner && leaseIsLive(lease, now))
        byWorker.set(lease.owner, (byWorker.get(lease.owner) ?? 0) + 1);
    }
    return [...byWorker.values()].every((n) => n === SHARDS_PER_WORKER) && byWorker.size === WORKERS;
  };
  for (let i = 0; i < 120 && !settled(); i++) await clock.advance(RENEW_MS);
  if (!settled())
    throw new Error(
      `${design}: the fleet did not settle to ${SHARDS_PER_WORKER} shards each: ${JSON.stringify(coordinators.map((c) => c.heldShards().length))} ${JSON.stringify(coordinators.map((c) => c.pendingSteal() ?? '-'))}`,
    );
  await clock.advance(LEASE_MS);
  const before = { http: counts.http, ...billedUnits(store) };
  await clock.advance(60_000);
  const after = { http: counts.http, ...billedUnits(store) };
  // The processors end as the clock moves (their sleeps are virtual), and stop() waits for them.
  const stopping = Promise.all(coordinators.map((coordinator) => coordinator.stop({ release: false })));
  await clock.advance(LEASE_MS);
  await stopping;
  const http = perMillionShardMinutes(after.http - before.http);
  const readUnits = perMillionShardMinutes(after.read - before.read);
  const writeUnits = perMillionShardMinutes(after.write - before.write);
  return { http, readUnits, writeUnits, dollars: dollars(http, readUnits, writeUnits) };
}

/**
 * The KCL and vmware-go-kcl-v2 as a model: each worker renews each of its leases with its own write
 * every renewal period and writes each checkpoint; no HTTP. Their reads (lease table scans, Kinesis
 * listings) are left out, which favours them.
 */
function kclModel(intervalMs: number): Cost {
  const writeUnits = perMillionShardMinutes(SHARDS * (60_000 / RENEW_MS + 60_000 / intervalMs));
  return { http: 0, readUnits: 0, writeUnits, dollars: dollars(0, 0, writeUnits) };
}

const millions = (n: number) => (n / 1e6).toFixed(n >= 10e6 ? 0 : 1);

export async function run(): Promise<BenchSection> {
  const rows: Array<Array<string | number>> = [];
  for (const [label, intervalMs] of INTERVALS) {
    process.stderr.write(`bench: cost, checkpoints every ${label}…\n`);
    const kcl = kclModel(intervalMs);
    const designs: Array<readonly [string, Cost]> = [
      ['shardlease today, heartbeat mode (a call per checkpoint)', await measured('heartbeat', intervalMs)],
      ['shardlease today, listing mode on the table (no HTTP)', await measured('listing', intervalMs)],
      ['KCL / vmware-go-kcl-v2 model (renewal + checkpoint writes)', kcl],
    ];
    for (const [design, cost] of designs) {
      rows.push([
        label,
        design,
        `${millions(cost.http)} M`,
        `${millions(cost.http)} M`,
        `${millions(cost.readUnits)} M`,
        `${millions(cost.writeUnits)} M`,
        cost.dollars.toFixed(1),
        (cost.dollars / kcl.dollars).toFixed(2),
      ]);
    }
  }
  return {
    title: `Cost per million shard-minutes (${WORKERS} workers × ${SHARDS_PER_WORKER} shards, ${LEASE_MS / 1000} s leases, virtual time)`,
    columns: [
      'checkpoints every',
      'design',
      'HTTP requests',
      'Lambda invocations',
      'read units',
      'write units',
      '$',
      '$ ÷ KCL model',
    ],
    rows,
    notes: [
      'Each processor checkpoints every interval through its lease; one steady minute of a settled fleet, measured on the in-memory table that bills each request as on-demand DynamoDB would (refused writes included).',
      'A checkpoint renews its lease in the same write: in listing mode a lease checkpointed since the last round is not renewed again; in heartbeat mode every held lease is still listed (and written) by the heartbeat.',
      `Prices: HTTP API $${PRICE.httpApiPerMillion}/M, Lambda $${PRICE.lambdaRequestsPerMillion}/M + 128 MB × 10 ms arm64, DynamoDB on-demand $${PRICE.writeUnitsPerMillion}/M write and $${PRICE.readUnitsPerMillion}/M read units. The KCL model counts writes only (one unit each).`,
    ],
  };
}
