/**
 * When the HTTP client tries again, and how long it waits: throttling (429), server faults (5xx) and
 * network failures, with capped, fully jittered exponential backoff. Every operation of the API is
 * safe to repeat (a take or renewal by the same worker, a checkpoint of the same sequence number and a
 * claim by the same claimer change nothing the second time), so a request that may have reached the
 * server is retried too. A permanent fault (the table has the wrong schema) is not.
 */

export interface Backoff {
  /** @default 50 */
  readonly baseDelayMs?: number;
  /** @default 2000 */
  readonly maxDelayMs?: number;
}

export const DEFAULT_MAX_ATTEMPTS = 10;
const DEFAULT_BASE_DELAY_MS = 50;
const DEFAULT_MAX_DELAY_MS = 2_000;

/** Codes that a 5xx can carry and that no retry will change. */
const PERMANENT_CODES = new Set(['InvalidDynamoDBSchema']);

export function isRetryableStatus(status: number, code: string | undefined): boolean {
  if (status === 429) return true;
  return status >= 500 && !(code !== undefined && PERMANENT_CODES.has(code));
}

/** The delay before try `attempt + 1`, after try `attempt` (1-based) failed. */
export function backoffDelayMs(attempt: number, backoff: Backoff = {}, random = Math.random): number {
  const base = backoff.baseDelayMs ?? DEFAULT_BASE_DELAY_MS;
  const cap = backoff.maxDelayMs ?? DEFAULT_MAX_DELAY_MS;
  return Math.floor(random() * Math.min(cap, base * 2 ** attempt));
}
