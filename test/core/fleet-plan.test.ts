import fc from 'fast-check';
import {
  assignFleet,
  type FleetSnapshot,
  freeSince,
  hasLeft,
  parentsEndedAt,
  planForWorker,
  type WorkerBeat,
} from '../../lib/core/fleet-plan';
import type { Lease } from '../../lib/core/lease-row';
import { formatLeaseTime } from '../../lib/core/lease-time';
import { SHARD_END } from '../../lib/core/sequence-number';

const NOW = Date.parse('2026-11-30T00:00:00.000Z');
const TTL = 10_000;
const live = formatLeaseTime(NOW + 5_000);
const expired = formatLeaseTime(NOW - 1);

const beat = (workerId: string, extra: Partial<WorkerBeat> = {}): WorkerBeat => ({
  workerId,
  lastSeenMs: NOW - 1_000,
  ...extra,
});
const row = (n: number, extra: Partial<Lease> = {}): Lease => ({
  shardId: `s${n}`,
  leaseCounter: 1,
  ...extra,
});
const owned = (n: number, owner: string, extra: Partial<Lease> = {}) =>
  row(n, { owner, leaseTimeout: live, ...extra });
const snapshot = (
  leases: Lease[],
  workers: WorkerBeat[],
  freeSinceMs?: Map<string, number>,
): FleetSnapshot => ({
  takenAtMs: NOW,
  leases,
  workers,
  ...(freeSinceMs && { freeSinceMs }),
});
const assign = (s: FleetSnapshot) => assignFleet(s, { nowMs: NOW, workerTtlMs: TTL });

describe('assignFleet', () => {
  it('spreads the free shards of a cold start evenly over the workers heard from, none twice', () => {
    const plan = assign(
      snapshot(
        Array.from({ length: 10 }, (_, i) => row(i)),
        ['a', 'b', 'c'].map((w) => beat(w)),
      ),
    );
    const sizes = ['a', 'b', 'c'].map((w) => plan.takes.get(w)?.length ?? 0);
    expect(sizes.sort()).toEqual([3, 3, 4]);
    expect(new Set([...plan.takes.values()].flat()).size).toBe(10);
    expect(plan.steals.size).toBe(0);
  });

  it('counts a live owner it has not heard from (a Go worker) and leaves out workers gone silent', () => {
    const plan = assign(
      snapshot(
        [owned(0, 'go-1'), owned(1, 'go-1'), row(2), row(3)],
        [beat('a'), beat('old', { lastSeenMs: NOW - TTL - 1 })],
      ),
    );
    expect(plan.workers).toEqual(['a', 'go-1']);
    expect(plan.holdings.get('go-1')).toEqual(['s0', 's1']);
    expect(plan.takes.get('a')).toEqual(['s2', 's3']);
    expect(plan.takes.has('old')).toBe(false);
  });

  it('takes expired leases as free, and gives a shard handed over to its claimer', () => {
    const plan = assign(
      snapshot(
        [
          row(0, { owner: 'x', leaseTimeout: expired, claimRequest: 'b' }),
          row(1, { owner: 'x', leaseTimeout: expired }),
        ],
        [beat('a'), beat('b')],
      ),
    );
    expect(plan.takes.get('b')).toEqual(['s0']);
    expect(plan.takes.get('a')).toEqual(['s1']);
  });

  it('keeps children out until their parents end, merges until both parents end', () => {
    const family = [
      owned(0, 'a', { checkpoint: '5' }),
      row(1, { parentShardId: 's0' }),
      row(2, { parentShardId: 's0', adjacentParentShardId: 's3' }),
      owned(3, 'a', { checkpoint: SHARD_END }),
    ];
    expect(assign(snapshot(family, [beat('a'), beat('b')])).eligible).toEqual(['s0']);
    const ended = family.map((l) => (l.shardId === 's0' ? { ...l, checkpoint: SHARD_END } : l));
    expect(assign(snapshot(ended, [beat('a'), beat('b')])).eligible).toEqual(['s1', 's2']);
  });

  it('gives workers below target their whole deficit in steals, round-robin, never a claimed shard', () => {
    const leases = [0, 1, 2, 3, 4, 5].map((n) => owned(n, 'a', n === 0 ? { claimRequest: 'z' } : {}));
    const plan = assign(snapshot(leases, [beat('a'), beat('b'), beat('c')]));
    expect(plan.targets.get('a')).toBe(2);
    expect(plan.steals.get('b')).toEqual([
      { shardId: 's1', victim: 'a' },
      { shardId: 's3', victim: 'a' },
    ]);
    expect(plan.steals.get('c')).toEqual([
      { shardId: 's2', victim: 'a' },
      { shardId: 's4', victim: 'a' },
    ]);
  });

  it('moves nothing in a settled fleet: the larger targets go to the workers holding more', () => {
    const leases = [owned(0, 'a'), owned(1, 'a'), owned(2, 'b'), owned(3, 'c'), owned(4, 'b')];
    const plan = assign(snapshot(leases, [beat('a'), beat('b'), beat('c')]));
    expect(plan.takes.size).toBe(0);
    expect(plan.steals.size).toBe(0);
  });

  it('caps a worker at its declared capacity and gives the rest to the others', () => {
    const plan = assign(
      snapshot(
        Array.from({ length: 9 }, (_, i) => row(i)),
        [beat('a', { capacity: 1 }), beat('b'), beat('c')],
      ),
    );
    expect(plan.targets.get('a')).toBe(1);
    expect([plan.targets.get('b'), plan.targets.get('c')]).toEqual([4, 4]);
  });

  it('converges any fleet to loads that differ by at most one, each round giving out only free shards and steals of surplus', () => {
    const fleet = fc.record({
      shards: fc.integer({ min: 0, max: 60 }),
      workers: fc.integer({ min: 1, max: 12 }),
      owners: fc.array(fc.integer({ min: -1, max: 11 }), { maxLength: 60 }),
    });
    fc.assert(
      fc.property(fleet, ({ shards, workers, owners }) => {
        const ids = Array.from({ length: workers }, (_, i) => `w${i}`);
        const owner = new Map<string, string>();
        for (let i = 0; i < shards; i++) {
          const o = owners[i] ?? -1;
          if (o >= 0 && o < workers) owner.set(`s${i}`, ids[o] as string);
        }
        for (let round = 0; round < 3 * shards + 5; round++) {
          const leases = Array.from({ length: shards }, (_, i) => {
            const o = owner.get(`s${i}`);
            return o ? owned(i, o) : row(i);
          });
          const plan = assign(
            snapshot(
              leases,
              ids.map((w) => beat(w)),
            ),
          );
          const given = [...plan.takes.values()].flat();
          expect(new Set(given).size).toBe(given.length);
          for (const id of given) expect(owner.has(id)).toBe(false);
          for (const w of ids) {
            const p = planForWorker(plan, w, new Set());
            for (const id of p.take) owner.set(id, w);
          }
          // A steal: the victim hands the shard over and the thief takes it.
          for (const [thief, list] of plan.steals) {
            for (const steal of list) {
              expect(owner.get(steal.shardId)).toBe(steal.victim);
              owner.set(steal.shardId, thief);
            }
          }
          if (given.length === 0 && plan.steals.size === 0) break;
        }
        const loads = ids.map((w) => [...owner.values()].filter((o) => o === w).length);
        expect(owner.size).toBe(shards);
        expect(Math.max(...loads) - Math.min(...loads)).toBeLessThanOrEqual(1);
      }),
      { numRuns: 200 },
    );
  });
});

describe('assignFleet: fair targets', () => {
  it("water-fills capacities over rounds: a capped worker's remainder goes to the others", () => {
    const plan = assign(
      snapshot(
        Array.from({ length: 9 }, (_, i) => row(i)),
        [beat('a', { capacity: 2 }), beat('b', { capacity: 3 }), beat('c')],
      ),
    );
    // 9 over 3 is 3 each: a is capped at 2; then 7 over b and c is 3.5, and b is capped at 3.
    expect(Object.fromEntries(plan.targets)).toEqual({ a: 2, b: 3, c: 4 });
  });

  it('stops at the capacities when every worker is capped', () => {
    const plan = assign(
      snapshot(
        Array.from({ length: 5 }, (_, i) => row(i)),
        [beat('a', { capacity: 1 }), beat('b', { capacity: 1 })],
      ),
    );
    expect(Object.fromEntries(plan.targets)).toEqual({ a: 1, b: 1 });
    expect([...plan.takes.values()].flat()).toHaveLength(2);
  });

  it('gives the remainder to the workers holding the most, then by id', () => {
    const plan = assign(
      snapshot(
        [owned(0, 'a'), owned(1, 'a'), owned(2, 'c'), row(3), row(4)],
        [beat('a'), beat('b'), beat('c')],
      ),
    );
    expect(Object.fromEntries(plan.targets)).toEqual({ a: 2, b: 1, c: 2 });
    expect(Object.fromEntries(plan.takes)).toEqual({ b: ['s3'], c: ['s4'] });
  });
});

describe('assignFleet: steals', () => {
  it('takes each next shard from the worker most above its target, ties by id, never from itself', () => {
    const leases = [0, 1, 2, 3].map((n) => owned(n, 'a')).concat([4, 5, 6].map((n) => owned(n, 'b')));
    const plan = assign(snapshot(leases, [beat('a'), beat('b'), beat('c')]));
    expect(Object.fromEntries(plan.targets)).toEqual({ a: 3, b: 2, c: 2 });
    expect(plan.steals.get('c')).toEqual([
      { shardId: 's0', victim: 'a' },
      { shardId: 's4', victim: 'b' },
    ]);
    expect(plan.steals.has('a')).toBe(false);
    expect(plan.steals.has('b')).toBe(false);
  });

  it('steals nothing when every surplus shard is claimed already', () => {
    const leases = [0, 1, 2].map((n) => owned(n, 'a', { claimRequest: 'x' }));
    const plan = assign(snapshot(leases, [beat('a'), beat('b')]));
    expect(plan.targets.get('b')).toBe(1);
    expect(plan.steals.size).toBe(0);
  });

  it('gives a shard handed over to its claimer only while the claimer is below target', () => {
    const plan = assign(
      snapshot(
        [owned(0, 'b'), row(1, { owner: 'x', leaseTimeout: expired, claimRequest: 'b' }), row(2)],
        [beat('a'), beat('b')],
      ),
    );
    // b holds one and its target is 2: the shard it claimed comes to it, the other free one to a.
    expect(plan.takes.get('b')).toEqual(['s1']);
    expect(plan.takes.get('a')).toEqual(['s2']);

    const full = assign(
      snapshot(
        [owned(0, 'b'), owned(2, 'b'), row(1, { owner: 'x', leaseTimeout: expired, claimRequest: 'b' })],
        [beat('a'), beat('b')],
      ),
    );
    expect(full.takes.get('a')).toEqual(['s1']);
    expect(full.takes.has('b')).toBe(false);
  });
});

describe('assignFleet: workers that lapse, leave, join or go silent', () => {
  const free = [1, 2, 3, 4].map((n) => row(n));

  it('holds a worker whose lease lapsed unrenewed at what it still has, and gives its share to the others', () => {
    const lapsedRow = row(0, { owner: 'a', leaseTimeout: expired });
    const plan = assign(snapshot([owned(5, 'a'), lapsedRow, ...free], [beat('a'), beat('b')]));
    expect(plan.lapsed).toEqual(['a']);
    expect(plan.lapsedAtMs.get('a')).toBe(NOW - 1);
    expect(Object.fromEntries(plan.targets)).toEqual({ a: 1, b: 5 });
    expect(plan.takes.has('a')).toBe(false);
    expect(plan.takes.get('b')).toEqual(['s0', 's1', 's2', 's3', 's4']);
  });

  it('plans for it again once it is heard from after the lapse', () => {
    const lapsedRow = row(0, { owner: 'a', leaseTimeout: expired });
    const plan = assign(
      snapshot([owned(5, 'a'), lapsedRow, ...free], [beat('a', { lastSeenMs: NOW }), beat('b')]),
    );
    expect(plan.lapsed).toEqual([]);
    expect(Object.fromEntries(plan.targets)).toEqual({ a: 3, b: 3 });
    expect(plan.takes.get('a')).toEqual(['s0', 's2']);
    expect(plan.takes.get('b')).toEqual(['s1', 's3', 's4']);
  });

  it('remembers lapses from earlier snapshots, and keeps the latest expiry of each worker', () => {
    const plan = assignFleet(
      {
        ...snapshot(
          [
            row(0, { owner: 'a', leaseTimeout: formatLeaseTime(NOW - 5_000) }),
            row(1, { owner: 'a', leaseTimeout: expired }),
          ],
          [beat('a'), beat('b'), beat('c', { lastSeenMs: NOW - 2_000 })],
        ),
        lapsedAtMs: new Map([
          ['a', NOW - 9_000],
          ['c', NOW - 1_500],
        ]),
      },
      { nowMs: NOW, workerTtlMs: TTL },
    );
    expect(plan.lapsedAtMs.get('a')).toBe(NOW - 1);
    expect(plan.lapsedAtMs.get('c')).toBe(NOW - 1_500);
    expect(plan.lapsed).toEqual(['a', 'c']);
    expect(plan.takes.get('b')).toEqual(['s0', 's1']);
  });

  it('counts a lapse only for a lease expired by now: one expiring later, or unreadable, is no lapse', () => {
    const plan = assign(
      snapshot(
        [owned(0, 'a'), row(1, { owner: 'b', leaseTimeout: 'not a time' }), row(2, { owner: 'c' })],
        [beat('a'), beat('b'), beat('c')],
      ),
    );
    expect(plan.lapsed).toEqual([]);
    expect(plan.lapsedAtMs.size).toBe(0);
  });

  it('leaves out a worker that said it was stopping, until it is heard from again', () => {
    expect(hasLeft(beat('a', { leftAtMs: NOW - 1_000 }))).toBe(true);
    expect(hasLeft(beat('a', { leftAtMs: NOW - 1_001 }))).toBe(false);
    expect(hasLeft(beat('a'))).toBe(false);

    const plan = assign(snapshot(free, [beat('a', { leftAtMs: NOW - 1_000 }), beat('b')]));
    expect(plan.workers).toEqual(['b']);
    expect(plan.takes.get('b')).toHaveLength(4);
  });

  it('counts a joining worker in the targets but plans nothing for it yet', () => {
    const plan = assignFleet(
      snapshot(free, [
        beat('a', { firstSeenMs: NOW - 5_000 }),
        beat('b', { firstSeenMs: NOW - 999 }),
        beat('c', { firstSeenMs: NOW - 1_000 }),
        beat('d'),
      ]),
      {
        nowMs: NOW,
        workerTtlMs: TTL,
        joiningAfterMs: NOW - 1_000,
      },
    );
    expect(plan.joining).toEqual(['b']);
    expect(plan.targets.get('b')).toBe(1);
    expect(plan.takes.has('b')).toBe(false);
    expect([...plan.takes.values()].flat()).toHaveLength(3);
    // Nothing overdue is offered to it either.
    expect(plan.overdue.has('b')).toBe(false);
  });

  it('keeps a worker heard from exactly a time-to-live ago, and drops one heard from before', () => {
    const plan = assign(
      snapshot(free, [beat('a', { lastSeenMs: NOW - TTL }), beat('b', { lastSeenMs: NOW - TTL - 1 })]),
    );
    expect(plan.workers).toEqual(['a']);
  });
});

describe('assignFleet: overdue offers', () => {
  const ids = (from: string, to: string) =>
    Array.from({ length: to.charCodeAt(0) - from.charCodeAt(0) + 1 }, (_, i) =>
      String.fromCharCode(from.charCodeAt(0) + i),
    );
  const offered = (plan: ReturnType<typeof assign>, workerId: string) =>
    (plan.overdue.get(workerId) ?? []).map((o) => `${o.shardId}@${o.rank}`);

  it('lines up every other worker with room, least loaded first, ranks in order', () => {
    const plan = assign(
      snapshot(
        [row(0)],
        ['a', 'b', 'c', 'd', 'e'].map((w) => beat(w)),
      ),
    );
    expect(plan.takes.get('a')).toEqual(['s0']);
    expect(plan.overdue.get('b')).toEqual([{ shardId: 's0', freeSinceMs: NOW, rank: 0 }]);
    expect(['a', 'b', 'c', 'd', 'e'].map((w) => offered(plan, w))).toEqual([
      [],
      ['s0@0'],
      ['s0@1'],
      ['s0@2'],
      ['s0@3'],
    ]);
  });

  it('offers a lone worker the shard it is planned for', () => {
    const plan = assign(snapshot([row(0)], [beat('a')]));
    expect(offered(plan, 'a')).toEqual(['s0@0']);
  });

  it("starts each shard's line where the last one's fan-out stopped, and keeps at most 12 workers in a line", () => {
    const workers = ids('a', 't');
    const plan = assign(
      snapshot(
        [row(0), row(1)],
        workers.map((w) => beat(w)),
      ),
    );
    expect(plan.takes.get('a')).toEqual(['s0']);
    expect(plan.takes.get('b')).toEqual(['s1']);
    // Least loaded first: c..t (nothing planned), then a and b.
    expect(offered(plan, 'c')).toEqual(['s0@0']);
    expect(offered(plan, 'f')).toEqual(['s0@3', 's1@0']);
    expect(offered(plan, 'n')).toEqual(['s0@11', 's1@8']);
    expect(offered(plan, 'o')).toEqual(['s1@9']);
    expect(offered(plan, 'q')).toEqual(['s1@11']);
    expect(offered(plan, 'r')).toEqual([]);
    expect(offered(plan, 'a')).toEqual([]);
    expect([...plan.overdue.values()].flat()).toHaveLength(24);
  });

  it('offers nothing to workers at capacity, joining or lapsed, and nothing reserved for a claimer', () => {
    const plan = assignFleet(
      snapshot(
        [owned(0, 'full'), row(1), row(2, { owner: 'x', leaseTimeout: expired, claimRequest: 'b' })],
        [beat('full', { capacity: 1 }), beat('b'), beat('c'), beat('x')],
      ),
      { nowMs: NOW, workerTtlMs: TTL, reservedFor: (lease) => lease.claimRequest },
    );
    expect(plan.lapsed).toEqual(['x']);
    expect(offered(plan, 'full')).toEqual([]);
    expect(offered(plan, 'x')).toEqual([]);
    expect([...plan.overdue.values()].flat().map((o) => o.shardId)).not.toContain('s2');
    expect([...plan.overdue.values()].flat().map((o) => o.shardId)).toContain('s1');
  });

  it('offers nothing when no worker has room', () => {
    const plan = assign(snapshot([owned(0, 'a'), row(1)], [beat('a', { capacity: 1 })]));
    expect(plan.overdue.size).toBe(0);
  });

  it("counts a shard free from its lease's end, its parents' end, or the first worker's join delay, whichever is last", () => {
    const plan = assignFleet(
      snapshot(
        [
          row(0, { owner: 'gone', leaseTimeout: formatLeaseTime(NOW - 8_000) }),
          row(1, { checkpoint: SHARD_END, checkpointedAt: formatLeaseTime(NOW - 3_000) }),
          row(2, { parentShardId: 's1' }),
        ],
        [beat('a', { firstSeenMs: NOW - 20_000 }), beat('b', { firstSeenMs: NOW - 30_000 })],
        new Map([['s2', NOW - 6_000]]),
      ),
      { nowMs: NOW, workerTtlMs: TTL, joinDelayMs: 12_000 },
    );
    const since = new Map([...plan.overdue.values()].flat().map((o) => [o.shardId, o.freeSinceMs]));
    // s0 expired 8 s ago, but b could be planned for only 18 s after joining (30 s ago): 8 s ago wins.
    expect(since.get('s0')).toBe(NOW - 8_000);
    // s2 was seen free 6 s ago, but could be taken only once its parent ended, 3 s ago.
    expect(since.get('s2')).toBe(NOW - 3_000);

    const late = assignFleet(
      snapshot(
        [row(0, { owner: 'gone', leaseTimeout: formatLeaseTime(NOW - 8_000) })],
        [beat('a', { firstSeenMs: NOW - 1_000 })],
      ),
      {
        nowMs: NOW,
        workerTtlMs: TTL,
        joinDelayMs: 500,
      },
    );
    expect(late.overdue.get('a')?.[0]?.freeSinceMs).toBe(NOW - 500);
  });
});

describe('planForWorker', () => {
  const plan = assign(
    snapshot(
      [row(0)],
      ['a', 'b', 'c', 'd', 'e'].map((w) => beat(w)),
    ),
  );
  const overdueFor = (
    w: string,
    nowMs: number,
    extra: { overdueAfterMs?: number; overdueFanout?: number } = { overdueAfterMs: 1_000 },
    held = new Set<string>(),
  ) => planForWorker(plan, w, held, { nowMs, ...extra }).overdue;

  it('offers an overdue shard to the first fan-out of its line after one period, twice as many each next', () => {
    expect(['b', 'c', 'd', 'e'].map((w) => overdueFor(w, NOW + 999))).toEqual([[], [], [], []]);
    expect(['b', 'c', 'd', 'e'].map((w) => overdueFor(w, NOW + 1_000))).toEqual([['s0'], ['s0'], ['s0'], []]);
    expect(['b', 'c', 'd', 'e'].map((w) => overdueFor(w, NOW + 2_000))).toEqual([
      ['s0'],
      ['s0'],
      ['s0'],
      ['s0'],
    ]);
    expect(
      ['b', 'c'].map((w) => overdueFor(w, NOW + 1_000, { overdueAfterMs: 1_000, overdueFanout: 1 })),
    ).toEqual([['s0'], []]);
  });

  it('offers nothing without a positive overdue period, or for a shard the worker holds', () => {
    expect(overdueFor('b', NOW + 60_000, {})).toEqual([]);
    expect(overdueFor('b', NOW + 60_000, { overdueAfterMs: 0 })).toEqual([]);
    expect(overdueFor('b', NOW + 60_000, { overdueAfterMs: 1_000 }, new Set(['s0']))).toEqual([]);
    expect(planForWorker(plan, 'b', new Set()).overdue).toEqual([]);
  });

  it('leaves out what the worker holds from its takes and steals, and gives an unknown worker target 0', () => {
    const leases = [0, 1, 2, 3].map((n) => owned(n, 'a')).concat([row(4), row(5)]);
    const full = assign(snapshot(leases, [beat('a'), beat('b'), beat('c')]));
    const b = planForWorker(full, 'b', new Set());
    expect(b.target).toBe(2);
    expect(b.take.length + b.steals.length).toBe(2);
    const first = b.take[0] ?? b.steals[0]?.shardId;
    const held = planForWorker(full, 'b', new Set([first as string]));
    expect(held.take.length + held.steals.length).toBe(1);
    expect(planForWorker(full, 'nobody', new Set())).toEqual({
      take: [],
      steals: [],
      target: 0,
      overdue: [],
    });
  });
});

describe('freeSince and parentsEndedAt', () => {
  const lease = (leaseTimeout?: string): Lease => ({
    shardId: 's',
    leaseCounter: 1,
    ...(leaseTimeout && { leaseTimeout }),
  });

  it('takes the end of the last lease over what the caller knows, unless it is still ahead', () => {
    expect(freeSince(lease(formatLeaseTime(NOW - 3_000)), NOW - 1_000, Number.NEGATIVE_INFINITY, NOW)).toBe(
      NOW - 3_000,
    );
    expect(freeSince(lease(formatLeaseTime(NOW)), NOW - 1_000, Number.NEGATIVE_INFINITY, NOW)).toBe(NOW);
    expect(freeSince(lease(formatLeaseTime(NOW + 3_000)), NOW - 1_000, Number.NEGATIVE_INFINITY, NOW)).toBe(
      NOW - 1_000,
    );
    expect(freeSince(lease(formatLeaseTime(NOW + 3_000)), undefined, Number.NEGATIVE_INFINITY, NOW)).toBe(
      NOW,
    );
    expect(freeSince(undefined, undefined, Number.NEGATIVE_INFINITY, NOW)).toBe(NOW);
    expect(freeSince(lease(), NOW - 7, Number.NEGATIVE_INFINITY, NOW)).toBe(NOW - 7);
  });

  it('never before the shard became eligible', () => {
    expect(freeSince(lease(formatLeaseTime(NOW - 3_000)), undefined, NOW - 2_000, NOW)).toBe(NOW - 2_000);
  });

  it('is the later end of the two parents, as their rows tell', () => {
    const rows = new Map<string, Lease>([
      [
        'p',
        {
          shardId: 'p',
          leaseCounter: 1,
          checkpoint: SHARD_END,
          checkpointedAt: formatLeaseTime(NOW - 5_000),
        },
      ],
      [
        'q',
        {
          shardId: 'q',
          leaseCounter: 1,
          checkpoint: SHARD_END,
          checkpointedAt: formatLeaseTime(NOW - 2_000),
        },
      ],
    ]);
    expect(parentsEndedAt({ shardId: 'c', parentShardId: 'p', adjacentParentShardId: 'q' }, rows)).toBe(
      NOW - 2_000,
    );
    expect(parentsEndedAt({ shardId: 'c', parentShardId: 'q', adjacentParentShardId: 'p' }, rows)).toBe(
      NOW - 2_000,
    );
    expect(parentsEndedAt({ shardId: 'c', parentShardId: 'p', adjacentParentShardId: 'gone' }, rows)).toBe(
      NOW - 5_000,
    );
    expect(parentsEndedAt({ shardId: 'c' }, rows)).toBe(Number.NEGATIVE_INFINITY);
    expect(parentsEndedAt(undefined, rows)).toBe(Number.NEGATIVE_INFINITY);
  });
});

describe('assignFleet: what mutation testing found unpinned', () => {
  it('keeps a merge child out until its adjacent parent ended too', () => {
    const family = [
      owned(0, 'a', { checkpoint: SHARD_END }),
      owned(1, 'a', { checkpoint: '5' }),
      row(2, { parentShardId: 's0', adjacentParentShardId: 's1' }),
    ];
    expect(assign(snapshot(family, [beat('a')])).eligible).toEqual(['s1']);
  });

  it('orders workers, lapsed and joining by id whatever order they were heard in', () => {
    const plan = assignFleet(
      snapshot(
        [
          row(0, { owner: 'z', leaseTimeout: expired }),
          row(1, { owner: 'y', leaseTimeout: expired }),
          row(2),
          row(3),
        ],
        [
          beat('z'),
          beat('y'),
          beat('q', { firstSeenMs: NOW }),
          beat('p', { firstSeenMs: NOW }),
          beat('b'),
          beat('a'),
        ],
      ),
      { nowMs: NOW, workerTtlMs: TTL, joiningAfterMs: NOW - 1 },
    );
    expect(plan.workers).toEqual(['a', 'b', 'p', 'q', 'y', 'z']);
    expect(plan.lapsed).toEqual(['y', 'z']);
    expect(plan.joining).toEqual(['p', 'q']);
    // Four shards, six workers: a, b, p and q have targets of one; round-robin in id order.
    expect(plan.takes.get('a')).toEqual(['s0']);
    expect(plan.takes.get('b')).toEqual(['s1']);
  });

  it('holds a worker heard from exactly at its lapse as lapsed, and counts a lease expiring now as a lapse', () => {
    const atLapse = assign(
      snapshot(
        [row(0, { owner: 'a', leaseTimeout: expired }), row(1)],
        [beat('a', { lastSeenMs: NOW - 1 }), beat('b')],
      ),
    );
    expect(atLapse.lapsed).toEqual(['a']);
    const now = assign(
      snapshot([row(0, { owner: 'a', leaseTimeout: formatLeaseTime(NOW) })], [beat('a'), beat('b')]),
    );
    expect(now.lapsedAtMs.get('a')).toBe(NOW);
  });

  it('steals first from the worker furthest above its target, then ties by id', () => {
    const leases = [0, 1, 2, 3]
      .map((n) => owned(n, 'a'))
      .concat([4, 5, 6, 7, 8, 9].map((n) => owned(n, 'b')));
    const plan = assign(
      snapshot(
        leases,
        ['a', 'b', 'c', 'd'].map((w) => beat(w)),
      ),
    );
    expect(Object.fromEntries(plan.targets)).toEqual({ a: 3, b: 3, c: 2, d: 2 });
    expect(plan.steals.get('c')).toEqual([
      { shardId: 's4', victim: 'b' },
      { shardId: 's0', victim: 'a' },
    ]);
    expect(plan.steals.get('d')).toEqual([
      { shardId: 's5', victim: 'b' },
      { shardId: 's6', victim: 'b' },
    ]);
  });

  it("steals no more than a thief's deficit, even with surplus left over for a joining worker", () => {
    const leases = [0, 1, 2, 3].map((n) => owned(n, 'a'));
    const plan = assignFleet(snapshot(leases, [beat('a'), beat('b'), beat('j', { firstSeenMs: NOW })]), {
      nowMs: NOW,
      workerTtlMs: TTL,
      joiningAfterMs: NOW - 1,
    });
    expect(Object.fromEntries(plan.targets)).toEqual({ a: 2, b: 1, j: 1 });
    expect(plan.steals.get('b')).toEqual([{ shardId: 's0', victim: 'a' }]);
    expect(plan.steals.has('j')).toBe(false);
  });

  it('caps a worker only below its even share, and gives the larger targets to the workers holding more', () => {
    const above = assign(
      snapshot(
        Array.from({ length: 9 }, (_, i) => row(i)),
        [beat('a', { capacity: 5 }), beat('b'), beat('c')],
      ),
    );
    expect(Object.fromEntries(above.targets)).toEqual({ a: 3, b: 3, c: 3 });
    // A capacity equal to the rounded-up share is no cap: the extra shard goes to b, which holds more.
    const leases = [owned(0, 'b'), owned(1, 'b'), ...Array.from({ length: 8 }, (_, i) => row(i + 2))];
    const equal = assign(snapshot(leases, [beat('a', { capacity: 4 }), beat('b'), beat('c')]));
    expect(Object.fromEntries(equal.targets)).toEqual({ a: 3, b: 4, c: 3 });
  });

  it('counts an overdue shard from the first worker that could have been planned for it', () => {
    const plan = assignFleet(
      snapshot(
        [row(0, { owner: 'gone', leaseTimeout: formatLeaseTime(NOW - 15_000) })],
        [beat('a', { firstSeenMs: NOW - 20_000 }), beat('b', { firstSeenMs: NOW - 30_000 })],
      ),
      { nowMs: NOW, workerTtlMs: TTL, joinDelayMs: 12_000 },
    );
    // b could be planned for from 18 s ago, a from 8 s ago: the shard is overdue from its expiry, 15 s ago.
    expect([...plan.overdue.values()].flat()[0]?.freeSinceMs).toBe(NOW - 15_000);
  });

  it('leaves a steal out of the plan once the worker holds the shard', () => {
    const leases = [0, 1, 2, 3].map((n) => owned(n, 'a'));
    const plan = assign(snapshot(leases, [beat('a'), beat('b')]));
    expect(planForWorker(plan, 'b', new Set()).steals).toEqual([
      { shardId: 's0', victim: 'a' },
      { shardId: 's1', victim: 'a' },
    ]);
    expect(planForWorker(plan, 'b', new Set(['s0'])).steals).toEqual([{ shardId: 's1', victim: 'a' }]);
  });
});
