/**
 * What the lease engine needs of a table: conditional writes that report the row when refused, a
 * consistent read, and consistent scans. DynamoDB implements it (store/dynamo-row-store.ts); the
 * coordinator simulation implements it in memory. Every rule stays in the engine and rules.ts, so
 * both run the very same protocol.
 */

import type { InitResult } from './checkpointer';
import type { Condition } from './condition';
import type { LeaseRow } from './lease-row';
import type { RowUpdate } from './rules';

/** A write as the store sends it; built afresh (with a new clock reading) for every attempt. */
export interface ConditionalWrite {
  readonly condition?: Condition;
  readonly update: RowUpdate;
}

export type UpdateOutcome =
  /** The row after the write, shown by the store's answer. */
  | { readonly written: LeaseRow }
  /** The condition did not hold; the row as it then stood (undefined: no row). */
  | { readonly refused: LeaseRow | undefined };

export type DeleteOutcome = { readonly deleted: true } | { readonly refused: LeaseRow | undefined };

export interface RowPage {
  readonly rows: readonly LeaseRow[];
  /** The last shard id of the page when more may follow. */
  readonly lastShardId?: string;
}

export interface RowStore {
  /** Checks (or creates) the table. */
  init(): Promise<InitResult>;
  /**
   * One conditional update of one row, retried on throttling and transient faults; `build` is called
   * for every attempt. An answer that does not show the write (`answerShowsUpdate`) is never reported
   * as written: the store retries it as a transient fault, and fails if it persists.
   */
  update(shardId: string, build: () => ConditionalWrite): Promise<UpdateOutcome>;
  delete(shardId: string, build: () => Condition | undefined): Promise<DeleteOutcome>;
  /** A consistent read, of some attributes only when `attributes` is given. */
  read(shardId: string, attributes?: readonly string[]): Promise<LeaseRow | undefined>;
  /** One consistent page of rows in key order, after `afterShardId`. */
  page(limit: number, afterShardId?: string): Promise<RowPage>;
  /** Every row, page by page; strongly consistent unless `consistent: false` (half the read cost). */
  scan(options?: { readonly consistent?: boolean }): AsyncIterable<LeaseRow>;
}
