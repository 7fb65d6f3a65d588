/** A kinesalite server for one test file, in memory on a free loopback port, and a client for it. */
import type { AddressInfo } from 'node:net';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { createLocalKinesisClient } from '../../lib/local/kinesis-local-client';

export interface TestKinesis {
  readonly endpoint: string;
  readonly client: KinesisClient;
  close(): Promise<void>;
}

interface KinesaliteServer {
  listen(port: number, host: string, callback: (error?: Error) => void): void;
  address(): AddressInfo;
  close(callback: (error?: Error) => void): void;
}

/** `shardLimit`: the most shards the account may hold (kinesalite refuses streams beyond it). */
export async function startKinesalite(options: { readonly shardLimit?: number } = {}): Promise<TestKinesis> {
  // kinesalite ships no types; its factory returns a node:http server.
  const kinesalite = require('kinesalite') as (options: Record<string, unknown>) => KinesaliteServer;
  const server = kinesalite({
    createStreamMs: 0,
    deleteStreamMs: 0,
    updateStreamMs: 0,
    shardLimit: options.shardLimit ?? 100,
  });
  await new Promise<void>((resolve, reject) =>
    server.listen(0, '127.0.0.1', (error) => (error ? reject(error) : resolve())),
  );
  const endpoint = `http://127.0.0.1:${server.address().port}`;
  const client = createLocalKinesisClient(endpoint);
  return {
    endpoint,
    client,
    close: async () => {
      client.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
