/** The embedded DynamoDB of local mode and of the tests: dynalite, in memory unless `path` is given, on loopback. */

import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

// dynalite ships no types; its factory returns a node:http server.
const dynalite = require('dynalite') as (options: Record<string, unknown>) => Server;

export interface RunningDynalite {
  readonly endpoint: string;
  close(): Promise<void>;
}

export async function startDynalite(
  options: { path?: string; port?: number } = {},
): Promise<RunningDynalite> {
  const server = dynalite({
    createTableMs: 0,
    deleteTableMs: 0,
    updateTableMs: 0,
    ...(options.path && { path: options.path }),
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve, reject) => server.close((e) => (e ? reject(e) : resolve()))),
  };
}
