/**
 * The coordinator's timings, all derived from the service's lease terms unless set: the service states
 * the lease duration (the heartbeat answer and `GET /terms` carry it), so a consumer no longer keeps a
 * second copy that could disagree. A lease duration the application sets anyway must equal the
 * service's: a consumer assuming a longer lease would count a lease as its own after the service could
 * give it away.
 */
import { ValidationError } from '../core/errors';
import type { LeaseTerms } from '../core/rules';

/** What the application may set; everything unset follows the service's lease duration. */
export interface TimingOptions {
  /** When set, must equal the service's lease duration: `start()` fails otherwise. */
  readonly leaseDurationMs?: number;
  readonly renewIntervalMs?: number;
  readonly rebalanceIntervalMs?: number;
  readonly stealTimeoutMs?: number;
  readonly expiryMarginMs?: number;
  readonly retakeBackoffMs?: number;
  readonly stopTimeoutMs?: number;
}

export interface CoordinatorTiming {
  readonly leaseDurationMs: number;
  readonly claimTimeoutMs: number;
  readonly renewIntervalMs: number;
  readonly rebalanceIntervalMs: number;
  readonly stealTimeoutMs: number;
  readonly expiryMarginMs: number;
  readonly retakeBackoffMs: number;
  readonly stopTimeoutMs: number;
  /** Lateness tolerated in a timer's firing, so that a timer firing a little early is not a skipped period. */
  readonly toleranceMs: number;
}

/** Before the service has stated its terms: the lease duration the service uses by default. */
export const PROVISIONAL_LEASE_MS = 10_000;

/** Checks what can be checked before the service is asked (the margin needs the lease duration). */
export function checkTimingOptions(options: TimingOptions): void {
  const issues = [];
  const positive = ['leaseDurationMs', 'renewIntervalMs', 'rebalanceIntervalMs', 'stopTimeoutMs'] as const;
  for (const field of positive) {
    const value = options[field];
    if (value !== undefined && !(value > 0)) issues.push({ field, message: 'must be a positive number' });
  }
  for (const field of ['stealTimeoutMs', 'retakeBackoffMs', 'expiryMarginMs'] as const) {
    const value = options[field];
    if (value !== undefined && !(value >= 0)) issues.push({ field, message: 'must be at least 0' });
  }
  if (issues.length > 0) throw new ValidationError(issues);
}

/**
 * The timings for the service's terms. Throws a ValidationError naming both values when the
 * application set a lease duration other than the service's, or a margin the lease cannot hold.
 */
export function timingFor(terms: LeaseTerms, options: TimingOptions): CoordinatorTiming {
  const lease = terms.leaseDurationMs;
  if (options.leaseDurationMs !== undefined && options.leaseDurationMs !== lease) {
    throw new ValidationError([
      {
        field: 'leaseDurationMs',
        message: `is ${options.leaseDurationMs} ms but the service leases for ${lease} ms: leave it unset to use the service's, or make them equal`,
      },
    ]);
  }
  const margin = options.expiryMarginMs ?? Math.max(100, lease / 10);
  if (!(margin < lease / 2)) {
    throw new ValidationError([
      {
        field: 'expiryMarginMs',
        message: `is ${margin} ms, which must be below half the service's lease duration (${lease} ms)`,
      },
    ]);
  }
  const renewIntervalMs = options.renewIntervalMs ?? Math.floor(lease / 3);
  // Listing mode: a free shard is seen by every worker within a renewal period, and taken beyond its
  // share by any worker once it stayed free for one (see planBalance), so within a lease period.
  const rebalanceIntervalMs = options.rebalanceIntervalMs ?? Math.floor(lease / 3);
  return {
    leaseDurationMs: lease,
    claimTimeoutMs: terms.claimTimeoutMs,
    renewIntervalMs,
    rebalanceIntervalMs,
    stealTimeoutMs: options.stealTimeoutMs ?? 2 * lease,
    expiryMarginMs: margin,
    retakeBackoffMs: options.retakeBackoffMs ?? lease,
    stopTimeoutMs: options.stopTimeoutMs ?? lease,
    toleranceMs: Math.floor(Math.min(renewIntervalMs, rebalanceIntervalMs) / 4),
  };
}

/** Whether two statements of the terms agree. */
export function sameTerms(a: LeaseTerms, b: LeaseTerms): boolean {
  return a.leaseDurationMs === b.leaseDurationMs && a.claimTimeoutMs === b.claimTimeoutMs;
}
