/**
 * One simulated run, all on virtual time and all drawn from one seed: a stream with a split and a
 * merge, the service (the real LeaseEngine over a MemoryRowStore), and several worker processes, each
 * a real LeaseCoordinator behind its own link, with simulated processors. Until the faults stop, a
 * minority of the workers (all of them in a storm seed) meets network faults on every call
 * (faulty-checkpointer.ts), one is cut off or slow for a while, the service goes down, the table
 * throttles, processes crash and restart (some right after a heartbeat landed, still counted as
 * heard from), stop while a take or a claim is in flight, and processors throw, stall or return early;
 * then a fault-free tail of at least four lease periods. The invariants (invariants.ts) are checked as
 * it runs, liveness among them on a sampling timer. `configFor(seed, kind)` draws a world with that one
 * kind of fault only, for the liveness table (`npm run sim -- --liveness`).
 *
 * The coordinator is built in one place (`startCoordinator`), so that a change of its options touches
 * this file only.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { LeaseCoordinator, type LeaseLostEvent, type StopResult } from '../../lib/client/coordinator';
import { discoveryWrite, shardsToDiscover } from '../../lib/core/discovery';
import { LeaseEngine } from '../../lib/core/engine';
import { ThrottledError } from '../../lib/core/errors';
import type { FleetAssignment } from '../../lib/core/fleet-plan';
import { Attr } from '../../lib/core/lease-row';
import { ruleTimes } from '../../lib/core/rules';
import { type Scheduler, VirtualScheduler } from '../../lib/core/scheduler';
import { pick, randomInt, seededRandom } from '../support/seeded-random';
import {
  type CallWeights,
  DEFAULT_CALL_WEIGHTS,
  FaultyCheckpointer,
  FaultyNetwork,
  FaultyShardSource,
  type Link,
  linkImpaired,
  NETWORK_FAULTS,
  type NetworkPlan,
  type SlowWindow,
  type Window,
} from './faulty-checkpointer';
import { Invariants, type Violation } from './invariants';
import { MemoryRowStore, type RequestKind, type RequestTotals } from './memory-row-store';
import { PROCESSOR_FAULTS, type Process, type ProcessorFault, simulatedProcessor } from './processor';
import { SimShardSource, type SimShardSpec, SimStream } from './stream';
import { describeError, Trace, TraceLogger } from './trace';

export const WORLD_FAULTS = [
  'storeThrottle',
  'crash',
  'restart',
  'deadAfterHeartbeat',
  'stopMidTake',
  'stopMidClaim',
] as const;
export const FAULT_KINDS = [...NETWORK_FAULTS, ...WORLD_FAULTS, ...PROCESSOR_FAULTS] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface CrashPlan {
  readonly atMs: number;
  /** Restarted this long after the crash (as a new process), unless that is past the faults. */
  readonly downMs: number;
  /** The restarted process keeps the worker id (else it gets a new one). */
  readonly sameWorkerId: boolean;
  /** The process dies right after its next heartbeat landed: the service has just heard from it. */
  readonly afterHeartbeat?: boolean;
}

/** A graceful stop (`stop()`, releasing) that comes while a take or a claim is in flight. */
export interface StopPlan {
  /** From this instant, the worker's next take (or claim) triggers the stop. */
  readonly atMs: number;
  readonly during: 'take' | 'claim';
  /** Which worker; for a claim, that worker starts late, so that it must steal its share. */
  readonly worker: number;
  /** The answer to the call in flight comes this long after the stop began. */
  readonly answerDelayMs: number;
  readonly downMs: number;
  readonly sameWorkerId: boolean;
}

export interface WorldConfig {
  readonly seed: number;
  /**
   * listing: each coordinator lists the stream and the table itself (library mode); heartbeat: the
   * service discovers shards (a discovery pass every lease period) and coordinators only heartbeat and
   * follow its plan.
   */
  readonly mode: 'listing' | 'heartbeat';
  readonly leaseDurationMs: number;
  readonly claimTimeoutMs: number;
  readonly stopTimeoutMs: number;
  readonly workers: number;
  /** Virtual instant each worker's first process starts. */
  readonly startAtMs: readonly number[];
  /**
   * Each worker's clock against the service's: it reads `offsetMs` ahead, and its timers run at `rate`
   * (0.97: 3 % slow). The coordinator's expiry margin is what keeps slow timers safe.
   */
  readonly clocks: ReadonlyArray<{ readonly rate: number; readonly offsetMs: number }>;
  readonly shards: readonly SimShardSpec[];
  readonly growthMs: number;
  readonly batchIntervalMs: number;
  readonly maxBatch: number;
  readonly network: NetworkPlan;
  /** Workers whose every call may meet a network fault in the fault phase (the rest meet none). */
  readonly faultyWorkers: readonly number[];
  /** Partition windows, by worker index. */
  readonly partitions: ReadonlyArray<{ readonly worker: number; readonly window: Window }>;
  /** Slow windows, by worker index: every answer to that worker comes late (beyond a renewal period). */
  readonly slow: ReadonlyArray<{ readonly worker: number; readonly window: SlowWindow }>;
  readonly crashes: readonly CrashPlan[];
  readonly stops: readonly StopPlan[];
  /** Coordinators learn the lease duration from the service (else they are told it, equal). */
  readonly termsFromService: boolean;
  /** Chance that the table throttles one UpdateItem (through all of DynamoRowStore's retries). */
  readonly storeThrottleChance: number;
  readonly processorFaultChance: Readonly<Record<ProcessorFault, number>>;
  readonly stallMs: readonly [number, number];
  /** Fault-free time after the heal, at least. */
  readonly tailMs: number;
}

const LEASE_MS = 1_000;

/** The world of one seed; with `only`, a world whose one kind of fault is that one. */
export function configFor(seed: number, only?: FaultKind): WorldConfig {
  const random = seededRandom(seed, only === undefined ? 'config' : `config/${only}`);
  const L = LEASE_MS;
  const R = Math.floor(L / 3);
  /** Whether a kind of fault is in this world at all. */
  const on = (kind: FaultKind) =>
    only === undefined || only === kind || (only === 'restart' && kind === 'crash');
  /** How many of a kind: `min..max` in a mixed world, at least one in a world of that kind alone. */
  const count = (kind: FaultKind, min: number, max: number) =>
    !on(kind) ? 0 : only === undefined ? randomInt(random, min, max) : randomInt(random, 1, Math.max(1, max));
  const workers = randomInt(random, 3, 5);
  const faultsUntilMs = randomInt(random, 6, 11) * L;
  const roots = randomInt(random, 1, 3);
  const shards: SimShardSpec[] = [];
  for (let i = 0; i < roots; i++)
    shards.push({ shardId: `root-${i}`, closed: false, records: randomInt(random, 0, 20) });
  shards.push(
    { shardId: 'split-parent', closed: true, records: randomInt(random, 4, 40) },
    {
      shardId: 'split-left',
      parentShardId: 'split-parent',
      closed: false,
      records: randomInt(random, 0, 10),
    },
    {
      shardId: 'split-right',
      parentShardId: 'split-parent',
      closed: false,
      records: randomInt(random, 0, 10),
    },
    { shardId: 'merge-a', closed: true, records: randomInt(random, 2, 30) },
    { shardId: 'merge-b', closed: true, records: randomInt(random, 2, 30) },
    {
      shardId: 'merge-child',
      parentShardId: 'merge-a',
      adjacentParentShardId: 'merge-b',
      closed: false,
      records: randomInt(random, 0, 10),
    },
  );
  const window = (minMs: number, maxMs: number): Window => {
    const length = randomInt(random, minMs, maxMs);
    const fromMs = randomInt(random, L, Math.max(L, faultsUntilMs - length));
    return { fromMs, toMs: Math.min(faultsUntilMs, fromMs + length) };
  };
  // A storm hits every worker; otherwise a minority suffers, and the others stay healthy.
  const storm = only === undefined && random() < 0.25;
  const indices = Array.from({ length: workers }, (_, i) => i);
  const minority = shuffled(random, indices).slice(0, randomInt(random, 1, Math.floor((workers - 1) / 2)));
  const faultyWorkers = storm ? indices : minority.sort();
  const sufferer = () => pick(random, minority);
  const downWindows = Array.from({ length: count('down', 0, 2) }, () => window(L / 5, (3 * L) / 2));
  const partitions = Array.from(
    { length: only === undefined ? (random() < 0.85 ? 1 : 0) : count('partition', 1, 1) },
    () => ({ worker: sufferer(), window: window((3 * L) / 2, 3 * L) }),
  );
  const slow = Array.from({ length: count('slow', 0, 1) }, () => ({
    worker: sufferer(),
    window: { ...window((3 * L) / 2, 4 * L), delayMs: randomInt(random, R + 40, L / 2) },
  }));
  const crash = (afterHeartbeat: boolean): CrashPlan => ({
    atMs: randomInt(random, L, faultsUntilMs - L),
    downMs: randomInt(random, L / 2, 3 * L),
    sameWorkerId: random() < 0.5,
    afterHeartbeat,
  });
  const crashes = [
    ...Array.from({ length: count('crash', 0, 2) }, () => crash(false)),
    ...Array.from({ length: count('deadAfterHeartbeat', 0, 1) }, () => crash(true)),
  ].sort((a, b) => a.atMs - b.atMs);
  const startAtMs = Array.from({ length: workers }, () => randomInt(random, 0, L / 2));
  const stop = (during: StopPlan['during']): StopPlan => {
    const worker = sufferer();
    const atMs = randomInt(random, L, faultsUntilMs - 2 * L);
    // It joins then: a claimer joins a settled fleet, so its share comes by steals; a taker gets its
    // first plan (or listing) then.
    startAtMs[worker] = atMs;
    return {
      atMs,
      during,
      worker,
      // Answered during the stop, or later than the take's deadline (the worker never learns it).
      answerDelayMs: random() < 0.5 ? randomInt(random, 1, 150) : randomInt(random, L, (3 * L) / 2),
      downMs: randomInt(random, L / 2, 3 * L),
      sameWorkerId: random() < 0.5,
    };
  };
  const stops = [
    ...Array.from({ length: count('stopMidTake', 0, 1) }, () => stop('take')),
    ...Array.from({ length: count('stopMidClaim', 0, 1) }, () => stop('claim')),
  ];
  const weights: CallWeights =
    only === undefined
      ? DEFAULT_CALL_WEIGHTS
      : (Object.fromEntries(
          Object.keys(DEFAULT_CALL_WEIGHTS).map((kind) => [
            kind,
            kind === 'none' ? 78 : kind === only ? 22 : 0,
          ]),
        ) as unknown as CallWeights);
  const processorChance = (kind: ProcessorFault) => (only === undefined ? 0.004 : only === kind ? 0.02 : 0);
  return {
    seed,
    mode: random() < 0.5 ? 'listing' : 'heartbeat',
    leaseDurationMs: L,
    // The service's default ratio (120 s claims, 10 s leases): a claim lapses early once the claimed
    // lease has ended for a renewal period, so a crashed claimer blocks nobody for the whole timeout.
    claimTimeoutMs: 12 * L,
    stopTimeoutMs: L,
    workers,
    startAtMs,
    clocks: Array.from({ length: workers }, () => ({
      rate: 0.97 + random() * 0.06,
      offsetMs: randomInt(random, -100, 100),
    })),
    shards,
    growthMs: 100,
    batchIntervalMs: 250,
    maxBatch: 4,
    network: {
      faultsUntilMs,
      maxDelayMs: 150,
      maxReorderMs: 600,
      weights,
      downWindows,
    },
    faultyWorkers,
    partitions,
    slow,
    crashes,
    stops,
    termsFromService: random() < 0.5,
    storeThrottleChance: only === undefined ? 0.01 : only === 'storeThrottle' ? 0.03 : 0,
    processorFaultChance: {
      processorThrow: processorChance('processorThrow'),
      processorStall: processorChance('processorStall'),
      processorReturn: processorChance('processorReturn'),
    },
    stallMs: [L / 2, 3 * L],
    tailMs: 4 * L,
  };
}

function shuffled<T>(random: () => number, items: readonly T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

export interface RunSummary {
  readonly seed: number;
  readonly virtualMs: number;
  readonly healMs: number;
  readonly faults: Readonly<Record<FaultKind, number>>;
  readonly calls: number;
  readonly sideEffects: number;
  readonly takes: number;
  readonly losses: Readonly<Record<string, number>>;
  readonly shardsEnded: number;
  readonly worstRecoveryMs: number;
  readonly worstGapMs: number;
  /** Longest time a shard sat idle while a healthy worker could take it (liveness, e). */
  readonly worstIdleMs: number;
  readonly worstIdle?: { readonly shardId: string; readonly fromMs: number; readonly atMs: number };
  readonly worstStopMs: number;
  readonly handovers: number;
  readonly closestHandoverMs: number;
  readonly store: Readonly<Record<RequestKind, RequestTotals>>;
}

export interface RunResult {
  readonly seed: number;
  readonly ok: boolean;
  readonly violations: readonly Violation[];
  readonly trace: Trace;
  readonly summary: RunSummary;
}

export interface RunOptions {
  /** The coordinators' own log lines go to the trace. */
  readonly verbose?: boolean;
  /** End the run at the first violation (the trace then ends there). @default true */
  readonly stopAtFirstViolation?: boolean;
}

/** The coordinator as the world uses it. */
interface SimCoordinator {
  start(): Promise<void>;
  stop(options?: { readonly release?: boolean }): Promise<StopResult>;
}

interface Incarnation {
  readonly workerId: string;
  readonly process: Process;
  readonly link: Link;
  readonly coordinator: SimCoordinator;
}

const SILENT = new Logger({ logLevel: 'SILENT' });

export async function runWorld(config: WorldConfig, options: RunOptions = {}): Promise<RunResult> {
  const stopAtFirst = options.stopAtFirstViolation ?? true;
  const L = config.leaseDurationMs;
  const scheduler = new VirtualScheduler(0);
  const trace = new Trace(scheduler);
  const stream = new SimStream(config.shards, scheduler, config.growthMs);
  const invariants = new Invariants({
    clock: scheduler,
    trace,
    leaseDurationMs: L,
    shardIds: stream.shardIds(),
    parentsOf: (shardId) => stream.parentsOf(shardId),
    // The coordinator's default: a lease period, doubling on each repeat up to 8×.
    retakeBackoffMs: 8 * L,
  });
  const faults = Object.fromEntries(FAULT_KINDS.map((kind) => [kind, 0])) as Record<FaultKind, number>;
  const storeRandom = seededRandom(config.seed, 'store');
  const faultsUntilMs = config.network.faultsUntilMs;
  let lastStoreThrottleMs = Number.NEGATIVE_INFINITY;
  const store = new MemoryRowStore({
    clock: scheduler,
    onApplied: (write) => invariants.applied(write),
    fault: (kind, shardId) => {
      if (kind !== 'UpdateItem' || scheduler.now() >= faultsUntilMs) return undefined;
      if (storeRandom() >= config.storeThrottleChance) return undefined;
      faults.storeThrottle++;
      lastStoreThrottleMs = scheduler.now();
      trace.add('TABLE', `fault storeThrottle: UpdateItem ${shardId}`);
      return new ThrottledError(10);
    },
  });
  const service = new LeaseEngine({
    store,
    clock: scheduler,
    leaseDurationMs: L,
    claimTimeoutMs: config.claimTimeoutMs,
  });
  const network = new FaultyNetwork(
    scheduler,
    seededRandom(config.seed, 'network'),
    config.network,
    trace,
    (link, what) =>
      invariants.violation('callAfterStop', `${link.name} called ${what} after its stop() returned`),
  );
  const healMs = network.healMs;
  const worldRandom = seededRandom(config.seed, 'world');
  const losses: Record<string, number> = {};
  let takes = 0;
  let shardsEnded = 0;
  let worstStopMs = 0;
  const pendingStops = new Set<string>();

  const processorEnv = {
    scheduler,
    stream,
    invariants,
    trace,
    batchIntervalMs: config.batchIntervalMs,
    maxBatch: config.maxBatch,
    faultsUntilMs,
    faultChance: config.processorFaultChance,
    stallMs: config.stallMs,
    countFault: (kind: ProcessorFault) => {
      faults[kind]++;
    },
  };

  const slots: Array<{ index: number; incarnations: number; current: Incarnation | undefined }> = Array.from(
    { length: config.workers },
    (_, index) => ({ index, incarnations: 0, current: undefined }),
  );
  /** Stops planned and not yet come: armed on the slot's process from their instant on. */
  const stopsDue = new Map<number, StopPlan>();

  const startProcess = (slot: (typeof slots)[number], workerId: string): void => {
    slot.incarnations++;
    const name = `w${slot.index}#${slot.incarnations}`;
    const process: Process = {
      name,
      random: seededRandom(config.seed, 'process', name),
      dead: false,
      running: new Set(),
    };
    const link: Link = {
      name,
      faulty: config.faultyWorkers.includes(slot.index),
      partitions: config.partitions.filter((p) => p.worker === slot.index).map((p) => p.window),
      slow: config.slow.filter((p) => p.worker === slot.index).map((p) => p.window),
      dead: false,
      stopped: false,
    };
    const coordinator = startCoordinator({
      workerId,
      ...(!config.termsFromService && { leaseDurationMs: L }),
      stopTimeoutMs: config.stopTimeoutMs,
      scheduler: driftingClock(scheduler, config.clocks[slot.index] ?? { rate: 1, offsetMs: 0 }),
      checkpointer: new FaultyCheckpointer(network, link, service),
      ...(config.mode === 'listing' && {
        shardSource: new FaultyShardSource(network, link, new SimShardSource(stream)),
      }),
      logger: options.verbose ? new TraceLogger(trace, name) : SILENT,
      onLeaseGained: (lease) => {
        takes++;
        return simulatedProcessor(processorEnv, process)(lease);
      },
      onLeaseLost: (event: LeaseLostEvent) => {
        losses[event.reason] = (losses[event.reason] ?? 0) + 1;
        trace.add(
          name,
          `lost ${event.shardId}: ${event.reason}${event.owner ? ` (to ${event.owner})` : ''}${
            event.error !== undefined ? ` ${describeError(event.error)}` : ''
          }`,
        );
      },
      onShardEnded: (shardId) => {
        shardsEnded++;
        trace.add(name, `shard ended ${shardId}`);
      },
    });
    slot.current = { workerId, process, link, coordinator };
    trace.add(name, `start (worker id ${workerId})`);
    coordinator.start().catch((error: unknown) => trace.add(name, `start failed: ${describeError(error)}`));
    const due = stopsDue.get(slot.index);
    if (due && due.atMs <= scheduler.now()) armStop(slot, due);
  };

  /** Restarts the slot's worker after `downMs` (a new process; the same worker id or a new one). */
  const restartLater = (
    slot: (typeof slots)[number],
    downMs: number,
    sameWorkerId: boolean,
    workerId: string,
  ) => {
    const restartAt = Math.min(scheduler.now() + downMs, faultsUntilMs);
    scheduler.setTimeout(() => {
      faults.restart++;
      startProcess(slot, sameWorkerId ? workerId : `w${slot.index}-${slot.incarnations + 1}`);
    }, restartAt - scheduler.now());
  };

  /** Waits for a stop() and checks it returned in time; `after` runs once it has. */
  const watchStop = (
    slot: (typeof slots)[number],
    victim: Incarnation,
    stop: Promise<StopResult>,
    after: (result: StopResult) => void = () => undefined,
  ): void => {
    const stopFrom = scheduler.now();
    pendingStops.add(victim.process.name);
    stop.then(
      (result) => {
        pendingStops.delete(victim.process.name);
        victim.link.stopped = true;
        const took = scheduler.now() - stopFrom;
        worstStopMs = Math.max(worstStopMs, took);
        trace.add(
          victim.process.name,
          `stop() returned after ${took} ms: taken ${result.leasesTaken}, released ${result.leasesReleased}, not released [${result.leasesNotReleased.join(' ')}], claims left [${result.claimsNotWithdrawn.join(' ')}]`,
        );
        // stopTimeoutMs is measured by the worker's own clock.
        const bound = Math.ceil(config.stopTimeoutMs / (config.clocks[slot.index]?.rate ?? 1));
        if (took > bound) {
          invariants.violation(
            'stopUnbounded',
            `${victim.process.name}: stop() took ${took} ms (bound ${bound})`,
          );
        }
        after(result);
      },
      (error: unknown) => trace.add(victim.process.name, `stop() failed: ${describeError(error)}`),
    );
  };

  const crashNow = (slot: (typeof slots)[number], plan: CrashPlan): void => {
    const victim = slot.current;
    if (!victim) return;
    slot.current = undefined;
    faults[plan.afterHeartbeat ? 'deadAfterHeartbeat' : 'crash']++;
    trace.add(
      victim.process.name,
      `fault ${plan.afterHeartbeat ? 'deadAfterHeartbeat: dies as its heartbeat lands' : 'crash: the process dies'} (its calls stop, its processors freeze)`,
    );
    victim.link.dead = true;
    victim.process.dead = true;
    for (const record of victim.process.running) invariants.ended(record, 'dead');
    watchStop(slot, victim, victim.coordinator.stop({ release: false }));
    restartLater(slot, plan.downMs, plan.sameWorkerId, victim.workerId);
  };

  const crash = (plan: CrashPlan): void => {
    const alive = slots.filter((slot) => slot.current !== undefined);
    if (alive.length === 0) return;
    const slot = pick(worldRandom, alive);
    if (!plan.afterHeartbeat) {
      crashNow(slot, plan);
      return;
    }
    // Dies right after its next renewal lands (a heartbeat; a renewal in listing mode): the service
    // has just heard from it. A worker that sends none within two lease periods dies anyway.
    const victim = slot.current as Incarnation;
    const call = config.mode === 'heartbeat' ? 'heartbeat' : 'renew';
    victim.link.trigger = { call, answerDelayMs: 0, fire: () => crashNow(slot, plan) };
    scheduler.setTimeout(() => {
      if (slot.current === victim && victim.link.trigger?.call === call) {
        victim.link.trigger = undefined;
        crashNow(slot, plan);
      }
    }, 2 * L);
  };

  /** The slot's process stops gracefully as its next take (or claim) is in flight. */
  function armStop(slot: (typeof slots)[number], plan: StopPlan): void {
    const victim = slot.current;
    if (!victim) return;
    stopsDue.delete(slot.index);
    victim.link.trigger = {
      call: plan.during === 'take' ? 'getLease' : 'claim',
      answerDelayMs: plan.answerDelayMs,
      fire: () => {
        if (slot.current !== victim) return;
        slot.current = undefined;
        faults[plan.during === 'take' ? 'stopMidTake' : 'stopMidClaim']++;
        trace.add(
          victim.process.name,
          `fault stopMid${plan.during === 'take' ? 'Take' : 'Claim'}: stop() while it is in flight`,
        );
        watchStop(slot, victim, victim.coordinator.stop(), (result) => {
          // The stop's promise: nothing left in the table under its worker id that it did not report.
          const sameIdRunning = slots.some((s) => s.current?.workerId === victim.workerId);
          if (!sameIdRunning) {
            invariants.checkStopped(
              victim.process.name,
              victim.workerId,
              { leases: result.leasesNotReleased, claims: result.claimsNotWithdrawn },
              (shardId) => store.peek(shardId),
            );
          }
        });
        restartLater(slot, plan.downMs, plan.sameWorkerId, victim.workerId);
      },
    };
    // Armed until the faults stop: a stop that found no take or claim in flight never happens.
    scheduler.setTimeout(
      () => {
        if (victim.link.trigger?.fire && slot.current === victim) victim.link.trigger = undefined;
      },
      Math.max(0, faultsUntilMs - scheduler.now()),
    );
  }

  if (config.mode === 'heartbeat') {
    // The service's discovery pass (the reaper's, or the local server's timer): the core's rule, run
    // over the table, before the workers start and then every lease period.
    const discover = async (): Promise<void> => {
      const rowIds = new Set<string>();
      for await (const row of store.scan()) rowIds.add(String(row[Attr.ShardId]));
      for (const shard of shardsToDiscover(stream.shards(), rowIds)) {
        await store.update(shard.shardId, () =>
          discoveryWrite(shard, ruleTimes(scheduler.now(), service.terms)),
        );
        trace.add('SERVICE', `discovered ${shard.shardId}`);
      }
    };
    const pass = (): void => {
      discover().catch((error: unknown) => trace.add('SERVICE', `discovery failed: ${describeError(error)}`));
      scheduler.setTimeout(pass, L);
    };
    pass();
  }
  for (const plan of config.stops) stopsDue.set(plan.worker, plan);
  for (const slot of slots) {
    scheduler.setTimeout(() => startProcess(slot, `w${slot.index}`), config.startAtMs[slot.index] ?? 0);
  }
  for (const plan of config.stops) {
    scheduler.setTimeout(() => {
      const slot = slots[plan.worker];
      if (slot && stopsDue.get(plan.worker) === plan) armStop(slot, plan);
    }, plan.atMs);
  }
  for (const plan of config.crashes) scheduler.setTimeout(() => crash(plan), plan.atMs);
  for (const w of config.network.downWindows) {
    scheduler.setTimeout(() => trace.add('NET', `service down until ${w.toMs}`), w.fromMs);
  }
  for (const p of config.partitions) {
    scheduler.setTimeout(
      () => trace.add('NET', `w${p.worker} partitioned until ${p.window.toMs}`),
      p.window.fromMs,
    );
  }
  for (const p of config.slow) {
    scheduler.setTimeout(
      () => trace.add('NET', `w${p.worker} answered ${p.window.delayMs} ms late until ${p.window.toMs}`),
      p.window.fromMs,
    );
  }

  // Liveness (e), sampled: who could take a shard now, and whether a lease's holder must process it.
  const within = (windows: readonly Window[], atMs: number) =>
    windows.some((w) => atMs >= w.fromMs && atMs < w.toMs);
  // After the service was down, the fleet resumes as after a cold start: every worker heartbeats again
  // and is planned for within a renewal period. An outage is not a fault of a minority of workers.
  const resuming = config.network.downWindows.map((w) => ({ fromMs: w.fromMs, toMs: w.toMs + L / 3 }));
  const healthy = (): string[] => {
    const now = scheduler.now();
    if (within(resuming, now)) return [];
    // The table throttled a write lately: every worker may have met it.
    if (now - lastStoreThrottleMs < L / 3) return [];
    return slots.flatMap((slot) => {
      const current = slot.current;
      if (!current || current.process.dead) return [];
      const link = current.link;
      if (linkImpaired(link, now) || (link.faulty && now < faultsUntilMs)) return [];
      // Up once it is answered (the terms), and planned for a renewal period later (it joins).
      if (link.firstAnswerMs === undefined || now < link.firstAnswerMs + L / 3) return [];
      return [current.process.name];
    });
  };
  const holderHealthy = (workerId: string, healthyNow: readonly string[]): boolean => {
    const holder = slots.find((slot) => slot.current?.workerId === workerId)?.current;
    return holder !== undefined && healthyNow.includes(holder.process.name);
  };
  const sampleEveryMs = L / 50;
  let tracedPlan: unknown;
  const sample = (): void => {
    const plan = service.fleet.latest();
    if (options.verbose && plan && plan !== tracedPlan) {
      tracedPlan = plan;
      trace.add('SERVICE', () => describePlan(plan.assignment, plan.snapshot.takenAtMs));
    }
    const healthyNow = healthy();
    invariants.checkLiveness({
      healthy: healthyNow,
      holderHealthy: (workerId) => holderHealthy(workerId, healthyNow),
      rowOf: (shardId) => store.peek(shardId),
      known: (shardId) => config.mode === 'listing' || store.peek(shardId) !== undefined,
    });
    scheduler.setTimeout(sample, sampleEveryMs);
  };
  scheduler.setTimeout(sample, sampleEveryMs);

  const recoveryCheck = (): void => {
    invariants.checkRecovery();
    scheduler.setTimeout(recoveryCheck, L / 4);
  };
  scheduler.setTimeout(() => {
    invariants.healed();
    recoveryCheck();
  }, healMs);

  const minEndMs = healMs + config.tailMs;
  const maxEndMs = healMs + 12 * L;
  let now = 0;
  for (;;) {
    now += L / 2;
    await scheduler.runUntil(now);
    if (stopAtFirst && !invariants.ok) break;
    if (now >= maxEndMs || (now >= minEndMs && invariants.undecided().length === 0)) break;
  }
  // A run cut short at a violation ends with stops still running: those are not overdue.
  if (invariants.ok) {
    invariants.checkRecovery();
    for (const name of pendingStops) {
      invariants.violation('stopUnbounded', `${name}: stop() has not returned by the end of the run`);
    }
  }

  return {
    seed: config.seed,
    ok: invariants.ok,
    violations: invariants.violations,
    trace,
    summary: {
      seed: config.seed,
      virtualMs: scheduler.now(),
      healMs,
      faults: { ...faults, ...network.counts },
      calls: network.calls,
      sideEffects: invariants.sideEffects,
      takes,
      losses,
      shardsEnded,
      worstRecoveryMs: invariants.worstRecoveryMs,
      worstGapMs: invariants.worstGapMs,
      worstIdleMs: invariants.worstIdleMs,
      ...(invariants.worstIdle && { worstIdle: invariants.worstIdle }),
      worstStopMs,
      handovers: invariants.handovers,
      closestHandoverMs: invariants.closestHandoverMs,
      store: store.totals,
    },
  };
}

/** The fleet plan of a new snapshot, for a verbose trace. */
function describePlan(plan: FleetAssignment, takenAtMs: number): string {
  const list = (map: ReadonlyMap<string, readonly unknown[]>) =>
    [...map].map(
      ([w, items]) => `${w}:${items.map((i) => (typeof i === 'string' ? i : JSON.stringify(i))).join(',')}`,
    );
  return [
    `plan of the snapshot taken at ${takenAtMs}:`,
    `targets ${[...plan.targets].map(([w, n]) => `${w}=${n}`).join(' ')}`,
    `holdings ${list(plan.holdings).join(' ')}`,
    `takes ${list(plan.takes).join(' ') || '-'}`,
    `steals ${list(plan.steals).join(' ') || '-'}`,
    `lapsed [${plan.lapsed.join(' ')}] joining [${plan.joining.join(' ')}]`,
  ].join(' | ');
}

/** Parts of a seed's world to replace, e.g. `{ claimTimeoutMs: 12_000 }` (JSON: it crosses threads). */
export type WorldOverrides = Partial<Omit<WorldConfig, 'seed'>>;

export function runSeed(
  seed: number,
  options?: RunOptions,
  overrides: WorldOverrides = {},
  only?: FaultKind,
): Promise<RunResult> {
  return runWorld({ ...configFor(seed, only), ...overrides }, options);
}

/**
 * A worker's clock on the world's virtual time: it reads `offsetMs` ahead of the service's (NTP keeps
 * the offset bounded), and its timers run at `rate` (0.97: a 1000 ms wait takes 1031 ms of service
 * time), as a process's timers drift and lag.
 */
function driftingClock(
  world: Scheduler,
  clock: { readonly rate: number; readonly offsetMs: number },
): Scheduler {
  if (clock.rate === 1 && clock.offsetMs === 0) return world;
  return {
    now: () => world.now() + clock.offsetMs,
    setTimeout: (callback, ms) => world.setTimeout(callback, Math.ceil(Math.max(0, ms) / clock.rate)),
    clearTimeout: (handle) => world.clearTimeout(handle),
  };
}

// ---- the coordinator under test -------------------------------------------------------------------

type CoordinatorArgs = ConstructorParameters<typeof LeaseCoordinator>[0];

/** The one place the simulation builds a coordinator. */
function startCoordinator(args: CoordinatorArgs): SimCoordinator {
  return new LeaseCoordinator(args);
}
