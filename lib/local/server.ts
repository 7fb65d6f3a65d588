/**
 * `npm start`: the API on loopback, served by the very handlers the Lambdas run (each request becomes
 * an API Gateway v2 event for `createHttpHandler`), over an embedded dynalite or an existing
 * DynamoDB-compatible endpoint, with the reaper's pass on a timer and a page listing the shards.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { Logger } from '@aws-lambda-powertools/logger';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { type Clock, systemClock } from '../core/clock';
import {
  DEFAULT_CLAIM_TIMEOUT_MS,
  DEFAULT_LEASE_DURATION_MS,
  DEFAULT_PORT,
  DEFAULT_REAPER_GRACE_MS,
  DEFAULT_REAPER_INTERVAL_MS,
} from '../core/config';
import { ErrorCode, ValidationError } from '../core/errors';
import type { RequestDependencies } from '../http/handle-request';
import { createHttpHandler, type HttpLambdaHandler } from '../http/lambda-handler';
import { INTERNAL_MESSAGE, problem, problemFor } from '../http/problem';
import { matchRoute } from '../http/router';
import type { OperationName } from '../http/routes';
import { ROUTES } from '../http/routes';
import { DynamoCheckpointer } from '../store/dynamo-checkpointer';
import { createDynamoClient } from '../store/dynamo-client';
import { KinesisShardSource } from '../store/kinesis-shard-source';
import { Reaper, type ReaperSummary, reaperPassLevel } from '../store/reaper';
import { localLambdaContext, readBody, toApiGatewayEvent } from './api-gateway-event';
import {
  type Answer,
  answerOf,
  type ClientError,
  clientErrorAnswer,
  problemAnswer,
  rawResponse,
  routingAnswer,
  validationAnswer,
} from './bare-answers';
import { dashboardSnapshot, renderDashboardPage } from './dashboard';
import { type RunningDynalite, startDynalite } from './embedded-dynalite';
import { createLocalKinesisClient } from './kinesis-local-client';
import { parseQuery, splitTarget } from './request-target';

export const DEFAULT_LOCAL_TABLE = 'shardlease-local';

const HTML = 'text/html; charset=utf-8';
const JSON_TYPE = 'application/json';

/** Local-only pages, answered before routing: no route of the API starts with them. */
const PAGES = new Set(['/', '/dashboard.json']);

export interface LocalServerOptions {
  /** @default 3000; 0 picks a free port. */
  readonly port?: number;
  /** @default 'shardlease-local' */
  readonly tableName?: string;
  readonly leaseDurationMs?: number;
  readonly claimTimeoutMs?: number;
  readonly reaperGraceMs?: number;
  /** Milliseconds between reaper passes; 0 runs no reaper timer (`reap()` still runs a pass). @default 5000 */
  readonly reaperIntervalMs?: number;
  /** The reaper deletes the rows of ended shards (ReaperOptions.deleteEndedRows). @default true */
  readonly reaperDeletesEndedRows?: boolean;
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
  /** Milliseconds between the reaper's passes on their own; 0 when no timer runs them. */
  readonly reaperIntervalMs: number;
  /** Runs one reaper pass now (waits for a pass already running instead of overlapping it). */
  reap(): Promise<ReaperSummary>;
  /** Stops the timer, the listener and the embedded dynalite; on-disk data stays intact. */
  close(): Promise<void>;
}

/** Writes a whole answer; a HEAD request gets its headers only (node drops the body). */
function send(response: ServerResponse, answer: Answer, requestId?: string) {
  response.writeHead(answer.status, {
    ...(requestId !== undefined && { 'x-request-id': requestId }),
    ...answer.headers,
    ...(answer.body !== '' && { 'content-length': Buffer.byteLength(answer.body) }),
  });
  response.end(answer.body === '' ? undefined : answer.body);
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
      leaseDurationMs,
      deleteEndedRows: options.reaperDeletesEndedRows ?? true,
      ...(options.streamName && {
        shardSource: new KinesisShardSource({
          client: createLocalKinesisClient(options.kinesisEndpoint),
          streamName: options.streamName,
        }),
      }),
    });

    // Each request in flight has a logger of its own: the handler adds the request's Lambda context to
    // the logger it is given, so with one shared logger overlapping requests (and the reaper) would
    // log each other's request ids and function names. The parent never gets a request's context.
    // Child loggers are reused once their request is answered (addContext replaces the whole context):
    // making one costs ~0.1 ms, too much for every request of a busy fleet.
    const idleLoggers: Logger[] = [];
    const handlers = new Map<OperationName, HttpLambdaHandler>(
      ROUTES.map((route): [OperationName, HttpLambdaHandler] => [
        route.name,
        async (event, context) => {
          const requestLogger = idleLoggers.pop() ?? logger.createChild();
          try {
            const deps: RequestDependencies = { checkpointer, logger: requestLogger };
            return await createHttpHandler(route.name, () => deps)(event, context);
          } finally {
            idleLoggers.push(requestLogger);
          }
        },
      ]),
    );

    /** Answers a request no operation runs for, leaving its body unread. */
    const refuse = (
      request: IncomingMessage,
      response: ServerResponse,
      answer: Answer,
      requestId: string,
    ) => {
      request.resume();
      logger.info('request refused', {
        method: request.method,
        target: request.url,
        statusCode: answer.status,
      });
      send(response, answer, requestId);
    };

    const serve = async (request: IncomingMessage, response: ServerResponse) => {
      const requestId = randomUUID();
      const method = request.method ?? 'GET';
      // The raw request-target, never `new URL()`: see request-target.ts.
      const target = splitTarget(request.url ?? '/');
      if (request.httpVersion === '1.1' && request.headers.host === undefined) {
        // What node's requireHostHeader would answer bare (RFC 9112 §3.2).
        const answer = validationAnswer('host', 'is required in an HTTP/1.1 request', requestId);
        return refuse(request, response, answer, requestId);
      }
      if (PAGES.has(target.rawPath)) {
        if (method === 'GET' || method === 'HEAD') {
          request.resume();
          const snapshot = await dashboardSnapshot(checkpointer, tableName, clock.now(), leaseDurationMs);
          const page =
            target.rawPath === '/'
              ? { type: HTML, body: renderDashboardPage(snapshot) }
              : { type: JSON_TYPE, body: JSON.stringify(snapshot) };
          return send(response, {
            status: 200,
            headers: { 'content-type': page.type, 'cache-control': 'no-store' },
            body: page.body,
          });
        }
        const refused = problem(
          ErrorCode.MethodNotAllowed,
          `${method} is not allowed on ${target.rawPath}`,
          requestId,
        );
        return refuse(request, response, problemAnswer(refused, { allow: 'GET, HEAD' }), requestId);
      }
      const match = matchRoute(method, target.rawPath);
      if (match.kind !== 'matched') {
        return refuse(
          request,
          response,
          routingAnswer(method, target.rawPath, requestId) as Answer,
          requestId,
        );
      }
      const query = parseQuery(target.rawQueryString);
      if (!query.ok) {
        const answer = problemAnswer(problemFor(new ValidationError(query.issues), requestId));
        return refuse(request, response, answer, requestId);
      }
      const body = await readBody(request);
      const event = toApiGatewayEvent({
        request,
        target,
        queryStringParameters: query.parameters,
        route: match.route,
        pathParameters: match.pathParameters,
        body,
        requestId,
        nowMs: clock.now(),
      });
      const handler = handlers.get(match.route.name) as HttpLambdaHandler;
      const context = localLambdaContext(`shardlease-${match.route.entry}`, requestId);
      send(response, answerOf(await handler(event, context)), requestId);
    };

    /** The latest request on each socket and its response, so that a parser error never writes into one. */
    const inFlight = new WeakMap<Duplex, { request: IncomingMessage; response: ServerResponse }>();

    // requireHostHeader: false, so that a missing Host is answered as problem+json by serve().
    server = createServer({ requireHostHeader: false }, (request, response) => {
      const socket = request.socket;
      const exchange = { request, response };
      inFlight.set(socket, exchange);
      response.once('close', () => {
        if (inFlight.get(socket) === exchange) inFlight.delete(socket);
      });
      serve(request, response).catch((error: unknown) => {
        // Answered already: a parser error on this request's body ended it (see clientError below).
        if (response.writableEnded) return;
        // Only a failure outside the handlers (the dashboard, a broken socket) can land here.
        logger.error('local request failed', { error: error as Error });
        const requestId = randomUUID();
        if (!response.headersSent)
          send(response, problemAnswer(problem(ErrorCode.Internal, INTERNAL_MESSAGE, requestId)));
        else response.destroy();
      });
    });
    // A request node's parser refuses (or that times out): answered as problem+json, then the connection
    // closes, since the parser cannot go on with it.
    server.on('clientError', (error: ClientError, socket: Duplex) => {
      if (error.code === 'ECONNRESET' || !socket.writable) return void socket.destroy();
      const requestId = randomUUID();
      const answer = clientErrorAnswer(error, requestId);
      logger.info('request refused by the HTTP parser', { code: error.code, statusCode: answer.status });
      const open = inFlight.get(socket);
      if (open && !open.request.complete && !open.response.headersSent) {
        // The request being served is the one at fault (its body is malformed or never finished
        // arriving): answer it through its own response.
        open.response.shouldKeepAlive = false;
        send(open.response, answer, requestId);
        return;
      }
      const answerOnSocket = () => {
        if (socket.writable) socket.end(rawResponse(answer, requestId));
        else socket.destroy();
      };
      // A pipelined request after one still being answered: the earlier answer goes out first.
      if (open && !open.response.writableFinished) open.response.once('close', answerOnSocket);
      else answerOnSocket();
    });
    // CONNECT bypasses the request handler: route its target like any other (no route takes it).
    server.on('connect', (request: IncomingMessage, socket: Duplex) => {
      const requestId = randomUUID();
      const answer =
        routingAnswer(request.method ?? 'CONNECT', request.url ?? '', requestId) ??
        validationAnswer('method', 'CONNECT is not served', requestId);
      socket.end(rawResponse(answer, requestId));
    });
    // An Expect other than 100-continue, which node would answer with a bare 417.
    server.on('checkExpectation', (request: IncomingMessage, response: ServerResponse) => {
      const requestId = randomUUID();
      const answer = validationAnswer('expect', 'only 100-continue is understood', requestId);
      refuse(request, response, answer, requestId);
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
          // A pass that changed nothing is routine: DEBUG, so an idle server stays quiet at INFO.
          logger[reaperPassLevel(summary, 'debug')]('reaper pass', { ...summary });
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
      reaperIntervalMs: timer ? interval : 0,
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
