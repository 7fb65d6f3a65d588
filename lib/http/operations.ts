/**
 * What each route does: the schemas of its path, query and body (the core's own schemas, so the
 * HTTP API and the direct checkpointer refuse the same inputs with the same field names) and the
 * one core call it makes. The dispatcher does everything else.
 */
import * as z from 'zod/mini';
import type { Checkpointer } from '../core/checkpointer';
import {
  checkpointBodySchema,
  claimBodySchema,
  heartbeatBodySchema,
  renewBodySchema,
  shardIdSchema,
  shardIdSetSchema,
  takeBodySchema,
  workerIdSchema,
} from '../core/inputs';
import { type OperationName, ROUTES, type Route } from './routes';

export interface OperationResult {
  readonly status: 200 | 204;
  readonly body?: unknown;
  /**
   * Numbers for the request's log line that the status cannot tell, such as a batch renewal's
   * per-shard outcomes: the CDK construct's lease-loss metric filters count `leasesLost`.
   */
  readonly logFields?: Readonly<Record<string, number>>;
}

type Schema = z.core.$ZodType;
type Out<S> = S extends Schema ? z.core.output<S> : undefined;

export interface Operation<
  P extends Schema | undefined = Schema | undefined,
  Q extends Schema | undefined = Schema | undefined,
  B extends Schema | undefined = Schema | undefined,
> {
  readonly route: Route;
  readonly path?: P;
  readonly query?: Q;
  readonly body?: B;
  run(
    checkpointer: Checkpointer,
    input: { path: Out<P>; query: Out<Q>; body: Out<B> },
  ): Promise<OperationResult>;
}

const ok = (body: unknown): OperationResult => ({ status: 200, body });
const noContent: OperationResult = { status: 204 };

const shardPath = z.strictObject({ shardId: shardIdSchema });
const noQuery = z.strictObject({});

const booleanQuery = z.pipe(
  z.enum(['true', 'false'], 'must be true or false'),
  z.transform((s) => s === 'true'),
);

const counterQuery = z.pipe(
  z.string().check(z.regex(/^\d{1,15}$/, 'must be a non-negative integer')),
  z.transform(Number),
);

const listWorkersQuery = z.strictObject({
  shardIds: z.optional(
    z.pipe(
      z.string(),
      z.pipe(
        z.transform((s: string) => (s === '' ? [] : s.split(','))),
        shardIdSetSchema,
      ),
    ),
  ),
  strict: z.optional(booleanQuery),
});

const listShardsQuery = z.strictObject({
  limit: z.optional(
    z.pipe(z.string().check(z.regex(/^\d{1,9}$/, 'must be an integer in 1..1000')), z.transform(Number)),
  ),
  cursor: z.optional(z.string()),
});

function routeOf(name: OperationName): Route {
  const route = ROUTES.find((r) => r.name === name);
  if (!route) throw new Error(`no route for operation ${name}`);
  return route;
}

function define<P extends Schema | undefined, Q extends Schema | undefined, B extends Schema | undefined>(
  name: OperationName,
  spec: Omit<Operation<P, Q, B>, 'route'>,
): Operation<P, Q, B> {
  return { route: routeOf(name), ...spec };
}

export const OPERATIONS = {
  init: define('init', { query: noQuery, run: async (cp) => ok(await cp.init()) }),

  getLease: define('getLease', {
    path: shardPath,
    query: noQuery,
    body: takeBodySchema,
    run: async (cp, { path, body }) => ok(await cp.getLease(path.shardId, body)),
  }),

  checkpoint: define('checkpoint', {
    path: shardPath,
    query: noQuery,
    body: checkpointBodySchema,
    run: async (cp, { path, body }) => ok(await cp.checkpointSequence(path.shardId, body)),
  }),

  fetchCheckpoint: define('fetchCheckpoint', {
    path: shardPath,
    query: noQuery,
    run: async (cp, { path }) => ok(await cp.fetchCheckpoint(path.shardId)),
  }),

  removeLeaseOwner: define('removeLeaseOwner', {
    path: shardPath,
    // takeId's rules are the core's (releaseSchema), under the same field name.
    query: z.strictObject({
      workerId: workerIdSchema,
      leaseCounter: z.optional(counterQuery),
      takeId: z.optional(z.string()),
    }),
    run: async (cp, { path, query }) => {
      await cp.removeLeaseOwner(path.shardId, query.workerId, {
        ...(query.leaseCounter !== undefined && { leaseCounter: query.leaseCounter }),
        ...(query.takeId !== undefined && { takeId: query.takeId }),
      });
      return noContent;
    },
  }),

  getLeaseOwner: define('getLeaseOwner', {
    path: shardPath,
    query: noQuery,
    run: async (cp, { path }) => ok({ shardId: path.shardId, owner: await cp.getLeaseOwner(path.shardId) }),
  }),

  removeLeaseInfo: define('removeLeaseInfo', {
    path: shardPath,
    query: z.strictObject({ workerId: z.optional(workerIdSchema), force: z.optional(booleanQuery) }),
    run: async (cp, { path, query }) => {
      await cp.removeLeaseInfo(path.shardId, {
        ...(query.workerId !== undefined && { workerId: query.workerId }),
        ...(query.force !== undefined && { force: query.force }),
      });
      return noContent;
    },
  }),

  claimShard: define('claimShard', {
    path: shardPath,
    query: noQuery,
    body: claimBodySchema,
    run: async (cp, { path, body }) => ok(await cp.claimShard(path.shardId, body.workerId)),
  }),

  withdrawClaim: define('withdrawClaim', {
    path: shardPath,
    query: z.strictObject({ workerId: workerIdSchema }),
    run: async (cp, { path, query }) => {
      await cp.withdrawClaim(path.shardId, query.workerId);
      return noContent;
    },
  }),

  listActiveWorkers: define('listActiveWorkers', {
    query: listWorkersQuery,
    run: async (cp, { query }) =>
      ok(
        await cp.listActiveWorkers({
          ...(query.shardIds !== undefined && { shardIds: query.shardIds }),
          ...(query.strict !== undefined && { strict: query.strict }),
        }),
      ),
  }),

  listShards: define('listShards', {
    query: listShardsQuery,
    // Bounds and the cursor are checked by the core, under the same field names.
    run: async (cp, { query }) =>
      ok(
        await cp.listShards({
          ...(query.limit !== undefined && { limit: query.limit }),
          ...(query.cursor !== undefined && { cursor: query.cursor }),
        }),
      ),
  }),

  renewLeases: define('renewLeases', {
    path: z.strictObject({ workerId: workerIdSchema }),
    query: noQuery,
    body: renewBodySchema,
    run: async (cp, { path, body }) => {
      const result = await cp.renewLeases(path.workerId, body.shardIds);
      return {
        ...ok(result),
        logFields: {
          leasesRenewed: result.renewed.length,
          leasesLost: result.lost.length,
          leasesFailed: result.failed.length,
        },
      };
    },
  }),

  heartbeat: define('heartbeat', {
    path: z.strictObject({ workerId: workerIdSchema }),
    query: noQuery,
    body: heartbeatBodySchema,
    run: async (cp, { path, body }) => {
      const result = await cp.heartbeat(path.workerId, body);
      return {
        ...ok(result),
        logFields: {
          leasesRenewed: result.renewed.length,
          leasesLost: result.lost.length,
          leasesFailed: result.failed.length,
          leasesToTake: result.take.length,
          leasesToSteal: result.steals.length,
          leasesOverdue: result.overdue.length,
        },
      };
    },
  }),

  describeTerms: define('describeTerms', {
    query: noQuery,
    // Exactly the two terms, whatever else a Checkpointer's answer carries.
    run: async (cp) => {
      const { leaseDurationMs, claimTimeoutMs } = await cp.leaseTerms();
      return ok({ leaseDurationMs, claimTimeoutMs });
    },
  }),
} satisfies Record<OperationName, Operation>;
