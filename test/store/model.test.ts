/**
 * Model-based test of the lease engine: random sequences of operations by several workers run both
 * against DynamoCheckpointer on dynalite and against a small reference model written here, from the
 * contract, without the core's rules. Every outcome code and every resulting row must agree.
 */
import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import fc from 'fast-check';
import { ManualClock } from '../../lib/core/clock';
import type { ShardLeaseError } from '../../lib/core/errors';
import { fromItem } from '../../lib/store/item';
import { createTestTable, type TestTable } from '../support/dynamo';

const LEASE = 1_000;
const CLAIM = 3_000;
const WORKERS = ['w0', 'w1', 'w2'] as const;
const SHARD_END = 'SHARD_END';

// ---- the reference model ---------------------------------------------------------------------------

interface ModelRow {
  owner?: string;
  timeoutMs?: number;
  counter: number;
  checkpoint?: string;
  checkpointedAtMs?: number;
  claim?: string;
  claimedAtMs?: number;
}

type Outcome = { ok: true } | { ok: false; code: string };
const ok: Outcome = { ok: true };
const fail = (code: string): Outcome => ({ ok: false, code });

class Model {
  readonly rows = new Map<string, ModelRow>();

  private live(r: ModelRow, now: number): boolean {
    return r.owner !== undefined && r.timeoutMs !== undefined && r.timeoutMs > now;
  }

  /** A claim counts for a claim timeout, and no longer than half a lease after the claimed lease ended. */
  private claimPending(r: ModelRow, now: number): boolean {
    return (
      r.claim !== undefined &&
      r.claimedAtMs !== undefined &&
      r.claimedAtMs > now - CLAIM &&
      r.timeoutMs !== undefined &&
      r.timeoutMs > now - Math.ceil(LEASE / 2)
    );
  }

  /** A take (the lease changes hands, the counter moves) or, for the live holder, a renewal. */
  getLease(shard: string, worker: string, now: number, initial?: string): Outcome {
    const r = this.rows.get(shard) ?? { counter: 0 };
    if (this.claimPending(r, now) && r.claim !== worker) return fail('ShardClaimed');
    if (this.live(r, now) && r.owner !== worker) return fail('LeaseNotAcquired');
    if (this.live(r, now)) return this.extend(r, now);
    r.owner = worker;
    r.timeoutMs = now + LEASE;
    r.counter += 1;
    if (r.checkpoint === undefined && initial !== undefined) r.checkpoint = canonical(initial);
    delete r.claim;
    delete r.claimedAtMs;
    this.rows.set(shard, r);
    return ok;
  }

  /** A renewal: never shortens the lease, keeps the counter, settles the caller's own or a lapsed claim. */
  private extend(r: ModelRow, now: number): Outcome {
    r.timeoutMs = Math.max(r.timeoutMs ?? 0, now + LEASE);
    delete r.claim;
    delete r.claimedAtMs;
    return ok;
  }

  checkpoint(shard: string, worker: string, now: number, seq: string, counter?: number): Outcome {
    const r = this.rows.get(shard);
    if (!r || r.owner !== worker || !this.live(r, now)) return fail('LeaseLost');
    if (counter !== undefined && counter !== r.counter) return fail('LeaseLost');
    const next = canonical(seq);
    if (r.checkpoint === SHARD_END && next !== SHARD_END) return fail('CheckpointRegression');
    if (next !== SHARD_END && r.checkpoint !== undefined && r.checkpoint !== SHARD_END) {
      if (BigInt(next) < BigInt(r.checkpoint)) return fail('CheckpointRegression');
    }
    r.checkpoint = next;
    r.checkpointedAtMs = now;
    // It renews the lease too (never shorter), unless a claim is pending: the handover keeps its time.
    if (!this.claimPending(r, now)) r.timeoutMs = Math.max(r.timeoutMs ?? 0, now + LEASE);
    return ok;
  }

  /** RenewLeases, one shard: the holder's live lease only; never a take, never a revival. */
  renew(shard: string, worker: string, now: number): Outcome {
    const r = this.rows.get(shard);
    if (!r || r.owner !== worker) return fail('LeaseLost');
    if (this.claimPending(r, now) && r.claim !== worker) return fail('ShardClaimed');
    if (!this.live(r, now)) return fail('LeaseLost');
    return this.extend(r, now);
  }

  /** DeleteRow without a worker id: refused while anybody holds a live lease. */
  remove(shard: string, now: number): Outcome {
    const r = this.rows.get(shard);
    if (r && this.live(r, now)) return fail('LeaseNotAcquired');
    this.rows.delete(shard);
    return ok;
  }

  /**
   * Idempotent: refused only when another worker owns the shard. The owner's release writes the
   * release instant as the timeout; on a row nobody owns it writes nothing.
   */
  release(shard: string, worker: string, now: number): Outcome {
    const r = this.rows.get(shard);
    if (r?.owner !== undefined && r.owner !== worker) return fail('LeaseLost');
    if (r?.owner === worker) {
      delete r.owner;
      r.timeoutMs = now;
    }
    return ok;
  }

  claim(shard: string, worker: string, now: number): Outcome {
    const r = this.rows.get(shard);
    if (!r) return fail('NotFound');
    if (r.checkpoint === SHARD_END) return fail('ShardEnded');
    if (this.claimPending(r, now)) return r.claim === worker ? ok : fail('ShardClaimed');
    r.claim = worker;
    r.claimedAtMs = now;
    return ok;
  }

  /** The row as the table should hold it. */
  item(shardId: string): Record<string, string | number> | undefined {
    const r = this.rows.get(shardId);
    if (!r) return undefined;
    const iso = (ms: number) => `${new Date(ms).toISOString().slice(0, -1)}000001Z`;
    return {
      ShardID: shardId,
      LeaseCounter: r.counter,
      ...(r.owner !== undefined && { AssignedTo: r.owner }),
      ...(r.timeoutMs !== undefined && { LeaseTimeout: iso(r.timeoutMs) }),
      ...(r.checkpoint !== undefined && { Checkpoint: r.checkpoint }),
      ...(r.checkpointedAtMs !== undefined && { CheckpointedAt: iso(r.checkpointedAtMs) }),
      ...(r.claim !== undefined && { ClaimRequest: r.claim }),
      ...(r.claimedAtMs !== undefined && { ClaimedAt: iso(r.claimedAtMs) }),
    };
  }
}

/** A sequence number as a decimal integer without leading zeros. */
function canonical(seq: string): string {
  return seq === SHARD_END ? seq : BigInt(seq).toString();
}

// ---- the operations ----------------------------------------------------------------------------

type Op =
  | { kind: 'getLease'; worker: number; shard: number; initial?: string }
  | { kind: 'checkpoint'; worker: number; shard: number; seq: string; counter: 'none' | 'mine' | number }
  | { kind: 'release'; worker: number; shard: number }
  | { kind: 'renew'; worker: number }
  | { kind: 'remove'; shard: number }
  | { kind: 'claim'; worker: number; shard: number }
  | { kind: 'advance'; ms: number };

const worker = fc.integer({ min: 0, max: WORKERS.length - 1 });
const shard = fc.integer({ min: 0, max: 1 });
const sequenceNumber = fc.oneof(
  fc.constant(SHARD_END),
  fc.integer({ min: 0, max: 60 }).map(String),
  fc.integer({ min: 0, max: 60 }).map((n) => `00${n}`),
  fc.bigInt({ min: 10n ** 20n, max: 10n ** 21n }).map(String),
);
const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record(
      {
        kind: fc.constant('getLease' as const),
        worker,
        shard,
        initial: fc.option(sequenceNumber, { nil: undefined }),
      },
      { requiredKeys: ['kind', 'worker', 'shard'] },
    ),
  },
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('checkpoint' as const),
      // -1: whichever worker the model says owns the shard, so that checkpoints often may succeed.
      worker: fc.oneof(worker, fc.constant(-1)),
      shard,
      seq: sequenceNumber,
      counter: fc.oneof(
        fc.constant('none' as const),
        fc.constant('mine' as const),
        fc.integer({ min: 0, max: 4 }),
      ),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('release' as const), worker, shard }) },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant('renew' as const), worker: fc.oneof(worker, fc.constant(-1)) }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('remove' as const), shard }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('claim' as const), worker, shard }) },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('advance' as const),
      ms: fc.oneof(fc.integer({ min: 0, max: 400 }), fc.constantFrom(1, LEASE - 1, LEASE, CLAIM)),
    }),
  },
);

// ---- the test ----------------------------------------------------------------------------------

let table: TestTable;
let clock: ManualClock;
let run = 0;

beforeAll(async () => {
  clock = new ManualClock(Date.parse('2026-11-24T19:00:00.000Z'));
  table = await createTestTable('model', { clock, leaseDurationMs: LEASE, claimTimeoutMs: CLAIM });
});

async function rowOf(shardId: string) {
  const out = await table.io.client.send(
    new GetItemCommand({
      TableName: table.tableName,
      Key: { ShardID: { S: shardId } },
      ConsistentRead: true,
    }),
  );
  return fromItem(out.Item);
}

async function outcomeOf(call: () => Promise<unknown>): Promise<Outcome> {
  try {
    await call();
    return ok;
  } catch (error) {
    return fail((error as ShardLeaseError).code ?? String(error));
  }
}

describe('the lease engine against a reference model', () => {
  it('agrees on every outcome and row; zombies never checkpoint and checkpoints never regress', async () => {
    const seen = new Map<string, number>();
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 10, maxLength: 40 }), async (ops) => {
        run++;
        const shardIds = [`run${run}-a`, `run${run}-b`];
        const model = new Model();
        /** The lease counter each worker last got for each shard: its fencing token. */
        const tokens = new Map<string, number>();
        const recorded = new Map<string, string>();
        const cp = table.checkpointer;

        for (const o of ops) {
          if (o.kind === 'advance') {
            clock.advance(o.ms);
            continue;
          }
          if (o.kind === 'renew') {
            // -1: the owner of the first shard, so that renewals meet pending claims.
            const workerId =
              o.worker === -1
                ? (model.rows.get(shardIds[0] as string)?.owner ?? 'w0')
                : (WORKERS[o.worker] as string);
            const now = clock.now();
            const expected = shardIds.map((id) => [id, model.renew(id, workerId, now)] as const);
            const result = await cp.renewLeases(workerId, shardIds);
            for (const lease of result.renewed)
              tokens.set(`${workerId}/${lease.shardId}`, lease.leaseCounter);
            const actual = shardIds.map((id) => {
              const lost = result.lost.find((l) => l.shardId === id);
              return [id, lost ? fail(lost.code) : ok] as const;
            });
            expect({ op: o, outcome: actual }).toEqual({ op: o, outcome: expected });
            for (const [, outcome] of actual) {
              const key = `renew:${outcome.ok ? 'ok' : outcome.code}`;
              seen.set(key, (seen.get(key) ?? 0) + 1);
            }
            for (const id of shardIds) expect(await rowOf(id)).toEqual(model.item(id));
            continue;
          }
          const shardId = shardIds[o.shard] as string;
          if (o.kind === 'remove') {
            const expected = model.remove(shardId, clock.now());
            const actual = await outcomeOf(() => cp.removeLeaseInfo(shardId));
            expect({ op: o, outcome: actual }).toEqual({ op: o, outcome: expected });
            const key = `remove:${actual.ok ? 'ok' : actual.code}`;
            seen.set(key, (seen.get(key) ?? 0) + 1);
            if (actual.ok) recorded.delete(shardId);
            expect(await rowOf(shardId)).toEqual(model.item(shardId));
            continue;
          }
          const workerId =
            o.kind === 'checkpoint' && o.worker === -1
              ? (model.rows.get(shardId)?.owner ?? 'w0')
              : (WORKERS[o.worker] as string);
          const now = clock.now();
          let expected: Outcome;
          let actual: Outcome;
          switch (o.kind) {
            case 'getLease': {
              expected = model.getLease(shardId, workerId, now, o.initial);
              actual = await outcomeOf(async () => {
                const lease = await cp.getLease(shardId, {
                  workerId,
                  ...(o.initial !== undefined && { checkpoint: o.initial }),
                });
                tokens.set(`${workerId}/${shardId}`, lease.leaseCounter);
              });
              break;
            }
            case 'checkpoint': {
              const counter =
                o.counter === 'none'
                  ? undefined
                  : o.counter === 'mine'
                    ? (tokens.get(`${workerId}/${shardId}`) ?? 0)
                    : o.counter;
              const before = model.rows.get(shardId);
              const zombie = before?.owner !== workerId || (before.timeoutMs ?? 0) <= now;
              expected = model.checkpoint(shardId, workerId, now, o.seq, counter);
              actual = await outcomeOf(() =>
                cp.checkpointSequence(shardId, {
                  workerId,
                  checkpoint: o.seq,
                  ...(counter !== undefined && { leaseCounter: counter }),
                }),
              );
              if (zombie) expect(actual).toEqual(fail('LeaseLost'));
              break;
            }
            case 'release':
              expected = model.release(shardId, workerId, now);
              actual = await outcomeOf(() => cp.removeLeaseOwner(shardId, workerId));
              break;
            case 'claim':
              expected = model.claim(shardId, workerId, now);
              actual = await outcomeOf(() => cp.claimShard(shardId, workerId));
              break;
          }
          expect({ op: o, outcome: actual }).toEqual({ op: o, outcome: expected });
          const key = `${o.kind}:${actual.ok ? 'ok' : actual.code}`;
          seen.set(key, (seen.get(key) ?? 0) + 1);
          const row = await rowOf(shardId);
          expect(row).toEqual(model.item(shardId));

          const checkpoint = row?.Checkpoint;
          const previous = recorded.get(shardId);
          if (typeof checkpoint === 'string') {
            if (previous === SHARD_END) expect(checkpoint).toBe(SHARD_END);
            else if (previous !== undefined && checkpoint !== SHARD_END) {
              expect(BigInt(checkpoint) >= BigInt(previous)).toBe(true);
            }
            recorded.set(shardId, checkpoint);
          }
        }
      }),
      { numRuns: 50, seed: Number(process.env.MODEL_SEED ?? 20261124) },
    );
    // The sequences must reach every outcome, or agreement proves little.
    const unreached = [
      'getLease:ok',
      'getLease:LeaseNotAcquired',
      'getLease:ShardClaimed',
      'checkpoint:ok',
      'checkpoint:LeaseLost',
      'checkpoint:CheckpointRegression',
      'release:ok',
      'release:LeaseLost',
      'claim:ok',
      'claim:ShardClaimed',
      'claim:NotFound',
      'claim:ShardEnded',
      'renew:ok',
      'renew:LeaseLost',
      'renew:ShardClaimed',
      'remove:ok',
      'remove:LeaseNotAcquired',
    ].filter((outcome) => !seen.has(outcome));
    expect(unreached).toEqual([]);
  });
});
