import fc from 'fast-check';
import { formatLeaseTime, parseLeaseTime } from '../../lib/core/lease-time';

const T = Date.parse('2026-11-24T19:10:41.123Z');

describe('formatLeaseTime', () => {
  it('writes UTC with milliseconds, 24 characters', () => {
    expect(formatLeaseTime(T)).toBe('2026-11-24T19:10:41.123Z');
    expect(formatLeaseTime(Date.parse('2026-11-24T19:10:41Z'))).toBe('2026-11-24T19:10:41.000Z');
  });

  it('orders instants as strings exactly as it orders them in time', () => {
    const instant = fc.integer({ min: Date.parse('2000-01-01'), max: Date.parse('2200-01-01') });
    fc.assert(
      fc.property(instant, instant, (a, b) => {
        const sa = formatLeaseTime(a);
        const sb = formatLeaseTime(b);
        expect(sa.length).toBe(24);
        expect(Math.sign(a - b)).toBe(sa < sb ? -1 : sa > sb ? 1 : 0);
      }),
    );
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

  it('reads the forms the Go library writes: whole seconds and nanoseconds', () => {
    expect(parseLeaseTime('2026-11-24T19:10:41Z')).toBe(Date.parse('2026-11-24T19:10:41.000Z'));
    expect(parseLeaseTime('2026-11-24T19:10:41.123456789Z')).toBe(T);
    expect(parseLeaseTime('2026-11-24T19:10:41.1Z')).toBe(Date.parse('2026-11-24T19:10:41.100Z'));
  });

  it('applies a numeric zone offset', () => {
    expect(parseLeaseTime('2026-11-24T21:10:41.123+02:00')).toBe(T);
    expect(parseLeaseTime('2026-11-24T14:10:41.123-05:00')).toBe(T);
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
