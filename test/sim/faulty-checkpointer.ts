/**
 * The network between each simulated worker and the service, on virtual time, with seeded faults on
 * every call until the faults stop. Each worker process has a `Link`; its `FaultyCheckpointer` (a
 * `Checkpointer`) and `FaultyShardSource` send every call through `FaultyNetwork.call`, which draws:
 *
 * - delay: the request and the answer each wait a while (0..maxDelayMs in all);
 * - reorder: the request waits longer (maxDelayMs..maxReorderMs), so later calls overtake it;
 * - hang: no answer ever comes (the request was applied or not: both are drawn); the caller's own
 *   deadline is all that ends the wait;
 * - dropRequest: the request never arrives; the caller gets a network error;
 * - dropAnswer: the service applies the request, then the caller gets a network error;
 * - duplicate: the service applies the request twice (the copy lands up to maxDelayMs later, maybe
 *   after the caller has moved on); the caller sees the first answer only;
 * - throttle: the service answers Throttled (the core's ThrottledError), nothing applied;
 * - down: inside a service-down window every call fails (HTTP 503), nothing applied;
 * - partition: inside the worker's partition window every call vanishes (never applied, never answered);
 * - slow: inside the worker's slow window every answer comes late (the request lands at once).
 *
 * The per-call faults above are drawn only on a faulty link (the world picks a minority of workers, or
 * all of them in a storm); down windows hit everyone. A link may also carry a scripted trigger: when a
 * call it names is sent, the request lands and the trigger fires (the process dies, or is told to stop),
 * and the answer, if any, arrives after that.
 * Errors are what ShardLeaseClient throws for the same situations (a ShardLeaseError `Internal` with
 * status 0 for the network, 503 for the service). No fault is drawn for a call sent at or after
 * `faultsUntilMs`, and no late landing of an earlier one comes after `faultsUntilMs + maxReorderMs`
 * (the heal instant). A crashed process's calls are never sent and answers to it never arrive; a call
 * it makes after its `stop()` returned is reported to the world.
 */
import type {
  ActiveWorkers,
  Checkpointer,
  HeartbeatRequest,
  HeartbeatResult,
  InitResult,
  LeaseTerms,
  ListActiveWorkersOptions,
  ListShardsOptions,
  ReleaseRequest,
  RenewResult,
  ShardPage,
} from '../../lib/core/checkpointer';
import { ErrorCode, ShardLeaseError, ThrottledError } from '../../lib/core/errors';
import type { Lease } from '../../lib/core/lease-row';
import type { CheckpointRequest, RemoveRowRequest, TakeRequest } from '../../lib/core/rules';
import { type Scheduler, sleep } from '../../lib/core/scheduler';
import type { ShardSource, StreamShard } from '../../lib/store/kinesis-shard-source';
import { type Random, randomInt } from '../support/seeded-random';
import { describeError, type Trace } from './trace';

export const NETWORK_FAULTS = [
  'delay',
  'reorder',
  'hang',
  'dropRequest',
  'dropAnswer',
  'duplicate',
  'throttle',
  'down',
  'partition',
  'slow',
] as const;
export type NetworkFault = (typeof NETWORK_FAULTS)[number];

/** Relative weights of what happens to one call in the fault phase (`none`: nothing). */
export type CallWeights = Readonly<
  Record<'none' | Exclude<NetworkFault, 'down' | 'partition' | 'slow'>, number>
>;

export const DEFAULT_CALL_WEIGHTS: CallWeights = {
  none: 78,
  delay: 8,
  reorder: 2,
  hang: 1.5,
  dropRequest: 2.5,
  dropAnswer: 2.5,
  duplicate: 2.5,
  throttle: 3,
};

export interface Window {
  readonly fromMs: number;
  readonly toMs: number;
}

export interface NetworkPlan {
  /** Calls sent from this instant on get no fault. */
  readonly faultsUntilMs: number;
  readonly maxDelayMs: number;
  /** Also the latest a faulted call lands after `faultsUntilMs`. */
  readonly maxReorderMs: number;
  readonly weights: CallWeights;
  readonly downWindows: readonly Window[];
}

/** A window in which every answer to a worker comes `delayMs` late. */
export interface SlowWindow extends Window {
  readonly delayMs: number;
}

/** One worker process's connection. */
export interface Link {
  /** The process, e.g. `w2#1` (worker w2, incarnation 1). */
  readonly name: string;
  /** Per-call faults are drawn for this link in the fault phase. */
  readonly faulty: boolean;
  /** Partition windows of this worker. */
  readonly partitions: readonly Window[];
  /** Slow windows of this worker. */
  readonly slow: readonly SlowWindow[];
  /**
   * A scripted fault armed on this link: the next call whose description starts with `call` lands, then
   * `fire` runs (at the same instant, after the request left), and the answer comes `answerDelayMs`
   * later, if the process is still there to receive it.
   */
  trigger?: { readonly call: string; readonly answerDelayMs: number; readonly fire: () => void };
  /** Crashed: calls are never sent, answers never arrive. */
  dead: boolean;
  /** `stop()` has returned: any call now is the coordinator's bug. */
  stopped: boolean;
  /** When a call of this process was first answered (without an error): it is up from then on. */
  firstAnswerMs?: number;
}

const within = (windows: readonly Window[], atMs: number) =>
  windows.some((w) => atMs >= w.fromMs && atMs < w.toMs);

/** Whether the link is cut off or slow at `atMs`: what the liveness check calls unhealthy. */
export function linkImpaired(link: Link, atMs: number): boolean {
  return within(link.partitions, atMs) || within(link.slow, atMs);
}

const never = <T>(): Promise<T> => new Promise<T>(() => undefined);

export class FaultyNetwork {
  readonly counts: Record<NetworkFault, number> = Object.fromEntries(
    NETWORK_FAULTS.map((k) => [k, 0]),
  ) as Record<NetworkFault, number>;
  calls = 0;
  private readonly weights: ReadonlyArray<readonly [keyof CallWeights, number]>;
  private readonly totalWeight: number;

  constructor(
    private readonly scheduler: Scheduler,
    private readonly random: Random,
    readonly plan: NetworkPlan,
    private readonly trace: Trace,
    /** Told about a call made after `stop()` returned. */
    private readonly onCallAfterStop: (link: Link, what: string) => void = () => undefined,
  ) {
    this.weights = (Object.entries(plan.weights) as Array<[keyof CallWeights, number]>).filter(
      ([, w]) => w > 0,
    );
    this.totalWeight = this.weights.reduce((sum, [, w]) => sum + w, 0);
  }

  private drawCall(): keyof CallWeights {
    let x = this.random() * this.totalWeight;
    for (const [kind, weight] of this.weights) {
      x -= weight;
      if (x < 0) return kind;
    }
    return 'none';
  }

  /** The instant after which no fault is drawn and no faulted call is still to land. */
  get healMs(): number {
    return this.plan.faultsUntilMs + this.plan.maxReorderMs;
  }

  call<T>(link: Link, what: string, apply: () => Promise<T>, describe: (value: T) => string): Promise<T> {
    const result = this.send(link, what, apply, describe);
    result.then(
      () => {
        link.firstAnswerMs ??= this.scheduler.now();
      },
      () => undefined,
    );
    return result;
  }

  private send<T>(
    link: Link,
    what: string,
    apply: () => Promise<T>,
    describe: (value: T) => string,
  ): Promise<T> {
    this.calls++;
    if (link.stopped) this.onCallAfterStop(link, what);
    if (link.dead) return never();
    const trigger = link.trigger;
    if (trigger && what.startsWith(trigger.call)) {
      link.trigger = undefined;
      const result = this.answer(link, what, apply, describe);
      result.catch(() => undefined);
      this.scheduler.setTimeout(trigger.fire, 0);
      return sleep(this.scheduler, trigger.answerDelayMs).then(() => this.deliver(link, result));
    }
    const now = this.scheduler.now();
    if (now >= this.plan.faultsUntilMs) return this.answer(link, what, apply, describe);
    if (within(this.plan.downWindows, now)) {
      this.fault(link, 'down', what);
      return Promise.reject(
        new ShardLeaseError(ErrorCode.Internal, 'HTTP 503: Service Unavailable (simulated outage)', {
          status: 503,
        }),
      );
    }
    if (within(link.partitions, now)) {
      this.fault(link, 'partition', what);
      return never();
    }
    const slow = link.slow.find((w) => now >= w.fromMs && now < w.toMs);
    if (slow) {
      this.fault(link, 'slow', what);
      const result = this.answer(link, what, apply, describe);
      result.catch(() => undefined);
      return sleep(this.scheduler, slow.delayMs).then(() => this.deliver(link, result));
    }
    if (!link.faulty) return this.answer(link, what, apply, describe);
    const kind = this.drawCall();
    if (kind === 'none') return this.answer(link, what, apply, describe);
    this.fault(link, kind, what);
    return this.faulty(kind, link, what, apply, describe);
  }

  private async faulty<T>(
    kind: Exclude<keyof CallWeights, 'none'>,
    link: Link,
    what: string,
    apply: () => Promise<T>,
    describe: (value: T) => string,
  ): Promise<T> {
    switch (kind) {
      case 'delay': {
        const total = randomInt(this.random, 1, this.plan.maxDelayMs);
        const before = randomInt(this.random, 0, total);
        await sleep(this.scheduler, before);
        const result = this.answer(link, what, apply, describe);
        result.catch(() => undefined);
        await sleep(this.scheduler, total - before);
        return this.deliver(link, result);
      }
      case 'reorder':
        await sleep(this.scheduler, randomInt(this.random, this.plan.maxDelayMs, this.plan.maxReorderMs));
        return this.deliver(link, this.answer(link, what, apply, describe));
      case 'hang':
        if (this.random() < 0.5) this.answer(link, what, apply, describe).catch(() => undefined);
        return never();
      case 'dropRequest':
        await sleep(this.scheduler, randomInt(this.random, 0, this.plan.maxDelayMs));
        return this.deliver(link, Promise.reject(networkError(what, 'the request was lost')));
      case 'dropAnswer': {
        const outcome = await this.answer(link, what, apply, describe).then(
          () => 'applied',
          (error: unknown) => describeError(error),
        );
        await sleep(this.scheduler, randomInt(this.random, 0, this.plan.maxDelayMs));
        return this.deliver(link, Promise.reject(networkError(what, `the answer was lost (${outcome})`)));
      }
      case 'duplicate': {
        // The copy lands whatever becomes of the caller: it is already on the wire.
        this.scheduler.setTimeout(
          () => this.answer(link, `${what} (copy)`, apply, describe).catch(() => undefined),
          randomInt(this.random, 0, this.plan.maxDelayMs),
        );
        return this.deliver(link, this.answer(link, what, apply, describe));
      }
      case 'throttle':
        throw new ThrottledError(10);
    }
  }

  /** The service's answer to the call, applied now, traced. */
  private answer<T>(
    link: Link,
    what: string,
    apply: () => Promise<T>,
    describe: (value: T) => string,
  ): Promise<T> {
    const result = apply();
    result.then(
      (value) => this.trace.add(link.name, () => `${what} → ${describe(value)}`),
      (error: unknown) => this.trace.add(link.name, () => `${what} → ${describeError(error)}`),
    );
    return result;
  }

  /** An answer reaches the caller only if its process is still alive. */
  private async deliver<T>(link: Link, result: Promise<T>): Promise<T> {
    const settled = await result.then(
      (value) => ({ value }),
      (error: unknown) => ({ error }),
    );
    if (link.dead) return never();
    if ('error' in settled) throw settled.error;
    return settled.value;
  }

  private fault(link: Link, kind: NetworkFault, what: string): void {
    this.counts[kind]++;
    this.trace.add(link.name, `fault ${kind}: ${what}`);
  }
}

function networkError(what: string, cause: string): ShardLeaseError {
  return new ShardLeaseError(ErrorCode.Internal, `network failure on ${what}: ${cause} (simulated)`, {
    status: 0,
  });
}

const leaseText = (lease: Lease) =>
  `ok owner=${lease.owner ?? '-'} counter=${lease.leaseCounter} cp=${lease.checkpoint ?? '-'}`;

/** A worker process's view of the service: every call through its link. */
export class FaultyCheckpointer implements Checkpointer {
  constructor(
    private readonly network: FaultyNetwork,
    private readonly link: Link,
    private readonly service: Checkpointer,
  ) {}

  init(): Promise<InitResult> {
    return this.network.call(
      this.link,
      'init',
      () => this.service.init(),
      () => 'ok',
    );
  }

  getLease(shardId: string, request: TakeRequest): Promise<Lease> {
    return this.network.call(
      this.link,
      `getLease ${shardId}`,
      () => this.service.getLease(shardId, request),
      leaseText,
    );
  }

  checkpointSequence(shardId: string, request: CheckpointRequest): Promise<Lease> {
    return this.network.call(
      this.link,
      `checkpoint ${shardId} ${request.checkpoint} counter=${request.leaseCounter ?? '-'}`,
      () => this.service.checkpointSequence(shardId, request),
      leaseText,
    );
  }

  fetchCheckpoint(shardId: string): Promise<Lease> {
    return this.network.call(
      this.link,
      `fetchCheckpoint ${shardId}`,
      () => this.service.fetchCheckpoint(shardId),
      leaseText,
    );
  }

  removeLeaseInfo(shardId: string, request?: RemoveRowRequest): Promise<void> {
    return this.network.call(
      this.link,
      `removeLeaseInfo ${shardId}`,
      () => this.service.removeLeaseInfo(shardId, request),
      () => 'ok',
    );
  }

  removeLeaseOwner(shardId: string, workerId: string, request?: ReleaseRequest): Promise<void> {
    return this.network.call(
      this.link,
      `release ${shardId} counter=${request?.leaseCounter ?? '-'}${request?.takeId ? ` take=${request.takeId.slice(0, 8)}` : ''}`,
      () => this.service.removeLeaseOwner(shardId, workerId, request),
      () => 'ok',
    );
  }

  getLeaseOwner(shardId: string): Promise<string> {
    return this.network.call(
      this.link,
      `getLeaseOwner ${shardId}`,
      () => this.service.getLeaseOwner(shardId),
      (owner) => owner,
    );
  }

  listActiveWorkers(options?: ListActiveWorkersOptions): Promise<ActiveWorkers> {
    return this.network.call(
      this.link,
      'listActiveWorkers',
      () => this.service.listActiveWorkers(options),
      (a) => `${Object.keys(a.workers).length} workers, ${a.unassigned.length} unassigned`,
    );
  }

  renewLeases(workerId: string, shardIds: readonly string[]): Promise<RenewResult> {
    return this.network.call(
      this.link,
      `renew [${shardIds.join(' ')}]`,
      () => this.service.renewLeases(workerId, shardIds),
      (r) =>
        `renewed [${r.renewed.map((l) => l.shardId).join(' ')}] lost [${r.lost
          .map((l) => `${l.shardId}:${l.code}`)
          .join(' ')}] failed [${r.failed.map((l) => `${l.shardId}:${l.code}`).join(' ')}]`,
    );
  }

  heartbeat(workerId: string, request: HeartbeatRequest): Promise<HeartbeatResult> {
    return this.network.call(
      this.link,
      `heartbeat [${request.held.map((h) => `${h.shardId}:${h.leaseCounter}`).join(' ')}]`,
      () => this.service.heartbeat(workerId, request),
      (r) =>
        `renewed [${r.renewed.map((l) => l.shardId).join(' ')}] lost [${r.lost
          .map((l) => `${l.shardId}:${l.code}`)
          .join(
            ' ',
          )}] failed [${r.failed.map((l) => `${l.shardId}:${l.code}`).join(' ')}] take [${r.take.join(' ')}]${
          r.steals.length > 0
            ? ` steal ${r.steals.map((x) => `${x.shardId} from ${x.victim}`).join(', ')}`
            : ''
        }${r.overdue.length > 0 ? ` overdue [${r.overdue.join(' ')}]` : ''} target ${r.target}`,
    );
  }

  claimShard(shardId: string, claimerId: string): Promise<Lease> {
    return this.network.call(
      this.link,
      `claim ${shardId}`,
      () => this.service.claimShard(shardId, claimerId),
      leaseText,
    );
  }

  withdrawClaim(shardId: string, claimerId: string): Promise<void> {
    return this.network.call(
      this.link,
      `withdrawClaim ${shardId}`,
      () => this.service.withdrawClaim(shardId, claimerId),
      () => 'ok',
    );
  }

  leaseTerms(): Promise<LeaseTerms> {
    return this.network.call(
      this.link,
      'leaseTerms',
      () => this.service.leaseTerms(),
      (terms) => `lease ${terms.leaseDurationMs} ms, claims ${terms.claimTimeoutMs} ms`,
    );
  }

  listShards(options?: ListShardsOptions): Promise<ShardPage> {
    return this.network.call(
      this.link,
      'listLeases',
      () => this.service.listShards(options),
      (page) =>
        page.shards
          .map((l) => `${l.shardId}:${l.owner ?? '-'}${l.claimRequest ? `(claim ${l.claimRequest})` : ''}`)
          .join(' '),
    );
  }
}

/** ListShards through the worker's link: it meets the same faults as the service calls. */
export class FaultyShardSource implements ShardSource {
  constructor(
    private readonly network: FaultyNetwork,
    private readonly link: Link,
    private readonly source: ShardSource,
  ) {}

  listShards(): Promise<readonly StreamShard[]> {
    return this.network.call(
      this.link,
      'listShards',
      () => this.source.listShards(),
      (shards) => `${shards.length} shards`,
    );
  }
}
