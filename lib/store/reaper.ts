/**
 * The reaper on DynamoDB: one paginated Scan of the lease table per pass. Each page's rows get their
 * conditional UpdateItems (expired owners cleared, lapsed claims dropped) before the next page is read,
 * so a pass stopped early resumes after the last page it finished. Deletes wait for the end of the
 * whole table: whether every child of an ended shard has a row can only be told once every row has
 * been seen (children may sit on later pages), and the stream is listed only then, after every row was
 * read, so a row written for a brand-new shard is never mistaken for a gone one.
 *
 * Faults stop the pass and are reported in the summary; nothing is lost, as the next pass reads the
 * table again and every write is conditional on what was read.
 */
import { performance } from 'node:perf_hooks';
import type { Logger } from '@aws-lambda-powertools/logger';
import { type Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import {
  type AttributeValue,
  DeleteItemCommand,
  type DynamoDBClient,
  ScanCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { type Clock, systemClock } from '../core/clock';
import { discoveryWrite, shardsToDiscover } from '../core/discovery';
import { Attr, type LeaseRow } from '../core/lease-row';
import { REAPER_METRICS } from '../core/reaper-config';
import {
  applyRowWrite,
  decideDeletes,
  planRowWrite,
  type ReaperTerms,
  type ReaperTimes,
  type RowDelete,
  reaperTimes,
  streamViewProblem,
} from '../core/reaper-rules';
import { compileExpressions } from './expressions';
import { fromItem, keyOf } from './item';
import type { ShardSource, StreamShard } from './kinesis-shard-source';
import { DEFAULT_RETRY_POLICY, type RetryPolicy, withRetries } from './retry';

export interface ReaperOptions {
  readonly client: DynamoDBClient;
  readonly tableName: string;
  readonly claimTimeoutMs: number;
  readonly graceMs: number;
  readonly clock?: Clock;
  readonly shardSource?: ShardSource;
  readonly retry?: RetryPolicy;
  /** Rows per Scan page (the Scan's Limit); DynamoDB also ends a page at 1 MB. */
  readonly pageSize?: number;
  /**
   * Delete the row of an ended shard once every child has a row. Turn off when vmware-go-kcl-v2
   * workers share the table: a Go worker takes any shard it lists that has no row and reads it again
   * from its initial position, so there ended rows must stay until the stream stops listing the shard
   * (the gone rule, or the Go worker's own RemoveLeaseInfo). @default true
   */
  readonly deleteEndedRows?: boolean;
  /** The service's lease duration: claims lapse a lease period after the claimed lease ended. @default 0 */
  readonly leaseDurationMs?: number;
  /** Worker registry rows not updated for this long are deleted. @default 15 minutes */
  readonly workerRetentionMs?: number;
}

export interface ReaperPassOptions {
  /** The `resumeFrom` of the previous, unfinished pass: the scan continues after this ShardID. */
  readonly startAfter?: string;
  /** Asked before each page and each delete but the first of an invocation, so every call makes progress. */
  readonly shouldStop?: () => boolean;
}

export interface ReaperSummary {
  readonly rowsScanned: number;
  readonly pagesScanned: number;
  readonly leasesReclaimed: number;
  readonly claimsDropped: number;
  readonly endedRowsDeleted: number;
  readonly goneRowsDeleted: number;
  /** Rows created for shards the stream lists (shard discovery). */
  readonly shardsDiscovered: number;
  /** Worker registry rows of workers gone for longer than the retention. */
  readonly workerRowsDeleted: number;
  /** Writes refused because the row changed since the read. */
  readonly conflicts: number;
  readonly durationMs: number;
  /** False when stopped early (time) or by a fault. */
  readonly complete: boolean;
  /** The ShardID to pass as startAfter next time. */
  readonly resumeFrom?: string;
  /** The error message when a fault stopped the pass. */
  readonly fault?: string;
}

export const DEFAULT_REAPER_PAGE_SIZE = 500;
/**
 * Conditional writes in flight at once, per page and in the delete phase. Deliberately modest: the
 * reaper shares the table's write capacity with the workers' renewals, which matter more than a
 * faster pass (on dynalite, 32 in flight was at most ~1.3× faster, within the machine's noise).
 */
const WRITE_CONCURRENCY = 16;

/** What end-of-pass decisions need of a row; the rest of the row is not kept. */
const KEPT = [
  Attr.ShardId,
  Attr.AssignedTo,
  Attr.LeaseTimeout,
  Attr.Checkpoint,
  Attr.ParentShardId,
  Attr.LeaseCounter,
  Attr.LastSeen,
] as const;

function keep(row: LeaseRow): LeaseRow {
  const kept: Record<string, LeaseRow[string]> = {};
  for (const name of KEPT) if (row[name] !== undefined) kept[name] = row[name];
  return kept;
}

function isConditionFailure(error: unknown): boolean {
  return (error as { name?: string })?.name === 'ConditionalCheckFailedException';
}

function messageOf(error: unknown): string {
  const e = error as { name?: string; message?: string };
  const message = e?.message || String(error);
  return e?.name && e.name !== 'Error' && !message.startsWith(e.name) ? `${e.name}: ${message}` : message;
}

/**
 * Runs `work` on each item with at most `limit` in flight; stops launching on the first error or when
 * `shouldStop` says so, and waits for those in flight. Returns the first error, if any.
 */
async function forEachBounded<T>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<void>,
  shouldStop?: () => boolean,
): Promise<{ stopped: boolean; error?: unknown }> {
  let next = 0;
  let failed = false;
  let stopped = false;
  let firstError: unknown;
  const lane = async () => {
    while (next < items.length && !failed && !stopped) {
      // Never before the first item: a pass that resumes here always makes progress.
      if (next > 0 && shouldStop?.()) {
        stopped = true;
        return;
      }
      const item = items[next++] as T;
      try {
        await work(item);
      } catch (error) {
        if (!failed) firstError = error;
        failed = true;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return failed ? { stopped, error: firstError } : { stopped };
}

class Tally {
  rowsScanned = 0;
  pagesScanned = 0;
  leasesReclaimed = 0;
  claimsDropped = 0;
  endedRowsDeleted = 0;
  goneRowsDeleted = 0;
  shardsDiscovered = 0;
  workerRowsDeleted = 0;
  conflicts = 0;
}

/** What a pass has seen so far; kept across invocations while a pass resumes. */
interface PassState {
  /** ShardID → the row as read (and as this pass's own writes left it). */
  readonly rows: Map<string, LeaseRow>;
  /** The last ShardID scanned: where a pass stopped in its deletes resumes (the scan then finds nothing more). */
  lastShardId?: string;
  /** Rows whose delete was already sent in this pass. */
  readonly deleteTried: Set<string>;
}

export class Reaper {
  private readonly client: DynamoDBClient;
  private readonly tableName: string;
  private readonly terms: ReaperTerms;
  private readonly clock: Clock;
  private readonly shardSource: ShardSource | undefined;
  private readonly retry: RetryPolicy;
  private readonly pageSize: number;
  private readonly deleteEndedRows: boolean;
  /** The unfinished pass, continued when the next call starts after the key it stopped at. */
  private carry: { readonly resumeFrom: string; readonly state: PassState } | undefined;

  constructor(options: ReaperOptions) {
    for (const [name, value, min] of [
      ['claimTimeoutMs', options.claimTimeoutMs, 1],
      ['graceMs', options.graceMs, 0],
      ['pageSize', options.pageSize ?? DEFAULT_REAPER_PAGE_SIZE, 1],
    ] as const) {
      if (!Number.isSafeInteger(value) || value < min) {
        throw new RangeError(`Reaper ${name} must be an integer >= ${min}, got ${value}`);
      }
    }
    this.client = options.client;
    this.tableName = options.tableName;
    this.terms = {
      claimTimeoutMs: options.claimTimeoutMs,
      graceMs: options.graceMs,
      ...(options.leaseDurationMs !== undefined && { leaseDurationMs: options.leaseDurationMs }),
      ...(options.workerRetentionMs !== undefined && { workerRetentionMs: options.workerRetentionMs }),
    };
    this.clock = options.clock ?? systemClock;
    this.shardSource = options.shardSource;
    this.retry = options.retry ?? DEFAULT_RETRY_POLICY;
    this.pageSize = options.pageSize ?? DEFAULT_REAPER_PAGE_SIZE;
    this.deleteEndedRows = options.deleteEndedRows ?? true;
  }

  /**
   * One pass, or the rest of one: from the top of the table, or after `startAfter`. When `startAfter`
   * is the `resumeFrom` this reaper returned last, what the earlier part of the pass saw counts
   * towards the end-of-pass deletes; otherwise those deletes consider only the rows from `startAfter`
   * on, which can only make them fewer (a child not seen is a child without a row).
   */
  async runPass(options: ReaperPassOptions = {}): Promise<ReaperSummary> {
    const started = performance.now();
    const tally = new Tally();
    const { startAfter, shouldStop } = options;
    const carried =
      startAfter !== undefined && this.carry?.resumeFrom === startAfter ? this.carry : undefined;
    const state: PassState = carried?.state ?? { rows: new Map(), deleteTried: new Set() };
    this.carry = undefined;

    const finish = (extra: { complete: boolean; resumeFrom?: string; fault?: string }): ReaperSummary => {
      if (extra.resumeFrom !== undefined) this.carry = { resumeFrom: extra.resumeFrom, state };
      return { ...tally, durationMs: Math.round(performance.now() - started), ...extra };
    };

    let startKey = startAfter;
    for (;;) {
      if (tally.pagesScanned > 0 && shouldStop?.()) {
        return finish({ complete: false, ...(startKey !== undefined && { resumeFrom: startKey }) });
      }
      try {
        startKey = await this.reapPage(startKey, state, tally);
      } catch (error) {
        // The page is read again next time: its writes were conditional, so redoing them is harmless.
        return finish({
          complete: false,
          ...(startKey !== undefined && { resumeFrom: startKey }),
          fault: messageOf(error),
        });
      }
      if (startKey === undefined) break;
    }
    return finish(await this.deleteAtEnd(state, tally, shouldStop));
  }

  private times(): ReaperTimes {
    return reaperTimes(this.clock.now(), this.terms);
  }

  /** Reads one page and makes its writes; returns the key to continue after, undefined at the end. */
  private async reapPage(
    startKey: string | undefined,
    state: PassState,
    tally: Tally,
  ): Promise<string | undefined> {
    const page = await withRetries(
      () =>
        this.client.send(
          new ScanCommand({
            TableName: this.tableName,
            Limit: this.pageSize,
            ...(startKey !== undefined && { ExclusiveStartKey: keyOf(startKey) }),
          }),
        ),
      this.retry,
    );
    tally.pagesScanned++;
    const rows = (page.Items ?? []).map((item) => fromItem(item) as LeaseRow);
    tally.rowsScanned += rows.length;
    const t = this.times();
    for (const row of rows) state.rows.set(String(row[Attr.ShardId]), keep(row));
    const lastRow = rows[rows.length - 1];
    if (lastRow) state.lastShardId = String(lastRow[Attr.ShardId]);
    const { error } = await forEachBounded(rows, WRITE_CONCURRENCY, async (row) => {
      const write = planRowWrite(row, t);
      if (!write) return;
      const shardId = String(row[Attr.ShardId]);
      const applied = await this.conditionally(
        () =>
          this.client.send(
            new UpdateItemCommand({
              TableName: this.tableName,
              Key: keyOf(shardId),
              ...compileExpressions({ condition: write.condition, update: write.update }),
            }),
          ),
        tally,
      );
      if (!applied) return;
      if (write.reclaim) tally.leasesReclaimed++;
      if (write.dropClaim) tally.claimsDropped++;
      state.rows.set(shardId, keep(applyRowWrite(row, write)));
    });
    if (error !== undefined) throw error;
    const last = page.LastEvaluatedKey?.[Attr.ShardId] as AttributeValue | undefined;
    return last?.S;
  }

  /** The end of a complete scan: list the stream (all of it, or nothing is deleted), then delete. */
  private async deleteAtEnd(
    state: PassState,
    tally: Tally,
    shouldStop: (() => boolean) | undefined,
  ): Promise<{ complete: boolean; resumeFrom?: string; fault?: string }> {
    let stream: Awaited<ReturnType<ShardSource['listShards']>> | undefined;
    if (this.shardSource) {
      try {
        stream = await this.shardSource.listShards();
        const problem = streamViewProblem(stream);
        if (problem) throw new Error(problem);
        await this.discover(stream, state, tally);
      } catch (error) {
        // The stream is authoritative for children too: without a complete list, delete nothing.
        return { complete: false, fault: `listing the stream failed: ${messageOf(error)}` };
      }
    }
    const deletes = decideDeletes({
      rows: [...state.rows.values()],
      stream,
      times: this.times(),
      deleteEnded: this.deleteEndedRows,
    }).filter((d) => !state.deleteTried.has(d.shardId));
    const { stopped, error } = await forEachBounded(
      deletes,
      WRITE_CONCURRENCY,
      async (d) => {
        await this.deleteRow(d, tally);
        // Tried once: a resumed delete phase neither repeats it nor counts its refusal twice. The row
        // stays in `rows`, so its parent is still judged on the table as the scan saw it.
        state.deleteTried.add(d.shardId);
      },
      shouldStop,
    );
    if (error !== undefined) return { complete: false, fault: messageOf(error) };
    if (stopped) {
      // Resuming after the last row scanned reads (almost) nothing and comes straight back here.
      return { complete: false, ...(state.lastShardId !== undefined && { resumeFrom: state.lastShardId }) };
    }
    return { complete: true };
  }

  private async deleteRow(d: RowDelete, tally: Tally): Promise<void> {
    const applied = await this.conditionally(
      () =>
        this.client.send(
          new DeleteItemCommand({
            TableName: this.tableName,
            Key: keyOf(d.shardId),
            ...compileExpressions({ condition: d.condition }),
          }),
        ),
      tally,
    );
    if (!applied) return;
    if (d.reason === 'ended') tally.endedRowsDeleted++;
    else if (d.reason === 'worker') tally.workerRowsDeleted++;
    else tally.goneRowsDeleted++;
  }

  /**
   * Shard discovery: creates the row of every listed shard that has none (with its parents), so that
   * workers never list the stream. Conditional on the row not existing, so a take racing it wins.
   */
  private async discover(stream: readonly StreamShard[], state: PassState, tally: Tally): Promise<void> {
    const rowIds = new Set([...state.rows.keys()]);
    const missingShards = shardsToDiscover(stream, rowIds);
    const { error } = await forEachBounded(missingShards, WRITE_CONCURRENCY, async (shard) => {
      const applied = await this.conditionally(
        () =>
          this.client.send(
            new UpdateItemCommand({
              TableName: this.tableName,
              Key: keyOf(shard.shardId),
              ...compileExpressions(discoveryWrite(shard, this.times().rule)),
            }),
          ),
        tally,
      );
      if (applied) tally.shardsDiscovered++;
    });
    if (error !== undefined) throw error;
  }

  /** True when the write happened; false (and a conflict counted) when its condition no longer held. */
  private async conditionally(send: () => Promise<unknown>, tally: Tally): Promise<boolean> {
    try {
      await withRetries(send, this.retry);
      return true;
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      tally.conflicts++;
      return false;
    }
  }
}

/** True when a reaper pass finished and changed nothing. */
export function reaperPassWasIdle(summary: ReaperSummary): boolean {
  return (
    summary.complete &&
    summary.leasesReclaimed === 0 &&
    summary.claimsDropped === 0 &&
    summary.endedRowsDeleted === 0 &&
    summary.goneRowsDeleted === 0 &&
    summary.shardsDiscovered === 0 &&
    summary.workerRowsDeleted === 0 &&
    summary.conflicts === 0
  );
}

/**
 * How loud a pass's summary line is, wherever it runs: ERROR when a fault stopped it (a table or stream
 * that did not answer: the pass could not complete, and the next one starts where it stopped), INFO
 * when it changed something, `idle` when it finished and changed nothing.
 */
export function reaperPassLevel(
  summary: ReaperSummary,
  idle: 'debug' | 'info' = 'info',
): 'debug' | 'info' | 'error' {
  if (summary.fault !== undefined) return 'error';
  return reaperPassWasIdle(summary) ? idle : 'info';
}

/**
 * The one summary line of a pass (ERROR when a fault stopped it, INFO otherwise) and its counts as
 * metrics, published at once (a scheduled handler has no request to flush them at the end of). The
 * construct's alarms read PassFaults (a fault is returned in the summary, so the function never errors)
 * and PassesCompleted (a reaper that stops finishing passes, whatever the reason).
 */
export function reportReaperPass(summary: ReaperSummary, sinks: { logger: Logger; metrics: Metrics }): void {
  const { logger, metrics } = sinks;
  const m = REAPER_METRICS;
  logger[reaperPassLevel(summary)]('reaper pass', { ...summary });
  metrics.addMetric(m.leasesReclaimed, MetricUnit.Count, summary.leasesReclaimed);
  metrics.addMetric(m.claimsDropped, MetricUnit.Count, summary.claimsDropped);
  metrics.addMetric(
    m.rowsDeleted,
    MetricUnit.Count,
    summary.endedRowsDeleted + summary.goneRowsDeleted + summary.workerRowsDeleted,
  );
  metrics.addMetric(m.shardsDiscovered, MetricUnit.Count, summary.shardsDiscovered);
  metrics.addMetric(m.pagesScanned, MetricUnit.Count, summary.pagesScanned);
  metrics.addMetric(m.rowsScanned, MetricUnit.Count, summary.rowsScanned);
  metrics.addMetric(m.conflicts, MetricUnit.Count, summary.conflicts);
  metrics.addMetric(m.passFaults, MetricUnit.Count, summary.fault ? 1 : 0);
  metrics.addMetric(m.passesCompleted, MetricUnit.Count, summary.complete ? 1 : 0);
  metrics.addMetric(m.passDuration, MetricUnit.Milliseconds, summary.durationMs);
  metrics.publishStoredMetrics();
}
