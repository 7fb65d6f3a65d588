/**
 * `LeaseTimeout` and the other instants in the table are RFC 3339 UTC strings, as vmware-go-kcl-v2
 * writes them, and DynamoDB conditions compare them as strings. Three constraints shape the form we
 * write (`2026-11-24T19:10:41.123000001Z`: milliseconds, then `000001`, nine fraction digits):
 *
 * - Fixed width, so that among our own values string order is time order.
 * - A last digit that is never 0. The Go library parses the timeout it read, formats it again with
 *   RFC3339Nano (trailing zeros trimmed) and conditions its claim on that exact string; a value such as
 *   `.040Z` would come back as `.04Z` and every such Go claim would fail.
 * - Nine digits, the most RFC3339Nano has, so that no Go value is longer than ours. String comparison
 *   then never reads a Go lease as expired early: when a Go value compares at or below ours, its instant
 *   is at or before ours. The extra nanosecond makes our instants 1 ns later than the millisecond clock,
 *   which only ever errs on the side of a lease living longer.
 *
 * A Go value with fewer than nine fraction digits reads late instead, never early: `...:41Z` sorts after
 * every `...:41.xxxZ` (because 'Z' > '.') and `...:41.12Z` after every `...:41.12xZ`, so a Go-written
 * lease with d fraction digits lives up to 10^-d s longer for every rule (up to 1 s for whole seconds).
 * All rules compare the same way (in DynamoDB and in `evaluateCondition`), so they agree with each other.
 */

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/i;

/** What follows the milliseconds in every instant we write. */
const SUB_MILLISECOND_SUFFIX = '000001';

/** The form we write: UTC, nine fraction digits ending in 1, 30 characters. */
export function formatLeaseTime(epochMs: number): string {
  return `${new Date(epochMs).toISOString().slice(0, -1)}${SUB_MILLISECOND_SUFFIX}Z`;
}

/**
 * Epoch milliseconds of an RFC 3339 instant, with 0 to 9 fraction digits; undefined if malformed. A
 * fraction finer than a millisecond rounds up, so an expiry read here is never earlier than it is,
 * except for the one nanosecond our own form adds, so that what formatLeaseTime writes reads back as
 * the same millisecond.
 */
export function parseLeaseTime(value: string): number | undefined {
  const m = RFC3339.exec(value);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s, fraction, zone] = m;
  const nanos = fraction ? Number(`${fraction.slice(1)}000000000`.slice(0, 9)) : 0;
  const ms = Math.max(0, Math.ceil((nanos - 1) / 1_000_000));
  let epoch = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s), ms);
  if (zone && zone.toUpperCase() !== 'Z') {
    const sign = zone.startsWith('-') ? -1 : 1;
    epoch -= sign * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4, 6))) * 60_000;
  }
  return Number.isNaN(epoch) ? undefined : epoch;
}
