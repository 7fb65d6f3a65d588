/**
 * The three coordinator failures of issue #11, each reproduced on virtual time with the real
 * LeaseCoordinator and the real LeaseEngine (over the simulation's in-memory table), with the one
 * fault that caused it scripted at the moment it matters:
 * 1. a processor that returns or throws kept its lease forever;
 * 2. a renewal that never answered froze the coordinator, and processing went on past the lease;
 * 3. a checkpoint racing the coordinator's own renewal failed (renewals moved the lease counter).
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { LeaseCoordinator, type LeaseLostEvent, type ShardLease } from '../../lib/client/coordinator';
import { LeaseEngine } from '../../lib/core/engine';
import { Attr } from '../../lib/core/lease-row';
import { parseLeaseTime } from '../../lib/core/lease-time';
import { type Scheduler, VirtualScheduler } from '../../lib/core/scheduler';
import { type AppliedWrite, MemoryRowStore } from './memory-row-store';
import { type Scripted, scriptedCheckpointer } from './scripted-checkpointer';
import { SimShardSource, SimStream } from './stream';

const LEASE_MS = 1_000;
/** The coordinator's default expiry margin for this lease: max(100, lease / 10). */
const MARGIN_MS = 100;
const SHARD = 'shard-0';

interface Gained {
  readonly worker: string;
  readonly lease: ShardLease;
  readonly atMs: number;
  abortedAtMs?: number;
}

function world() {
  const scheduler = new VirtualScheduler(0);
  const applied: AppliedWrite[] = [];
  const store = new MemoryRowStore({ clock: scheduler, onApplied: (write) => applied.push(write) });
  const service = new LeaseEngine({ store, clock: scheduler, leaseDurationMs: LEASE_MS });
  const stream = new SimStream([{ shardId: SHARD, closed: false, records: 0 }], scheduler, 100);
  const gained: Gained[] = [];
  const lost: Array<LeaseLostEvent & { worker: string; atMs: number }> = [];

  const worker = (
    workerId: string,
    process: (lease: ShardLease, calls: number) => void | Promise<void>,
    options: { readonly clockAheadMs?: number } = {},
  ): { coordinator: LeaseCoordinator; io: Scripted } => {
    const io = scriptedCheckpointer(service, scheduler);
    const ahead = options.clockAheadMs ?? 0;
    const clock: Scheduler = {
      now: () => scheduler.now() + ahead,
      setTimeout: (callback, ms) => scheduler.setTimeout(callback, ms),
      clearTimeout: (handle) => scheduler.clearTimeout(handle),
    };
    let calls = 0;
    const coordinator = new LeaseCoordinator({
      checkpointer: io.checkpointer,
      shardSource: new SimShardSource(stream),
      workerId,
      leaseDurationMs: LEASE_MS,
      scheduler: clock,
      logger: new Logger({ logLevel: 'SILENT' }),
      onLeaseGained: (lease) => {
        const record: Gained = { worker: workerId, lease, atMs: scheduler.now() };
        gained.push(record);
        lease.signal.addEventListener('abort', () => {
          record.abortedAtMs = scheduler.now();
        });
        return process(lease, ++calls);
      },
      onLeaseLost: (event) => lost.push({ ...event, worker: workerId, atMs: scheduler.now() }),
    });
    return { coordinator, io };
  };
  return { scheduler, store, applied, gained, lost, worker };
}

/** Resolves when the signal aborts (never rejects). */
const aborted = (signal: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => resolve(), { once: true });
  });

/** stop() waits on virtual timers: run the clock while it does (it is bounded by stopTimeoutMs). */
async function stopAll(scheduler: VirtualScheduler, stops: ReadonlyArray<Promise<unknown>>): Promise<void> {
  await scheduler.advance(2 * LEASE_MS);
  await Promise.all(stops);
}

describe('a processor that returns or throws', () => {
  it('gives its lease back after its last checkpoint, and the shard is processed again after a backoff', async () => {
    const w = world();
    const settledAt: number[] = [];
    const { coordinator, io } = w.worker('w0', async (lease, call) => {
      if (call === 1) {
        // The last checkpoint is still in flight when the processor returns.
        void lease.checkpoint('100').catch(() => undefined);
        settledAt.push(w.scheduler.now());
        return;
      }
      if (call === 2) {
        await lease.checkpoint('200');
        settledAt.push(w.scheduler.now());
        throw new Error('the processor failed');
      }
      await aborted(lease.signal);
    });
    io.script = (method) => (method === 'checkpointSequence' ? { requestDelayMs: 150 } : 'pass');
    await coordinator.start();
    await w.scheduler.runUntil(8 * LEASE_MS);

    expect(w.lost.map((event) => event.reason)).toEqual(['finished', 'failed']);
    expect(w.lost[1]?.error).toEqual(new Error('the processor failed'));
    expect(w.gained.map((g) => g.lease.startingCheckpoint)).toEqual([undefined, '100', '200']);

    // Given back: the release came after the checkpoint that was in flight when the processor returned.
    const writes = w.applied.map((write) => ({
      atMs: write.atMs,
      checkpoint: write.after?.[Attr.Checkpoint],
      owner: write.after?.[Attr.AssignedTo],
    }));
    const firstRelease = writes.findIndex((write) => write.owner === undefined);
    expect(writes.findIndex((write) => write.checkpoint === '100')).toBeLessThan(firstRelease);
    expect(writes[firstRelease]?.atMs).toBeGreaterThanOrEqual(150);

    // Taken again only after the backoff: one lease duration, then two.
    const [first, second, third] = w.gained;
    expect(second?.atMs).toBeGreaterThanOrEqual((settledAt[0] ?? 0) + LEASE_MS);
    expect(third?.atMs).toBeGreaterThanOrEqual((settledAt[1] ?? 0) + 2 * LEASE_MS);
    expect(third?.atMs).toBeLessThan((settledAt[1] ?? 0) + 4 * LEASE_MS);
    expect(first?.abortedAtMs).toBeDefined();
    expect(coordinator.heldShards()).toEqual([SHARD]);
    await stopAll(w.scheduler, [coordinator.stop()]);
  });

  it('lets a peer take the shard at its next listing, without waiting for the backoff', async () => {
    const w = world();
    const w0 = w.worker('w0', async () => undefined);
    const w1 = w.worker('w1', (lease) => aborted(lease.signal));
    await w0.coordinator.start();
    await w.scheduler.runUntil(LEASE_MS / 2);
    await w1.coordinator.start();
    await w.scheduler.runUntil(2 * LEASE_MS);

    expect(w.lost.map((event) => [event.worker, event.reason])).toEqual([['w0', 'finished']]);
    expect(w.gained.map((g) => [g.worker, g.atMs])).toEqual([
      ['w0', 0],
      ['w1', LEASE_MS / 2],
    ]);
    await stopAll(w.scheduler, [w0.coordinator.stop(), w1.coordinator.stop()]);
  });
});

describe('a renewal that never answers', () => {
  it('aborts the signal at the local expiry, before the lease timeout; a peer takes the shard only after that, the worker itself again as a new lease', async () => {
    const w = world();
    const w0 = w.worker('w0', (lease) => aborted(lease.signal));
    const w1 = w.worker('w1', (lease) => aborted(lease.signal));
    // The service applies w0's renewals but no answer ever comes back, and its releases are lost too.
    w0.io.script = (method) =>
      method === 'renewLeases'
        ? { hang: true, applied: true }
        : method === 'removeLeaseOwner'
          ? { hang: true, applied: false }
          : 'pass';
    await w0.coordinator.start();
    // w1 lists the shards at 400, 1399, 2398, ...: its first look after w0's lease timeout comes before w0's.
    await w.scheduler.runUntil(400);
    await w1.coordinator.start();
    await w.scheduler.runUntil(5 * LEASE_MS);

    const [first, second] = w.gained;
    expect(first?.worker).toBe('w0');
    // The last request that took or renewed w0's lease and was answered: the take, at 0.
    const take = w0.io.calls.find((call) => call.method === 'getLease' && call.outcome === 'ok');
    expect(take?.startedAtMs).toBe(0);
    expect(first?.abortedAtMs).toBe((take?.startedAtMs ?? 0) + LEASE_MS - MARGIN_MS);
    expect(w.lost.find((event) => event.worker === 'w0')).toMatchObject({
      shardId: SHARD,
      reason: 'expired',
    });

    // The service extended the lease with each hung renewal it applied; w0 stopped before the first expiry.
    const timeouts = w.applied
      .filter((write) => write.after?.[Attr.AssignedTo] === 'w0')
      .map((write) => parseLeaseTime(String(write.after?.[Attr.LeaseTimeout])) ?? 0);
    expect(first?.abortedAtMs).toBeLessThan(Math.min(...timeouts));
    // w0's next listing shows the lease still under its id (the hung renewals extended it): it takes
    // it again as a new lease (the counter moves), after its processor was told to stop.
    expect(second?.worker).toBe('w0');
    expect(second?.atMs).toBeGreaterThan(first?.abortedAtMs ?? Number.POSITIVE_INFINITY);
    expect(second?.lease.startingCheckpoint).toBe(first?.lease.startingCheckpoint);
    // A peer never takes it while any lease the service granted w0 is live.
    for (const gain of w.gained.filter((g) => g.worker === 'w1')) {
      const granted = w.applied.filter(
        (write) => write.after?.[Attr.AssignedTo] === 'w0' && write.atMs <= gain.atMs,
      );
      const expiry = Math.max(
        ...granted.map((write) => parseLeaseTime(String(write.after?.[Attr.LeaseTimeout])) ?? 0),
      );
      expect(gain.atMs).toBeGreaterThanOrEqual(expiry);
    }

    // Not frozen: with a renewal hanging, w0 went on listing and taking.
    const listingsAfterExpiry = w0.io.calls.filter(
      (call) => call.method === 'listShards' && call.startedAtMs > (first?.abortedAtMs ?? 0),
    );
    expect(listingsAfterExpiry.length).toBeGreaterThanOrEqual(3);
    await stopAll(w.scheduler, [w0.coordinator.stop({ release: false }), w1.coordinator.stop()]);
  });

  it('lets stop() return within stopTimeoutMs while every call hangs and the processor never settles', async () => {
    const w = world();
    const w0 = w.worker('w0', () => new Promise<void>(() => undefined));
    await w0.coordinator.start();
    await w.scheduler.runUntil(LEASE_MS / 2);
    expect(w0.coordinator.heldShards()).toEqual([SHARD]);
    w0.io.script = () => ({ hang: true, applied: false });

    const from = w.scheduler.now();
    let stoppedAt: number | undefined;
    void w0.coordinator.stop().then(() => {
      stoppedAt = w.scheduler.now();
    });
    await w.scheduler.runUntil(from + 3 * LEASE_MS);
    expect(stoppedAt).toBeDefined();
    expect((stoppedAt ?? Number.POSITIVE_INFINITY) - from).toBeLessThanOrEqual(LEASE_MS);
    expect(w.gained[0]?.abortedAtMs).toBe(from);
    expect(w.lost).toEqual([expect.objectContaining({ shardId: SHARD, reason: 'stopped' })]);
    // Nothing more after stop() returned.
    const callsAtStop = w0.io.calls.length;
    await w.scheduler.runUntil(from + 10 * LEASE_MS);
    expect(w0.io.calls.length).toBe(callsAtStop);
  });
});

describe('a checkpoint racing the coordinator’s own renewal', () => {
  it('succeeds: renewals keep the lease counter', async () => {
    const w = world();
    const results: Array<{ atMs: number; ok: boolean; error?: unknown }> = [];
    // Checkpoints only while a renewal is in flight: a checkpoint renews the lease too, and a lease
    // checkpointed since the last round is not renewed in the next one, so checkpoints all along would
    // leave no renewal to race. So every other round renews, and the checkpoints race it.
    const renewalInFlight = () =>
      w0.io.calls.some((call) => call.method === 'renewLeases' && call.answeredAtMs === undefined);
    const w0 = w.worker('w0', async (lease) => {
      for (let sequence = 1; !lease.signal.aborted; sequence++) {
        await new Promise<void>((resolve) => w.scheduler.setTimeout(resolve, 40));
        if (lease.signal.aborted) break;
        if (!renewalInFlight()) continue;
        const atMs = w.scheduler.now();
        await lease.checkpoint(String(sequence * 10)).then(
          () => results.push({ atMs, ok: true }),
          (error: unknown) => results.push({ atMs, ok: false, error }),
        );
      }
    });
    // Every renewal is slow both ways: sent 100 ms before the service applies it, answered 150 ms after.
    w0.io.script = (method) =>
      method === 'renewLeases' ? { requestDelayMs: 100, answerDelayMs: 150 } : 'pass';
    await w0.coordinator.start();
    await w.scheduler.runUntil(8 * LEASE_MS);

    const renewals = w0.io.calls.filter((call) => call.method === 'renewLeases' && call.outcome === 'ok');
    expect(renewals.length).toBeGreaterThanOrEqual(8);
    const inFlight = (atMs: number) =>
      renewals.some(
        (call) => call.startedAtMs <= atMs && atMs <= (call.answeredAtMs ?? Number.POSITIVE_INFINITY),
      );
    const racing = results.filter((result) => inFlight(result.atMs));
    expect(racing.length).toBeGreaterThanOrEqual(20);
    expect(results.filter((result) => !result.ok)).toEqual([]);
    expect(w.lost).toEqual([]);
    expect(w.store.peek(SHARD)?.[Attr.LeaseCounter]).toBe(1);
    await stopAll(w.scheduler, [w0.coordinator.stop()]);
  });
});

describe('a release that lands late', () => {
  // Found by the simulation (e.g. seed 475): a lease expires locally and its release is slow to
  // land; meanwhile the same worker, whose clock is a little ahead of the service's, reads the lease as
  // expired and takes the shard again. The service sees a renewal of the worker's still-live lease (the
  // counter stays), so the late release, fenced by that same counter, frees the new lease, and a peer
  // takes the shard while the new processor runs.
  it('never frees the lease this worker took again since: no two processors of the shard at once', async () => {
    const w = world();
    // 50 ms ahead: within the coordinator's expiry margin (100 ms).
    const w0 = w.worker('w0', (lease) => aborted(lease.signal), { clockAheadMs: 50 });
    const w1 = w.worker('w1', (lease) => aborted(lease.signal));
    // w0's renewals hang until its lease expires locally (at 900); its release takes 200 ms to land.
    w0.io.script = (method) =>
      method === 'renewLeases' && w.scheduler.now() < 900
        ? { hang: true, applied: false }
        : method === 'removeLeaseOwner'
          ? { requestDelayMs: 200 }
          : 'pass';
    await w0.coordinator.start();
    await w.scheduler.runUntil(150);
    await w1.coordinator.start();
    await w.scheduler.runUntil(4 * LEASE_MS);

    const overlaps = w.gained.flatMap((a) =>
      w.gained
        .filter(
          (b) =>
            b !== a &&
            b.worker !== a.worker &&
            b.atMs >= a.atMs &&
            b.atMs < (a.abortedAtMs ?? Number.POSITIVE_INFINITY),
        )
        .map(
          (b) =>
            `${b.worker} gained at ${b.atMs} while ${a.worker}'s processor (gained at ${a.atMs}) was active`,
        ),
    );
    expect(overlaps).toEqual([]);
    await stopAll(w.scheduler, [w0.coordinator.stop(), w1.coordinator.stop()]);
  });
});
