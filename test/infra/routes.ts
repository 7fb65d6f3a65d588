/**
 * The routes each audience may call, written out rather than derived from ROUTES: a route that
 * changes audience, or a new route, must show up here as a deliberate change of who may call what.
 */
import type { IConstruct } from 'constructs';
import { logicalId } from './synth';

/**
 * What a worker calls: its own leases, checkpoints, renewals, claims and their withdrawal, and every
 * read-only route.
 */
export const CONSUME_ROUTE_KEYS: readonly string[] = [
  'POST /shards/*/lease',
  'PUT /shards/*/checkpoint',
  'GET /shards/*/checkpoint',
  'DELETE /shards/*/lease',
  'GET /shards/*/owner',
  'POST /shards/*/claim',
  'DELETE /shards/*/claim',
  'GET /workers',
  'GET /shards',
  'POST /workers/*/renew',
  'POST /workers/*/heartbeat',
  'GET /terms',
];

export const READ_ROUTE_KEYS: readonly string[] = [
  'GET /shards/*/checkpoint',
  'GET /shards/*/owner',
  'GET /workers',
  'GET /shards',
  'GET /terms',
];

/** `DELETE /shards/*` as a whole: IAM cannot tell `?force=true` from an owner's own delete. */
export const ADMIN_ROUTE_KEYS: readonly string[] = ['POST /init', 'DELETE /shards/*'];

/**
 * `METHOD path` of an execute-api ARN of `api`'s `$default` stage, as the template holds it: a
 * Fn::Join ending with the API's id and `/$default/METHOD/path`. Throws for any other ARN.
 */
export function routeKeyOf(arn: unknown, api: IConstruct): string {
  const parts = (arn as { 'Fn::Join'?: [string, unknown[]] })['Fn::Join']?.[1];
  const [apiRef, tail] = parts?.slice(-2) ?? [];
  const match = typeof tail === 'string' ? /^\/\$default\/([A-Z]+)(\/.*)$/.exec(tail) : null;
  if (
    !parts?.some((p) => typeof p === 'string' && p.includes(':execute-api:')) ||
    JSON.stringify(apiRef) !== JSON.stringify({ Ref: logicalId(api) }) ||
    !match
  ) {
    throw new Error(`not a route ARN of ${api.node.path}'s $default stage: ${JSON.stringify(arn)}`);
  }
  return `${match[1]} ${match[2]}`;
}
