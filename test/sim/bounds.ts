/**
 * The takeover and rebalance bounds the README states, measured (`npm run sim -- --bounds`): each
 * scenario runs a small fleet in heartbeat mode on virtual time (heartbeat-fleet.ts) many times, the
 * workers' phases and the moment of the fault drawn from a seed, and the worst and median times are
 * reported in lease periods. Scenarios:
 * - a worker dies just after its heartbeat landed (a crashed container, a Lambda slot killed
 *   mid-invocation): from the death until a peer processes each of its shards;
 * - a worker whose heartbeat answers come 1.5 renewal periods late while a peer has room: from the
 *   start until every shard is processed;
 * - a worker stops (stop(): releases, withdraws its claims, leaves the plan), as a Lambda invocation
 *   does at its end: from the stop until a peer processes each of its shards;
 * - a newcomer joins a settled fleet: heartbeats until it first claims or takes a shard, and time
 *   until the loads differ by at most one.
 */
import type { BenchSection } from '../../bench/section';
import { type Random, randomInt, seededRandom } from '../support/seeded-random';
import { type FleetWorker, heartbeatFleet } from './heartbeat-fleet';

const LEASE_MS = 3_000;
const RENEW_MS = LEASE_MS / 3;
const SHARDS = ['s0', 's1', 's2', 's3', 's4', 's5'];

export interface Bound {
  readonly scenario: string;
  readonly measure: string;
  readonly samples: readonly number[];
  /** What the samples count: lease periods, or heartbeats. */
  readonly unit: 'lease periods' | 'heartbeats';
  /** The bound the README states for it, in that unit. */
  readonly statedPeriods: number;
  readonly stated: string;
}

async function settledFleet(random: Random, count: number) {
  const fleet = await heartbeatFleet(SHARDS, LEASE_MS);
  const workers: FleetWorker[] = [];
  for (let i = 0; i < count; i++) {
    const w = fleet.worker(`w${i}`);
    workers.push(w);
    fleet.scheduler.setTimeout(() => void w.coordinator.start(), randomInt(random, 0, RENEW_MS - 1));
  }
  await fleet.scheduler.runUntil(4 * LEASE_MS);
  return { fleet, workers };
}

async function stopAll(fleet: Awaited<ReturnType<typeof heartbeatFleet>>, workers: readonly FleetWorker[]) {
  await Promise.all([
    ...workers.map((w) => w.coordinator.stop({ release: false })),
    fleet.scheduler.advance(2 * LEASE_MS),
  ]);
}

/** From a death just after a heartbeat landed until a peer processes each of the dead worker's shards. */
async function crashedWorker(random: Random): Promise<number> {
  const { fleet, workers } = await settledFleet(random, 3);
  await fleet.scheduler.advance(randomInt(random, 0, LEASE_MS));
  const [victim, ...peers] = workers as [FleetWorker, ...FleetWorker[]];
  const shards = victim.coordinator.heldShards();
  let diedAt: number | undefined;
  victim.io.script = (method) => {
    if (diedAt !== undefined) return { hang: true, applied: false };
    if (method !== 'heartbeat') return 'pass';
    diedAt = fleet.scheduler.now();
    void victim.coordinator.stop({ release: false });
    return { hang: true, applied: true };
  };
  await fleet.scheduler.advance(4 * LEASE_MS);
  const from = diedAt ?? Number.NaN;
  const taken = shards.map((shardId) =>
    Math.min(...['w1', 'w2'].map((w) => fleet.gainedBy(w, shardId, from) ?? Number.POSITIVE_INFINITY)),
  );
  await stopAll(fleet, peers);
  return Math.max(...taken) - from;
}

/** From the start until every shard is processed, one worker's heartbeat answers 1.5 renewal periods late. */
async function slowWorker(random: Random): Promise<number> {
  const fleet = await heartbeatFleet(SHARDS, LEASE_MS);
  const fast = fleet.worker('fast');
  const slow = fleet.worker('slow');
  slow.io.script = (method) => (method === 'heartbeat' ? { answerDelayMs: 1.5 * RENEW_MS } : 'pass');
  fleet.scheduler.setTimeout(() => void fast.coordinator.start(), randomInt(random, 0, RENEW_MS - 1));
  fleet.scheduler.setTimeout(() => void slow.coordinator.start(), randomInt(random, 0, RENEW_MS - 1));
  await fleet.scheduler.runUntil(6 * LEASE_MS);
  const first = SHARDS.map(
    (shardId) => fleet.gained.find((g) => g.shardId === shardId)?.atMs ?? Number.POSITIVE_INFINITY,
  );
  await stopAll(fleet, [fast, slow]);
  return Math.max(...first);
}

/** From stop() (a Lambda invocation ending) until a peer processes each of its shards. */
async function stoppedWorker(random: Random): Promise<number> {
  const { fleet, workers } = await settledFleet(random, 3);
  await fleet.scheduler.advance(randomInt(random, 0, LEASE_MS));
  const [leaving, ...peers] = workers as [FleetWorker, ...FleetWorker[]];
  const shards = leaving.coordinator.heldShards();
  const from = fleet.scheduler.now();
  void leaving.coordinator.stop();
  await fleet.scheduler.advance(4 * LEASE_MS);
  const taken = shards.map((shardId) =>
    Math.min(...['w1', 'w2'].map((w) => fleet.gainedBy(w, shardId, from) ?? Number.POSITIVE_INFINITY)),
  );
  await stopAll(fleet, peers);
  return Math.max(...taken) - from;
}

/** A newcomer joins a settled fleet: its heartbeats until it first acts on its share, and time until balanced. */
async function newcomer(random: Random): Promise<{ heartbeats: number; balancedMs: number }> {
  const { fleet, workers } = await settledFleet(random, 2);
  await fleet.scheduler.advance(randomInt(random, 0, LEASE_MS));
  const joiner = fleet.worker('joiner');
  const from = fleet.scheduler.now();
  void joiner.coordinator.start();
  let balancedMs = Number.POSITIVE_INFINITY;
  for (let t = 0; t < 10 * LEASE_MS; t += 50) {
    await fleet.scheduler.advance(50);
    const loads = [...workers, joiner].map((w) => w.coordinator.heldShards().length);
    if (Math.max(...loads) - Math.min(...loads) <= 1 && loads.reduce((a, b) => a + b, 0) === SHARDS.length) {
      balancedMs = fleet.scheduler.now() - from;
      break;
    }
  }
  // Its first step towards its share: a take of a free shard, or a claim on a settled worker's.
  const firstAct =
    joiner.io.calls.find((c) => c.method === 'getLease' || c.method === 'claimShard')?.startedAtMs ??
    Number.POSITIVE_INFINITY;
  const heartbeats = joiner.io.calls.filter(
    (c) => c.method === 'heartbeat' && c.startedAtMs <= firstAct,
  ).length;
  await stopAll(fleet, [...workers, joiner]);
  return { heartbeats, balancedMs };
}

export async function measureBounds(runs: number): Promise<Bound[]> {
  const crashed: number[] = [];
  const slow: number[] = [];
  const stopped: number[] = [];
  const joinHeartbeats: number[] = [];
  const balanced: number[] = [];
  for (let run = 1; run <= runs; run++) {
    crashed.push(await crashedWorker(seededRandom(run, 'bounds/crash')));
    slow.push(await slowWorker(seededRandom(run, 'bounds/slow')));
    stopped.push(await stoppedWorker(seededRandom(run, 'bounds/stop')));
    const joined = await newcomer(seededRandom(run, 'bounds/join'));
    joinHeartbeats.push(joined.heartbeats);
    balanced.push(joined.balancedMs);
  }
  const periods = (ms: readonly number[]) => ms.map((m) => m / LEASE_MS);
  return [
    {
      scenario: 'a worker dies just after its heartbeat landed',
      measure: 'death → a peer processes each of its shards',
      samples: periods(crashed),
      unit: 'lease periods',
      statedPeriods: 4 / 3,
      stated: 'one lease period + one renewal period',
    },
    {
      scenario: 'a worker answers 1.5 renewal periods late, a peer has room',
      measure: 'cold start → every shard processed',
      samples: periods(slow),
      unit: 'lease periods',
      statedPeriods: 4 / 3,
      stated: 'one renewal period (joining) + one lease period',
    },
    {
      scenario: 'a worker stops (a Lambda invocation ends)',
      measure: 'stop() → a peer processes each of its shards',
      samples: periods(stopped),
      unit: 'lease periods',
      statedPeriods: 0.6,
      stated: "the service's snapshot age + one renewal period",
    },
    {
      scenario: 'a newcomer joins a settled fleet',
      measure: 'heartbeats until it claims (or takes) its first shard',
      samples: joinHeartbeats,
      unit: 'heartbeats',
      statedPeriods: 2,
      stated: '2 (its second heartbeat)',
    },
    {
      scenario: 'a newcomer joins a settled fleet',
      measure: 'start → loads within one of each other',
      samples: periods(balanced),
      unit: 'lease periods',
      statedPeriods: 1,
      stated: 'one lease period',
    },
  ];
}

/** The bounds as a README section: worst and median of each, against what the README states. */
export function boundsSection(bounds: readonly Bound[], runs: number): BenchSection {
  const show = (b: Bound, n: number) =>
    !Number.isFinite(n) ? 'never' : b.unit === 'heartbeats' ? `${n} heartbeats` : n.toFixed(2);
  const median = (xs: readonly number[]) =>
    [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;
  return {
    title: `Takeover and rebalance bounds (heartbeat mode, ${LEASE_MS / 1000} s leases, ${runs} runs each)`,
    columns: ['scenario', 'measure', 'worst', 'median', 'the README states', 'holds'],
    rows: bounds.map((b) => {
      const worst = Math.max(...b.samples);
      return [
        b.scenario,
        b.measure,
        show(b, worst),
        show(b, median(b.samples)),
        b.stated,
        worst <= b.statedPeriods + 1e-9 ? 'yes' : 'NO',
      ];
    }),
    notes: [
      `Times in lease periods; phases and fault times drawn from seeds 1..${runs}. A bound that does not hold fails the command.`,
    ],
  };
}
