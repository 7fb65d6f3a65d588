/** What the deployed API's $default route answers: the contract's 404 and 405, as problem+json. */
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { handler } from '../../lambda/not-found';
import { unmatchedResponse } from '../../lib/http/unmatched';

function eventFor(method: string, path: string, rawPath = path): APIGatewayProxyEventV2 {
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath,
    rawQueryString: '',
    headers: {},
    isBase64Encoded: false,
    requestContext: {
      accountId: '123456789012',
      apiId: 'api',
      domainName: 'api.execute-api.eu-west-1.amazonaws.com',
      domainPrefix: 'api',
      http: { method, path, protocol: 'HTTP/1.1', sourceIp: '10.0.0.1', userAgent: 'test' },
      requestId: 'req-1',
      routeKey: '$default',
      stage: '$default',
      time: '24/Nov/2026:19:00:00 +0000',
      timeEpoch: 0,
    },
  };
}

const context = { awsRequestId: 'lambda-req-1' } as Context;

beforeAll(() => {
  process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
});

describe('the $default route handler', () => {
  it('answers an unknown path with 404 NotFound and the request id', async () => {
    const response = await handler(eventFor('GET', '/leases'), context);
    expect(response.statusCode).toBe(404);
    expect(response.headers?.['content-type']).toBe('application/problem+json');
    expect(JSON.parse(String(response.body))).toEqual({
      code: 'NotFound',
      message: 'no route GET /leases',
      requestId: 'lambda-req-1',
    });
  });

  it('answers a known path with another method with 405 and Allow', async () => {
    const response = await handler(eventFor('PUT', '/shards/shardId-1/lease'), context);
    expect(response.statusCode).toBe(405);
    expect(response.headers?.allow).toBe('POST, DELETE');
    expect(JSON.parse(String(response.body)).code).toBe('MethodNotAllowed');
  });

  it('treats a request that a route would take as a fault, with no internals', async () => {
    const response = await handler(eventFor('GET', '/shards/shardId-1/owner'), context);
    expect(response.statusCode).toBe(500);
    expect(JSON.parse(String(response.body))).toEqual({
      code: 'Internal',
      message: 'internal error; the request id locates it in the logs',
      requestId: 'lambda-req-1',
    });
  });
});

describe('unmatchedResponse', () => {
  const bodyOf = (method: string, path: string) =>
    JSON.parse(String(unmatchedResponse(method, path, 'r')?.body)) as { code: string; message: string };

  it.each([
    ['/shards/junk/%2e%2e/x', 'the path has a . or .. segment'],
    ['/shards/junk/%2E./x', 'the path has a . or .. segment'],
    ['/shards/a/../b/lease', 'the path has a . or .. segment'],
    ['/shards/./owner', 'the path has a . or .. segment'],
    ['//shards/x/owner', 'the path has an empty segment (// or a trailing /)'],
    ['/shards/x/owner/', 'the path has an empty segment (// or a trailing /)'],
    ['/shards\\x/owner', 'the path holds a backslash'],
    ['/shards/x%zz/owner', 'the path holds a character that must be percent-encoded, or a bad % escape'],
    ['/shards/x y/owner', 'the path holds a character that must be percent-encoded, or a bad % escape'],
    ['/shards/%C0%AE/owner', 'the path has a segment that is not percent-encoded UTF-8'],
    ['shards/x/owner', 'the path does not start with /'],
  ])('refuses %s as no route, whatever the method, saying why', (path, reason) => {
    for (const method of ['GET', 'DELETE', 'HEAD', 'PROPFIND']) {
      const response = unmatchedResponse(method, path, 'r');
      expect(response?.statusCode).toBe(404);
      expect(response?.headers?.allow).toBeUndefined();
      expect(bodyOf(method, path)).toEqual({
        code: 'NotFound',
        message: `no route ${method} ${path}: ${reason}`,
        requestId: 'r',
      });
    }
  });

  it('routes the raw path: an encoded / or \\ stays inside its parameter', () => {
    expect(unmatchedResponse('GET', '/shards/a%2Fb/owner', 'r')).toBeUndefined();
    expect(unmatchedResponse('POST', '/workers/corp%5Chost/renew', 'r')).toBeUndefined();
    expect(unmatchedResponse('GET', '/shards/a%2F..%2Fb/owner', 'r')).toBeUndefined();
    // Literal segments match as they arrived, not decoded.
    expect(unmatchedResponse('GET', '/shards/x/%6Fwner', 'r')?.statusCode).toBe(404);
  });

  it('answers HEAD on an API route with 405 and the route’s method in Allow', () => {
    const response = unmatchedResponse('HEAD', '/shards/x/owner', 'r');
    expect(response?.statusCode).toBe(405);
    expect(response?.headers?.allow).toBe('GET');
  });

  it('routes the $default event by its raw path', async () => {
    const response = await handler(eventFor('GET', '/shards/../owner', '/shards/%2e%2e/owner'), context);
    expect(response.statusCode).toBe(404);
    expect(JSON.parse(String(response.body)).message).toBe(
      'no route GET /shards/%2e%2e/owner: the path has a . or .. segment',
    );
  });
});
