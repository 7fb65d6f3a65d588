/**
 * The request-target of a node:http request taken apart by hand, the way API Gateway hands it to the
 * Lambda: the raw path (routed by lib/http/router.ts) and the raw query string, and the query's
 * parameters decoded once. Never through `new URL()`: a WHATWG URL folds `.`/`..` and `%2e%2e`
 * segments, turns `\` into `/` and reads `//host/...` as another host, which would let
 * `DELETE /shards/junk/%2e%2e/x` delete the row `x`.
 */
import type { FieldIssue } from '../core/errors';

export interface RequestTarget {
  /** Everything before the first `?`, untouched (still percent-encoded). */
  readonly rawPath: string;
  /** Everything after the first `?`, untouched; '' when there is none. */
  readonly rawQueryString: string;
}

export function splitTarget(url: string): RequestTarget {
  const mark = url.indexOf('?');
  return mark < 0
    ? { rawPath: url, rawQueryString: '' }
    : { rawPath: url.slice(0, mark), rawQueryString: url.slice(mark + 1) };
}

export type QueryParameters = Record<string, string>;

export type ParsedQuery =
  | { readonly ok: true; readonly parameters: QueryParameters | undefined }
  | { readonly ok: false; readonly issues: readonly FieldIssue[] };

/** `+` is a space in a query (form encoding), then one percent-decoding; undefined when undecodable. */
function decodeQueryPart(part: string): string | undefined {
  try {
    return decodeURIComponent(part.replaceAll('+', ' '));
  } catch {
    return undefined;
  }
}

const shown = (text: string) => JSON.stringify(text.length > 64 ? `${text.slice(0, 64)}…` : text);

/**
 * The parameters of a raw query string, as API Gateway passes them: decoded once, a repeated key's
 * values joined with commas, undefined when there are none. The object has no prototype, so keys such
 * as `__proto__` or `constructor` stay ordinary keys and reach the operations' strict schemas, which
 * refuse them as unknown fields (a plain object would swallow `__proto__`). An undecodable key or
 * value, or an empty key, is a 400 ValidationError naming the field `query`.
 */
export function parseQuery(rawQueryString: string): ParsedQuery {
  const parameters: QueryParameters = Object.create(null);
  const issues: FieldIssue[] = [];
  let count = 0;
  for (const pair of rawQueryString.split('&')) {
    if (pair === '') continue;
    const equals = pair.indexOf('=');
    const rawKey = equals < 0 ? pair : pair.slice(0, equals);
    const key = decodeQueryPart(rawKey);
    const value = decodeQueryPart(equals < 0 ? '' : pair.slice(equals + 1));
    if (key === undefined || value === undefined) {
      issues.push({ field: 'query', message: `${shown(pair)} is not valid percent-encoded UTF-8` });
      continue;
    }
    if (key === '') {
      issues.push({ field: 'query', message: `${shown(pair)} has an empty parameter name` });
      continue;
    }
    const earlier = Object.hasOwn(parameters, key) ? parameters[key] : undefined;
    parameters[key] = earlier === undefined ? value : `${earlier},${value}`;
    count++;
  }
  if (issues.length > 0) return { ok: false, issues };
  return { ok: true, parameters: count > 0 ? parameters : undefined };
}
