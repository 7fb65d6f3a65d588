import { Logger } from '@aws-lambda-powertools/logger';
import {
  CreateStreamCommand,
  DescribeStreamSummaryCommand,
  type KinesisClient,
  ListShardsCommand,
  SplitShardCommand,
} from '@aws-sdk/client-kinesis';
import {
  LeaseCoordinator,
  type LeaseCoordinatorOptions,
  type LeaseLostEvent,
  type ShardLease,
} from '../../lib/client/coordinator';
import type { Checkpointer, HeartbeatRequest } from '../../lib/core/checkpointer';
import { ErrorCode, ShardLeaseError } from '../../lib/core/errors';
import type { Lease } from '../../lib/core/lease-row';
import { VirtualScheduler } from '../../lib/core/scheduler';
import { SHARD_END } from '../../lib/core/sequence-number';
import { KinesisShardSource } from '../../lib/store/kinesis-shard-source';
import { createTestTable, putRows, type TestTable } from '../support/dynamo';
import { startKinesalite, type TestKinesis } from '../support/kinesalite';

const silent = new Logger({ logLevel: 'SILENT' });
const T0 = Date.parse('2026-11-25T00:00:00.000Z');
const LEASE_MS = 9_000;
const RENEW_MS = LEASE_MS / 3;

let kinesis: TestKinesis;
let streamCount = 0;

beforeAll(async () => {
  kinesis = await startKinesalite();
});
afterAll(async () => {
  await kinesis.close();
});

async function untilActive(client: KinesisClient, streamName: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const out = await client.send(new DescribeStreamSummaryCommand({ StreamName: streamName }));
    if (out.StreamDescriptionSummary?.StreamStatus === 'ACTIVE') return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`stream ${streamName} did not become ACTIVE`);
}

async function createStream(shardCount: number): Promise<string> {
  const streamName = `coord-${++streamCount}`;
  await kinesis.client.send(new CreateStreamCommand({ StreamName: streamName, ShardCount: shardCount }));
  await untilActive(kinesis.client, streamName);
  return streamName;
}

/** The checkpointer, with a count of its calls per method: a spy that passes everything through. */
function counted(inner: Checkpointer): {
  checkpointer: Checkpointer;
  calls: Map<string, number>;
  renewedIds: string[][];
  heartbeatIds: string[][];
} {
  const calls = new Map<string, number>();
  const renewedIds: string[][] = [];
  const heartbeatIds: string[][] = [];
  const checkpointer = new Proxy(inner, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        calls.set(String(property), (calls.get(String(property)) ?? 0) + 1);
        if (property === 'renewLeases') renewedIds.push([...(args[1] as string[])]);
        if (property === 'heartbeat') {
          heartbeatIds.push((args[1] as HeartbeatRequest).held.map((lease) => lease.shardId));
        }
        return value.apply(target, args);
      };
    },
  });
  return { checkpointer, calls, renewedIds, heartbeatIds };
}

/**
 * Fault: replaces the named methods of a checkpointer (each replacement gets the real one to call or
 * not), to lose a request, lose an answer, or fail a call the way a network does, which a real server
 * cannot be made to do on cue.
 */
function withFaults(
  inner: Checkpointer,
  faults: {
    [K in keyof Checkpointer]?: (
      real: Checkpointer[K],
      ...args: Parameters<Checkpointer[K]>
    ) => ReturnType<Checkpointer[K]>;
  },
): Checkpointer {
  return new Proxy(inner, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver);
      if (typeof value !== 'function') return value;
      const fault = faults[property as keyof Checkpointer] as
        | ((real: unknown, ...args: unknown[]) => unknown)
        | undefined;
      const real = value.bind(target);
      return fault ? (...args: unknown[]) => fault(real, ...args) : real;
    },
  });
}

/** A network failure: no answer, and nothing says whether the request arrived. */
const networkFault = () => Promise.reject(new Error('socket hang up (injected)'));

/** Whether `promise` settles while virtual time stands still (real time runs: the table answers). */
async function settlesWithoutTime(promise: Promise<unknown>): Promise<boolean> {
  let settled = false;
  promise.then(
    () => {
      settled = true;
    },
    () => {
      settled = true;
    },
  );
  // A generous real-time bound (10 s): the table answers in milliseconds; a wait on virtual time never ends.
  for (let i = 0; i < 2_000 && !settled; i++) await new Promise((resolve) => setTimeout(resolve, 5));
  return settled;
}

/** A processor that never finishes on its own and ignores the abort, as a stuck one would. */
function stuckProcessor(): { onLeaseGained: (lease: ShardLease) => Promise<void>; finish(): void } {
  const waiting: Array<() => void> = [];
  return {
    onLeaseGained: () => new Promise<void>((resolve) => waiting.push(resolve)),
    finish: () => {
      for (const resolve of waiting.splice(0)) resolve();
    },
  };
}

/**
 * Fault: applies each renewLeases at once but holds its answer until the test lets it go, so that a
 * call can be placed between a renewal's write and the coordinator hearing of it (a real server cannot
 * hold an answer it has already written).
 */
function renewalAnswersHeld(inner: Checkpointer): {
  checkpointer: Checkpointer;
  /** Resolves once the next renewal has been written to the table. */
  nextWritten(): Promise<void>;
  /** Lets every held renewal answer. */
  answer(): void;
  readonly written: number;
} {
  const held: Array<() => void> = [];
  let onWritten: (() => void) | undefined;
  let written = 0;
  const checkpointer = new Proxy(inner, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver);
      if (typeof value !== 'function') return value;
      if (property !== 'renewLeases') return value.bind(target);
      return async (...args: unknown[]) => {
        const result = await value.apply(target, args);
        written++;
        onWritten?.();
        await new Promise<void>((resolve) => held.push(resolve));
        return result;
      };
    },
  });
  return {
    checkpointer,
    nextWritten: () =>
      new Promise<void>((resolve) => {
        onWritten = resolve;
      }),
    answer: () => {
      for (const release of held.splice(0)) release();
    },
    get written() {
      return written;
    },
  };
}

interface Worker {
  readonly coordinator: LeaseCoordinator;
  readonly lost: LeaseLostEvent[];
  readonly gained: ShardLease[];
  readonly calls: Map<string, number>;
  readonly renewedIds: string[][];
  readonly heartbeatIds: string[][];
}

interface Fixture {
  /** Virtual time for the service and the workers: timers fire only as a test advances it. */
  readonly clock: VirtualScheduler;
  readonly table: TestTable;
  readonly streamName: string;
  worker(workerId: string, extra?: Partial<LeaseCoordinatorOptions>): Worker;
}

async function fixture(shardCount: number): Promise<Fixture> {
  const clock = new VirtualScheduler(T0);
  const table = await createTestTable('coordinator', {
    clock,
    leaseDurationMs: LEASE_MS,
    claimTimeoutMs: 60_000,
  });
  const streamName = await createStream(shardCount);
  const shardSource = new KinesisShardSource({ client: kinesis.client, streamName });
  return {
    clock,
    table,
    streamName,
    worker(workerId, extra = {}) {
      const { checkpointer, calls, renewedIds, heartbeatIds } = counted(
        extra.checkpointer ?? table.checkpointer,
      );
      const lost: LeaseLostEvent[] = [];
      const gained: ShardLease[] = [];
      const { onLeaseGained } = extra;
      const coordinator = new LeaseCoordinator({
        shardSource,
        workerId,
        leaseDurationMs: LEASE_MS,
        scheduler: clock,
        logger: silent,
        onLeaseLost: (event) => {
          lost.push(event);
        },
        ...extra,
        checkpointer,
        onLeaseGained: (lease) => {
          gained.push(lease);
          return onLeaseGained?.(lease);
        },
      });
      return { coordinator, lost, gained, calls, renewedIds, heartbeatIds };
    },
  };
}

/** Advances one renewal period and runs one cycle of each worker, in order. */
async function round(clock: VirtualScheduler, workers: readonly Worker[]): Promise<void> {
  await clock.advance(RENEW_MS);
  for (const w of workers) await w.coordinator.tick();
}

async function ownersInTable(table: TestTable): Promise<Record<string, string[]>> {
  const active = await table.checkpointer.listActiveWorkers();
  return Object.fromEntries(
    Object.entries(active.workers).map(([id, leases]) => [id, leases.map((l) => l.shardId).sort()]),
  );
}

async function row(table: TestTable, shardId: string): Promise<Lease | undefined> {
  const page = await table.checkpointer.listShards({ limit: 1000 });
  return page.shards.find((lease) => lease.shardId === shardId);
}

describe('LeaseCoordinator in heartbeat mode (no shard source: the service plans)', () => {
  /** Workers without a shard source, on a table whose shard rows discovery created. */
  async function heartbeatFixture(shardCount: number) {
    const clock = new VirtualScheduler(T0);
    const table = await createTestTable('coordinator-hb', {
      clock,
      leaseDurationMs: LEASE_MS,
      claimTimeoutMs: 60_000,
    });
    const shardIds = Array.from({ length: shardCount }, (_, i) => `shardId-${String(i).padStart(12, '0')}`);
    await putRows(
      table.io.client,
      table.tableName,
      shardIds.map((id) => ({ ShardID: id })),
    );
    const worker = (workerId: string): Worker => {
      const { checkpointer, calls, renewedIds, heartbeatIds } = counted(table.checkpointer);
      const lost: LeaseLostEvent[] = [];
      const gained: ShardLease[] = [];
      const coordinator = new LeaseCoordinator({
        checkpointer,
        workerId,
        leaseDurationMs: LEASE_MS,
        scheduler: clock,
        logger: silent,
        onLeaseGained: (lease) => {
          gained.push(lease);
        },
        onLeaseLost: (event) => {
          lost.push(event);
        },
      });
      return { coordinator, lost, gained, calls, renewedIds, heartbeatIds };
    };
    return { clock, table, shardIds, worker };
  }

  it('converges three workers on seven shards to 3/2/2 with one heartbeat per period, never listing', async () => {
    const f = await heartbeatFixture(7);
    const workers = ['a', 'b', 'c'].map((id) => f.worker(id));
    let rounds = 0;
    const sizes = () => workers.map((w) => w.coordinator.heldShards().length).sort();
    while (rounds < 20 && sizes().join() !== '2,2,3') {
      await round(f.clock, workers);
      rounds++;
    }
    expect(sizes()).toEqual([2, 2, 3]);
    expect(new Set(workers.flatMap((w) => w.coordinator.heldShards())).size).toBe(7);
    // Workers that start together are planned together: no steals were needed.
    expect(workers.map((w) => w.calls.get('claimShard') ?? 0)).toEqual([0, 0, 0]);
    expect(rounds).toBeLessThanOrEqual(3);
    const before = workers.map((w) => w.calls.get('heartbeat') ?? 0);
    for (let i = 0; i < 6; i++) await round(f.clock, workers);
    expect(workers.map((w) => (w.calls.get('heartbeat') ?? 0) - (before[workers.indexOf(w)] ?? 0))).toEqual([
      6, 6, 6,
    ]);
    for (const w of workers) {
      expect(w.calls.get('listShards') ?? 0).toBe(0);
      expect(w.calls.get('renewLeases') ?? 0).toBe(0);
      expect(w.lost).toEqual([]);
    }
  });

  it('lets a newcomer take its share from a settled worker through claims and handovers', async () => {
    const f = await heartbeatFixture(4);
    const a = f.worker('a');
    for (let i = 0; i < 3; i++) await round(f.clock, [a]);
    expect(a.coordinator.heldShards()).toHaveLength(4);
    const b = f.worker('b');
    for (let i = 0; i < 12 && b.coordinator.heldShards().length < 2; i++) await round(f.clock, [a, b]);
    expect([a.coordinator.heldShards().length, b.coordinator.heldShards().length]).toEqual([2, 2]);
    expect(a.lost.every((event) => event.reason === 'claimed' && event.owner === 'b')).toBe(true);
  });

  it('takes over the shards of a crashed worker once their leases expire', async () => {
    const f = await heartbeatFixture(4);
    const [a, b] = [f.worker('a'), f.worker('b')];
    for (let i = 0; i < 3; i++) await round(f.clock, [a, b]);
    await a.coordinator.stop({ release: false });
    for (let i = 0; i < 9 && b.coordinator.heldShards().length < 4; i++) await round(f.clock, [b]);
    expect(b.coordinator.heldShards()).toHaveLength(4);
  });
});

describe('LeaseCoordinator', () => {
  it('converges three workers on six shards to two each, then stops moving shards', async () => {
    const f = await fixture(6);
    const workers = ['a', 'b', 'c'].map((id) => f.worker(id));
    let rounds = 0;
    while (rounds < 30 && !workers.every((w) => w.coordinator.heldShards().length === 2)) {
      await round(f.clock, workers);
      rounds++;
    }
    expect(workers.map((w) => w.coordinator.heldShards().length)).toEqual([2, 2, 2]);
    expect(new Set(workers.flatMap((w) => w.coordinator.heldShards())).size).toBe(6);
    expect(await ownersInTable(f.table)).toEqual(
      Object.fromEntries(workers.map((w) => [w.coordinator.workerId, w.coordinator.heldShards()])),
    );
    // Settled: more periods move nothing and claim nothing.
    const claims = workers.map((w) => w.calls.get('claimShard') ?? 0);
    const events = workers.map((w) => w.lost.length + w.gained.length);
    for (let i = 0; i < 9; i++) await round(f.clock, workers);
    expect(workers.map((w) => w.calls.get('claimShard') ?? 0)).toEqual(claims);
    expect(workers.map((w) => w.lost.length + w.gained.length)).toEqual(events);
    expect(rounds).toBeLessThanOrEqual(15);
  });

  it('renews all of its leases with one renewLeases call per period', async () => {
    const f = await fixture(12);
    const w = f.worker('solo');
    await w.coordinator.tick();
    expect(w.coordinator.heldShards()).toHaveLength(12);
    expect(w.calls.get('getLease')).toBe(12);
    for (let i = 0; i < 6; i++) await round(f.clock, [w]);
    expect(w.calls.get('renewLeases')).toBe(6);
    expect(w.renewedIds.every((ids) => ids.length === 12)).toBe(true);
    // Two lease durations later, every lease is still live, and still only once taken.
    expect((await ownersInTable(f.table)).solo).toHaveLength(12);
    expect(w.calls.get('getLease')).toBe(12);
    expect(w.lost).toEqual([]);
  });

  it('steals a shard from a worker above its share through a claim, and the owner hands it over', async () => {
    const f = await fixture(4);
    const finalCheckpoints: string[] = [];
    const a = f.worker('a', {
      // The processor checkpoints once more when told to stop: the handover must let that land.
      onLeaseGained: async (lease) => {
        await new Promise((resolve) => lease.signal.addEventListener('abort', resolve));
        await lease.checkpoint('100');
        finalCheckpoints.push(lease.shardId);
      },
    });
    await a.coordinator.tick();
    expect(a.coordinator.heldShards()).toHaveLength(4);

    const b = f.worker('b');
    await b.coordinator.tick();
    const claimed = b.coordinator.pendingSteal();
    expect(claimed).toBeDefined();
    expect((await row(f.table, claimed as string))?.claimRequest).toBe('b');

    // A's next renewal is refused with ShardClaimed: it stops, checkpoints and releases (in the
    // background, so its other renewals never wait), and B's next cycle takes the shard.
    await f.clock.advance(RENEW_MS);
    await a.coordinator.tick();
    expect(a.coordinator.heldShards()).not.toContain(claimed);
    // The handover runs in real time (the processor's checkpoint, then the release): virtual time waits
    // for it, as a claimer a renewal period later would find it done.
    for (let i = 0; i < 2_000 && (await row(f.table, claimed as string))?.owner; i++) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    await b.coordinator.tick();
    for (let i = 0; i < 2 && b.coordinator.heldShards().length === 0; i++) await round(f.clock, [a, b]);
    expect(finalCheckpoints).toEqual([claimed]);
    expect(b.coordinator.heldShards()).toEqual([claimed]);
    expect(b.gained[0]?.startingCheckpoint).toBe('100');
    const owner = await f.table.checkpointer.getLeaseOwner(claimed as string);
    expect(owner).toBe('b');
    // Within one lease period of the claim.
    expect(f.clock.now() - T0).toBeLessThan(LEASE_MS);

    for (let i = 0; i < 9; i++) await round(f.clock, [a, b]);
    expect([a.coordinator.heldShards().length, b.coordinator.heldShards().length]).toEqual([2, 2]);
  });

  it('reports a claimed shard to onLeaseLost with the claimer', async () => {
    const f = await fixture(2);
    const a = f.worker('a');
    await a.coordinator.tick();
    const b = f.worker('b');
    await b.coordinator.tick();
    await round(f.clock, [a, b]);
    expect(a.lost).toEqual([{ shardId: b.coordinator.heldShards()[0], reason: 'claimed', owner: 'b' }]);
    expect(a.gained.find((l) => l.shardId === a.lost[0]?.shardId)?.signal.aborted).toBe(true);
  });

  it('does not take a child shard before its parent has ended, then takes both children', async () => {
    const f = await fixture(1);
    const [parent] =
      (await kinesis.client.send(new ListShardsCommand({ StreamName: f.streamName }))).Shards ?? [];
    await kinesis.client.send(
      new SplitShardCommand({
        StreamName: f.streamName,
        ShardToSplit: parent?.ShardId,
        NewStartingHashKey: '170141183460469231731687303715884105728',
      }),
    );
    await untilActive(kinesis.client, f.streamName);
    const ended: string[] = [];
    const w = f.worker('w', { onShardEnded: (shardId) => ended.push(shardId) });
    await w.coordinator.tick();
    expect(w.coordinator.heldShards()).toEqual([parent?.ShardId]);

    for (let i = 0; i < 3; i++) await round(f.clock, [w]);
    expect(w.coordinator.heldShards()).toEqual([parent?.ShardId]);
    expect(w.gained).toHaveLength(1);

    await w.gained[0]?.checkpoint(SHARD_END);
    expect(ended).toEqual([parent?.ShardId]);
    expect(w.coordinator.heldShards()).toEqual([]);
    // The lease is given back: a later checkpoint is refused here, without asking the service.
    const checkpoints = w.calls.get('checkpointSequence');
    await expect(w.gained[0]?.checkpoint('5')).rejects.toThrow(
      /the lease was lost here; the processor must stop/,
    );
    expect(w.calls.get('checkpointSequence')).toBe(checkpoints);
    for (let i = 0; i < 3; i++) await round(f.clock, [w]);
    const children = w.coordinator.heldShards();
    expect(children).toHaveLength(2);
    expect(children).not.toContain(parent?.ShardId);
    for (const child of w.gained.slice(1)) {
      expect(child.parentShardIds).toEqual([parent?.ShardId]);
      expect(child.startingCheckpoint).toBeUndefined();
    }
    expect((await row(f.table, children[0] as string))?.parentShardId).toBe(parent?.ShardId);
  });

  it('releases its leases on stop, so that a peer takes them at once', async () => {
    const f = await fixture(3);
    const a = f.worker('a');
    await a.coordinator.tick();
    expect(a.coordinator.heldShards()).toHaveLength(3);
    await a.coordinator.stop();
    expect(a.lost.map((e) => e.reason)).toEqual(['stopped', 'stopped', 'stopped']);
    expect(a.gained.every((l) => l.signal.aborted)).toBe(true);
    expect(await ownersInTable(f.table)).toEqual({});

    const b = f.worker('b');
    await b.coordinator.tick(); // no time has passed
    expect(b.coordinator.heldShards()).toHaveLength(3);
  });

  it('leaves its leases to expire when stopped without release, as a crash would', async () => {
    const f = await fixture(2);
    const a = f.worker('a');
    await a.coordinator.tick();
    await a.coordinator.stop({ release: false });
    const b = f.worker('b');
    await b.coordinator.tick();
    expect(b.coordinator.heldShards()).toEqual([]);
    await f.clock.advance(LEASE_MS + 1);
    await b.coordinator.tick();
    expect(b.coordinator.heldShards()).toHaveLength(2);
    // Holding nothing when its renewals came due, it sent none.
    expect(b.calls.get('renewLeases')).toBeUndefined();
  });

  it('reports an expired lease to onLeaseLost and aborts its processing when no renewal came in time', async () => {
    const f = await fixture(1);
    const a = f.worker('a');
    await a.coordinator.tick();
    await f.clock.advance(LEASE_MS);
    await a.coordinator.tick();
    expect(a.lost[0]).toEqual({ shardId: a.gained[0]?.shardId, reason: 'expired' });
    expect(a.gained[0]?.signal.aborted).toBe(true);
    // Expired leases are free again: the same worker takes it back with a new lease.
    expect(a.coordinator.heldShards()).toHaveLength(1);
    expect(a.gained).toHaveLength(2);
  });

  it('holds a lease its checkpoints renew, even when no renewal gets through', async () => {
    const f = await fixture(1);
    const a = f.worker('a', {
      rebalanceIntervalMs: 10 * LEASE_MS,
      // Renewals get no answer: only the checkpoints (each renews in the same write) keep the lease.
      checkpointer: withFaults(f.table.checkpointer, { renewLeases: networkFault }),
    });
    await a.coordinator.tick();
    const lease = a.gained[0] as ShardLease;
    for (let i = 1; i <= 6; i++) {
      await round(f.clock, [a]);
      await lease.checkpoint(String(i));
    }
    // Two lease periods on: still held here and in the table, never lost, never taken again.
    expect(f.clock.now() - T0).toBe(6 * RENEW_MS);
    expect(a.lost).toEqual([]);
    expect(a.coordinator.heldShards()).toEqual([lease.shardId]);
    expect(await f.table.checkpointer.getLeaseOwner(lease.shardId)).toBe('a');
    expect(a.calls.get('getLease')).toBe(1);
    // Without checkpoints the lease ends here at its local expiry.
    await f.clock.advance(LEASE_MS);
    await a.coordinator.tick();
    expect(a.lost[0]).toEqual({ shardId: lease.shardId, reason: 'expired' });
  });

  it('renews only the leases no checkpoint renewed since its last round: a busy shard costs no renewal write', async () => {
    const f = await fixture(2);
    const a = f.worker('a', { rebalanceIntervalMs: 10 * LEASE_MS });
    await a.coordinator.tick();
    const [busy, idle] = a.gained as [ShardLease, ShardLease];
    for (let i = 1; i <= 6; i++) {
      await busy.checkpoint(String(i));
      await round(f.clock, [a]);
    }
    expect(a.renewedIds).toEqual(Array.from({ length: 6 }, () => [idle.shardId]));
    expect(a.lost).toEqual([]);
    expect(await ownersInTable(f.table)).toEqual({ a: [busy.shardId, idle.shardId].sort() });
    // A round without a checkpoint renews it again.
    await round(f.clock, [a]);
    expect(a.renewedIds.at(-1)?.sort()).toEqual([busy.shardId, idle.shardId].sort());
  });

  it('hands a busy shard over at the first checkpoint after a claim, without waiting for a renewal round', async () => {
    const f = await fixture(1);
    const a = f.worker('a', { rebalanceIntervalMs: 10 * LEASE_MS });
    await a.coordinator.tick();
    const busy = a.gained[0] as ShardLease;
    await busy.checkpoint('1');
    await f.table.checkpointer.claimShard(busy.shardId, 'b');
    // This checkpoint cannot renew (the claim is pending), and its answer names the claimer.
    await busy.checkpoint('2');
    for (let i = 0; i < 2_000 && (await row(f.table, busy.shardId))?.owner; i++) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    expect(a.lost).toEqual([{ shardId: busy.shardId, reason: 'claimed', owner: 'b' }]);
    expect(busy.signal.aborted).toBe(true);
    expect(a.calls.get('renewLeases')).toBeUndefined();
    await expect(f.table.checkpointer.getLease(busy.shardId, { workerId: 'b' })).resolves.toMatchObject({
      owner: 'b',
      checkpoint: '2',
    });
  });

  it('reports a lease whose row was removed as taken, and its checkpointer then fails with LeaseLost', async () => {
    const f = await fixture(1);
    const a = f.worker('a', { rebalanceIntervalMs: 10 * LEASE_MS });
    await a.coordinator.tick();
    const lease = a.gained[0] as ShardLease;
    await f.table.checkpointer.removeLeaseInfo(lease.shardId, { force: true });
    await round(f.clock, [a]);
    expect(a.lost).toEqual([{ shardId: lease.shardId, reason: 'taken' }]);
    expect(lease.signal.aborted).toBe(true);
    await expect(lease.checkpoint('5')).rejects.toMatchObject({ code: ErrorCode.LeaseLost });
    // Refused here: a lease known to be gone is not worth a request.
    expect(a.calls.get('checkpointSequence')).toBeUndefined();
  });

  it('lets go at once of a lease another worker took, however long its processor takes to stop', async () => {
    const f = await fixture(1);
    const stuck = stuckProcessor();
    const a = f.worker('a', { rebalanceIntervalMs: 10 * LEASE_MS, onLeaseGained: stuck.onLeaseGained });
    await a.coordinator.tick();
    const lease = a.gained[0] as ShardLease;
    await f.table.checkpointer.removeLeaseInfo(lease.shardId, { force: true });
    await f.table.checkpointer.getLease(lease.shardId, { workerId: 'b' });
    await f.clock.advance(RENEW_MS);
    // The renewal that learns of it does not wait for the processor: the next ones must go out on time.
    expect(await settlesWithoutTime(a.coordinator.tick())).toBe(true);
    expect(a.lost).toEqual([{ shardId: lease.shardId, reason: 'taken', owner: 'b' }]);
    expect(lease.signal.aborted).toBe(true);
    await expect(lease.checkpoint('5')).rejects.toMatchObject({ code: ErrorCode.LeaseLost });
    expect(a.calls.get('checkpointSequence')).toBeUndefined();
    // Nothing owed: the lease is b's, and the stop neither releases it nor counts it as left behind.
    stuck.finish();
    const result = await a.coordinator.stop();
    expect(result.leasesNotReleased).toEqual([]);
    expect(a.calls.get('removeLeaseOwner')).toBeUndefined();
    expect(await f.table.checkpointer.getLeaseOwner(lease.shardId)).toBe('b');
  });

  it('lets a checkpoint sent after its renewal was written, before the renewal answered, succeed: renewals keep the counter', async () => {
    const f = await fixture(1);
    const renewals = renewalAnswersHeld(f.table.checkpointer);
    const a = f.worker('a', { checkpointer: renewals.checkpointer });
    await a.coordinator.tick();
    const lease = a.gained[0] as ShardLease;
    for (let i = 1; i <= 3; i++) {
      const written = renewals.nextWritten();
      await f.clock.advance(RENEW_MS);
      const cycle = a.coordinator.tick();
      // The renewal is in the table; the coordinator has not heard back, so it still checkpoints with
      // the counter it had. Were renewals to move the counter, this checkpoint would be refused.
      await written;
      await lease.checkpoint(String(i * 10));
      renewals.answer();
      await cycle;
      // That checkpoint renewed the lease too: the next round sends no renewal, the one after does.
      await round(f.clock, [a]);
    }
    expect(renewals.written).toBe(3);
    expect(a.lost).toEqual([]);
    expect((await row(f.table, lease.shardId))?.checkpoint).toBe('30');
  });

  it('fences checkpoints with the lease counter: a process whose lease was taken again under the same worker id cannot checkpoint over the new one', async () => {
    const f = await fixture(1);
    const before = f.worker('a');
    await before.coordinator.tick();
    const old = before.gained[0] as ShardLease;
    await old.checkpoint('10');
    // A second process with the same worker id (a container restarted while its predecessor still
    // runs) takes the live lease under its own id again at once: a new lease, a new counter.
    const after = f.worker('a');
    await after.coordinator.tick();
    const current = after.gained[0] as ShardLease;
    expect(current.shardId).toBe(old.shardId);
    // The first process cannot know: its lease has not expired locally and no renewal has failed. Only
    // the service refuses it, and only by the counter, since the owner is the same worker id.
    expect(old.signal.aborted).toBe(false);
    await expect(old.checkpoint('20')).rejects.toMatchObject({ code: ErrorCode.LeaseLost });
    expect((await row(f.table, old.shardId))?.checkpoint).toBe('10');
    await current.checkpoint('30');
    expect((await row(f.table, old.shardId))?.checkpoint).toBe('30');
  });

  it('stops the processing at once when the service refuses a checkpoint, and asks nothing more for that lease', async () => {
    const f = await fixture(1);
    const stuck = stuckProcessor();
    const before = f.worker('a', { onLeaseGained: stuck.onLeaseGained });
    await before.coordinator.tick();
    const old = before.gained[0] as ShardLease;
    const after = f.worker('a');
    await after.coordinator.tick(); // the same worker id takes the lease anew: a new counter
    // The refusal reaches the processor at once, while it is still running: nothing waits for it to end.
    const refused = old.checkpoint('20');
    expect(await settlesWithoutTime(refused)).toBe(true);
    await expect(refused).rejects.toMatchObject({ code: ErrorCode.LeaseLost });
    expect(old.signal.aborted).toBe(true);
    expect(before.lost).toEqual([{ shardId: old.shardId, reason: 'taken', owner: 'a' }]);
    expect(before.coordinator.heldShards()).toEqual([]);
    // From then on refused here, without a request.
    await expect(old.checkpoint('21')).rejects.toMatchObject({ code: ErrorCode.LeaseLost });
    expect(before.calls.get('checkpointSequence')).toBe(1);
    // The stop gives nothing back and owes nothing: the lease belongs to the other process.
    stuck.finish();
    expect((await before.coordinator.stop()).leasesNotReleased).toEqual([]);
    expect(before.calls.get('removeLeaseOwner')).toBeUndefined();
    expect(after.coordinator.heldShards()).toEqual([old.shardId]);
    expect(await f.table.checkpointer.getLeaseOwner(old.shardId)).toBe('a');
  });

  it('checkpoints with the lease counter, so a checkpoint from an older lease is refused', async () => {
    const f = await fixture(1);
    const a = f.worker('a');
    await a.coordinator.tick();
    const first = a.gained[0] as ShardLease;
    await first.checkpoint('10');
    await f.clock.advance(LEASE_MS);
    await a.coordinator.tick(); // expired and taken again: a new lease, a new counter
    const second = a.gained[1] as ShardLease;
    expect(second.startingCheckpoint).toBe('10');
    await expect(first.checkpoint('20')).rejects.toBeInstanceOf(ShardLeaseError);
    await second.checkpoint('20');
    expect((await f.table.checkpointer.fetchCheckpoint(second.shardId)).checkpoint).toBe('20');
  });
});

describe('LeaseCoordinator at the edges of a lease', () => {
  /** The coordinator's default expiry margin: a lease ends here this much before the service's. */
  const MARGIN_MS = LEASE_MS / 10;

  /** Worker `a` holds both shards of a fresh stream; `b` claims one of them. */
  async function claimedFromA(extra: Partial<LeaseCoordinatorOptions>) {
    const f = await fixture(2);
    const a = f.worker('a', extra);
    await a.coordinator.tick();
    const b = f.worker('b');
    await b.coordinator.tick();
    const claimed = b.coordinator.pendingSteal() as string;
    expect(claimed).toBeDefined();
    // A's renewal is refused with ShardClaimed: the handover starts and waits for A's processor.
    await round(f.clock, [a, b]);
    expect(a.coordinator.heldShards()).not.toContain(claimed);
    const lease = a.gained.find((l) => l.shardId === claimed) as ShardLease;
    return { f, a, b, claimed, lease };
  }

  it('holds a handover for a stuck processor only until the lease ends, then releases it and refuses its checkpoints here', async () => {
    const stuck = stuckProcessor();
    const { f, a, b, claimed, lease } = await claimedFromA({ onLeaseGained: stuck.onLeaseGained });
    await lease.checkpoint('100'); // the last chance: still A's lease
    expect(a.calls.get('removeLeaseOwner')).toBeUndefined();
    // Taken at T0, the lease ends here at T0 + LEASE_MS - MARGIN_MS: the release goes out then.
    await f.clock.runUntil(T0 + LEASE_MS - MARGIN_MS - 1);
    expect(a.calls.get('removeLeaseOwner')).toBeUndefined();
    await f.clock.runUntil(T0 + LEASE_MS - MARGIN_MS);
    expect(a.calls.get('removeLeaseOwner')).toBe(1);
    // From the lease's end on (this very instant included), its checkpoints are refused without a request.
    await expect(lease.checkpoint('101')).rejects.toMatchObject({ code: ErrorCode.LeaseLost });
    expect(a.calls.get('checkpointSequence')).toBe(1);
    await b.coordinator.tick();
    expect(b.coordinator.heldShards()).toEqual([claimed]);
    expect(b.gained[0]?.startingCheckpoint).toBe('100');
    stuck.finish();
    await a.coordinator.stop();
  });

  it('refuses a handover’s checkpoints here once the service has refused one', async () => {
    const stuck = stuckProcessor();
    const { f, a, lease } = await claimedFromA({ onLeaseGained: stuck.onLeaseGained });
    // Someone takes the lease from under the handover (an operator's forced reset, then a take).
    await f.table.checkpointer.removeLeaseInfo(lease.shardId, { force: true });
    await f.table.checkpointer.getLease(lease.shardId, { workerId: 'c' });
    await expect(lease.checkpoint('100')).rejects.toMatchObject({ code: ErrorCode.LeaseLost });
    await expect(lease.checkpoint('101')).rejects.toMatchObject({ code: ErrorCode.LeaseLost });
    expect(a.calls.get('checkpointSequence')).toBe(1);
    stuck.finish();
    await a.coordinator.stop();
  });

  it('counts a lease whose release is refused (someone else took it) as given back, not as left to expire', async () => {
    const f = await fixture(1);
    const renewals = { failing: false };
    const a = f.worker('a', {
      checkpointer: withFaults(f.table.checkpointer, {
        // Cut off from the service: renewals get no answer, so the lease ends here at its local expiry.
        renewLeases: (real, ...args) => (renewals.failing ? networkFault() : real(...args)),
      }),
      rebalanceIntervalMs: 10 * LEASE_MS,
    });
    await a.coordinator.tick();
    const shardId = a.coordinator.heldShards()[0] as string;
    renewals.failing = true;
    await f.table.checkpointer.removeLeaseInfo(shardId, { force: true });
    await f.table.checkpointer.getLease(shardId, { workerId: 'c' });
    await f.clock.runUntil(T0 + LEASE_MS - MARGIN_MS);
    expect(a.lost).toEqual([{ shardId, reason: 'expired' }]);
    expect(a.calls.get('removeLeaseOwner')).toBe(1);
    const result = await a.coordinator.stop();
    expect(result.leasesNotReleased).toEqual([]);
    expect(await f.table.checkpointer.getLeaseOwner(shardId)).toBe('c');
  });

  it('reports a lease whose release failed at the stop as left to expire', async () => {
    const f = await fixture(1);
    const a = f.worker('a', {
      checkpointer: withFaults(f.table.checkpointer, { removeLeaseOwner: networkFault }),
    });
    await a.coordinator.tick();
    const shardId = a.coordinator.heldShards()[0] as string;
    const result = await a.coordinator.stop();
    expect(result).toMatchObject({ leasesTaken: 1, leasesReleased: 0, leasesNotReleased: [shardId] });
    expect(await f.table.checkpointer.getLeaseOwner(shardId)).toBe('a');
  });

  it('releases at the stop the lease a take granted whose answer was lost', async () => {
    const f = await fixture(1);
    const a = f.worker('a', {
      // The take is written, its answer lost: the worker does not know it holds the lease.
      checkpointer: withFaults(f.table.checkpointer, {
        getLease: (real, ...args) => real(...args).then(networkFault),
      }),
    });
    await a.coordinator.tick();
    expect(a.coordinator.heldShards()).toEqual([]);
    const [shardId] = Object.values(await ownersInTable(f.table)).flat();
    expect(await f.table.checkpointer.getLeaseOwner(shardId as string)).toBe('a');
    const result = await a.coordinator.stop();
    expect(result.leasesNotReleased).toEqual([]);
    expect(await ownersInTable(f.table)).toEqual({});
  });

  it('releases at the stop only the lease its own lost take granted, not one the same worker id holds otherwise', async () => {
    const f = await fixture(1);
    // The take never arrives; meanwhile another process under the same worker id holds the lease.
    const a = f.worker('a', {
      checkpointer: withFaults(f.table.checkpointer, { getLease: networkFault }),
    });
    const twin = f.worker('a');
    await twin.coordinator.tick();
    const shardId = twin.coordinator.heldShards()[0] as string;
    await a.coordinator.tick();
    expect(a.calls.get('getLease')).toBe(1);
    const result = await a.coordinator.stop();
    // Refused by the take's id: not this process's lease, so nothing is owed either.
    expect(a.calls.get('removeLeaseOwner')).toBe(1);
    expect(result.leasesNotReleased).toEqual([]);
    expect(await f.table.checkpointer.getLeaseOwner(shardId)).toBe('a');
    await twin.gained[0]?.checkpoint('7'); // still the twin's lease, counter and all
  });

  it('owes nothing for a lost take whose lease another worker holds by the stop', async () => {
    const f = await fixture(1);
    const a = f.worker('a', {
      checkpointer: withFaults(f.table.checkpointer, {
        getLease: (real, ...args) => real(...args).then(networkFault),
      }),
    });
    await a.coordinator.tick();
    const [shardId] = Object.values(await ownersInTable(f.table)).flat() as string[];
    await f.table.checkpointer.removeLeaseInfo(shardId as string, { force: true });
    await f.table.checkpointer.getLease(shardId as string, { workerId: 'c' });
    const result = await a.coordinator.stop();
    expect(a.calls.get('removeLeaseOwner')).toBe(1);
    expect(result.leasesNotReleased).toEqual([]);
    expect(await f.table.checkpointer.getLeaseOwner(shardId as string)).toBe('c');
  });

  it('reports the lease of a lost take as left to expire when its release fails too', async () => {
    const f = await fixture(1);
    const a = f.worker('a', {
      checkpointer: withFaults(f.table.checkpointer, {
        getLease: (real, ...args) => real(...args).then(networkFault),
        removeLeaseOwner: networkFault,
      }),
    });
    await a.coordinator.tick();
    const [shardId] = Object.values(await ownersInTable(f.table)).flat();
    const result = await a.coordinator.stop();
    expect(result.leasesNotReleased).toEqual([shardId]);
  });

  it('sends nothing once stop() has returned, whatever finishes later', async () => {
    const f = await fixture(2);
    const stuck = stuckProcessor();
    let takes = 0;
    let releases = 0;
    const a = f.worker('a', {
      stopTimeoutMs: RENEW_MS,
      onLeaseGained: stuck.onLeaseGained,
      checkpointer: withFaults(f.table.checkpointer, {
        // The first take's answer is lost; every release fails until the stop has returned.
        getLease: (real, ...args) => real(...args).then((lease) => (++takes === 1 ? networkFault() : lease)),
        removeLeaseOwner: () => {
          releases++;
          return networkFault();
        },
      }),
    });
    await a.coordinator.tick();
    expect(a.coordinator.heldShards()).toHaveLength(1);
    const stopping = a.coordinator.stop();
    await f.clock.advance(RENEW_MS);
    const result = await stopping;
    expect(result.leasesNotReleased).toHaveLength(2);
    const sent = releases;
    // The processor ends after the stop returned, and the stop's work goes on: no request follows.
    stuck.finish();
    await f.clock.advance(LEASE_MS);
    expect(releases).toBe(sent);
  });

  it('ignores a late renewal answer about a lease it has lost and taken again since', async () => {
    const f = await fixture(1);
    const renewals = renewalAnswersHeld(f.table.checkpointer);
    const a = f.worker('a', { checkpointer: renewals.checkpointer, rebalanceIntervalMs: RENEW_MS });
    await a.coordinator.tick(); // the first lease, taken at T0
    const shardId = a.coordinator.heldShards()[0] as string;
    await f.table.checkpointer.removeLeaseInfo(shardId, { force: true });
    await f.table.checkpointer.getLease(shardId, { workerId: 'b' });
    // The renewal finds b's lease (lost), and its answer is held back.
    const written = renewals.nextWritten();
    await f.clock.advance(RENEW_MS);
    const first = a.coordinator.tick();
    await written;
    await f.table.checkpointer.removeLeaseOwner(shardId, 'b');
    // Meanwhile the first lease ends here, and the next cycle takes the shard again: a second lease.
    await f.clock.runUntil(T0 + LEASE_MS - MARGIN_MS);
    const second = a.coordinator.tick();
    for (let i = 0; i < 2_000 && a.gained.length < 2; i++) await new Promise((r) => setTimeout(r, 5));
    expect(a.gained).toHaveLength(2);
    // The old answer says "lost": it is about the first lease, not the second.
    renewals.answer();
    await Promise.all([first, second]);
    expect(a.lost).toEqual([{ shardId, reason: 'expired' }]);
    expect(a.coordinator.heldShards()).toEqual([shardId]);
    expect(a.gained[1]?.signal.aborted).toBe(false);
    renewals.answer();
    await a.coordinator.stop();
  });

  it('renews more leases than one heartbeat carries in several heartbeats at once, each lease in one', async () => {
    const clock = new VirtualScheduler(T0);
    const table = await createTestTable('coordinator-many', {
      clock,
      leaseDurationMs: LEASE_MS,
      claimTimeoutMs: 60_000,
    });
    const shardIds = Array.from({ length: 251 }, (_, i) => `shardId-${String(i).padStart(12, '0')}`);
    await putRows(
      table.io.client,
      table.tableName,
      shardIds.map((id) => ({ ShardID: id })),
    );
    const { checkpointer, heartbeatIds } = counted(table.checkpointer);
    const w = new LeaseCoordinator({
      checkpointer,
      workerId: 'w',
      leaseDurationMs: LEASE_MS,
      scheduler: clock,
      logger: silent,
    });
    await w.tick();
    await clock.advance(RENEW_MS);
    await w.tick();
    expect(w.heldShards()).toHaveLength(251);
    heartbeatIds.splice(0);
    await clock.advance(RENEW_MS);
    await w.tick();
    expect(heartbeatIds.map((ids) => ids.length).sort((x, y) => x - y)).toEqual([1, 250]);
    expect(new Set(heartbeatIds.flat())).toEqual(new Set(shardIds));
    // Three renewal periods on, past the lease's length: every lease was renewed.
    await clock.advance(RENEW_MS);
    await w.tick();
    expect(w.heldShards()).toHaveLength(251);
    expect(Object.keys(await ownersInTable(table))).toEqual(['w']);
    await w.stop();
  });
});
