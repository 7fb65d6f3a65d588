/**
 * `npm start`: the API on loopback, served by the very handlers the Lambdas run (each request becomes
 * an API Gateway v2 event for `createHttpHandler`), over an embedded dynalite or an existing
 * DynamoDB-compatible endpoint, with the reaper's pass on a timer and a page listing the shards.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Logger } from '@aws-lambda-powertools/logger';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { type Clock, systemClock } from '../core/clock';
import {
  DEFAULT_CLAIM_TIMEOUT_MS,
  DEFAULT_LEASE_DURATION_MS,
  DEFAULT_PORT,
  DEFAULT_REAPER_GRACE_MS,
  DEFAULT_REAPER_INTERVAL_MS,
} from '../core/config';
import { ErrorCode } from '../core/errors';
import type { RequestDependencies } from '../http/handle-request';
import { createHttpHandler, type HttpLambdaHandler } from '../http/lambda-handler';
import { INTERNAL_MESSAGE, PROBLEM_CONTENT_TYPE, problem } from '../http/problem';
import { matchRoute } from '../http/router';
import type { OperationName } from '../http/routes';
import { ROUTES } from '../http/routes';
import { unmatchedResponse } from '../http/unmatched';
import { DynamoCheckpointer } from '../store/dynamo-checkpointer';
import { createDynamoClient } from '../store/dynamo-client';
import { KinesisShardSource } from '../store/kinesis-shard-source';
import { Reaper, type ReaperSummary } from '../store/reaper';
import { localLambdaContext, readBody, toApiGatewayEvent } from './api-gateway-event';
import { renderDashboard } from './dashboard';
import { type RunningDynalite, startDynalite } from './embedded-dynalite';
import { createLocalKinesisClient } from './kinesis-local-client';

export const DEFAULT_LOCAL_TABLE = 'shardlease-local';

export interface LocalServerOptions {
  /** @default 3000; 0 picks a free port. */
  readonly port?: number;
  /** @default 'shardlease-local' */
  readonly tableName?: string;
  readonly leaseDurationMs?: number;
  readonly claimTimeoutMs?: number;
  readonly reaperGraceMs?: number;
  /** 0 runs no reaper timer (call `reap()`). @default 5000 */
  readonly reaperIntervalMs?: number;
  /** Keep the embedded dynalite's data in this folder. @default in memory */
  readonly dataDir?: string;
  /** Use this DynamoDB-compatible endpoint and its existing table instead of an embedded dynalite. */
  readonly dynamoDbEndpoint?: string;
  /** Create the table when it is missing. @default true with the embedded dynalite, false otherwise */
  readonly createTable?: boolean;
  /** Kinesis stream(s), comma-separated, whose shard list the reaper checks. */
  readonly streamName?: string;
  readonly kinesisEndpoint?: string;
  readonly clock?: Clock;
  readonly logger?: Logger;
}

export interface LocalServer {
  /** `http://127.0.0.1:PORT` */
  readonly url: string;
  readonly port: number;
  readonly tableName: string;
  readonly dynamoDbEndpoint: string;
  /** Runs one reaper pass now (waits for a pass already running instead of overlapping it). */
  reap(): Promise<ReaperSummary>;
  /** Stops the timer, the listener and the embedded dynalite; on-disk data stays intact. */
  close(): Promise<void>;
}

function send(response: ServerResponse, status: number, headers: Record<string, string>, body?: string) {
  response.writeHead(
    status,
    body === undefined ? headers : { ...headers, 'content-length': Buffer.byteLength(body) },
  );
  response.end(body);
}

function stringHeaders(result: APIGatewayProxyStructuredResultV2): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(result.headers ?? {})) headers[name] = String(value);
  return headers;
}

function sendProblem(
  response: ServerResponse,
  code: ErrorCode,
  message: string,
  requestId: string,
  headers = {},
) {
  const { status, body } = problem(code, message, requestId);
  send(response, status, { 'content-type': PROBLEM_CONTENT_TYPE, ...headers }, JSON.stringify(body));
}

export async function startLocalServer(options: LocalServerOptions = {}): Promise<LocalServer> {
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? new Logger({ serviceName: 'shardlease-local' });
  const tableName = options.tableName ?? DEFAULT_LOCAL_TABLE;
  const leaseDurationMs = options.leaseDurationMs ?? DEFAULT_LEASE_DURATION_MS;
  const claimTimeoutMs = options.claimTimeoutMs ?? DEFAULT_CLAIM_TIMEOUT_MS;

  let dynalite: RunningDynalite | undefined;
  let client: DynamoDBClient | undefined;
  let server: Server | undefined;
  try {
    if (!options.dynamoDbEndpoint) {
      dynalite = await startDynalite(options.dataDir ? { path: options.dataDir } : {});
    }
    const dynamoDbEndpoint = options.dynamoDbEndpoint ?? (dynalite as RunningDynalite).endpoint;
    client = createDynamoClient({ endpoint: dynamoDbEndpoint });
    const checkpointer = new DynamoCheckpointer({
      client,
      tableName,
      clock,
      leaseDurationMs,
      claimTimeoutMs,
      createTableIfMissing: options.createTable ?? dynalite !== undefined,
    });
    // Verifies the key schema of an existing table, or creates it: a bad table stops the start.
    await checkpointer.init();

    const reaper = new Reaper({
      client,
      tableName,
      clock,
      claimTimeoutMs,
      graceMs: options.reaperGraceMs ?? DEFAULT_REAPER_GRACE_MS,
      ...(options.streamName && {
        shardSource: new KinesisShardSource({
          client: createLocalKinesisClient(options.kinesisEndpoint),
          streamNames: options.streamName
            .split(',')
            .map((s) => s.trim())
            .filter(Boolean),
        }),
      }),
    });

    const deps: RequestDependencies = { checkpointer, logger };
    const handlers = new Map<OperationName, HttpLambdaHandler>(
      ROUTES.map((route) => [route.name, createHttpHandler(route.name, () => deps)]),
    );

    const serve = async (request: IncomingMessage, response: ServerResponse) => {
      const requestId = randomUUID();
      const url = new URL(request.url ?? '/', 'http://127.0.0.1');
      const method = request.method ?? 'GET';
      if (url.pathname === '/' && (method === 'GET' || method === 'HEAD')) {
        const html = await renderDashboard(checkpointer, tableName, clock.now());
        return send(response, 200, { 'content-type': 'text/html; charset=utf-8' }, html);
      }
      const match = matchRoute(method, url.pathname);
      if (match.kind !== 'matched') {
        request.resume();
        const unmatched = unmatchedResponse(
          method,
          url.pathname,
          requestId,
        ) as APIGatewayProxyStructuredResultV2;
        return send(response, unmatched.statusCode ?? 404, stringHeaders(unmatched), unmatched.body);
      }
      const body = await readBody(request);
      const event = toApiGatewayEvent({ request, url, ...match, body, requestId, nowMs: clock.now() });
      const handler = handlers.get(match.route.name) as HttpLambdaHandler;
      const result = await handler(event, localLambdaContext(`shardlease-${match.route.entry}`, requestId));
      const headers = { 'x-request-id': requestId, ...stringHeaders(result) };
      send(response, result.statusCode ?? 200, headers, result.body);
    };

    server = createServer((request, response) => {
      serve(request, response).catch((error: unknown) => {
        // Only a failure outside the handlers (the dashboard, a broken socket) can land here.
        logger.error('local request failed', { error: error as Error });
        if (!response.headersSent) sendProblem(response, ErrorCode.Internal, INTERNAL_MESSAGE, randomUUID());
        else response.destroy();
      });
    });
    server.keepAliveTimeout = 65_000;
    const listening = server;
    await new Promise<void>((resolve, reject) => {
      listening.once('error', reject);
      listening.listen(options.port ?? DEFAULT_PORT, '127.0.0.1', () => resolve());
    });
    const { port } = listening.address() as AddressInfo;

    let running: Promise<ReaperSummary> | undefined;
    const reap = (): Promise<ReaperSummary> => {
      if (running) return running;
      const pass = reaper
        .runPass()
        .then((summary: ReaperSummary) => {
          logger.info('reaper pass', { ...summary });
          return summary;
        })
        .finally(() => {
          running = undefined;
        });
      running = pass;
      return pass;
    };
    const interval = options.reaperIntervalMs ?? DEFAULT_REAPER_INTERVAL_MS;
    const timer =
      interval > 0
        ? setInterval(() => {
            reap().catch((error: unknown) => logger.error('reaper pass failed', { error: error as Error }));
          }, interval)
        : undefined;
    timer?.unref();

    const ownedClient = client;
    const ownedDynalite = dynalite;
    let closing: Promise<void> | undefined;
    return {
      url: `http://127.0.0.1:${port}`,
      port,
      tableName,
      dynamoDbEndpoint,
      reap,
      close: () => {
        closing ??= (async () => {
          if (timer) clearInterval(timer);
          await running?.catch(() => undefined);
          await new Promise<void>((resolve) => {
            listening.close(() => resolve());
            listening.closeAllConnections();
          });
          ownedClient.destroy();
          await ownedDynalite?.close();
        })();
        return closing;
      },
    };
  } catch (error) {
    server?.close();
    client?.destroy();
    await dynalite?.close();
    throw error;
  }
}
