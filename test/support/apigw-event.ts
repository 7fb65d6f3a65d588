/**
 * API Gateway HTTP API events (payload format 2.0) and Lambda contexts, shaped as the service hands
 * them to a function: the route key of the matched route, the raw (percent-encoded) path and query
 * next to their decoded parameters, lower-case headers, and a body that is text or base64.
 */
import { randomUUID } from 'node:crypto';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { type OperationName, ROUTES, type Route } from '../../lib/http/routes';

export interface EventOptions {
  /** Decoded values, as API Gateway passes them; the raw path carries them percent-encoded. */
  readonly pathParameters?: Readonly<Record<string, string>>;
  /** Decoded values; the raw query string carries them encoded. */
  readonly query?: Readonly<Record<string, string>>;
  /** A value is sent as JSON; a string as it is. */
  readonly body?: unknown;
  /** Send the body base64-encoded with `isBase64Encoded`, as API Gateway does for binary media. */
  readonly base64?: boolean;
  readonly headers?: Readonly<Record<string, string>>;
  readonly requestId?: string;
}

export function routeOf(name: OperationName): Route {
  const route = ROUTES.find((r) => r.name === name);
  if (!route) throw new Error(`no route for ${name}`);
  return route;
}

export function concretePath(route: Route, pathParameters: Readonly<Record<string, string>> = {}): string {
  return route.path.replace(/\{(\w+)\}/g, (_, name: string) => {
    const value = pathParameters[name];
    if (value === undefined) throw new Error(`${route.path}: no value for {${name}}`);
    return encodeURIComponent(value);
  });
}

export function apiGatewayEvent(name: OperationName, options: EventOptions = {}): APIGatewayProxyEventV2 {
  const route = routeOf(name);
  const rawPath = concretePath(route, options.pathParameters);
  const query = options.query ?? {};
  const rawQueryString = new URLSearchParams(query as Record<string, string>).toString();
  const text =
    options.body === undefined
      ? undefined
      : typeof options.body === 'string'
        ? options.body
        : JSON.stringify(options.body);
  const body = text !== undefined && options.base64 ? Buffer.from(text, 'utf8').toString('base64') : text;
  const requestId = options.requestId ?? randomUUID();
  const routeKey = `${route.method} ${route.path}`;
  const headers: Record<string, string> = {
    host: 'abcdef1234.execute-api.eu-west-1.amazonaws.com',
    'user-agent': 'shardlease-test',
    ...(text !== undefined && {
      'content-type': 'application/json',
      'content-length': String(Buffer.byteLength(text)),
    }),
  };
  for (const [key, value] of Object.entries(options.headers ?? {})) headers[key.toLowerCase()] = value;
  const now = Date.now();
  return {
    version: '2.0',
    routeKey,
    rawPath,
    rawQueryString,
    headers,
    ...(Object.keys(query).length > 0 && { queryStringParameters: { ...query } }),
    ...(options.pathParameters && { pathParameters: { ...options.pathParameters } }),
    ...(body !== undefined && { body }),
    isBase64Encoded: body !== undefined && options.base64 === true,
    requestContext: {
      accountId: '123456789012',
      apiId: 'abcdef1234',
      domainName: 'abcdef1234.execute-api.eu-west-1.amazonaws.com',
      domainPrefix: 'abcdef1234',
      http: {
        method: route.method,
        path: rawPath,
        protocol: 'HTTP/1.1',
        sourceIp: '198.51.100.7',
        userAgent: 'shardlease-test',
      },
      requestId,
      routeKey,
      stage: '$default',
      time: new Date(now).toUTCString(),
      timeEpoch: now,
    },
  };
}

/** A Lambda context with a fresh request id and a 29 s deadline from now. */
export function lambdaContext(
  functionName = 'shardlease-test',
  awsRequestId: string = randomUUID(),
): Context {
  const deadline = Date.now() + 29_000;
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:eu-west-1:123456789012:function:${functionName}`,
    memoryLimitInMB: '256',
    awsRequestId,
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: '2026/11/25/[$LATEST]0123456789abcdef',
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}
