import fc from 'fast-check';
import {
  compareSequenceNumbers,
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

describe('compareSequenceNumbers', () => {
  const normalized = fc.stringMatching(/^[0-9]{1,40}$/).map(normalizeCheckpoint);

  it('orders normalized sequence numbers as numbers, equal ones as equal', () => {
    fc.assert(
      fc.property(normalized, normalized, (a, b) => {
        const x = BigInt(a);
        const y = BigInt(b);
        expect(Math.sign(compareSequenceNumbers(a, b))).toBe(x < y ? -1 : x > y ? 1 : 0);
        expect(compareSequenceNumbers(a, a)).toBe(0);
      }),
    );
  });

  it('puts SHARD_END after every sequence number and equal to itself', () => {
    fc.assert(
      fc.property(normalized, (a) => {
        expect(compareSequenceNumbers(SHARD_END, a)).toBeGreaterThan(0);
        expect(compareSequenceNumbers(a, SHARD_END)).toBeLessThan(0);
      }),
    );
    expect(compareSequenceNumbers(SHARD_END, SHARD_END)).toBe(0);
  });

  it('orders same-length numbers by their digits, both ways', () => {
    expect(compareSequenceNumbers('19', '21')).toBeLessThan(0);
    expect(compareSequenceNumbers('21', '19')).toBeGreaterThan(0);
    expect(compareSequenceNumbers('9', '10')).toBeLessThan(0);
  });
});
