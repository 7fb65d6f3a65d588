import { type AttributeValue, type DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb';
import {
  CreateStreamCommand,
  DescribeStreamSummaryCommand,
  type KinesisClient,
  MergeShardsCommand,
  SplitShardCommand,
} from '@aws-sdk/client-kinesis';
import { ManualClock } from '../../lib/core/clock';
import { formatLeaseTime } from '../../lib/core/lease-time';
import { SHARD_END } from '../../lib/core/sequence-number';
import { createLocalKinesisClient } from '../../lib/local/kinesis-local-client';
import { createDynamoClient } from '../../lib/store/dynamo-client';
import { KinesisShardSource } from '../../lib/store/kinesis-shard-source';
import { Reaper } from '../../lib/store/reaper';
import { createTestTable, putRows, type TestTable, testEndpoint } from '../support/dynamo';
import { startKinesalite, type TestKinesis } from '../support/kinesalite';

const T0 = Date.parse('2026-11-25T00:00:00.000Z');
const STREAM = 'orders';
const shard = (n: number) => `shardId-${String(n).padStart(12, '0')}`;
// After the split of 0 and the merge of its children: 0 → (1, 2) → 3.
const [S0, S1, S2, S3] = [shard(0), shard(1), shard(2), shard(3)];

/** kinesalite applies a reshard asynchronously (after updateStreamMs = 0): wait until ACTIVE again. */
async function untilActive(kinesis: KinesisClient): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const out = await kinesis.send(new DescribeStreamSummaryCommand({ StreamName: STREAM }));
    if (out.StreamDescriptionSummary?.StreamStatus === 'ACTIVE') return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`stream ${STREAM} did not become ACTIVE`);
}

type Seed = Record<string, string | number>;

const put = (client: DynamoDBClient, tableName: string, rows: readonly Seed[]) =>
  putRows(client, tableName, rows);

async function shardIds(client: DynamoDBClient, tableName: string): Promise<string[]> {
  const ids: string[] = [];
  let startKey: Record<string, AttributeValue> | undefined;
  do {
    const page = await client.send(new ScanCommand({ TableName: tableName, ExclusiveStartKey: startKey }));
    ids.push(...(page.Items ?? []).map((item) => String(item.ShardID?.S)));
    startKey = page.LastEvaluatedKey;
  } while (startKey);
  return ids.sort();
}

const iso = formatLeaseTime;
const ended = (shardId: string, parent?: string): Seed => ({
  ShardID: shardId,
  Checkpoint: SHARD_END,
  LeaseTimeout: iso(T0 - 60_000),
  ...(parent && { ParentShardId: parent }),
});
const live = (shardId: string, parent?: string): Seed => ({
  ShardID: shardId,
  AssignedTo: 'worker-1',
  LeaseTimeout: iso(T0 + 5_000),
  LeaseCounter: 1,
  Checkpoint: '49590338271490256608559692538361571095921575989136588898',
  ...(parent && { ParentShardId: parent }),
});

let kinesis: TestKinesis;
let clock: ManualClock;
let table: TestTable;
let dynamo: DynamoDBClient;

beforeAll(async () => {
  kinesis = await startKinesalite();
  await kinesis.client.send(new CreateStreamCommand({ StreamName: STREAM, ShardCount: 1 }));
  await untilActive(kinesis.client);
  await kinesis.client.send(
    new SplitShardCommand({
      StreamName: STREAM,
      ShardToSplit: S0,
      NewStartingHashKey: (2n ** 127n).toString(),
    }),
  );
  await untilActive(kinesis.client);
  await kinesis.client.send(
    new MergeShardsCommand({ StreamName: STREAM, ShardToMerge: S1, AdjacentShardToMerge: S2 }),
  );
  await untilActive(kinesis.client);
});

afterAll(async () => {
  await kinesis.close();
});

beforeEach(async () => {
  clock = new ManualClock(T0);
  table = await createTestTable('reaper-kinesis', { clock });
  dynamo = createDynamoClient({ endpoint: testEndpoint() });
});

function reaperOn(
  streamName: string,
  client: KinesisClient = kinesis.client,
  deleteEndedRows = true,
): Reaper {
  return new Reaper({
    deleteEndedRows,
    client: dynamo,
    tableName: table.tableName,
    claimTimeoutMs: 120_000,
    graceMs: 10_000,
    clock,
    shardSource: new KinesisShardSource({ client, streamName }),
  });
}

describe('KinesisShardSource', () => {
  it('lists every shard of a split and merged stream with parents and whether each is closed', async () => {
    const shards = await new KinesisShardSource({ client: kinesis.client, streamName: STREAM }).listShards();
    expect([...shards].sort((a, b) => a.shardId.localeCompare(b.shardId))).toEqual([
      { shardId: S0, closed: true },
      { shardId: S1, parentShardId: S0, closed: true },
      { shardId: S2, parentShardId: S0, closed: true },
      { shardId: S3, parentShardId: S1, adjacentParentShardId: S2, closed: false },
    ]);
  });

  it('fails, rather than returning an empty list, when the stream does not exist', async () => {
    const source = new KinesisShardSource({ client: kinesis.client, streamName: 'no-such-stream' });
    await expect(source.listShards()).rejects.toThrow(/no-such-stream|not found/i);
  });

  it('refuses several streams: shard ids repeat across streams, so one table serves one', () => {
    expect(
      () => new KinesisShardSource({ client: kinesis.client, streamNames: [STREAM, 'payments'] }),
    ).toThrow('KinesisShardSource serves one stream');
  });
});

describe('Reaper with a Kinesis stream', () => {
  it('discovers every listed shard without a row, never a retired parent, and forgets stale workers', async () => {
    // S0 ended and was retired (no row) after its children got theirs; S1 has a row; S2 and S3 have none.
    await put(dynamo, table.tableName, [
      live(S1, S0),
      { ShardID: '@worker/gone', LastSeen: iso(T0 - 3_600_000), FirstSeen: iso(T0 - 7_200_000) },
      { ShardID: '@worker/here', LastSeen: iso(T0 - 1_000), FirstSeen: iso(T0 - 7_200_000) },
    ]);
    const summary = await reaperOn(STREAM).runPass();
    expect(summary).toMatchObject({
      complete: true,
      shardsDiscovered: 2,
      workerRowsDeleted: 1,
      goneRowsDeleted: 0,
    });
    expect(await shardIds(dynamo, table.tableName)).toEqual(['@worker/here', S1, S2, S3]);
    // A second pass has nothing left to discover.
    expect(await reaperOn(STREAM).runPass()).toMatchObject({ shardsDiscovered: 0, workerRowsDeleted: 0 });
  });

  it('removes ended parents only once every child the stream lists has a row, and keeps live shards', async () => {
    // The Go library records only ParentShardId, so nothing in the rows names S2 as S3's parent.
    await put(dynamo, table.tableName, [
      ended(S0),
      ended(S1, S0),
      ended(S2, S0),
      live('shardId-000000000099'),
    ]);
    const reaper = reaperOn(STREAM);

    const first = await reaper.runPass();
    // S0's children (S1, S2) have rows; S1 and S2 wait for S3's row, which discovery creates, with both
    // parents, at the end of this pass. 99 is not listed but held: kept.
    expect(first).toMatchObject({
      complete: true,
      endedRowsDeleted: 1,
      goneRowsDeleted: 0,
      shardsDiscovered: 1,
      conflicts: 0,
    });
    expect(await shardIds(dynamo, table.tableName)).toEqual([S1, S2, S3, 'shardId-000000000099']);
    const discovered = await table.checkpointer
      .fetchCheckpoint(S3)
      .catch((e: { details: unknown }) => e.details);
    expect(discovered).toEqual({ leaseCounter: 0 });
    expect((await table.checkpointer.listShards()).shards.find((l) => l.shardId === S3)).toMatchObject({
      parentShardId: S1,
      adjacentParentShardId: S2,
    });

    await put(dynamo, table.tableName, [live(S3, S1)]);
    const second = await reaper.runPass();
    // Both parents of the merge go once the child has a row: S2 through the stream's adjacent parent.
    expect(second).toMatchObject({ complete: true, endedRowsDeleted: 2, conflicts: 0 });
    expect(await shardIds(dynamo, table.tableName)).toEqual([S3, 'shardId-000000000099']);
  });

  it('keeps ended rows while the stream lists them when ended-row deletes are off (tables shared with Go workers)', async () => {
    await put(dynamo, table.tableName, [
      ended(S0),
      ended(S1, S0),
      ended(S2, S0),
      live(S3, S1),
      ended('shardId-000000000098'),
    ]);

    const summary = await reaperOn(STREAM, kinesis.client, false).runPass();

    // Only the ended shard the stream no longer lists goes.
    expect(summary).toMatchObject({ complete: true, endedRowsDeleted: 0, goneRowsDeleted: 1 });
    expect(await shardIds(dynamo, table.tableName)).toEqual([S0, S1, S2, S3]);
  });

  it('deletes the row of a shard the stream does not list once nobody holds it, and never one it lists', async () => {
    await put(dynamo, table.tableName, [
      { ShardID: 'shardId-000000000042', Checkpoint: '7', LeaseTimeout: iso(T0 - 60_000) },
      { ...live('shardId-000000000043') },
      // Listed, open, unowned and never checkpointed: stays.
      { ShardID: S3 },
      // Listed, closed, no row names it and the stream's child (S3) has a row: ended-rule only.
      { ShardID: S1, Checkpoint: '5' },
    ]);
    const reaper = reaperOn(STREAM);

    const first = await reaper.runPass();
    expect(first).toMatchObject({ complete: true, goneRowsDeleted: 1, endedRowsDeleted: 0 });
    expect(await shardIds(dynamo, table.tableName)).toEqual([S1, S3, 'shardId-000000000043']);

    // The live lease on a gone shard is left until it expires (and, here, until the reaper clears it).
    clock.advance(60_000);
    const second = await reaper.runPass();
    expect(second).toMatchObject({ leasesReclaimed: 1, goneRowsDeleted: 1 });
    expect(await shardIds(dynamo, table.tableName)).toEqual([S1, S3]);
  });

  it('deletes nothing on the stream’s word and reports the fault when the stream name is wrong', async () => {
    await put(dynamo, table.tableName, [
      ended(S0),
      ended(S1, S0),
      ended(S2, S0),
      { ShardID: 'shardId-000000000099', LeaseTimeout: iso(T0 - 60_000), AssignedTo: 'crashed' },
    ]);

    const summary = await reaperOn('not-a-stream').runPass();

    expect(summary.complete).toBe(false);
    expect(summary.fault).toMatch(/listing the stream failed/);
    expect(summary.resumeFrom).toBeUndefined();
    expect(summary).toMatchObject({ endedRowsDeleted: 0, goneRowsDeleted: 0, leasesReclaimed: 1 });
    expect(await shardIds(dynamo, table.tableName)).toEqual([S0, S1, S2, 'shardId-000000000099']);
  });

  it('deletes nothing on the stream’s word when Kinesis is down, and the next pass does once it is back', async () => {
    await put(dynamo, table.tableName, [
      ended(S0),
      ended(S1, S0),
      ended(S2, S0),
      { ShardID: 'shardId-000000000099' },
    ]);
    const down = await startKinesalite();
    await down.close();
    // Nothing listens on that port any more: every ListShards is refused.
    const downClient = createLocalKinesisClient(down.endpoint);

    const summary = await reaperOn(STREAM, downClient).runPass();
    downClient.destroy();

    expect(summary.fault).toMatch(/listing the stream failed/);
    expect(summary).toMatchObject({ complete: false, endedRowsDeleted: 0, goneRowsDeleted: 0 });
    expect(await shardIds(dynamo, table.tableName)).toEqual([S0, S1, S2, 'shardId-000000000099']);

    const recovered = await reaperOn(STREAM).runPass();
    expect(recovered).toMatchObject({
      complete: true,
      endedRowsDeleted: 1,
      goneRowsDeleted: 1,
      shardsDiscovered: 1,
    });
    expect(await shardIds(dynamo, table.tableName)).toEqual([S1, S2, S3]);
  });
});
