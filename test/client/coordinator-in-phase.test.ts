/**
 * Workers that run in lockstep: started in the same instant, their processors checkpointing once a
 * renewal period. Real coordinators and the real engine on virtual time over the simulation's table,
 * where every timer fires at its exact instant, so phases line up as they would on a fleet deployed at
 * once. Found by the cost bench: with a handover window shorter than the claimer's renewal period, the
 * claimer always came just too late and the owner took the shard back, for ever.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { LeaseCoordinator, type ShardLease } from '../../lib/client/coordinator';
import { LeaseEngine } from '../../lib/core/engine';
import { sleep, VirtualScheduler } from '../../lib/core/scheduler';
import type { StreamShard } from '../../lib/store/kinesis-shard-source';
import { MemoryRowStore } from '../sim/memory-row-store';

const LEASE_MS = 10_000;
const RENEW_MS = LEASE_MS / 3;
const silent = new Logger({ logLevel: 'SILENT' });

it('balances workers started together whose processors checkpoint once a renewal period', async () => {
  const clock = new VirtualScheduler(Date.parse('2026-12-01T00:00:00.000Z'));
  const store = new MemoryRowStore({ clock });
  const engine = new LeaseEngine({ store, clock, leaseDurationMs: LEASE_MS });
  const shards: StreamShard[] = Array.from({ length: 8 }, (_, i) => ({ shardId: `s-${i}`, closed: false }));
  const sequence = new Map<string, number>();
  const checkpointEveryRenewal = async (lease: ShardLease) => {
    while (!lease.signal.aborted) {
      await sleep(clock, RENEW_MS);
      if (lease.signal.aborted) return;
      const next = (sequence.get(lease.shardId) ?? 0) + 1;
      sequence.set(lease.shardId, next);
      await lease.checkpoint(String(next)).catch(() => undefined);
    }
  };
  const workers = ['w0', 'w1', 'w2', 'w3'].map(
    (workerId) =>
      new LeaseCoordinator({
        checkpointer: engine,
        shardSource: { listShards: async () => shards },
        workerId,
        leaseDurationMs: LEASE_MS,
        scheduler: clock,
        logger: silent,
        onLeaseGained: checkpointEveryRenewal,
      }),
  );
  for (const worker of workers) void worker.start();
  for (let i = 0; i < 30 && !workers.every((w) => w.heldShards().length === 2); i++) {
    await clock.advance(RENEW_MS);
  }
  expect(workers.map((w) => w.heldShards().length)).toEqual([2, 2, 2, 2]);
  const stopping = Promise.all(workers.map((w) => w.stop()));
  await clock.advance(LEASE_MS);
  await stopping;
});
