/**
 * A listing cursor is the last shard id of the page, base64url-encoded so that callers treat it as
 * opaque. Decoding checks it is a shard id, so a forged cursor is a validation error, not a fault.
 */
import { SHARD_ID_PATTERN } from './shard-id';

export function encodeCursor(lastShardId: string): string {
  return Buffer.from(lastShardId, 'utf8').toString('base64url');
}

/** The shard id the next page starts after, or undefined when `cursor` is not one of ours. */
export function decodeCursor(cursor: string): string | undefined {
  if (!/^[A-Za-z0-9_-]{1,200}$/.test(cursor)) return undefined;
  const shardId = Buffer.from(cursor, 'base64url').toString('utf8');
  return SHARD_ID_PATTERN.test(shardId) ? shardId : undefined;
}
