/**
 * A small fleet in heartbeat mode on virtual time, for scripted scenarios: the real LeaseEngine over the
 * simulation's in-memory table (rows created as discovery does), real LeaseCoordinators, each behind a
 * scripted checkpointer (scripted-checkpointer.ts) so that one exact fault can be placed at one exact
 * moment, and processors that run until their lease's signal aborts. The liveness tests and the
 * measured bounds (`npm run sim -- --bounds`) both build on it.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import {
  LeaseCoordinator,
  type LeaseCoordinatorOptions,
  type ShardLease,
} from '../../lib/client/coordinator';
import { discoveryWrite } from '../../lib/core/discovery';
import { LeaseEngine } from '../../lib/core/engine';
import { Attr } from '../../lib/core/lease-row';
import { parseLeaseTime } from '../../lib/core/lease-time';
import { ruleTimes } from '../../lib/core/rules';
import { VirtualScheduler } from '../../lib/core/scheduler';
import { MemoryRowStore } from './memory-row-store';
import { type Scripted, scriptedCheckpointer } from './scripted-checkpointer';

export interface Gained {
  readonly worker: string;
  readonly shardId: string;
  readonly atMs: number;
}

export interface FleetWorker {
  readonly coordinator: LeaseCoordinator;
  readonly io: Scripted;
}

export type WorkerOptions = Partial<Pick<LeaseCoordinatorOptions, 'leaseDurationMs' | 'maxLeases'>>;

export async function heartbeatFleet(shardIds: readonly string[], leaseDurationMs: number) {
  const scheduler = new VirtualScheduler(0);
  const store = new MemoryRowStore({ clock: scheduler });
  const service = new LeaseEngine({ store, clock: scheduler, leaseDurationMs });
  // Discovery created the rows, as the reaper's pass does before any worker heartbeats.
  for (const shardId of shardIds) {
    await store.update(shardId, () => discoveryWrite({ shardId }, ruleTimes(0, service.terms)));
  }
  const gained: Gained[] = [];
  const worker = (workerId: string, options: WorkerOptions = {}): FleetWorker => {
    const io = scriptedCheckpointer(service, scheduler);
    const coordinator = new LeaseCoordinator({
      checkpointer: io.checkpointer,
      workerId,
      scheduler,
      logger: new Logger({ logLevel: 'SILENT' }),
      ...options,
      onLeaseGained: (lease: ShardLease) => {
        gained.push({ worker: workerId, shardId: lease.shardId, atMs: scheduler.now() });
        return new Promise<void>((resolve) => lease.signal.addEventListener('abort', () => resolve()));
      },
    });
    return { coordinator, io };
  };
  /** The worker holding a live lease on the shard now, if any. */
  const ownerOf = (shardId: string): string | undefined => {
    const row = store.peek(shardId);
    const owner = row?.[Attr.AssignedTo];
    const timeout = parseLeaseTime(String(row?.[Attr.LeaseTimeout] ?? ''));
    return typeof owner === 'string' && timeout !== undefined && timeout > scheduler.now()
      ? owner
      : undefined;
  };
  /** When `worker` first gained `shardId` at or after `fromMs`. */
  const gainedBy = (worker: string, shardId: string, fromMs = 0): number | undefined =>
    gained.find((g) => g.worker === worker && g.shardId === shardId && g.atMs >= fromMs)?.atMs;
  return { scheduler, store, service, gained, worker, ownerOf, gainedBy };
}
