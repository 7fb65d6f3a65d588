/**
 * An independent SigV4 check, written from AWS's description of the algorithm (canonical request,
 * string to sign, derived key) with node:crypto alone, so the client's signer (@smithy's) is held to
 * the specification rather than to itself. It checks what API Gateway checks from the request as it
 * arrives: the raw path and query, the signed headers and the body.
 */
import { createHash, createHmac } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedRequest {
  readonly method: string;
  /** Path and query exactly as they came on the request line. */
  readonly target: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

export interface Verdict {
  readonly valid: boolean;
  readonly reason?: string;
  readonly accessKeyId?: string;
  readonly region?: string;
  readonly service?: string;
  readonly signedHeaders?: readonly string[];
}

const sha256Hex = (data: string) => createHash('sha256').update(data, 'utf8').digest('hex');
const hmac = (key: Buffer | string, data: string) => createHmac('sha256', key).update(data, 'utf8').digest();

/** URI-encode every byte except the unreserved characters A-Z a-z 0-9 - _ . ~ */
function uriEncode(value: string): string {
  return [...Buffer.from(value, 'utf8')]
    .map((byte) => {
      const c = String.fromCharCode(byte);
      return /[A-Za-z0-9\-_.~]/.test(c) ? c : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
    })
    .join('');
}

/** Non-S3 services: each segment of the path as received is encoded once more. */
function canonicalUri(rawPath: string): string {
  if (rawPath === '') return '/';
  return rawPath
    .split('/')
    .map((segment) => uriEncode(segment))
    .join('/');
}

function canonicalQuery(rawQuery: string): string {
  if (rawQuery === '') return '';
  return rawQuery
    .split('&')
    .filter((pair) => pair !== '')
    .map((pair) => {
      const eq = pair.indexOf('=');
      const key = decodeURIComponent(eq < 0 ? pair : pair.slice(0, eq));
      const value = eq < 0 ? '' : decodeURIComponent(pair.slice(eq + 1));
      return [uriEncode(key), uriEncode(value)] as const;
    })
    .sort(([ak, av], [bk, bv]) => (ak === bk ? (av < bv ? -1 : 1) : ak < bk ? -1 : 1))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
}

const AUTHORIZATION =
  /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})$/;

/** Recomputes the signature of `request` with `secretFor(accessKeyId)` and compares. */
export function verifySigV4(
  request: ReceivedRequest,
  secretFor: (accessKeyId: string) => string | undefined,
): Verdict {
  const auth = AUTHORIZATION.exec(request.headers.authorization ?? '');
  if (!auth) return { valid: false, reason: 'no well-formed SigV4 Authorization header' };
  const [, accessKeyId = '', shortDate = '', region = '', service = '', headerList = '', signature] = auth;
  const amzDate = request.headers['x-amz-date'] ?? '';
  if (!amzDate.startsWith(shortDate)) return { valid: false, reason: 'x-amz-date does not match the scope' };
  const signedHeaders = headerList.split(';');
  if (!signedHeaders.includes('host')) return { valid: false, reason: 'host is not signed' };
  const secret = secretFor(accessKeyId);
  if (secret === undefined) return { valid: false, reason: `unknown access key ${accessKeyId}` };

  const queryAt = request.target.indexOf('?');
  const rawPath = queryAt < 0 ? request.target : request.target.slice(0, queryAt);
  const rawQuery = queryAt < 0 ? '' : request.target.slice(queryAt + 1);
  const headerLines = signedHeaders.map(
    (name) => `${name}:${(request.headers[name] ?? '').trim().replace(/\s+/g, ' ')}\n`,
  );
  const canonicalRequest = [
    request.method,
    canonicalUri(rawPath),
    canonicalQuery(rawQuery),
    headerLines.join(''),
    headerList,
    sha256Hex(request.body),
  ].join('\n');
  const scope = `${shortDate}/${region}/${service}/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256Hex(canonicalRequest)].join('\n');
  const key = hmac(hmac(hmac(hmac(`AWS4${secret}`, shortDate), region), service), 'aws4_request');
  const expected = createHmac('sha256', key).update(stringToSign, 'utf8').digest('hex');
  const base = { accessKeyId, region, service, signedHeaders };
  return expected === signature
    ? { valid: true, ...base }
    : { valid: false, reason: 'signature mismatch', ...base };
}

function flatten(headers: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined) out[name] = Array.isArray(value) ? value.join(',') : value;
  }
  return out;
}

export interface VerifyingServer {
  readonly url: string;
  /** Every request received, with the verdict on its signature. */
  readonly received: Array<ReceivedRequest & { verdict: Verdict }>;
  close(): Promise<void>;
}

/**
 * Stands in for API Gateway's IAM check, which no local server has: 403 for a bad signature, else
 * 200 with `{ ok: true, path }` (204 for DELETE).
 */
export async function startVerifyingServer(
  secrets: Readonly<Record<string, string>>,
): Promise<VerifyingServer> {
  const received: VerifyingServer['received'] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const request = {
        method: req.method ?? 'GET',
        target: req.url ?? '/',
        headers: flatten(req.headers),
        body: Buffer.concat(chunks).toString('utf8'),
      };
      const verdict = verifySigV4(request, (id) => secrets[id]);
      received.push({ ...request, verdict });
      if (!verdict.valid) {
        res.writeHead(403, { 'content-type': 'application/json', 'apigw-requestid': 'verifier-403' });
        res.end(JSON.stringify({ message: 'Forbidden' }));
      } else if (request.method === 'DELETE') {
        res.writeHead(204).end();
      } else {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ ok: true, path: request.target }));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
