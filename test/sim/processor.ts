/**
 * A simulated record processor, given to the coordinator as onLeaseGained: it resumes after
 * lease.startingCheckpoint, handles a batch every `batchIntervalMs` of virtual time (a side effect,
 * recorded with the invariants, only after checking lease.signal), checkpoints the batch's last
 * sequence number, and on a closed shard's end checkpoints SHARD_END and returns. LeaseLost from a
 * checkpoint ends it; any other checkpoint failure is left to the next batch's checkpoint.
 *
 * Faults, drawn per batch until the faults stop: it throws; it stalls (a long await that checks
 * nothing, ending before the faults stop); or it returns early, as a consumer out of time would.
 * A crashed process's processors do nothing more and never settle.
 */
import type { ShardLease } from '../../lib/client/coordinator';
import { type Scheduler, sleep } from '../../lib/core/scheduler';
import { SHARD_END } from '../../lib/core/sequence-number';
import { type Random, randomInt } from '../support/seeded-random';
import type { Invariants, ProcessorRecord } from './invariants';
import { recordsThrough, type SimStream } from './stream';
import { describeError, type Trace } from './trace';

export const PROCESSOR_FAULTS = ['processorThrow', 'processorStall', 'processorReturn'] as const;
export type ProcessorFault = (typeof PROCESSOR_FAULTS)[number];

export interface ProcessorEnv {
  readonly scheduler: Scheduler;
  readonly stream: SimStream;
  readonly invariants: Invariants;
  readonly trace: Trace;
  readonly batchIntervalMs: number;
  readonly maxBatch: number;
  /** No fault is drawn from this instant on, and a stall ends by then. */
  readonly faultsUntilMs: number;
  /** Chance per batch of each fault. */
  readonly faultChance: Readonly<Record<ProcessorFault, number>>;
  readonly stallMs: readonly [number, number];
  readonly countFault: (kind: ProcessorFault) => void;
}

/** One worker process, as its processors see it. */
export interface Process {
  readonly name: string;
  readonly random: Random;
  /** Crashed: its processors do nothing more. */
  dead: boolean;
  /** Its processors that have not settled. */
  readonly running: Set<ProcessorRecord>;
}

const parked = (): Promise<never> => new Promise<never>(() => undefined);

export class SimulatedProcessorFailure extends Error {
  constructor(shardId: string) {
    super(`simulated processor failure on ${shardId}`);
    this.name = 'SimulatedProcessorFailure';
  }
}

function isLeaseLost(error: unknown): boolean {
  const e = error as { code?: unknown; name?: unknown };
  return e?.code === 'LeaseLost' || e?.name === 'LeaseLostError';
}

/** onLeaseGained for one process. */
export function simulatedProcessor(
  env: ProcessorEnv,
  process: Process,
): (lease: ShardLease) => Promise<void> {
  return (lease) => {
    const record = env.invariants.gained(lease.shardId, process.name);
    env.trace.add(
      process.name,
      `gained p${record.pid} ${lease.shardId} from ${lease.startingCheckpoint ?? 'the start'}`,
    );
    process.running.add(record);
    const onAbort = () => {
      if (process.dead) return;
      env.invariants.ended(record, 'aborted');
      env.trace.add(
        process.name,
        `signal aborted p${record.pid} ${lease.shardId}: ${describeError(lease.signal.reason)}`,
      );
    };
    if (lease.signal.aborted) onAbort();
    else lease.signal.addEventListener('abort', onAbort, { once: true });
    return run(env, process, lease, record).then(
      () => settle(env, process, record, 'returned'),
      (error: unknown) => {
        settle(env, process, record, `threw ${describeError(error)}`);
        throw error;
      },
    );
  };
}

function settle(env: ProcessorEnv, process: Process, record: ProcessorRecord, how: string): void {
  process.running.delete(record);
  env.invariants.ended(record, 'settled');
  env.trace.add(process.name, `settled p${record.pid} ${record.shardId}: ${how}`);
}

async function run(
  env: ProcessorEnv,
  process: Process,
  lease: ShardLease,
  record: ProcessorRecord,
): Promise<void> {
  const { scheduler, stream } = env;
  const shardId = lease.shardId;
  let next = recordsThrough(lease.startingCheckpoint === SHARD_END ? undefined : lease.startingCheckpoint);
  if (lease.startingCheckpoint === SHARD_END) return;
  let wait = 0;
  for (;;) {
    await sleep(scheduler, wait);
    wait = env.batchIntervalMs;
    if (process.dead) return parked();
    if (scheduler.now() < env.faultsUntilMs) {
      const fault = drawFault(env, process.random);
      if (fault) {
        env.countFault(fault);
        env.trace.add(process.name, `fault ${fault}: p${record.pid} ${shardId}`);
        if (fault === 'processorThrow') throw new SimulatedProcessorFailure(shardId);
        if (fault === 'processorReturn') return;
        const [min, max] = env.stallMs;
        const stall = Math.min(randomInt(process.random, min, max), env.faultsUntilMs - scheduler.now());
        await sleep(scheduler, Math.max(0, stall));
        if (process.dead) return parked();
      }
    }
    // The side effect happens only after this check, in the same instant.
    if (lease.signal.aborted) return;
    const batch = stream.read(shardId, next, env.maxBatch);
    if (batch.lastSequenceNumber !== undefined) {
      env.invariants.sideEffect(record, batch);
      next = batch.to;
      if (await checkpointed(env, process, lease, record, batch.lastSequenceNumber)) continue;
      return;
    }
    if (stream.isClosed(shardId) && next >= stream.recordCount(shardId)) {
      if (await checkpointed(env, process, lease, record, SHARD_END)) continue;
      return;
    }
  }
}

/** Whether to go on: false once the lease is lost, or after SHARD_END was recorded. */
async function checkpointed(
  env: ProcessorEnv,
  process: Process,
  lease: ShardLease,
  record: ProcessorRecord,
  sequenceNumber: string,
): Promise<boolean> {
  try {
    await lease.checkpoint(sequenceNumber);
    env.invariants.checkpointConfirmed(record, sequenceNumber);
    if (process.dead) return parked();
    if (sequenceNumber === SHARD_END) {
      env.trace.add(process.name, `p${record.pid} ${lease.shardId} checkpointed SHARD_END: done`);
      return false;
    }
    return true;
  } catch (error) {
    if (process.dead) return parked();
    env.trace.add(
      process.name,
      `p${record.pid} ${lease.shardId} checkpoint ${sequenceNumber} failed: ${describeError(error)}`,
    );
    return !isLeaseLost(error);
  }
}

function drawFault(env: ProcessorEnv, random: Random): ProcessorFault | undefined {
  let x = random();
  for (const kind of Object.keys(env.faultChance) as ProcessorFault[]) {
    x -= env.faultChance[kind];
    if (x < 0) return kind;
  }
  return undefined;
}
