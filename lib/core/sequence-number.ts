/**
 * Kinesis sequence numbers are decimal integers of up to 128 digits: too wide for a DynamoDB number,
 * so `Checkpoint` is a string. Stored without leading zeros, a longer string is a larger number and
 * equal lengths compare as strings, which DynamoDB can check with `size()` and `<=`.
 */

export const SHARD_END = 'SHARD_END';

export const MAX_SEQUENCE_DIGITS = 128;

const DIGITS = /^[0-9]{1,128}$/;

export function isSequenceNumber(value: string): boolean {
  return DIGITS.test(value);
}

export function isValidCheckpoint(value: string): boolean {
  return value === SHARD_END || isSequenceNumber(value);
}

/** Drops leading zeros so that length order is numeric order. Kinesis never emits them anyway. */
export function normalizeCheckpoint(value: string): string {
  if (value === SHARD_END) return value;
  const trimmed = value.replace(/^0+/, '');
  return trimmed === '' ? '0' : trimmed;
}

/** Orders two normalized sequence numbers (or SHARD_END, the last of all): negative, zero or positive. */
export function compareSequenceNumbers(a: string, b: string): number {
  if (a === b) return 0;
  if (a === SHARD_END) return 1;
  if (b === SHARD_END) return -1;
  return a.length !== b.length ? a.length - b.length : a < b ? -1 : 1;
}
