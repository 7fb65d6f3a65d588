import fc from 'fast-check';
import {
  isSequenceNumber,
  isValidCheckpoint,
  MAX_SEQUENCE_DIGITS,
  normalizeCheckpoint,
  SHARD_END,
} from '../../lib/core/sequence-number';

describe('isValidCheckpoint', () => {
  it('accepts 1..128 decimal digits and SHARD_END', () => {
    expect(isValidCheckpoint('0')).toBe(true);
    expect(isValidCheckpoint('9'.repeat(MAX_SEQUENCE_DIGITS))).toBe(true);
    expect(isValidCheckpoint(SHARD_END)).toBe(true);
    expect(isSequenceNumber(SHARD_END)).toBe(false);
  });

  it('refuses empty, too long, signed, fractional and other text', () => {
    for (const bad of ['', '9'.repeat(129), '-1', '+1', '1.5', '1e5', ' 1', 'shard_end', 'LATEST']) {
      expect(isValidCheckpoint(bad)).toBe(false);
    }
  });
});

describe('normalizeCheckpoint', () => {
  it('drops leading zeros, keeps a lone zero, and leaves SHARD_END alone', () => {
    expect(normalizeCheckpoint('000123')).toBe('123');
    expect(normalizeCheckpoint('0000')).toBe('0');
    expect(normalizeCheckpoint(SHARD_END)).toBe(SHARD_END);
  });

  it('makes length-then-string order equal to numeric (BigInt) order', () => {
    const seq = fc.stringMatching(/^[0-9]{1,40}$/);
    fc.assert(
      fc.property(seq, seq, (a, b) => {
        const na = normalizeCheckpoint(a);
        const nb = normalizeCheckpoint(b);
        const byText =
          na.length !== nb.length ? Math.sign(na.length - nb.length) : na < nb ? -1 : na > nb ? 1 : 0;
        const x = BigInt(a);
        const y = BigInt(b);
        expect(byText).toBe(x < y ? -1 : x > y ? 1 : 0);
      }),
    );
  });
});
