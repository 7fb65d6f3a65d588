/**
 * One simulated run, all on virtual time and all drawn from one seed: a stream with a split and a
 * merge, the service (the real LeaseEngine over a MemoryRowStore), and several worker processes, each
 * a real LeaseCoordinator behind its own faulty link, with simulated processors. Until the faults stop
 * the network misbehaves (faulty-checkpointer.ts), the table throttles, processes crash and restart,
 * one worker is cut off for a while and processors throw, stall or return early; then a fault-free
 * tail of at least four lease periods. The invariants (invariants.ts) are checked as it runs.
 *
 * The coordinator is built in one place (`startCoordinator`), so that a change of its options touches
 * this file only.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { LeaseCoordinator, type LeaseLostEvent } from '../../lib/client/coordinator';
import { discoveryWrite, shardsToDiscover } from '../../lib/core/discovery';
import { LeaseEngine } from '../../lib/core/engine';
import { ThrottledError } from '../../lib/core/errors';
import { Attr } from '../../lib/core/lease-row';
import { ruleTimes } from '../../lib/core/rules';
import { type Scheduler, VirtualScheduler } from '../../lib/core/scheduler';
import { pick, randomInt, seededRandom } from '../support/seeded-random';
import {
  DEFAULT_CALL_WEIGHTS,
  FaultyCheckpointer,
  FaultyNetwork,
  FaultyShardSource,
  type Link,
  NETWORK_FAULTS,
  type NetworkPlan,
  type Window,
} from './faulty-checkpointer';
import { Invariants, type Violation } from './invariants';
import { MemoryRowStore, type RequestKind, type RequestTotals } from './memory-row-store';
import { PROCESSOR_FAULTS, type Process, type ProcessorFault, simulatedProcessor } from './processor';
import { SimShardSource, type SimShardSpec, SimStream } from './stream';
import { describeError, Trace, TraceLogger } from './trace';

export const WORLD_FAULTS = ['storeThrottle', 'crash', 'restart'] as const;
export const FAULT_KINDS = [...NETWORK_FAULTS, ...WORLD_FAULTS, ...PROCESSOR_FAULTS] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface CrashPlan {
  readonly atMs: number;
  /** Restarted this long after the crash (as a new process), unless that is past the faults. */
  readonly downMs: number;
  /** The restarted process keeps the worker id (else it gets a new one). */
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
  /** Partition windows, by worker index. */
  readonly partitions: ReadonlyArray<{ readonly worker: number; readonly window: Window }>;
  readonly crashes: readonly CrashPlan[];
  /** Chance that the table throttles one UpdateItem (through all of DynamoRowStore's retries). */
  readonly storeThrottleChance: number;
  readonly processorFaultChance: Readonly<Record<ProcessorFault, number>>;
  readonly stallMs: readonly [number, number];
  /** Fault-free time after the heal, at least. */
  readonly tailMs: number;
}

const LEASE_MS = 1_000;

/** The world of one seed. */
export function configFor(seed: number): WorldConfig {
  const random = seededRandom(seed, 'config');
  const L = LEASE_MS;
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
  const downWindows = Array.from({ length: randomInt(random, 0, 2) }, () => window(L / 5, (3 * L) / 2));
  const partitions =
    random() < 0.85
      ? [{ worker: randomInt(random, 0, workers - 1), window: window((3 * L) / 2, 3 * L) }]
      : [];
  const crashes = Array.from({ length: randomInt(random, 0, 2) }, () => ({
    atMs: randomInt(random, L, faultsUntilMs - L),
    downMs: randomInt(random, L / 2, 3 * L),
    sameWorkerId: random() < 0.5,
  })).sort((a, b) => a.atMs - b.atMs);
  return {
    seed,
    mode: random() < 0.5 ? 'listing' : 'heartbeat',
    leaseDurationMs: L,
    // The service's default ratio (120 s claims, 10 s leases): a claim lapses early once the claimed
    // lease has ended for a lease period, so a crashed claimer blocks nobody for the whole timeout.
    claimTimeoutMs: 12 * L,
    stopTimeoutMs: L,
    workers,
    startAtMs: Array.from({ length: workers }, () => randomInt(random, 0, L / 2)),
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
      weights: DEFAULT_CALL_WEIGHTS,
      downWindows,
    },
    partitions,
    crashes,
    storeThrottleChance: 0.01,
    processorFaultChance: { processorThrow: 0.004, processorStall: 0.004, processorReturn: 0.004 },
    stallMs: [L / 2, 3 * L],
    tailMs: 4 * L,
  };
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
  stop(options?: { readonly release?: boolean }): Promise<void>;
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
  });
  const faults = Object.fromEntries(FAULT_KINDS.map((kind) => [kind, 0])) as Record<FaultKind, number>;
  const storeRandom = seededRandom(config.seed, 'store');
  const faultsUntilMs = config.network.faultsUntilMs;
  const store = new MemoryRowStore({
    clock: scheduler,
    onApplied: (write) => invariants.applied(write),
    fault: (kind, shardId) => {
      if (kind !== 'UpdateItem' || scheduler.now() >= faultsUntilMs) return undefined;
      if (storeRandom() >= config.storeThrottleChance) return undefined;
      faults.storeThrottle++;
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
      partitions: config.partitions.filter((p) => p.worker === slot.index).map((p) => p.window),
      dead: false,
      stopped: false,
    };
    const coordinator = startCoordinator({
      workerId,
      leaseDurationMs: L,
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
  };

  const crash = (plan: (typeof config.crashes)[number]): void => {
    const alive = slots.filter((slot) => slot.current !== undefined);
    if (alive.length === 0) return;
    const slot = pick(worldRandom, alive);
    const victim = slot.current as Incarnation;
    slot.current = undefined;
    faults.crash++;
    trace.add(victim.process.name, 'fault crash: the process dies (its calls stop, its processors freeze)');
    victim.link.dead = true;
    victim.process.dead = true;
    for (const record of victim.process.running) invariants.ended(record, 'dead');
    const stopFrom = scheduler.now();
    pendingStops.add(victim.process.name);
    victim.coordinator.stop({ release: false }).then(
      () => {
        pendingStops.delete(victim.process.name);
        victim.link.stopped = true;
        const took = scheduler.now() - stopFrom;
        worstStopMs = Math.max(worstStopMs, took);
        trace.add(victim.process.name, `stop() returned after ${took} ms`);
        // stopTimeoutMs is measured by the worker's own clock.
        const bound = Math.ceil(config.stopTimeoutMs / (config.clocks[slot.index]?.rate ?? 1));
        if (took > bound) {
          invariants.violation(
            'stopUnbounded',
            `${victim.process.name}: stop() took ${took} ms (bound ${bound})`,
          );
        }
      },
      (error: unknown) => trace.add(victim.process.name, `stop() failed: ${describeError(error)}`),
    );
    const restartAt = Math.min(scheduler.now() + plan.downMs, faultsUntilMs);
    scheduler.setTimeout(() => {
      faults.restart++;
      const workerId = plan.sameWorkerId ? victim.workerId : `w${slot.index}-${slot.incarnations + 1}`;
      startProcess(slot, workerId);
    }, restartAt - scheduler.now());
  };

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
  for (const slot of slots) {
    scheduler.setTimeout(() => startProcess(slot, `w${slot.index}`), config.startAtMs[slot.index] ?? 0);
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
  invariants.checkRecovery();
  for (const name of pendingStops) {
    invariants.violation('stopUnbounded', `${name}: stop() has not returned by the end of the run`);
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
      worstStopMs,
      handovers: invariants.handovers,
      closestHandoverMs: invariants.closestHandoverMs,
      store: store.totals,
    },
  };
}

/** Parts of a seed's world to replace, e.g. `{ claimTimeoutMs: 12_000 }` (JSON: it crosses threads). */
export type WorldOverrides = Partial<Omit<WorldConfig, 'seed'>>;

export function runSeed(
  seed: number,
  options?: RunOptions,
  overrides: WorldOverrides = {},
): Promise<RunResult> {
  return runWorld({ ...configFor(seed), ...overrides }, options);
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
