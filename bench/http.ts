/**
 * Issue 3: GetLease (renewal of an owned lease) through the local HTTP server, which runs the very
 * handlers the Lambdas run, against the core called directly; same run, same dynalite, same table.
 */

import { randomUUID } from 'node:crypto';
import { Agent, request } from 'node:http';
import { Logger } from '@aws-lambda-powertools/logger';
import { startLocalServer } from '../lib/local/server';
import { DynamoCheckpointer } from '../lib/store/dynamo-checkpointer';
import { createDynamoClient } from '../lib/store/dynamo-client';
import { BENCH_LEASE_MS, LOADS, laneShard, WORKER } from './core';
import { compare, formatMs, formatRate, type Load, ratioAgainst, type Summary } from './measure';
import type { BenchContext, BenchSection } from './section';

export const TARGET_HTTP_RATIO = 0.7;

/** One keep-alive request; resolves with the body of a 200, fails on any other status. */
function post(agent: Agent, url: URL, body: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          if (res.statusCode === 200) resolve(text);
          else reject(new Error(`POST ${url.pathname} answered ${res.statusCode}: ${text}`));
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

export async function run(ctx: BenchContext): Promise<BenchSection> {
  const tableName = `bench-http-${randomUUID().slice(0, 8)}`;
  const server = await startLocalServer({
    port: 0,
    dynamoDbEndpoint: ctx.dynamoEndpoint,
    tableName,
    createTable: true,
    leaseDurationMs: BENCH_LEASE_MS,
    reaperIntervalMs: 0,
    logger: new Logger({ logLevel: 'SILENT' }),
  });
  const client = createDynamoClient({ endpoint: ctx.dynamoEndpoint });
  const agent = new Agent({ keepAlive: true, maxSockets: Math.max(...LOADS.map((l) => l.inFlight)) });
  const rows: (string | number)[][] = [];
  try {
    const checkpointer = new DynamoCheckpointer({ client, tableName, leaseDurationMs: BENCH_LEASE_MS });
    const maxLanes = Math.max(...LOADS.map((l) => l.inFlight));
    for (let lane = 0; lane < maxLanes; lane++) {
      await checkpointer.getLease(laneShard(lane), { workerId: WORKER });
    }
    const body = JSON.stringify({ workerId: WORKER });
    const leaseUrls = Array.from(
      { length: maxLanes },
      (_, lane) => new URL(`/shards/${laneShard(lane)}/lease`, server.url),
    );
    for (const load of LOADS) {
      const [http, core] = (await compare(
        [
          { name: 'http', op: (lane) => post(agent, leaseUrls[lane] as URL, body) },
          { name: 'core', op: (lane) => checkpointer.getLease(laneShard(lane), { workerId: WORKER }) },
        ],
        load,
      )) as [Summary, Summary];
      rows.push([
        'GetLease, renew an owned lease',
        load.inFlight === 1 ? 'sequential' : `${load.inFlight} in flight`,
        formatRate(http.opsPerSec),
        formatRate(core.opsPerSec),
        ratioAgainst(http.opsPerSec / core.opsPerSec, TARGET_HTTP_RATIO),
        `${formatMs(http.medianMs)} / ${formatMs(http.p99Ms)}`,
        `${formatMs(core.medianMs)} / ${formatMs(core.p99Ms)}`,
        // With calls queued behind a CPU-bound dynalite, a latency difference measures the queue.
        load.inFlight === 1 ? formatMs(http.medianMs - core.medianMs) : '—',
      ]);
    }
  } finally {
    agent.destroy();
    client.destroy();
    await server.close();
  }
  const seq = LOADS[0] as Load;
  const pool = LOADS[1] as Load;
  return {
    title: 'GetLease through the local HTTP server vs the core directly (same dynalite, same table)',
    columns: [
      'operation',
      'load',
      'HTTP ops/s',
      'core ops/s',
      `HTTP ÷ core (target ≥ ${TARGET_HTTP_RATIO})`,
      'HTTP median / p99 ms',
      'core median / p99 ms',
      'HTTP adds, median ms (sequential)',
    ],
    rows,
    notes: [
      'HTTP: `POST /shards/{id}/lease` to `startLocalServer` (node:http → API Gateway v2 event → the ' +
        "Lambda handler → DynamoCheckpointer), from node:http with a keep-alive agent; the client's, the " +
        "server's and the core's CPU all share this process, as dynalite's is in its own.",
      'core: DynamoCheckpointer.getLease on the same table and shards, with its own client.',
      `Rounds interleaved HTTP/core, order flipped every round: ${seq.rounds} × ${seq.opsPerRound} ` +
        `sequential calls and ${pool.rounds} × ${pool.opsPerRound} with ${pool.inFlight} in flight, after ` +
        `${seq.warmUpOps} / ${pool.warmUpOps} untimed warm-up calls; one shard per pool slot.`,
    ],
  };
}
