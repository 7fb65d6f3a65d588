import fc from 'fast-check';
import { assignFleet, type FleetSnapshot, planForWorker, type WorkerBeat } from '../../lib/core/fleet-plan';
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
const snapshot = (leases: Lease[], workers: WorkerBeat[]): FleetSnapshot => ({
  takenAtMs: NOW,
  leases,
  workers,
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
