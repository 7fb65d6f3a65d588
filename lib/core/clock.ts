import { formatLeaseTime } from './lease-time';

/** Server time, injected so that rules about time are tested without sleeping. */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** A clock that moves only when told to: for tests and the model checker. */
export class ManualClock implements Clock {
  constructor(private current: number) {}
  now(): number {
    return this.current;
  }
  advance(ms: number): void {
    this.current += ms;
  }
  set(ms: number): void {
    this.current = ms;
  }
  /** The current instant as the table stores it. */
  iso(): string {
    return formatLeaseTime(this.current);
  }
}
