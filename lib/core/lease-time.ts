/**
 * `LeaseTimeout` and the other instants in the table are RFC 3339 UTC strings, as vmware-go-kcl-v2
 * writes them. We always write milliseconds (`2026-11-24T19:10:41.123Z`), a fixed-width form whose
 * string order is its time order, so DynamoDB conditions can compare instants as strings.
 *
 * A Go-written value without fractional seconds (`...:41Z`) sorts after every `...:41.xxxZ`, because
 * 'Z' > '.', so in a condition it reads as up to one second later than it is. Every rule compares the
 * stored string the same way (in DynamoDB and in `evaluateCondition`), so the rules stay consistent
 * with each other: such a lease simply lives up to a second longer for everyone.
 */

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/i;

/** The form we write: UTC, milliseconds, 24 characters. */
export function formatLeaseTime(epochMs: number): string {
  return new Date(epochMs).toISOString();
}

/** Epoch milliseconds of an RFC 3339 instant, with or without fractional seconds; undefined if malformed. */
export function parseLeaseTime(value: string): number | undefined {
  const m = RFC3339.exec(value);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s, fraction, zone] = m;
  const ms = fraction ? Math.floor(Number(`0${fraction}`) * 1000) : 0;
  let epoch = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s), ms);
  if (zone && zone.toUpperCase() !== 'Z') {
    const sign = zone.startsWith('-') ? -1 : 1;
    epoch -= sign * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4, 6))) * 60_000;
  }
  return Number.isNaN(epoch) ? undefined : epoch;
}
