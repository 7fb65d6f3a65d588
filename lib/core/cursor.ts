/**
 * A listing cursor is the last key of the page, base64url-encoded so that callers treat it as opaque:
 * a shard id, or a worker registry row's key (they share the table, and a page may end on one).
 * Decoding checks it is one of those, so a forged cursor is a validation error, not a fault.
 */
import { WORKER_ROW_PREFIX } from './lease-row';
import { SHARD_ID_PATTERN, WORKER_ID_PATTERN } from './shard-id';

const isWorkerKey = (key: string): boolean =>
  key.startsWith(WORKER_ROW_PREFIX) && WORKER_ID_PATTERN.test(key.slice(WORKER_ROW_PREFIX.length));

export function encodeCursor(lastShardId: string): string {
  return Buffer.from(lastShardId, 'utf8').toString('base64url');
}

/** The shard id the next page starts after, or undefined when `cursor` is not one of ours. */
export function decodeCursor(cursor: string): string | undefined {
  if (!/^[A-Za-z0-9_-]{1,1400}$/.test(cursor)) return undefined;
  const shardId = Buffer.from(cursor, 'base64url').toString('utf8');
  return SHARD_ID_PATTERN.test(shardId) || isWorkerKey(shardId) ? shardId : undefined;
}
