/**
 * Routing by the ROUTES table, as API Gateway does it from the routes the CDK construct makes of it:
 * the local server routes every request with it, and the API's $default route answers what matched no
 * route with the contract's errors: 404 NotFound for an unknown path, 405 MethodNotAllowed
 * (with Allow) for a known path and another method.
 *
 * The path is routed as it arrived (the raw, still percent-encoded path): it is split on `/` first and
 * each segment is decoded exactly once afterwards, so an encoded `/` (`%2F`) or `\` (`%5C`) stays a
 * character of its path parameter and never becomes a separator, and nothing resolves dot segments.
 * A path that cannot name a resource without such a reinterpretation (a `.` or `..` segment, raw or
 * encoded; an empty segment from `//` or a trailing `/`; a raw `\`, which WHATWG URL parsers turn into
 * `/`; a character that must travel percent-encoded; bad percent-encoding) is refused as no route at
 * all: 404 NotFound, the contract's answer for "no such route", whatever the method. Not 400: no
 * operation was chosen, so there is no input field to name, and the caller gets one code for every
 * path that addresses nothing.
 */
import { type HttpMethod, ROUTES, type Route } from './routes';

export type RouteMatch =
  | { readonly kind: 'matched'; readonly route: Route; readonly pathParameters: Record<string, string> }
  /** `reason` says why a path was refused before any route was tried; absent, no route has this path. */
  | { readonly kind: 'notFound'; readonly reason?: string }
  | { readonly kind: 'methodNotAllowed'; readonly allow: readonly HttpMethod[] };

/** A route's path segments: a literal, or the name of a path parameter. */
type Part = { readonly literal: string } | { readonly param: string };

interface CompiledRoute {
  readonly route: Route;
  readonly parts: readonly Part[];
}

function compile(route: Route): CompiledRoute {
  const parts = route.path
    .split('/')
    .slice(1)
    .map((segment): Part => {
      const param = /^\{(\w+)\}$/.exec(segment)?.[1];
      return param ? { param } : { literal: segment };
    });
  return { route, parts };
}

const COMPILED = ROUTES.map(compile);

/** What a path may hold as it is (RFC 3986 pchar, and `/`); anything else must arrive percent-encoded. */
const RAW_PATH = /^(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/]|%[0-9A-Fa-f]{2})*$/;

const isDotSegment = (segment: string) => segment === '.' || segment === '..';

export interface PathSegment {
  /** As it arrived, still percent-encoded. */
  readonly raw: string;
  /** Percent-decoded once. */
  readonly decoded: string;
}

/** The segments of a raw path, each decoded once; or why the path can name no resource. */
export function pathSegments(
  rawPath: string,
): { readonly segments: readonly PathSegment[] } | { readonly refused: string } {
  if (!rawPath.startsWith('/')) return { refused: 'the path does not start with /' };
  if (rawPath.includes('\\')) return { refused: 'the path holds a backslash' };
  if (!RAW_PATH.test(rawPath)) {
    return { refused: 'the path holds a character that must be percent-encoded, or a bad % escape' };
  }
  const segments: PathSegment[] = [];
  for (const raw of rawPath.slice(1).split('/')) {
    if (raw === '') return { refused: 'the path has an empty segment (// or a trailing /)' };
    let decoded: string;
    try {
      decoded = decodeURIComponent(raw);
    } catch {
      return { refused: 'the path has a segment that is not percent-encoded UTF-8' };
    }
    if (isDotSegment(raw) || isDotSegment(decoded)) return { refused: 'the path has a . or .. segment' };
    segments.push({ raw, decoded });
  }
  return { segments };
}

/**
 * The route that takes `method` on `rawPath` (the path as it arrived, percent-encoded, no query).
 * Literal segments match byte for byte; path parameters arrive percent-decoded, as API Gateway hands
 * them to the Lambda.
 */
export function matchRoute(method: string, rawPath: string): RouteMatch {
  const path = pathSegments(rawPath);
  if ('refused' in path) return { kind: 'notFound', reason: path.refused };
  const { segments } = path;
  const allow: HttpMethod[] = [];
  for (const { route, parts } of COMPILED) {
    if (parts.length !== segments.length) continue;
    const pathParameters: Record<string, string> = {};
    const fits = parts.every((part, i) => {
      const segment = segments[i] as PathSegment;
      if ('literal' in part) return segment.raw === part.literal;
      pathParameters[part.param] = segment.decoded;
      return true;
    });
    if (!fits) continue;
    if (route.method !== method) {
      allow.push(route.method);
      continue;
    }
    return { kind: 'matched', route, pathParameters };
  }
  return allow.length > 0 ? { kind: 'methodNotAllowed', allow } : { kind: 'notFound' };
}
