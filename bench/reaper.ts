/**
 * The reaper's pass: wall time and DynamoDB requests for 1,000 and 10,000 rows in a realistic mix,
 * then a second pass over the same table when nothing is left to do (the steady state of a schedule).
 */
import { performance } from 'node:perf_hooks';
import { CreateTableCommand, DeleteTableCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { formatLeaseTime } from '../lib/core/lease-time';
import { SHARD_END } from '../lib/core/sequence-number';
import { DEFAULT_REAPER_PAGE_SIZE, Reaper, type ReaperSummary } from '../lib/store/reaper';
import { createTableInput } from '../lib/store/table-schema';
import { countingClient, putRows } from '../test/support/dynamo';
import type { BenchContext, BenchSection } from './section';

const SIZES = [1_000, 10_000] as const;
const GRACE_MS = 10_000;
const CLAIM_TIMEOUT_MS = 120_000;

/**
 * Twenty rows repeat: 12 live leases, 4 expired beyond the grace period, 1 live lease with a lapsed
 * claim, 1 ended shard whose child (the next row) has a row, that child, and 1 ended shard with no
 * child row yet (kept).
 */
function mixRow(i: number, nowMs: number): Record<string, string | number> {
  const id = `shardId-${String(i).padStart(12, '0')}`;
  const owned = { AssignedTo: `worker-${i % 40}`, LeaseCounter: 3, Checkpoint: String(10_000 + i) };
  const slot = i % 20;
  if (slot < 12) return { ShardID: id, ...owned, LeaseTimeout: formatLeaseTime(nowMs + 3_600_000) };
  if (slot < 16) return { ShardID: id, ...owned, LeaseTimeout: formatLeaseTime(nowMs - 60_000) };
  if (slot === 16) {
    return {
      ShardID: id,
      ...owned,
      LeaseTimeout: formatLeaseTime(nowMs + 3_600_000),
      ClaimRequest: 'thief',
      ClaimedAt: formatLeaseTime(nowMs - CLAIM_TIMEOUT_MS - 60_000),
    };
  }
  if (slot === 17 || slot === 19) {
    return {
      ShardID: id,
      Checkpoint: SHARD_END,
      LeaseTimeout: formatLeaseTime(nowMs - 60_000),
      LeaseCounter: 5,
    };
  }
  const parent = `shardId-${String(i - 1).padStart(12, '0')}`;
  return { ShardID: id, ...owned, LeaseTimeout: formatLeaseTime(nowMs + 3_600_000), ParentShardId: parent };
}

function seed(client: DynamoDBClient, tableName: string, size: number, nowMs: number): Promise<void> {
  return putRows(
    client,
    tableName,
    Array.from({ length: size }, (_, i) => mixRow(i, nowMs)),
  );
}

interface Measured {
  readonly summary: ReaperSummary;
  readonly ms: number;
  readonly counts: ReadonlyMap<string, number>;
}

async function measurePass(reaper: Reaper, counts: Map<string, number>): Promise<Measured> {
  counts.clear();
  const started = performance.now();
  const summary = await reaper.runPass();
  return { summary, ms: performance.now() - started, counts: new Map(counts) };
}

export async function run(
  ctx: BenchContext,
): Promise<BenchSection & { readonly failures: readonly string[] }> {
  const rows: (string | number)[][] = [];
  const failures: string[] = [];
  for (const size of SIZES) {
    const { client, counts } = countingClient(ctx.dynamoEndpoint);
    const tableName = `bench-reaper-${size}-${Date.now()}`;
    await client.send(new CreateTableCommand(createTableInput(tableName)));
    try {
      const nowMs = Date.now();
      await seed(client, tableName, size, nowMs);
      const reaper = new Reaper({ client, tableName, claimTimeoutMs: CLAIM_TIMEOUT_MS, graceMs: GRACE_MS });
      const passes = [
        ['mixed (first pass)', await measurePass(reaper, counts)],
        ['nothing to do', await measurePass(reaper, counts)],
      ] as const;
      const expected = [
        { leasesReclaimed: size / 5, claimsDropped: size / 20, endedRowsDeleted: size / 20 },
        { leasesReclaimed: 0, claimsDropped: 0, endedRowsDeleted: 0 },
      ];
      passes.forEach(([label, m], p) => {
        const s = m.summary;
        const want = expected[p] as (typeof expected)[number];
        if (
          !s.complete ||
          s.leasesReclaimed !== want.leasesReclaimed ||
          s.claimsDropped !== want.claimsDropped ||
          s.endedRowsDeleted !== want.endedRowsDeleted
        ) {
          failures.push(`${size} rows, ${label}: ${JSON.stringify(s)} (expected ${JSON.stringify(want)})`);
        }
        const requests = [...m.counts.values()].reduce((a, b) => a + b, 0);
        rows.push([
          size.toLocaleString('en-US'),
          label,
          Math.round(m.ms),
          Math.round((size / m.ms) * 1000).toLocaleString('en-US'),
          m.counts.get('Scan') ?? 0,
          m.counts.get('UpdateItem') ?? 0,
          m.counts.get('DeleteItem') ?? 0,
          requests,
          `${s.leasesReclaimed} / ${s.claimsDropped} / ${s.endedRowsDeleted}`,
        ]);
      });
    } finally {
      await client.send(new DeleteTableCommand({ TableName: tableName }));
      client.destroy();
    }
  }
  return {
    title: 'Reaper pass',
    columns: [
      'rows',
      'pass',
      'ms',
      'rows/s',
      'Scan',
      'UpdateItem',
      'DeleteItem',
      'requests',
      'reclaimed / claims dropped / deleted',
    ],
    rows,
    notes: [
      `Mix per 20 rows: 12 live leases, 4 expired beyond the ${GRACE_MS / 1000} s grace, 1 lapsed claim, 1 ended shard with a child row (deleted), its child, 1 ended shard without one (kept).`,
      `ceil(rows / ${DEFAULT_REAPER_PAGE_SIZE}) Scan pages (the page size; one more, empty, when the last page is exactly full); one conditional write per row that needs one, 16 in flight; no stream configured.`,
      'DynamoDB is dynalite in its own process: compare requests exactly, and times only as ratios (a shared, noisy 2-core machine).',
    ],
    failures,
  };
}
