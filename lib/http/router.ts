/**
 * Routing by the ROUTES table, as API Gateway does it from the routes the CDK construct makes of it:
 * the local server routes every request with it, and the API's $default route answers what matched no
 * route with the contract's errors: 404 NotFound for an unknown path, 405 MethodNotAllowed
 * (with Allow) for a known path and another method.
 */
import { type HttpMethod, ROUTES, type Route } from './routes';

export type RouteMatch =
  | { readonly kind: 'matched'; readonly route: Route; readonly pathParameters: Record<string, string> }
  | { readonly kind: 'notFound' }
  | { readonly kind: 'methodNotAllowed'; readonly allow: readonly HttpMethod[] };

interface CompiledRoute {
  readonly route: Route;
  readonly pattern: RegExp;
  readonly names: readonly string[];
}

function compile(route: Route): CompiledRoute {
  const names: string[] = [];
  const source = route.path
    .split('/')
    .map((segment) => {
      const param = /^\{(\w+)\}$/.exec(segment);
      if (!param?.[1]) return segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      names.push(param[1]);
      return '([^/]+)';
    })
    .join('/');
  return { route, pattern: new RegExp(`^${source}$`), names };
}

const COMPILED = ROUTES.map(compile);

/** Path parameters arrive percent-decoded, as API Gateway hands them to the Lambda. */
function decode(raw: string): string | undefined {
  try {
    return decodeURIComponent(raw);
  } catch {
    return undefined;
  }
}

export function matchRoute(method: string, path: string): RouteMatch {
  const allow: HttpMethod[] = [];
  for (const { route, pattern, names } of COMPILED) {
    const found = pattern.exec(path);
    if (!found) continue;
    if (route.method !== method) {
      allow.push(route.method);
      continue;
    }
    const pathParameters: Record<string, string> = {};
    for (const [i, name] of names.entries()) {
      const value = decode(found[i + 1] ?? '');
      // An undecodable parameter cannot name a shard or a worker: treat it as no route at all.
      if (value === undefined) return { kind: 'notFound' };
      pathParameters[name] = value;
    }
    return { kind: 'matched', route, pathParameters };
  }
  return allow.length > 0 ? { kind: 'methodNotAllowed', allow } : { kind: 'notFound' };
}
