/**
 * The shards Kinesis lists for one stream, every page of ListShards, or an error: callers delete rows
 * on the strength of this list, so a partial view must never come back as if complete. One stream
 * only: shard ids repeat across streams, so one lease table (and one shard list) serves one stream.
 */
import { type KinesisClient, ListShardsCommand, type ListShardsCommandInput } from '@aws-sdk/client-kinesis';

export interface StreamShard {
  readonly shardId: string;
  readonly parentShardId?: string;
  readonly adjacentParentShardId?: string;
  /** Closed (has an EndingSequenceNumber): no new records will arrive. */
  readonly closed: boolean;
}

export interface ShardSource {
  /** Every shard the stream lists, all pages; throws on any fault, never a partial view. */
  listShards(): Promise<readonly StreamShard[]>;
}

/** ListShards returns at most 10,000 shards a page; the most a page may hold costs no more calls. */
const PAGE_SIZE = 10_000;

export interface KinesisShardSourceOptions {
  readonly client: KinesisClient;
  /** The stream whose shards the lease table holds. */
  readonly streamName?: string;
  /**
   * @deprecated Use `streamName`. Accepted with one name (repeats of it included) for callers written
   * when a table could list several streams; several different names are refused.
   */
  readonly streamNames?: readonly string[];
}

/** The one stream name of the options, or an error that says why there must be exactly one. */
function oneStreamName(options: KinesisShardSourceOptions): string {
  const names = [
    ...new Set([
      ...(options.streamName !== undefined ? [options.streamName] : []),
      ...(options.streamNames ?? []),
    ]),
  ];
  if (names.length === 1) return names[0] as string;
  if (names.length === 0) throw new Error('KinesisShardSource needs a stream name');
  throw new Error(
    `KinesisShardSource serves one stream, got ${JSON.stringify(names)}: shard ids repeat across streams ` +
      '(shardId-000000000000 is in every one), so one lease table cannot tell their shards apart; ' +
      'give each stream its own table and its own shard source',
  );
}

export class KinesisShardSource implements ShardSource {
  private readonly client: KinesisClient;
  readonly streamName: string;

  constructor(options: KinesisShardSourceOptions) {
    this.client = options.client;
    this.streamName = oneStreamName(options);
  }

  async listShards(): Promise<readonly StreamShard[]> {
    return this.listStream(this.streamName);
  }

  private async listStream(streamName: string): Promise<StreamShard[]> {
    const shards: StreamShard[] = [];
    let nextToken: string | undefined;
    do {
      // With a NextToken, ListShards refuses the stream name: the token carries it.
      const input: ListShardsCommandInput = nextToken
        ? { NextToken: nextToken, MaxResults: PAGE_SIZE }
        : { StreamName: streamName, MaxResults: PAGE_SIZE };
      const page = await this.client.send(new ListShardsCommand(input));
      for (const shard of page.Shards ?? []) {
        if (!shard.ShardId)
          throw new Error(`ListShards of stream ${streamName} returned a shard without an id`);
        shards.push({
          shardId: shard.ShardId,
          ...(shard.ParentShardId && { parentShardId: shard.ParentShardId }),
          ...(shard.AdjacentParentShardId && { adjacentParentShardId: shard.AdjacentParentShardId }),
          closed: shard.SequenceNumberRange?.EndingSequenceNumber !== undefined,
        });
      }
      nextToken = page.NextToken;
    } while (nextToken);
    if (shards.length === 0) throw new Error(`ListShards of stream ${streamName} returned no shards`);
    return shards;
  }
}
