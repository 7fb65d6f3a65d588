import {
  type AttributeValue,
  type DynamoDBClient,
  PutItemCommand,
  ScanCommand,
} from '@aws-sdk/client-dynamodb';
import { ManualClock } from '../../lib/core/clock';
import { Attr, type LeaseRow } from '../../lib/core/lease-row';
import { formatLeaseTime } from '../../lib/core/lease-time';
import { SHARD_END } from '../../lib/core/sequence-number';
import { createDynamoClient } from '../../lib/store/dynamo-client';
import { fromItem, toItem } from '../../lib/store/item';
import { Reaper, type ReaperOptions, type ReaperSummary } from '../../lib/store/reaper';
import { createTestTable, putRows, type TestTable, testEndpoint } from '../support/dynamo';

const T0 = Date.parse('2026-11-25T00:00:00.000Z');
const LEASE = 10_000;
const CLAIM = 120_000;
const GRACE = 10_000;

type Seed = Record<string, string | number>;

const seed = (client: DynamoDBClient, tableName: string, rows: readonly Seed[]) =>
  putRows(client, tableName, rows);

async function readAll(client: DynamoDBClient, tableName: string): Promise<Map<string, LeaseRow>> {
  const rows = new Map<string, LeaseRow>();
  let startKey: Record<string, AttributeValue> | undefined;
  do {
    const page = await client.send(
      new ScanCommand({ TableName: tableName, ConsistentRead: true, ExclusiveStartKey: startKey }),
    );
    for (const item of page.Items ?? []) {
      const row = fromItem(item) as LeaseRow;
      rows.set(String(row[Attr.ShardId]), row);
    }
    startKey = page.LastEvaluatedKey;
  } while (startKey);
  return rows;
}

/** A reaper client whose UpdateItem/DeleteItem requests are counted per shard, before they are sent. */
function reaperClient(): { client: DynamoDBClient; writes: Map<string, number> } {
  const client = createDynamoClient({ endpoint: testEndpoint() });
  const writes = new Map<string, number>();
  client.middlewareStack.add(
    (next) => async (args) => {
      const input = args.input as { Key?: Record<string, AttributeValue> };
      const shardId = input.Key?.[Attr.ShardId]?.S;
      if (shardId !== undefined) writes.set(shardId, (writes.get(shardId) ?? 0) + 1);
      return next(args);
    },
    { step: 'initialize', name: 'countWritesPerShard' },
  );
  return { client, writes };
}

/**
 * Runs `hook` on the reaper's own client right before its first `command` (UpdateItem by default) of
 * `shardId` is sent: the reaper has read the row and decided, and the hook changes the row under it.
 * This makes the read/write interleaving deterministic instead of hoping a race happens.
 */
function beforeUpdateOf(
  client: DynamoDBClient,
  shardId: string,
  hook: () => Promise<void>,
  command: 'UpdateItemCommand' | 'DeleteItemCommand' = 'UpdateItemCommand',
): void {
  let done = false;
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const input = args.input as { Key?: Record<string, AttributeValue> };
      if (!done && context.commandName === command && input.Key?.[Attr.ShardId]?.S === shardId) {
        done = true;
        await hook();
      }
      return next(args);
    },
    { step: 'initialize', name: `before-${command}-${shardId}` },
  );
}

const iso = (ms: number) => formatLeaseTime(ms);
/** A Go-written instant: whole seconds, no fraction. */
const goIso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

let clock: ManualClock;
let table: TestTable;

beforeEach(async () => {
  clock = new ManualClock(T0);
  table = await createTestTable('reaper', { clock, leaseDurationMs: LEASE, claimTimeoutMs: CLAIM });
});

function reaper(client: DynamoDBClient, extra: Partial<ReaperOptions> = {}): Reaper {
  return new Reaper({
    client,
    tableName: table.tableName,
    claimTimeoutMs: CLAIM,
    graceMs: GRACE,
    clock,
    ...extra,
  });
}

/** Runs passes, each resuming where the last stopped, until one completes. */
async function passUntilComplete(r: Reaper, shouldStop: () => () => boolean): Promise<ReaperSummary[]> {
  const summaries: ReaperSummary[] = [];
  let resumeFrom: string | undefined;
  for (;;) {
    const summary = await r.runPass({
      ...(resumeFrom && { startAfter: resumeFrom }),
      shouldStop: shouldStop(),
    });
    summaries.push(summary);
    if (summary.complete) return summaries;
    expect(summary.fault).toBeUndefined();
    resumeFrom = summary.resumeFrom;
    expect(summaries.length).toBeLessThan(1_000);
  }
}

const total = (summaries: readonly ReaperSummary[], key: keyof ReaperSummary) =>
  summaries.reduce((sum, s) => sum + Number(s[key]), 0);

describe('Reaper: expired leases', () => {
  it('clears owners expired longer than the grace period and leaves fresh and within-grace leases alone', async () => {
    await seed(table.io.client, table.tableName, [
      { ShardID: 'expired', AssignedTo: 'w1', LeaseTimeout: iso(T0 - GRACE - 1), LeaseCounter: 4 },
      { ShardID: 'go-expired', AssignedTo: 'w2', LeaseTimeout: goIso(T0 - GRACE - 5_000) },
      { ShardID: 'within-grace', AssignedTo: 'w3', LeaseTimeout: iso(T0 - GRACE + 1), LeaseCounter: 2 },
      { ShardID: 'fresh', AssignedTo: 'w4', LeaseTimeout: iso(T0 + 5_000), LeaseCounter: 1 },
      { ShardID: 'unowned', LeaseTimeout: iso(T0 - 3_600_000), LeaseCounter: 7 },
    ]);
    const { client, writes } = reaperClient();

    const summary = await reaper(client).runPass();

    expect(summary).toMatchObject({
      rowsScanned: 5,
      pagesScanned: 1,
      leasesReclaimed: 2,
      claimsDropped: 0,
      endedRowsDeleted: 0,
      goneRowsDeleted: 0,
      conflicts: 0,
      complete: true,
    });
    expect(summary.resumeFrom).toBeUndefined();
    expect([...writes.keys()].sort()).toEqual(['expired', 'go-expired']);
    const rows = await readAll(table.io.client, table.tableName);
    // The owner goes; the expiry and counter stay (a Go-written claim lapses relative to LeaseTimeout).
    expect(rows.get('expired')).toEqual({
      ShardID: 'expired',
      LeaseTimeout: iso(T0 - GRACE - 1),
      LeaseCounter: 4,
    });
    expect(rows.get('go-expired')).toEqual({
      ShardID: 'go-expired',
      LeaseTimeout: goIso(T0 - GRACE - 5_000),
    });
    expect(rows.get('within-grace')?.[Attr.AssignedTo]).toBe('w3');
    expect(rows.get('fresh')?.[Attr.AssignedTo]).toBe('w4');
  });

  it('lets any worker take a reclaimed lease, and the next pass finds nothing to do', async () => {
    await table.checkpointer.getLease('s1', { workerId: 'crashed' });
    clock.advance(LEASE + GRACE + 1);
    const { client } = reaperClient();
    const r = reaper(client);

    expect(await r.runPass()).toMatchObject({ leasesReclaimed: 1, conflicts: 0 });
    expect(await r.runPass()).toMatchObject({ leasesReclaimed: 0, conflicts: 0, complete: true });
    const lease = await table.checkpointer.getLease('s1', { workerId: 'peer' });
    expect(lease).toMatchObject({ owner: 'peer', leaseCounter: 2 });
  });

  it('does not clear a lease its owner renews between the reaper reading it and writing', async () => {
    await table.checkpointer.getLease('renewed', { workerId: 'slow-worker' });
    clock.advance(LEASE + GRACE + 1);
    const { client } = reaperClient();
    beforeUpdateOf(client, 'renewed', async () => {
      await table.checkpointer.getLease('renewed', { workerId: 'slow-worker' });
    });

    const summary = await reaper(client).runPass();

    expect(summary).toMatchObject({ leasesReclaimed: 0, conflicts: 1, complete: true });
    const rows = await readAll(table.io.client, table.tableName);
    expect(rows.get('renewed')).toMatchObject({
      AssignedTo: 'slow-worker',
      LeaseCounter: 2,
      LeaseTimeout: iso(clock.now() + LEASE),
    });
  });

  it('does not clear a Go-written lease that the Go library rewrites between the read and the write', async () => {
    await seed(table.io.client, table.tableName, [
      { ShardID: 'go', AssignedTo: 'go-worker', LeaseTimeout: goIso(T0 - 60_000), Checkpoint: '1' },
    ]);
    const { client } = reaperClient();
    // The Go library renews by replacing the whole item (PutItem) with a later LeaseTimeout.
    beforeUpdateOf(client, 'go', async () => {
      await table.io.client.send(
        new PutItemCommand({
          TableName: table.tableName,
          Item: toItem({
            ShardID: 'go',
            AssignedTo: 'go-worker',
            LeaseTimeout: goIso(T0 + 10_000),
            Checkpoint: '1',
          }),
        }),
      );
    });

    const summary = await reaper(client).runPass();

    expect(summary).toMatchObject({ leasesReclaimed: 0, conflicts: 1 });
    expect((await readAll(table.io.client, table.tableName)).get('go')?.[Attr.AssignedTo]).toBe('go-worker');
  });

  it('does not clear a lease another worker takes (same expiry, counter moved) between the read and the write', async () => {
    await seed(table.io.client, table.tableName, [
      { ShardID: 'taken', AssignedTo: 'w1', LeaseTimeout: iso(T0 - 60_000), LeaseCounter: 3 },
    ]);
    const { client } = reaperClient();
    // Only the counter tells this take from the row read: same owner, same expiry written back.
    beforeUpdateOf(client, 'taken', async () => {
      await seed(table.io.client, table.tableName, [
        { ShardID: 'taken', AssignedTo: 'w1', LeaseTimeout: iso(T0 - 60_000), LeaseCounter: 4 },
      ]);
    });

    expect(await reaper(client).runPass()).toMatchObject({ leasesReclaimed: 0, conflicts: 1 });
    expect((await readAll(table.io.client, table.tableName)).get('taken')?.[Attr.AssignedTo]).toBe('w1');
  });
});

describe('Reaper: claims', () => {
  it('drops claims older than the claim timeout, ours and Go-written, and keeps fresh ones', async () => {
    await seed(table.io.client, table.tableName, [
      {
        ShardID: 'stale',
        AssignedTo: 'owner',
        LeaseTimeout: iso(T0 + 5_000),
        ClaimRequest: 'thief',
        ClaimedAt: iso(T0 - CLAIM - 1),
      },
      {
        ShardID: 'fresh',
        AssignedTo: 'owner',
        LeaseTimeout: iso(T0 + 5_000),
        ClaimRequest: 'thief',
        ClaimedAt: iso(T0 - CLAIM + 1_000),
      },
      // A Go claim has no ClaimedAt: it lapses a claim timeout after the lease it targets expired.
      { ShardID: 'go-stale', LeaseTimeout: goIso(T0 - CLAIM - 2_000), ClaimRequest: 'go-thief' },
      { ShardID: 'go-fresh', LeaseTimeout: goIso(T0 - 2_000), ClaimRequest: 'go-thief' },
    ]);
    const { client } = reaperClient();

    const summary = await reaper(client).runPass();

    expect(summary).toMatchObject({ claimsDropped: 2, leasesReclaimed: 0, conflicts: 0 });
    const rows = await readAll(table.io.client, table.tableName);
    expect(rows.get('stale')).toEqual({
      ShardID: 'stale',
      AssignedTo: 'owner',
      LeaseTimeout: iso(T0 + 5_000),
    });
    expect(rows.get('go-stale')).toEqual({ ShardID: 'go-stale', LeaseTimeout: goIso(T0 - CLAIM - 2_000) });
    expect(rows.get('fresh')?.[Attr.ClaimRequest]).toBe('thief');
    expect(rows.get('go-fresh')?.[Attr.ClaimRequest]).toBe('go-thief');
  });

  it('clears an expired owner and a stale claim of the same row in one write', async () => {
    await seed(table.io.client, table.tableName, [
      {
        ShardID: 'both',
        AssignedTo: 'gone-worker',
        LeaseTimeout: iso(T0 - 60_000),
        LeaseCounter: 9,
        ClaimRequest: 'thief',
        ClaimedAt: iso(T0 - CLAIM - 1),
      },
    ]);
    const { client, writes } = reaperClient();

    expect(await reaper(client).runPass()).toMatchObject({ leasesReclaimed: 1, claimsDropped: 1 });
    expect(writes.get('both')).toBe(1);
    expect((await readAll(table.io.client, table.tableName)).get('both')).toEqual({
      ShardID: 'both',
      LeaseTimeout: iso(T0 - 60_000),
      LeaseCounter: 9,
    });
  });

  it('keeps a claim renewed between the read and the write', async () => {
    await seed(table.io.client, table.tableName, [
      {
        ShardID: 'reclaimed',
        LeaseTimeout: iso(T0 + 5_000),
        ClaimRequest: 'a',
        ClaimedAt: iso(T0 - CLAIM - 1),
      },
    ]);
    const { client } = reaperClient();
    beforeUpdateOf(client, 'reclaimed', () =>
      table.checkpointer.claimShard('reclaimed', 'b').then(() => undefined),
    );

    expect(await reaper(client).runPass()).toMatchObject({ claimsDropped: 0, conflicts: 1 });
    expect((await readAll(table.io.client, table.tableName)).get('reclaimed')).toMatchObject({
      ClaimRequest: 'b',
      ClaimedAt: iso(T0),
    });
  });

  it('keeps a Go-written claim whose lease the Go library renewed between the read and the write', async () => {
    // A Go claim has no ClaimedAt: it lapses relative to LeaseTimeout, so only the timeout in the
    // condition tells the renewed row from the one read.
    await seed(table.io.client, table.tableName, [
      { ShardID: 'go-renewed', LeaseTimeout: goIso(T0 - CLAIM - 2_000), ClaimRequest: 'go-thief' },
    ]);
    const { client } = reaperClient();
    beforeUpdateOf(client, 'go-renewed', async () => {
      await table.io.client.send(
        new PutItemCommand({
          TableName: table.tableName,
          Item: toItem({
            ShardID: 'go-renewed',
            AssignedTo: 'go-worker',
            LeaseTimeout: goIso(T0 + 10_000),
            ClaimRequest: 'go-thief',
          }),
        }),
      );
    });

    expect(await reaper(client).runPass()).toMatchObject({ claimsDropped: 0, conflicts: 1 });
    expect((await readAll(table.io.client, table.tableName)).get('go-renewed')).toMatchObject({
      AssignedTo: 'go-worker',
      ClaimRequest: 'go-thief',
    });
  });

  it('drops a lapsed claim of ours even when the Go owner renews its lease between the read and the write', async () => {
    // Our claims carry ClaimedAt and lapse by it alone: a renewal that moves LeaseTimeout (a Go
    // worker's keeps the claim in place) must not make the reaper's drop a conflict.
    const claimedAt = iso(T0 - CLAIM - 2_000);
    await seed(table.io.client, table.tableName, [
      {
        ShardID: 'ours-go-owned',
        AssignedTo: 'go-worker',
        LeaseTimeout: goIso(T0 + 1_000),
        ClaimRequest: 'thief',
        ClaimedAt: claimedAt,
      },
    ]);
    const { client } = reaperClient();
    beforeUpdateOf(client, 'ours-go-owned', async () => {
      await table.io.client.send(
        new PutItemCommand({
          TableName: table.tableName,
          Item: toItem({
            ShardID: 'ours-go-owned',
            AssignedTo: 'go-worker',
            LeaseTimeout: goIso(T0 + 10_000),
            ClaimRequest: 'thief',
            ClaimedAt: claimedAt,
          }),
        }),
      );
    });

    expect(await reaper(client).runPass()).toMatchObject({ claimsDropped: 1, conflicts: 0 });
    const row = (await readAll(table.io.client, table.tableName)).get('ours-go-owned');
    expect(row).toMatchObject({ AssignedTo: 'go-worker', LeaseTimeout: goIso(T0 + 10_000) });
    expect(row?.ClaimRequest).toBeUndefined();
  });
});

describe('Reaper: ended shards', () => {
  const ended = (shardId: string, extra: Seed = {}): Seed => ({
    ShardID: shardId,
    Checkpoint: SHARD_END,
    LeaseTimeout: iso(T0 - 60_000),
    ...extra,
  });
  const child = (shardId: string, parent: string): Seed => ({
    ShardID: shardId,
    ParentShardId: parent,
    AssignedTo: 'w',
    LeaseTimeout: iso(T0 + 5_000),
    Checkpoint: '49590338271490256608559692538361571095921575989136588898',
  });
  const rows = [
    ended('split-parent'),
    child('split-a', 'split-parent'),
    child('split-b', 'split-parent'),
    ended('childless'),
    ended('live-owner', { AssignedTo: 'finishing', LeaseTimeout: iso(T0 + 5_000) }),
    child('live-owner-child', 'live-owner'),
    // An ended child of an ended parent: both go, each has a child row.
    ended('grand-parent'),
    ended('ended-child', { ParentShardId: 'grand-parent' }),
    child('grand-child', 'ended-child'),
  ];

  it('deletes the row of an ended shard once it has child rows, even when they sit on later pages', async () => {
    await seed(table.io.client, table.tableName, rows);
    const { client } = reaperClient();

    // One row a page: every child is on another page than its parent.
    const summary = await reaper(client, { pageSize: 1 }).runPass();

    expect(summary).toMatchObject({
      rowsScanned: rows.length,
      endedRowsDeleted: 3,
      goneRowsDeleted: 0,
      complete: true,
    });
    const left = await readAll(table.io.client, table.tableName);
    expect([...left.keys()].sort()).toEqual(
      ['childless', 'grand-child', 'live-owner', 'live-owner-child', 'split-a', 'split-b'].sort(),
    );
  });

  it('decides deletes at the end of a pass that resumed over several invocations', async () => {
    await seed(table.io.client, table.tableName, rows);
    const { client } = reaperClient();
    const r = reaper(client, { pageSize: 1 });

    // Always out of time: one page, or one delete, per invocation.
    const summaries = await passUntilComplete(r, () => () => true);

    let scanned = 0;
    for (const s of summaries) {
      scanned += s.rowsScanned;
      // Nothing is deleted before every row has been seen.
      if (s.endedRowsDeleted > 0) expect(scanned).toBe(rows.length);
    }
    expect(scanned).toBe(rows.length);
    expect(total(summaries, 'endedRowsDeleted')).toBe(3);
    expect(total(summaries, 'conflicts')).toBe(0);
    expect(summaries.filter((s) => s.endedRowsDeleted > 0)).toHaveLength(3);
    expect((await readAll(table.io.client, table.tableName)).has('split-parent')).toBe(false);
  });

  it('does not delete an ended row that a worker takes between the read and the delete', async () => {
    await seed(table.io.client, table.tableName, [ended('p'), child('c', 'p')]);
    const { client } = reaperClient();
    beforeUpdateOf(
      client,
      'p',
      () => table.checkpointer.getLease('p', { workerId: 'late' }).then(() => undefined),
      'DeleteItemCommand',
    );

    expect(await reaper(client).runPass()).toMatchObject({ endedRowsDeleted: 0, conflicts: 1 });
    expect((await readAll(table.io.client, table.tableName)).get('p')?.[Attr.AssignedTo]).toBe('late');
  });

  it('does not delete an ended row that a Go worker takes between the read and the delete (no counter to tell)', async () => {
    // Rows the Go library wrote carry no LeaseCounter, and its take (a PutItem of the whole row) adds
    // none: only the live owner in the condition keeps the delete off a lease taken after the read.
    await seed(table.io.client, table.tableName, [ended('go-parent'), child('go-child', 'go-parent')]);
    const { client } = reaperClient();
    beforeUpdateOf(
      client,
      'go-parent',
      async () => {
        await table.io.client.send(
          new PutItemCommand({
            TableName: table.tableName,
            Item: toItem({
              ShardID: 'go-parent',
              AssignedTo: 'go-worker',
              LeaseTimeout: goIso(T0 + 10_000),
              Checkpoint: SHARD_END,
            }),
          }),
        );
      },
      'DeleteItemCommand',
    );

    expect(await reaper(client).runPass()).toMatchObject({ endedRowsDeleted: 0, conflicts: 1 });
    const left = await readAll(table.io.client, table.tableName);
    expect(left.get('go-parent')).toMatchObject({ AssignedTo: 'go-worker', Checkpoint: SHARD_END });
    expect(left.get('go-parent')?.[Attr.LeaseCounter]).toBeUndefined();
  });

  it('does not delete an ended row whose checkpoint is rewound between the read and the delete (no counter, no owner)', async () => {
    // A tool outside shardlease (an operator's script on a table shared with Go workers) rewinds an
    // ended shard to reprocess it: no owner and no counter move, so only the SHARD_END check in the
    // delete condition keeps the rewound row.
    const rewound = '49590338271490256608559692538361571095921575989136588898';
    await seed(table.io.client, table.tableName, [ended('rewound'), child('rewound-child', 'rewound')]);
    const { client } = reaperClient();
    beforeUpdateOf(
      client,
      'rewound',
      async () => {
        await table.io.client.send(
          new PutItemCommand({
            TableName: table.tableName,
            Item: toItem({ ShardID: 'rewound', LeaseTimeout: goIso(T0 - 60_000), Checkpoint: rewound }),
          }),
        );
      },
      'DeleteItemCommand',
    );

    expect(await reaper(client).runPass()).toMatchObject({ endedRowsDeleted: 0, conflicts: 1 });
    expect((await readAll(table.io.client, table.tableName)).get('rewound')).toMatchObject({
      Checkpoint: rewound,
    });
  });
});

describe('Reaper: concurrency and faults', () => {
  it('two reapers at once reclaim each lease exactly once and neither undoes a renewal', async () => {
    const expired = Array.from({ length: 40 }, (_, i) => ({
      ShardID: `s${i}`,
      AssignedTo: `w${i % 4}`,
      LeaseTimeout: iso(T0 - 60_000),
      LeaseCounter: 1,
    }));
    await seed(table.io.client, table.tableName, expired);
    const a = reaperClient();
    const b = reaperClient();
    // Both reapers have read the whole table before either writes; then s0's owner renews.
    let arrived = 0;
    let release: () => void = () => undefined;
    const barrier = new Promise<void>((resolve) => {
      release = resolve;
    });
    for (const { client } of [a, b]) {
      let first = true;
      client.middlewareStack.add(
        (next, context) => async (args) => {
          if (context.commandName === 'UpdateItemCommand') {
            if (first) {
              first = false;
              if (++arrived === 2) {
                await table.io.client.send(
                  new PutItemCommand({
                    TableName: table.tableName,
                    Item: toItem({
                      ShardID: 's0',
                      AssignedTo: 'w0',
                      LeaseTimeout: iso(T0 + LEASE),
                      LeaseCounter: 2,
                    }),
                  }),
                );
                release();
              }
            }
            await barrier;
          }
          return next(args);
        },
        { step: 'initialize', name: 'barrier' },
      );
    }

    const [sa, sb] = await Promise.all([reaper(a.client).runPass(), reaper(b.client).runPass()]);

    expect(sa.leasesReclaimed + sb.leasesReclaimed).toBe(39);
    // Each of the 39 rows: one write wins, the other is refused; s0: both refused.
    expect(sa.conflicts + sb.conflicts).toBe(39 + 2);
    const left = await readAll(table.io.client, table.tableName);
    expect(left.get('s0')).toMatchObject({ AssignedTo: 'w0', LeaseCounter: 2 });
    expect([...left.values()].filter((r) => r[Attr.AssignedTo] !== undefined)).toHaveLength(1);
  });

  it('stops at a DynamoDB fault, reports it, and the next pass resumes from the page that failed', async () => {
    await seed(
      table.io.client,
      table.tableName,
      Array.from({ length: 50 }, (_, i) => ({
        ShardID: `s${i}`,
        AssignedTo: 'w',
        LeaseTimeout: iso(T0 - 60_000),
      })),
    );
    const { client, writes } = reaperClient();
    // A fault dynalite cannot produce on demand: the third Scan is refused as if access were denied.
    let scans = 0;
    client.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === 'ScanCommand' && ++scans === 3) {
          throw Object.assign(new Error('not authorized to perform dynamodb:Scan'), {
            name: 'AccessDeniedException',
          });
        }
        return next(args);
      },
      { step: 'initialize', name: 'faultOnThirdScan' },
    );
    const r = reaper(client, { pageSize: 10 });

    const first = await r.runPass();
    expect(first).toMatchObject({ complete: false, pagesScanned: 2, rowsScanned: 20, leasesReclaimed: 20 });
    expect(first.fault).toMatch(/AccessDeniedException/);
    expect(first.resumeFrom).toBeDefined();

    const second = await r.runPass({ startAfter: first.resumeFrom });
    expect(second).toMatchObject({ complete: true, rowsScanned: 30, leasesReclaimed: 30, conflicts: 0 });
    expect(second.fault).toBeUndefined();
    expect(writes.size).toBe(50);
    expect([...writes.values()].every((n) => n === 1)).toBe(true);
  });
});

describe('Reaper: 10,000 rows', () => {
  it('completes a pass, and resumes over short passes without missing or repeating a row', async () => {
    const N = 10_000;
    const pad = (i: number) => `shardId-${String(i).padStart(12, '0')}`;
    // Every tenth row expired now, every tenth (offset 1) expiring in 30 s, the rest live for an hour.
    const timeoutOf = (i: number) =>
      i % 10 === 0 ? T0 - 60_000 : i % 10 === 1 ? T0 + 30_000 : T0 + 3_600_000;
    await seed(
      table.io.client,
      table.tableName,
      Array.from({ length: N }, (_, i) => ({
        ShardID: pad(i),
        AssignedTo: `w${i % 50}`,
        LeaseTimeout: iso(timeoutOf(i)),
        LeaseCounter: 1,
        Checkpoint: String(1000 + i),
      })),
    );
    const { client, writes } = reaperClient();
    const r = reaper(client, { pageSize: 500 });

    // At most three pages an invocation: shouldStop is asked before every page after the first.
    const short = await passUntilComplete(r, () => {
      let asked = 0;
      return () => ++asked >= 3;
    });
    expect(short.length).toBeGreaterThanOrEqual(7);
    expect(total(short, 'rowsScanned')).toBe(N);
    expect(total(short, 'leasesReclaimed')).toBe(N / 10);
    expect(total(short, 'conflicts')).toBe(0);
    expect(writes.size).toBe(N / 10);
    expect([...writes].every(([id, n]) => n === 1 && Number(id.slice(8)) % 10 === 0)).toBe(true);

    clock.advance(60_000);
    writes.clear();
    const full = await reaper(client).runPass();
    expect(full).toMatchObject({ complete: true, rowsScanned: N, leasesReclaimed: N / 10, conflicts: 0 });
    expect([...writes].every(([id, n]) => n === 1 && Number(id.slice(8)) % 10 === 1)).toBe(true);

    const left = await readAll(table.io.client, table.tableName);
    expect(left.size).toBe(N);
    expect([...left.values()].filter((row) => row[Attr.AssignedTo] === undefined)).toHaveLength(N / 5);
  });
});
