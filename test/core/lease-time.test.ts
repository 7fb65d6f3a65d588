import fc from 'fast-check';
import { formatLeaseTime, parseLeaseTime } from '../../lib/core/lease-time';

const T = Date.parse('2026-11-24T19:10:41.123Z');

/**
 * What Go's `t.Format(time.RFC3339Nano)` writes for an instant given in nanoseconds of the second: the
 * fraction with trailing zeros trimmed, none at all for a whole second. The Go library conditions its
 * claim on this exact re-formatting of the timeout it read.
 */
function goRfc3339Nano(wholeSecondIso: string, nanos: number): string {
  const fraction = String(nanos).padStart(9, '0').replace(/0+$/, '');
  return `${wholeSecondIso.slice(0, 19)}${fraction ? `.${fraction}` : ''}Z`;
}

/** The instant a Go-formatted value stands for, in nanoseconds since the epoch (as a BigInt). */
function goNanos(value: string): bigint {
  const m = /^(.{19})(?:\.(\d{1,9}))?Z$/.exec(value);
  if (!m) throw new Error(`not RFC3339Nano: ${value}`);
  const seconds = BigInt(Date.parse(`${m[1]}Z`)) / 1000n;
  return seconds * 1_000_000_000n + BigInt((m[2] ?? '').padEnd(9, '0'));
}

const instant = fc.integer({ min: Date.parse('2000-01-01'), max: Date.parse('2200-01-01') });

describe('formatLeaseTime', () => {
  it('writes UTC with nine fraction digits: the milliseconds, then 000001', () => {
    expect(formatLeaseTime(T)).toBe('2026-11-24T19:10:41.123000001Z');
    expect(formatLeaseTime(Date.parse('2026-11-24T19:10:41Z'))).toBe('2026-11-24T19:10:41.000000001Z');
    expect(formatLeaseTime(Date.parse('2026-11-24T19:10:41.040Z'))).toBe('2026-11-24T19:10:41.040000001Z');
  });

  it('orders instants as strings exactly as it orders them in time', () => {
    fc.assert(
      fc.property(instant, instant, (a, b) => {
        const sa = formatLeaseTime(a);
        const sb = formatLeaseTime(b);
        expect(sa.length).toBe(30);
        expect(Math.sign(a - b)).toBe(sa < sb ? -1 : sa > sb ? 1 : 0);
      }),
    );
  });

  it('survives the Go library’s parse and RFC3339Nano re-format unchanged, whatever the milliseconds', () => {
    fc.assert(
      fc.property(instant, (ms) => {
        const ours = formatLeaseTime(ms);
        const nanos = Number(ours.slice(20, 29));
        expect(goRfc3339Nano(ours, nanos)).toBe(ours);
      }),
    );
    // The value that used to break every Go claim: .040Z came back as .04Z.
    const forty = formatLeaseTime(Date.parse('2026-11-24T19:10:41.040Z'));
    expect(goRfc3339Nano(forty, 40_000_001)).toBe(forty);
  });

  it('never reads a Go-written timeout of any width as expired early, and reads it late by less than 10^-d s', () => {
    const goValue = fc.record({ ms: instant, nanosOfMs: fc.integer({ min: 0, max: 999_999 }) });
    fc.assert(
      fc.property(goValue, instant, ({ ms, nanosOfMs }, nowMs) => {
        const second = new Date(Math.floor(ms / 1000) * 1000).toISOString();
        const nanos = (ms % 1000) * 1_000_000 + nanosOfMs;
        const stored = goRfc3339Nano(second, nanos);
        const now = formatLeaseTime(nowMs);
        const storedNs = goNanos(stored);
        const nowNs = goNanos(now);
        // The rules read a lease as live while LeaseTimeout > now, as strings.
        const liveAsStrings = stored > now;
        if (storedNs > nowNs) expect(liveAsStrings).toBe(true);
        if (liveAsStrings && storedNs <= nowNs) {
          const digits = stored.length === 20 ? 0 : stored.length - 21;
          expect(nowNs - storedNs).toBeLessThan(10n ** BigInt(9 - digits));
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('reads a Go timeout of every width 0..9 as live a millisecond before its instant', () => {
    const second = '2026-11-24T19:10:41';
    const nanos = [
      0, 100_000_000, 120_000_000, 123_000_000, 123_400_000, 123_450_000, 123_456_000, 123_456_700,
    ];
    for (const n of [...nanos, 123_456_780, 123_456_789]) {
      const stored = goRfc3339Nano(`${second}Z`, n);
      const atMs = Date.parse(`${second}Z`) + Math.floor(n / 1_000_000);
      // A millisecond before the instant's millisecond the lease is live, whatever the width.
      expect(stored > formatLeaseTime(atMs - 1)).toBe(true);
    }
  });
});

describe('parseLeaseTime', () => {
  it('reads what formatLeaseTime writes back to the same millisecond', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: Date.parse('2200-01-01') }), (ms) => {
        expect(parseLeaseTime(formatLeaseTime(ms))).toBe(ms);
      }),
    );
  });

  it('reads the forms the Go library writes, rounding a sub-millisecond fraction up (never early)', () => {
    expect(parseLeaseTime('2026-11-24T19:10:41Z')).toBe(Date.parse('2026-11-24T19:10:41.000Z'));
    expect(parseLeaseTime('2026-11-24T19:10:41.123456789Z')).toBe(T + 1);
    expect(parseLeaseTime('2026-11-24T19:10:41.123Z')).toBe(T);
    expect(parseLeaseTime('2026-11-24T19:10:41.1Z')).toBe(Date.parse('2026-11-24T19:10:41.100Z'));
    expect(parseLeaseTime('2026-11-24T19:10:41.999999999Z')).toBe(Date.parse('2026-11-24T19:10:42.000Z'));
  });

  it('applies a numeric zone offset', () => {
    expect(parseLeaseTime('2026-11-24T21:10:41.123+02:00')).toBe(T);
    expect(parseLeaseTime('2026-11-24T14:10:41.123-05:00')).toBe(T);
    // Offsets with minutes: the minutes move the instant the same way as the hours.
    expect(parseLeaseTime('2026-11-25T00:40:41.123+05:30')).toBe(T);
    expect(parseLeaseTime('2026-11-24T15:40:41.123-03:30')).toBe(T);
  });

  it('returns undefined for anything that is not RFC 3339', () => {
    for (const bad of [
      '',
      'tomorrow',
      '2026-11-24',
      '2026-11-24 19:10:41Z',
      '2026-11-24T19:10:41',
      '1732475441',
    ]) {
      expect(parseLeaseTime(bad)).toBeUndefined();
    }
  });
});
