/**
 * The request-target taken apart by hand: the raw path and query string kept as they arrived, the
 * query decoded once into an object without a prototype, and the event built from them.
 */
import type { IncomingMessage } from 'node:http';
import { toApiGatewayEvent } from '../../lib/local/api-gateway-event';
import { parseQuery, splitTarget } from '../../lib/local/request-target';
import { routeOf } from '../support/apigw-event';

describe('splitTarget', () => {
  it('splits at the first ? and leaves both parts untouched', () => {
    expect(splitTarget('/shards/junk/%2e%2e/x?workerId=w?x&a=%41')).toEqual({
      rawPath: '/shards/junk/%2e%2e/x',
      rawQueryString: 'workerId=w?x&a=%41',
    });
    expect(splitTarget('/shards\\x')).toEqual({ rawPath: '/shards\\x', rawQueryString: '' });
    expect(splitTarget('//host/shards/x?')).toEqual({ rawPath: '//host/shards/x', rawQueryString: '' });
  });
});

describe('parseQuery', () => {
  it('has no parameters for an empty query', () => {
    expect(parseQuery('')).toEqual({ ok: true, parameters: undefined });
    expect(parseQuery('&&')).toEqual({ ok: true, parameters: undefined });
  });

  it('decodes + as a space and percent-escapes exactly once', () => {
    const parsed = parseQuery('workerId=w+1%2B2%2541&e=&bare');
    expect(parsed.ok && { ...parsed.parameters }).toEqual({ workerId: 'w 1+2%41', e: '', bare: '' });
  });

  it('joins a repeated key’s values with commas', () => {
    const parsed = parseQuery('shardIds=a&strict=true&shardIds=b,c');
    expect(parsed.ok && { ...parsed.parameters }).toEqual({ shardIds: 'a,b,c', strict: 'true' });
  });

  it('keeps __proto__, constructor and the like as ordinary keys', () => {
    const parsed = parseQuery('__proto__=x&constructor=y&toString=z&__proto__=w');
    if (!parsed.ok || !parsed.parameters) throw new Error('expected parameters');
    expect(Object.getPrototypeOf(parsed.parameters)).toBeNull();
    expect(Object.entries(parsed.parameters)).toEqual([
      ['__proto__', 'x,w'],
      ['constructor', 'y'],
      ['toString', 'z'],
    ]);
  });

  it('refuses undecodable keys and values, and empty names, naming the field query', () => {
    expect(parseQuery('%zz=1&a=%E0%A4%A&=1&ok=1')).toEqual({
      ok: false,
      issues: [
        { field: 'query', message: '"%zz=1" is not valid percent-encoded UTF-8' },
        { field: 'query', message: '"a=%E0%A4%A" is not valid percent-encoded UTF-8' },
        { field: 'query', message: '"=1" has an empty parameter name' },
      ],
    });
  });
});

describe('toApiGatewayEvent', () => {
  it('carries the raw path and query string, and the parameters decoded', () => {
    const request = {
      method: 'DELETE',
      headers: { host: '127.0.0.1:3000', 'user-agent': 'test' },
      httpVersion: '1.1',
      socket: { remoteAddress: '127.0.0.1' },
    } as unknown as IncomingMessage;
    const target = { rawPath: '/shards/a%2Fb/lease', rawQueryString: 'workerId=w+1&x=%41&x=2' };
    const query = parseQuery(target.rawQueryString);
    if (!query.ok) throw new Error('expected a query');
    const event = toApiGatewayEvent({
      request,
      target,
      queryStringParameters: query.parameters,
      route: routeOf('removeLeaseOwner'),
      pathParameters: { shardId: 'a/b' },
      body: undefined,
      requestId: 'req-1',
      nowMs: 0,
    });
    expect(event.rawPath).toBe('/shards/a%2Fb/lease');
    expect(event.rawQueryString).toBe('workerId=w+1&x=%41&x=2');
    expect(event.requestContext.http.path).toBe('/shards/a%2Fb/lease');
    expect(event.routeKey).toBe('DELETE /shards/{shardId}/lease');
    expect({ ...event.queryStringParameters }).toEqual({ workerId: 'w 1', x: 'A,2' });
    expect(event.pathParameters).toEqual({ shardId: 'a/b' });
    expect(event.body).toBeUndefined();
  });
});
