/**
 * Issue 15: what a fleet costs and how fast it settles, heartbeat design against the listing design,
 * in one run. Real coordinators, the real engine, planner and rules, on virtual time over the
 * simulation's table in memory, which bills every request as on-demand DynamoDB would. Each worker's
 * calls go, one HTTP request each, to one of several service instances (engines sharing the table, each
 * with its own snapshot), as API Gateway spreads requests over Lambda containers.
 *
 * Per scenario: a cold start until every shard has a live owner, one steady minute measured, +10%
 * workers until loads differ by at most one, then 10% of the workers crash and the time until their
 * shards are owned again, counted from the moment their leases expire.
 */
import { performance } from 'node:perf_hooks';
import { Logger } from '@aws-lambda-powertools/logger';
import { LeaseCoordinator } from '../lib/client/coordinator';
import type { Checkpointer } from '../lib/core/checkpointer';
import { discoveryWrite } from '../lib/core/discovery';
import { LeaseEngine } from '../lib/core/engine';
import { Attr, isWorkerRow, toLease } from '../lib/core/lease-row';
import { leaseIsLive, ruleTimes } from '../lib/core/rules';
import { VirtualScheduler } from '../lib/core/scheduler';
import type { ShardSource, StreamShard } from '../lib/store/kinesis-shard-source';
import { MemoryRowStore } from '../test/sim/memory-row-store';
import { billedUnits, PRICE, requestDollars } from './prices';
import type { BenchSection } from './section';

const LEASE_MS = 10_000;
const SERVICE_INSTANCES = 4;
const T0 = Date.parse('2026-12-01T00:00:00.000Z');
const silent = new Logger({ logLevel: 'SILENT' });

type Design = 'heartbeat' | 'listing';

interface Figures {
  readonly design: Design;
  readonly workers: number;
  readonly shards: number;
  httpPerMin: number;
  readUnitsPerMin: number;
  writeUnitsPerMin: number;
  listShardsPerMin: number;
  renewedPerMin: number;
  coldStartLeasePeriods: number;
  /** Until every shard has had a live owner at least once (processing began everywhere). */
  firstOwnedLeasePeriods: number;
  rebalanceLeasePeriods: number;
  failoverLeasePeriods: number;
  minLeases: number;
  maxLeases: number;
  costPerMillionRenewed: number;
  wallSeconds: number;
}

/** A checkpointer for one worker: each call is one HTTP request to a service instance. */
export function viaService(
  engines: readonly LeaseEngine[],
  counts: { http: number; renewed: number },
  pick: () => number,
): Checkpointer {
  const route = () => engines[pick() % engines.length] as LeaseEngine;
  return new Proxy({} as Checkpointer, {
    get(_target, property) {
      return async (...args: unknown[]) => {
        counts.http++;
        const engine = route();
        const method = (engine as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>)[
          String(property)
        ] as (...a: unknown[]) => Promise<unknown>;
        const result = await method.apply(engine, args);
        if (property === 'renewLeases' || property === 'heartbeat') {
          counts.renewed += (result as { renewed: unknown[] }).renewed.length;
        }
        return result;
      };
    },
  });
}

function lcg(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state;
  };
}

async function scenario(design: Design, workerCount: number, shardCount: number): Promise<Figures> {
  const wallStart = performance.now();
  const clock = new VirtualScheduler(T0);
  const store = new MemoryRowStore({ clock });
  const engines = Array.from(
    { length: SERVICE_INSTANCES },
    () => new LeaseEngine({ store, clock, leaseDurationMs: LEASE_MS }),
  );
  const shards: StreamShard[] = Array.from({ length: shardCount }, (_, i) => ({
    shardId: `shardId-${String(i).padStart(12, '0')}`,
    closed: false,
  }));
  const counts = { http: 0, renewed: 0, listShards: 0 };
  const source: ShardSource = {
    listShards: async () => {
      counts.listShards++;
      return shards;
    },
  };
  if (design === 'heartbeat') {
    // Discovery's work, done by the scheduled pass before the workers start.
    const t = ruleTimes(clock.now(), { leaseDurationMs: LEASE_MS, claimTimeoutMs: 120_000 });
    for (const shard of shards) await store.update(shard.shardId, () => discoveryWrite(shard, t));
  }
  const random = lcg(workerCount * 7919 + shardCount);
  const coordinators: LeaseCoordinator[] = [];
  const startWorker = (id: number) => {
    const coordinator = new LeaseCoordinator({
      checkpointer: viaService(engines, counts, random),
      ...(design === 'listing' && { shardSource: source }),
      workerId: `worker-${id}`,
      leaseDurationMs: LEASE_MS,
      scheduler: clock,
      logger: silent,
    });
    coordinators.push(coordinator);
    // Workers start spread over a renewal period, as a deployment rolls out.
    clock.setTimeout(() => void coordinator.start(), random() % (LEASE_MS / 3));
    return coordinator;
  };
  for (let i = 0; i < workerCount; i++) startWorker(i);

  const owners = () => {
    const now = clock.now();
    const byWorker = new Map<string, number>();
    let owned = 0;
    for (const row of store.snapshot()) {
      if (isWorkerRow(row)) continue;
      const lease = toLease(row);
      if (lease.owner && leaseIsLive(lease, now)) {
        owned++;
        byWorker.set(lease.owner, (byWorker.get(lease.owner) ?? 0) + 1);
      }
    }
    return { owned, byWorker };
  };
  const spread = (alive: readonly LeaseCoordinator[]) => {
    const { byWorker } = owners();
    const loads = alive.map((c) => byWorker.get(c.workerId) ?? 0);
    return { min: Math.min(...loads), max: Math.max(...loads) };
  };
  const until = async (done: () => boolean, limitMs: number): Promise<number> => {
    const from = clock.now();
    while (!done() && clock.now() - from < limitMs) await clock.advance(250);
    return clock.now() - from;
  };

  // 1. Cold start.
  const everOwned = new Set<string>();
  let firstOwnedMs = Number.NaN;
  const coldFrom = clock.now();
  const coldMs = await until(() => {
    const now = clock.now();
    for (const row of store.snapshot()) {
      if (isWorkerRow(row)) continue;
      const lease = toLease(row);
      if (lease.owner && leaseIsLive(lease, now)) everOwned.add(lease.shardId);
    }
    if (Number.isNaN(firstOwnedMs) && everOwned.size === shardCount) firstOwnedMs = now - coldFrom;
    return owners().owned === shardCount;
  }, 30 * LEASE_MS);
  // 2. One steady minute, after the fleet has settled.
  await until(() => {
    const { min, max } = spread(coordinators);
    return max - min <= 1;
  }, 30 * LEASE_MS);
  await clock.advance(LEASE_MS);
  const before = { ...counts, units: billedUnits(store) };
  await clock.advance(60_000);
  const after = { ...counts, units: billedUnits(store) };
  // 3. +10% workers.
  const added = Math.max(1, Math.round(workerCount / 10));
  for (let i = 0; i < added; i++) startWorker(workerCount + i);
  const rebalanceMs = await until(() => {
    const { min, max } = spread(coordinators);
    return max - min <= 1;
  }, 30 * LEASE_MS);
  // 4. 10% crash: their leases expire a lease period later; count from then.
  const crashed = coordinators.slice(0, Math.max(1, Math.round(coordinators.length / 10)));
  for (const c of crashed) await c.stop({ release: false });
  await clock.advance(LEASE_MS);
  const failoverMs = await until(() => owners().owned === shardCount, 30 * LEASE_MS);
  const alive = coordinators.filter((c) => !crashed.includes(c));
  await clock.advance(3 * LEASE_MS);
  const { min, max } = spread(alive);
  for (const c of alive) await c.stop({ release: false });

  const minute = {
    http: after.http - before.http,
    renewed: after.renewed - before.renewed,
    listShards: after.listShards - before.listShards,
    readUnits: after.units.read - before.units.read,
    writeUnits: after.units.write - before.units.write,
  };
  const cost =
    requestDollars(minute.http) +
    (minute.writeUnits * PRICE.writeUnitsPerMillion + minute.readUnits * PRICE.readUnitsPerMillion) / 1e6;
  return {
    design,
    workers: workerCount,
    shards: shardCount,
    httpPerMin: minute.http,
    readUnitsPerMin: minute.readUnits,
    writeUnitsPerMin: minute.writeUnits,
    listShardsPerMin: minute.listShards,
    renewedPerMin: minute.renewed,
    coldStartLeasePeriods: coldMs / LEASE_MS,
    firstOwnedLeasePeriods: firstOwnedMs / LEASE_MS,
    rebalanceLeasePeriods: rebalanceMs / LEASE_MS,
    failoverLeasePeriods: failoverMs / LEASE_MS,
    minLeases: min,
    maxLeases: max,
    costPerMillionRenewed: minute.renewed > 0 ? (cost / minute.renewed) * 1e6 : Number.NaN,
    wallSeconds: (performance.now() - wallStart) / 1000,
  };
}

/**
 * Listing runs only where this machine finishes it in minutes: its cost is O(workers × shards), listed
 * every renewal period, and at 10 × 10,000 it takes a quarter of an hour here (the figures scale
 * linearly from the rows here).
 */
const SCENARIOS: ReadonlyArray<readonly [Design, number, number]> = [
  ['heartbeat', 10, 1_000],
  ['listing', 10, 1_000],
  ['heartbeat', 100, 1_000],
  ['listing', 100, 1_000],
  ['heartbeat', 1_000, 1_000],
  ['heartbeat', 10, 10_000],
  ['heartbeat', 100, 10_000],
  ['heartbeat', 1_000, 10_000],
];

const fixed = (n: number, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : '–');

export async function run(): Promise<BenchSection> {
  const only = process.env.SCALE_ONLY?.split(',');
  const figures: Figures[] = [];
  for (const [design, workers, shards] of SCENARIOS) {
    if (only && !only.includes(`${design}:${workers}x${shards}`)) continue;
    process.stderr.write(`bench: scale ${design} ${workers} workers × ${shards} shards…\n`);
    figures.push(await scenario(design, workers, shards));
  }
  return {
    title: `Scale: heartbeat and service plan vs every worker listing (virtual time, ${LEASE_MS / 1000} s leases)`,
    columns: [
      'design',
      'workers × shards',
      'HTTP req/min',
      'req per worker per period',
      'read units/min',
      'write units/min',
      'ListShards/min',
      'cold start: every shard taken once (lease periods)',
      'cold start: all owned at once (lease periods)',
      'rebalance +10% (periods)',
      'failover 10% (periods after expiry)',
      'leases per worker (min–max)',
      '$ per million renewed leases',
      'wall s',
    ],
    rows: figures.map((f) => [
      f.design,
      `${f.workers} × ${f.shards}`,
      Math.round(f.httpPerMin),
      fixed(f.httpPerMin / f.workers / (60_000 / (LEASE_MS / 3)), 2),
      Math.round(f.readUnitsPerMin),
      Math.round(f.writeUnitsPerMin),
      f.listShardsPerMin,
      fixed(f.firstOwnedLeasePeriods),
      fixed(f.coldStartLeasePeriods),
      fixed(f.rebalanceLeasePeriods),
      fixed(f.failoverLeasePeriods),
      `${f.minLeases}–${f.maxLeases}`,
      fixed(f.costPerMillionRenewed, 3),
      fixed(f.wallSeconds),
    ]),
    notes: [
      "Real LeaseCoordinators, LeaseEngine, fleet planner and rules on a VirtualScheduler over the simulation's in-memory table (test/sim/memory-row-store.ts), which bills each request as on-demand DynamoDB would (write units per KB of the larger image, refused writes included; read units per 4 KB, scans by page bytes: strongly consistent for the listings, eventually consistent, at half, for the service's snapshots).",
      `Heartbeat: ${SERVICE_INSTANCES} service instances share the table, each with its own snapshot; workers send one heartbeat per renewal period and take what the plan says; discovery created the rows before the start. Listing: every worker lists the table (pages of 1,000) and the stream every renewal period (so that a free shard is taken within a lease period) and renews in one batch per period.`,
      "Cold start: workers start spread over one renewal period; time until every shard has been taken (processing began everywhere), and until every shard has a live owner at the same instant (the overdue offers that keep shards from waiting on late workers are handed over again, so this one comes later). Rebalance: +10% workers until loads differ by at most one. Failover: 10% of workers stop without releasing; time from their leases' expiry until every shard has a live owner again.",
      `Cost: HTTP API $${PRICE.httpApiPerMillion}/M, Lambda $${PRICE.lambdaRequestsPerMillion}/M + 128 MB × 10 ms arm64, DynamoDB on-demand $${PRICE.writeUnitsPerMillion}/M write units and $${PRICE.readUnitsPerMillion}/M read units; per million leases renewed in the steady minute.`,
    ],
  };
}

export const scaleAttrs = Attr;
