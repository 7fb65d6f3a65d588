/**
 * The answers node:http would otherwise give bare (`HTTP/1.1 400 Bad Request` with no body), as the
 * contract's problem+json: a request its parser refuses (`clientError`: bad bytes in the request
 * line or headers, an unknown method token, a request that timed out), a CONNECT request, an Expect
 * it does not understand and an HTTP/1.1 request with no Host.
 *
 * llhttp knows a fixed list of methods: PROPFIND, PATCH and the like reach the request handler and
 * are routed as any request (405 with Allow on a known path, 404 elsewhere), but a token it does not
 * know (`FOO`, lower-case `get`) fails at the parser. That request line is read back from the bytes the
 * parser refused and routed the same way, so every method gets the same answer however node handles it.
 */
import { STATUS_CODES } from 'node:http';
import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { ValidationError } from '../core/errors';
import { PROBLEM_CONTENT_TYPE, type Problem, problemFor } from '../http/problem';
import { unmatchedResponse } from '../http/unmatched';
import { splitTarget } from './request-target';

/** A whole response: status, headers (lower-case names) and body. */
export interface Answer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

export function answerOf(result: APIGatewayProxyStructuredResultV2): Answer {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(result.headers ?? {})) headers[name] = String(value);
  return { status: result.statusCode ?? 200, headers, body: result.body ?? '' };
}

export function problemAnswer({ status, body }: Problem, headers: Record<string, string> = {}): Answer {
  return {
    status,
    headers: { 'content-type': PROBLEM_CONTENT_TYPE, ...headers },
    body: JSON.stringify(body),
  };
}

/** 400 ValidationError naming `field`. */
export function validationAnswer(field: string, message: string, requestId: string): Answer {
  return problemAnswer(problemFor(new ValidationError([{ field, message }]), requestId));
}

/** The 404 or 405 for `method` on a request-target (path and query), or undefined when a route takes it. */
export function routingAnswer(method: string, target: string, requestId: string): Answer | undefined {
  const result = unmatchedResponse(method, splitTarget(target).rawPath, requestId);
  return result && answerOf(result);
}

/** An error node:http hands to `clientError`: a parser error (HPE_*) or a timeout (ERR_HTTP_*). */
export interface ClientError extends Error {
  readonly code?: string;
  /** The bytes the parser was given when it failed. */
  readonly rawPacket?: Buffer;
  /** How many of them it had read. */
  readonly bytesParsed?: number;
}

/** A request line: a method token (RFC 9110 tchar), a target, a version. */
const REQUEST_LINE = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+) (\S+) HTTP\/\d\.\d\r?$/;

/** The request line the parser stopped in: the line holding the byte it failed at. */
function failedRequestLine(error: ClientError): { method: string; target: string } | undefined {
  const packet = error.rawPacket?.toString('latin1');
  if (!packet) return undefined;
  const at = Math.min(Math.max(error.bytesParsed ?? 0, 0), packet.length);
  const start = packet.lastIndexOf('\n', at - 1) + 1;
  const end = packet.indexOf('\n', start);
  const found = REQUEST_LINE.exec(packet.slice(start, end < 0 ? undefined : end));
  return found?.[1] && found[2] ? { method: found[1], target: found[2] } : undefined;
}

/** What to answer a request the parser refused. */
export function clientErrorAnswer(error: ClientError, requestId: string): Answer {
  const code = error.code ?? 'unknown';
  if (code === 'HPE_INVALID_METHOD') {
    const line = failedRequestLine(error);
    const routed = line && routingAnswer(line.method, line.target, requestId);
    if (routed) return routed;
    return validationAnswer('method', 'is not an HTTP method token', requestId);
  }
  if (code === 'HPE_INVALID_URL') {
    return validationAnswer(
      'path',
      'holds a byte a request-target may not hold: percent-encode spaces, control and non-ASCII characters',
      requestId,
    );
  }
  if (code === 'HPE_HEADER_OVERFLOW') return validationAnswer('headers', 'are too large', requestId);
  if (code.startsWith('HPE_INVALID_HEADER')) {
    return validationAnswer('headers', `are not well-formed (${code})`, requestId);
  }
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    return validationAnswer('request', 'did not arrive completely in time', requestId);
  }
  return validationAnswer('request', `is not a well-formed HTTP/1.1 request (${code})`, requestId);
}

/** The answer as bytes for a socket node:http no longer serves; the connection closes after it. */
export function rawResponse(answer: Answer, requestId: string): string {
  const headers = {
    ...answer.headers,
    'x-request-id': requestId,
    'content-length': String(Buffer.byteLength(answer.body)),
    connection: 'close',
  };
  const lines = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`);
  return `HTTP/1.1 ${answer.status} ${STATUS_CODES[answer.status] ?? ''}\r\n${lines.join('')}\r\n${answer.body}`;
}
