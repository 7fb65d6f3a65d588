/**
 * The shards Kinesis lists for one or more streams, every page of ListShards, or an error: callers
 * delete rows on the strength of this list, so a partial view must never come back as if complete.
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
  /** Every shard the stream(s) list, all pages; throws on any fault, never a partial view. */
  listShards(): Promise<readonly StreamShard[]>;
}

/** ListShards returns at most 10,000 shards a page; the most a page may hold costs no more calls. */
const PAGE_SIZE = 10_000;

export class KinesisShardSource implements ShardSource {
  private readonly client: KinesisClient;
  private readonly streamNames: readonly string[];

  constructor(options: { readonly client: KinesisClient; readonly streamNames: readonly string[] }) {
    if (options.streamNames.length === 0)
      throw new Error('KinesisShardSource needs at least one stream name');
    this.client = options.client;
    this.streamNames = [...new Set(options.streamNames)];
  }

  async listShards(): Promise<readonly StreamShard[]> {
    const shards: StreamShard[] = [];
    // One stream after the other: ListShards allows 1,000 calls/s per stream, and this runs once a pass.
    for (const streamName of this.streamNames) shards.push(...(await this.listStream(streamName)));
    return shards;
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
