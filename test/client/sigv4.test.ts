import { createRequestSigner } from '../../lib/client/sigv4';
import { verifySigV4 } from './sigv4-verifier';

const EXAMPLE = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' };
const FIXED = new Date('2026-11-24T19:10:41.123Z');

function received(method: string, url: URL, headers: Record<string, string>, body = '') {
  return { method, target: `${url.pathname}${url.search}`, headers, body };
}

describe('createRequestSigner', () => {
  it('reproduces the get-vanilla example of the AWS SigV4 test suite', async () => {
    const sign = createRequestSigner({ region: 'us-east-1', credentials: EXAMPLE, service: 'service' });
    const headers = await sign(
      { method: 'GET', url: new URL('https://example.amazonaws.com/'), headers: {} },
      new Date('2015-08-30T12:36:00Z'),
    );
    expect(headers['x-amz-date']).toBe('20150830T123600Z');
    expect(headers.authorization).toBe(
      'AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, ' +
        'SignedHeaders=host;x-amz-date, ' +
        'Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31',
    );
  });

  it('signs a request with a body, an encoded path and a query as an independent verifier computes it', async () => {
    const sign = createRequestSigner({ region: 'eu-west-1', credentials: EXAMPLE });
    const url = new URL(
      'https://abc123.execute-api.eu-west-1.amazonaws.com/prod/workers/host%2Fpid%2042%20%E2%9C%93/renew?b=2&a=x%20y%2Cz',
    );
    const body = JSON.stringify({ shardIds: ['shardId-000000000000'] });
    const headers = await sign(
      { method: 'POST', url, headers: { 'content-type': 'application/json' }, body },
      FIXED,
    );
    expect(headers.authorization).toMatch(
      /^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/20261124\/eu-west-1\/execute-api\/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=[0-9a-f]{64}$/,
    );
    expect(headers.host).toBe('abc123.execute-api.eu-west-1.amazonaws.com');
    const verdict = verifySigV4(received('POST', url, headers, body), (id) =>
      id === EXAMPLE.accessKeyId ? EXAMPLE.secretAccessKey : undefined,
    );
    expect(verdict).toMatchObject({ valid: true, region: 'eu-west-1', service: 'execute-api' });
  });

  it('gives the same signature for the same request, credentials and instant', async () => {
    const sign = createRequestSigner({ region: 'eu-west-1', credentials: EXAMPLE });
    const request = { method: 'GET', url: new URL('https://api.example.com/shards?limit=2'), headers: {} };
    const first = await sign(request, FIXED);
    const second = await sign(request, FIXED);
    expect(second.authorization).toBe(first.authorization);
    const later = await sign(request, new Date(FIXED.getTime() + 1_000));
    expect(later.authorization).not.toBe(first.authorization);
  });

  it('signs the session token of temporary credentials from a provider', async () => {
    const sign = createRequestSigner({
      region: 'us-west-2',
      credentials: async () => ({ ...EXAMPLE, sessionToken: 'session-token-value' }),
    });
    const url = new URL('http://127.0.0.1:3000/shards/shardId-1/lease?workerId=w%201');
    const headers = await sign({ method: 'DELETE', url, headers: {} }, FIXED);
    expect(headers['x-amz-security-token']).toBe('session-token-value');
    expect(headers.authorization).toContain('SignedHeaders=host;x-amz-date;x-amz-security-token');
    expect(headers.host).toBe('127.0.0.1:3000');
    const verdict = verifySigV4(received('DELETE', url, headers), () => EXAMPLE.secretAccessKey);
    expect(verdict.valid).toBe(true);
  });

  it('is refused by the verifier when the body, the path or the secret differs from what was signed', async () => {
    const sign = createRequestSigner({ region: 'eu-west-1', credentials: EXAMPLE });
    const url = new URL('https://api.example.com/shards/shardId-1/checkpoint');
    const body = '{"workerId":"w1","checkpoint":"5"}';
    const headers = await sign(
      { method: 'PUT', url, headers: { 'content-type': 'application/json' }, body },
      FIXED,
    );
    const secret = () => EXAMPLE.secretAccessKey;
    expect(verifySigV4(received('PUT', url, headers, body), secret).valid).toBe(true);
    expect(verifySigV4(received('PUT', url, headers, body.replace('5', '6')), secret)).toMatchObject({
      valid: false,
      reason: 'signature mismatch',
    });
    const otherPath = new URL('https://api.example.com/shards/shardId-2/checkpoint');
    expect(verifySigV4(received('PUT', otherPath, headers, body), secret).valid).toBe(false);
    expect(verifySigV4(received('PUT', url, headers, body), () => 'another-secret').valid).toBe(false);
  });
});
