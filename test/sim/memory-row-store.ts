/**
 * The lease table in memory, for the simulation: a RowStore with DynamoDB's semantics and nothing
 * else. UpdateItem creates a missing row; a condition is evaluated (lib/core/condition.ts) on the row
 * as it stands, or on `undefined` when there is none; an update applies `set` / `setIfMissing`
 * (if_not_exists) / `increment` (if_not_exists(attr, 0) + by) / `remove`; a refusal returns the row as
 * it stood (ReturnValuesOnConditionCheckFailure: ALL_OLD); a page stops at its limit or at 1 MB and
 * then names its last key (in key order here, in key-hash order on DynamoDB: nothing depends on the
 * order). No lease rule lives here: the LeaseEngine
 * that runs over this store decides everything, exactly as it does over DynamoDB.
 *
 * Every request is counted by DynamoDB operation, with the item bytes it touched and the capacity
 * units DynamoDB would charge (on-demand: a write unit per KB of the larger of the item's before and
 * after images, refused conditional writes included; a strongly consistent read unit per 4 KB, at
 * least one per GetItem; a scan page is charged for the sum of its items), so the scale work can
 * turn a simulated fleet into DynamoDB cost.
 */
import type { InitResult } from '../../lib/core/checkpointer';
import type { Clock } from '../../lib/core/clock';
import { type Condition, evaluateCondition } from '../../lib/core/condition';
import { Attr, type AttrName, type AttrValue, type LeaseRow } from '../../lib/core/lease-row';
import type {
  ConditionalWrite,
  DeleteOutcome,
  RowPage,
  RowStore,
  UpdateOutcome,
} from '../../lib/core/row-store';
import type { RowUpdate } from '../../lib/core/rules';

export const REQUEST_KINDS = ['UpdateItem', 'DeleteItem', 'GetItem', 'Scan'] as const;
export type RequestKind = (typeof REQUEST_KINDS)[number];

/** One request as DynamoDB would bill it. */
export interface StoreRequest {
  readonly kind: RequestKind;
  readonly shardId?: string;
  /** Item bytes the request touched (for an update, the larger of the before and after images). */
  readonly itemBytes: number;
  readonly readUnits: number;
  readonly writeUnits: number;
  /** A conditional write that was refused (it is billed all the same). */
  readonly refused: boolean;
}

export interface RequestTotals {
  count: number;
  itemBytes: number;
  readUnits: number;
  writeUnits: number;
  refused: number;
}

/** A write the table applied: the row before and after (undefined: no row). */
export interface AppliedWrite {
  readonly kind: 'update' | 'delete';
  readonly shardId: string;
  readonly before: LeaseRow | undefined;
  readonly after: LeaseRow | undefined;
  readonly atMs: number;
}

export interface MemoryRowStoreOptions {
  readonly tableName?: string;
  /** Stamps applied writes; the engine's clock is separate (it is the engine's, like the Lambda's). */
  readonly clock?: Clock;
  /** Called synchronously for every write applied, in the order applied. */
  readonly onApplied?: (write: AppliedWrite) => void;
  /** Called for every request after it is billed. */
  readonly onRequest?: (request: StoreRequest) => void;
  /**
   * A fault for this request (what DynamoRowStore throws once its retries give up, e.g. ThrottledError),
   * or undefined. A faulted request applies nothing and is not billed.
   */
  readonly fault?: (kind: RequestKind, shardId: string | undefined) => Error | undefined;
}

const KB = 1024;
const SCAN_PAGE_BYTES = 1024 * KB;

export class MemoryRowStore implements RowStore {
  readonly tableName: string;
  readonly totals: Record<RequestKind, RequestTotals>;
  private readonly rows = new Map<string, LeaseRow>();
  private readonly options: MemoryRowStoreOptions;

  constructor(options: MemoryRowStoreOptions = {}) {
    this.options = options;
    this.tableName = options.tableName ?? 'sim-leases';
    this.totals = Object.fromEntries(
      REQUEST_KINDS.map((kind) => [
        kind,
        { count: 0, itemBytes: 0, readUnits: 0, writeUnits: 0, refused: 0 },
      ]),
    ) as Record<RequestKind, RequestTotals>;
  }

  async init(): Promise<InitResult> {
    return { table: this.tableName, status: 'ACTIVE' };
  }

  async update(shardId: string, build: () => ConditionalWrite): Promise<UpdateOutcome> {
    this.maybeFault('UpdateItem', shardId);
    const write = build();
    const before = this.rows.get(shardId);
    if (write.condition && !evaluateCondition(write.condition, before)) {
      this.bill('UpdateItem', shardId, itemBytes(before), true);
      return { refused: before };
    }
    const after = applyUpdate(before ?? { [Attr.ShardId]: shardId }, write.update);
    this.rows.set(shardId, after);
    this.bill('UpdateItem', shardId, Math.max(itemBytes(before), itemBytes(after)), false);
    this.applied('update', shardId, before, after);
    return { written: after };
  }

  async delete(shardId: string, build: () => Condition | undefined): Promise<DeleteOutcome> {
    this.maybeFault('DeleteItem', shardId);
    const condition = build();
    const before = this.rows.get(shardId);
    if (condition && !evaluateCondition(condition, before)) {
      this.bill('DeleteItem', shardId, itemBytes(before), true);
      return { refused: before };
    }
    this.rows.delete(shardId);
    this.bill('DeleteItem', shardId, itemBytes(before), false);
    if (before) this.applied('delete', shardId, before, undefined);
    return { deleted: true };
  }

  async read(shardId: string, attributes?: readonly string[]): Promise<LeaseRow | undefined> {
    this.maybeFault('GetItem', shardId);
    const row = this.rows.get(shardId);
    // A projection is billed for the whole item, as DynamoDB does.
    this.bill('GetItem', shardId, itemBytes(row), false);
    if (!row || !attributes) return row;
    const projected: Record<string, AttrValue> = {};
    for (const name of attributes) {
      const value = row[name];
      if (value !== undefined) projected[name] = value;
    }
    return projected;
  }

  async page(limit: number, afterShardId?: string, consistent = true): Promise<RowPage> {
    this.maybeFault('Scan', undefined);
    const keys = [...this.rows.keys()].sort();
    const rows: LeaseRow[] = [];
    let bytes = 0;
    let full = false;
    for (const key of keys) {
      if (afterShardId !== undefined && key <= afterShardId) continue;
      if (rows.length >= limit) break;
      const row = this.rows.get(key) as LeaseRow;
      if (rows.length > 0 && bytes + itemBytes(row) > SCAN_PAGE_BYTES) {
        full = true;
        break;
      }
      rows.push(row);
      bytes += itemBytes(row);
    }
    // An eventually consistent read costs half a read unit per 4 KB.
    this.bill('Scan', undefined, consistent ? bytes : bytes / 2, false);
    // DynamoDB hands back LastEvaluatedKey whenever a page stops at its limit, even if nothing follows.
    const lastKey = rows[rows.length - 1]?.[Attr.ShardId];
    const more = full || (rows.length > 0 && rows.length === limit);
    return { rows, ...(more && typeof lastKey === 'string' && { lastShardId: lastKey }) };
  }

  async *scan(options: { readonly consistent?: boolean } = {}): AsyncGenerator<LeaseRow> {
    let after: string | undefined;
    do {
      const page = await this.page(Number.MAX_SAFE_INTEGER, after, options.consistent ?? true);
      yield* page.rows;
      after = page.lastShardId;
    } while (after !== undefined);
  }

  /** The row as stored, without a request (for the simulation's own checks). */
  peek(shardId: string): LeaseRow | undefined {
    return this.rows.get(shardId);
  }

  /** Every row, in key order, without a request. */
  snapshot(): LeaseRow[] {
    return [...this.rows.keys()].sort().map((key) => this.rows.get(key) as LeaseRow);
  }

  private maybeFault(kind: RequestKind, shardId: string | undefined): void {
    const error = this.options.fault?.(kind, shardId);
    if (error) throw error;
  }

  private bill(kind: RequestKind, shardId: string | undefined, bytes: number, refused: boolean): void {
    const write = kind === 'UpdateItem' || kind === 'DeleteItem';
    const readUnits = write
      ? 0
      : kind === 'GetItem'
        ? Math.max(1, Math.ceil(bytes / (4 * KB)))
        : Math.ceil(bytes / (4 * KB));
    const writeUnits = write ? Math.max(1, Math.ceil(bytes / KB)) : 0;
    const totals = this.totals[kind];
    totals.count++;
    totals.itemBytes += bytes;
    totals.readUnits += readUnits;
    totals.writeUnits += writeUnits;
    if (refused) totals.refused++;
    this.options.onRequest?.({
      kind,
      ...(shardId !== undefined && { shardId }),
      itemBytes: bytes,
      readUnits,
      writeUnits,
      refused,
    });
  }

  private applied(
    kind: AppliedWrite['kind'],
    shardId: string,
    before: LeaseRow | undefined,
    after: LeaseRow | undefined,
  ): void {
    this.options.onApplied?.({ kind, shardId, before, after, atMs: this.options.clock?.now() ?? 0 });
  }
}

/** An UpdateItem's SET and REMOVE clauses on a row (DynamoDB's semantics; the key is never changed). */
export function applyUpdate(row: LeaseRow, update: RowUpdate): LeaseRow {
  // A row is never changed in place: the new one is built (without the removed attributes; DynamoDB
  // refuses an update that both sets and removes one attribute).
  const next: Record<string, AttrValue> = {};
  for (const name in row) {
    const value = row[name];
    if (value !== undefined && !update.remove.includes(name as AttrName)) next[name] = value;
  }
  for (const [name, value] of update.set) {
    switch (value.kind) {
      case 'set':
        next[name] = value.value;
        break;
      case 'setIfMissing':
        if (row[name] === undefined) next[name] = value.value;
        break;
      case 'increment': {
        const current = row[name] ?? 0;
        if (typeof current !== 'number') {
          // DynamoDB refuses arithmetic on a non-number with a ValidationException.
          throw new Error(
            `ValidationException: An operand in the update expression has an incorrect data type (${name})`,
          );
        }
        next[name] = current + value.by;
        break;
      }
    }
  }
  return next;
}

/** An item's size as DynamoDB counts it: attribute names plus values (numbers: a byte per two significant digits, plus one). */
export function itemBytes(row: LeaseRow | undefined): number {
  if (!row) return 0;
  // Stored rows are never changed in place (an update stores a new row), so a size once measured holds.
  const known = sizes.get(row);
  if (known !== undefined) return known;
  const bytes = measure(row);
  sizes.set(row, bytes);
  return bytes;
}

const sizes = new WeakMap<LeaseRow, number>();

function measure(row: LeaseRow): number {
  let bytes = 0;
  for (const name in row) {
    const value = row[name];
    if (value === undefined) continue;
    bytes += utf8Bytes(name) + (typeof value === 'number' ? numberBytes(value) : utf8Bytes(value));
  }
  return bytes;
}

function utf8Bytes(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x80) bytes += 1;
    else if (code < 0x800) bytes += 2;
    else if (code >= 0xd800 && code < 0xdc00) {
      // A surrogate pair: one four-byte character.
      bytes += 4;
      i++;
    } else bytes += 3;
  }
  return bytes;
}

/** DynamoDB: about one byte per two significant digits, plus one. */
function numberBytes(value: number): number {
  let digits: string;
  if (Number.isSafeInteger(value)) {
    let n = Math.abs(value);
    while (n !== 0 && n % 10 === 0) n /= 10;
    digits = String(n);
  } else {
    digits = String(Math.abs(value))
      .replace(/e.*$/i, '')
      .replace('.', '')
      .replace(/^0+/, '')
      .replace(/0+$/, '');
  }
  return Math.ceil(Math.max(1, digits.length) / 2) + 1;
}
