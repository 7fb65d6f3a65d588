/**
 * A node:http request as API Gateway's HTTP API (payload format 2.0) would hand it to the Lambda, so
 * the local server calls the handlers with exactly the shape they get in the cloud: lower-case
 * headers, the raw path and query string as they arrived, repeated query keys joined with commas, path
 * and query parameters percent-decoded once (see request-target.ts and lib/http/router.ts).
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import type { Route } from '../http/routes';
import type { QueryParameters, RequestTarget } from './request-target';

/** Enough of an oversized body for the dispatcher to see it is too large; the rest is discarded. */
export const MAX_COLLECTED_BODY_BYTES = 16 * 1024 + 4096;

export async function readBody(request: IncomingMessage): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    if (size >= MAX_COLLECTED_BODY_BYTES) continue;
    chunks.push(chunk);
    size += chunk.length;
  }
  if (size === 0) return undefined;
  return Buffer.concat(chunks).subarray(0, MAX_COLLECTED_BODY_BYTES).toString('utf8');
}

function headersOf(request: IncomingMessage): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(request.headers)) {
    if (value !== undefined) headers[name.toLowerCase()] = Array.isArray(value) ? value.join(',') : value;
  }
  return headers;
}

export interface LocalRequest {
  readonly request: IncomingMessage;
  readonly target: RequestTarget;
  /** parseQuery's: decoded, null-prototype, undefined when the query has none. */
  readonly queryStringParameters: QueryParameters | undefined;
  readonly route: Route;
  readonly pathParameters: Record<string, string>;
  readonly body: string | undefined;
  readonly requestId: string;
  readonly nowMs: number;
}

export function toApiGatewayEvent(local: LocalRequest): APIGatewayProxyEventV2 {
  const { request, target, route, queryStringParameters } = local;
  const method = request.method ?? 'GET';
  const headers = headersOf(request);
  return {
    version: '2.0',
    routeKey: `${route.method} ${route.path}`,
    rawPath: target.rawPath,
    rawQueryString: target.rawQueryString,
    headers,
    ...(queryStringParameters && { queryStringParameters }),
    ...(Object.keys(local.pathParameters).length > 0 && { pathParameters: local.pathParameters }),
    ...(local.body !== undefined && { body: local.body }),
    isBase64Encoded: false,
    requestContext: {
      accountId: 'local',
      apiId: 'local',
      domainName: headers.host ?? '127.0.0.1',
      domainPrefix: 'local',
      http: {
        method,
        path: target.rawPath,
        protocol: `HTTP/${request.httpVersion}`,
        sourceIp: request.socket.remoteAddress ?? '127.0.0.1',
        userAgent: headers['user-agent'] ?? '',
      },
      requestId: local.requestId,
      routeKey: `${route.method} ${route.path}`,
      stage: '$default',
      time: new Date(local.nowMs).toUTCString(),
      timeEpoch: local.nowMs,
    },
  };
}

/** A Lambda context for a local invocation; the handlers read only the request id from it. */
export function localLambdaContext(functionName: string, requestId: string = randomUUID()): Context {
  const deadline = Date.now() + 29_000;
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:local:000000000000:function:${functionName}`,
    memoryLimitInMB: '256',
    awsRequestId: requestId,
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: 'local',
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}
