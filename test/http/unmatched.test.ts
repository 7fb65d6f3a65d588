/** What the deployed API's $default route answers: the contract's 404 and 405, as problem+json. */
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { handler } from '../../lambda/not-found';

function eventFor(method: string, path: string): APIGatewayProxyEventV2 {
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath: path,
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
