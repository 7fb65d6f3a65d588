/**
 * Time for code that waits: a clock and one-shot timers, injected so that the coordinator runs on the
 * system's timers in production and on a virtual clock in tests and the simulation, where a run of
 * minutes of leases takes milliseconds and a seed replays the same schedule.
 */
import type { Clock } from './clock';

export interface Scheduler extends Clock {
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const systemScheduler: Scheduler = {
  now: () => Date.now(),
  // Timers keep the process alive: a consumer whose only work is its coordinator must not exit while
  // it runs. stop() clears the coordinator's own timers.
  setTimeout: (callback, ms) => setTimeout(callback, Math.max(0, ms)),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/** Rejects with this when a call outlives its deadline; the call itself may still land later. */
export class DeadlineExceededError extends Error {
  constructor(what: string, ms: number) {
    super(`${what}: no answer within ${Math.round(ms)} ms`);
    this.name = 'DeadlineExceededError';
  }
}

/**
 * `promise`, or a DeadlineExceededError after `ms` on `scheduler`, whichever comes first. The caller
 * stops waiting; the promise's own outcome is swallowed, never left unhandled.
 */
export function withDeadline<T>(
  scheduler: Scheduler,
  promise: Promise<T>,
  ms: number,
  what: string,
): Promise<T> {
  if (ms <= 0) {
    promise.catch(() => undefined);
    return Promise.reject(new DeadlineExceededError(what, 0));
  }
  return new Promise<T>((resolve, reject) => {
    const handle = scheduler.setTimeout(() => reject(new DeadlineExceededError(what, ms)), ms);
    promise.then(
      (value) => {
        scheduler.clearTimeout(handle);
        resolve(value);
      },
      (error: unknown) => {
        scheduler.clearTimeout(handle);
        reject(error);
      },
    );
  });
}

/** Resolves after `ms` on `scheduler`. */
export function sleep(scheduler: Scheduler, ms: number): Promise<void> {
  return new Promise((resolve) => scheduler.setTimeout(resolve, ms));
}

interface VirtualTimer {
  readonly id: number;
  readonly at: number;
  readonly callback: () => void;
}

const before = (a: VirtualTimer, b: VirtualTimer) => a.at < b.at || (a.at === b.at && a.id < b.id);

/**
 * Virtual time: timers fire only when `advance` moves the clock, in order of their instant (then of
 * creation), and every promise reaction a timer sets off runs before the next timer fires. Nothing
 * here touches real time except the macrotask hop that lets pending promise reactions drain. Timers
 * sit in a binary heap (a fleet of simulated workers keeps tens of thousands armed); a cleared timer
 * is dropped when it reaches the top.
 */
export class VirtualScheduler implements Scheduler {
  private current: number;
  private nextId = 1;
  private readonly heap: VirtualTimer[] = [];
  private readonly live = new Set<number>();

  constructor(startMs = 0) {
    this.current = startMs;
  }

  now(): number {
    return this.current;
  }

  setTimeout(callback: () => void, ms: number): number {
    const id = this.nextId++;
    this.push({ id, at: this.current + Math.max(0, ms), callback });
    this.live.add(id);
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.live.delete(handle as number);
  }

  /** Timers not yet fired. */
  pending(): number {
    return this.live.size;
  }

  /** Lets every promise reaction that is ready run (one macrotask turn drains the microtask queue). */
  settle(): Promise<void> {
    return new Promise((resolve) => setImmediate(resolve));
  }

  /** Moves the clock to `now() + ms`, firing every timer due on the way, each at its own instant. */
  async advance(ms: number): Promise<void> {
    await this.runUntil(this.current + ms);
  }

  async runUntil(targetMs: number): Promise<void> {
    await this.settle();
    for (;;) {
      const next = this.peek();
      if (!next || next.at > targetMs) break;
      this.pop();
      this.live.delete(next.id);
      this.current = Math.max(this.current, next.at);
      next.callback();
      await this.settle();
    }
    this.current = Math.max(this.current, targetMs);
  }

  /** The earliest live timer, dropping cleared ones from the top. */
  private peek(): VirtualTimer | undefined {
    while (this.heap.length > 0 && !this.live.has((this.heap[0] as VirtualTimer).id)) this.pop();
    return this.heap[0];
  }

  private push(timer: VirtualTimer): void {
    const heap = this.heap;
    heap.push(timer);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(heap[i] as VirtualTimer, heap[parent] as VirtualTimer)) break;
      [heap[i], heap[parent]] = [heap[parent] as VirtualTimer, heap[i] as VirtualTimer];
      i = parent;
    }
  }

  private pop(): void {
    const heap = this.heap;
    const last = heap.pop();
    if (heap.length === 0 || !last) return;
    heap[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < heap.length && before(heap[l] as VirtualTimer, heap[m] as VirtualTimer)) m = l;
      if (r < heap.length && before(heap[r] as VirtualTimer, heap[m] as VirtualTimer)) m = r;
      if (m === i) break;
      [heap[i], heap[m]] = [heap[m] as VirtualTimer, heap[i] as VirtualTimer];
      i = m;
    }
  }
}
