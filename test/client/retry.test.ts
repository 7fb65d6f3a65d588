import { backoffDelayMs, isRetryableStatus } from '../../lib/client/retry';

describe('backoffDelayMs', () => {
  it('draws uniformly below an exponential ceiling capped at maxDelayMs (full jitter)', () => {
    const top = () => 0.999_999;
    expect(
      [1, 2, 3, 4, 5, 6].map((a) => backoffDelayMs(a, { baseDelayMs: 50, maxDelayMs: 2_000 }, top)),
    ).toEqual([99, 199, 399, 799, 1599, 1999]);
    expect(backoffDelayMs(30, {}, top)).toBe(1999);
    expect(backoffDelayMs(3, {}, () => 0)).toBe(0);
  });
});

describe('isRetryableStatus', () => {
  it('retries throttling and faults, never a refusal or a permanent fault', () => {
    expect([429, 500, 502, 503, 504].map((s) => isRetryableStatus(s, undefined))).toEqual([
      true,
      true,
      true,
      true,
      true,
    ]);
    expect([400, 403, 404, 405, 409, 413].map((s) => isRetryableStatus(s, undefined))).toEqual([
      false,
      false,
      false,
      false,
      false,
      false,
    ]);
    expect(isRetryableStatus(500, 'InvalidDynamoDBSchema')).toBe(false);
    expect(isRetryableStatus(500, 'Internal')).toBe(true);
  });
});
