/**
 * The input rules of the contract, once, for every entry point: the HTTP handlers and the direct
 * DynamoCheckpointer both parse through these schemas, so a bad id is refused the same way everywhere
 * and before anything is written. zod/mini keeps each Lambda bundle small (13 KB against 85 KB).
 */
import * as z from 'zod/mini';
import { decodeCursor } from './cursor';
import { type FieldIssue, ValidationError } from './errors';
import { isValidCheckpoint, normalizeCheckpoint } from './sequence-number';
import { SHARD_ID_PATTERN, WORKER_ID_PATTERN } from './shard-id';

export { SHARD_ID_PATTERN, WORKER_ID_PATTERN };

export const MAX_RENEW_SHARDS = 100;
export const MAX_PAGE_LIMIT = 1000;
export const MAX_SHARD_SET = 10_000;

const EXPECTED: Readonly<Record<string, string>> = {
  string: 'a string',
  int: 'an integer',
  number: 'a number',
  boolean: 'a boolean (true or false)',
  array: 'an array',
  object: 'a JSON object',
};

/** What a JSON value is, in words: `a number (5)`, `a string ("2")`, `null`, `an array`. */
export function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  switch (typeof value) {
    case 'string': {
      const shown = JSON.stringify(value.length > 32 ? `${value.slice(0, 32)}…` : value);
      return `a string (${shown})`;
    }
    case 'number':
      return Number.isInteger(value) ? `a number (${value})` : `a number with a fraction (${value})`;
    case 'boolean':
      return `a boolean (${value})`;
    case 'object':
      return 'an object';
    default:
      return typeof value;
  }
}

/**
 * The wording of a missing or wrong-typed value. zod drops the input from its issues unless asked, so
 * the words are made here, where the issue still carries it: a field sent with the wrong type is
 * reported as a type error (`must be a string, got a number (5)`), never as missing.
 */
function typeError(issue: z.core.$ZodRawIssue, expectedWords?: string): string | undefined {
  if (issue.code === 'invalid_type') {
    if (issue.input === undefined) return 'is required';
    const expected = expectedWords ?? EXPECTED[issue.expected] ?? `a ${issue.expected}`;
    return `must be ${expected}, got ${describeValue(issue.input)}`;
  }
  if ((issue.code === 'too_big' || issue.code === 'too_small') && issue.origin === 'int' && !issue.message) {
    return `must be an integer in ${Number.MIN_SAFE_INTEGER}..${Number.MAX_SAFE_INTEGER}, got ${describeValue(issue.input)}`;
  }
  return undefined;
}

/** The type error wording on every schema a body or query field is parsed with. */
const typed = { error: (issue: z.core.$ZodRawIssue) => typeError(issue) } as const;
/** z.int() reports a string as `expected: number`: the words say integer whatever came. */
const typedInt = { error: (issue: z.core.$ZodRawIssue) => typeError(issue, 'an integer') } as const;

export const shardIdSchema = z
  .string(typed)
  .check(z.regex(SHARD_ID_PATTERN, 'must be 1..128 of [a-zA-Z0-9_.-]'));
export const workerIdSchema = z
  .string(typed)
  .check(z.regex(WORKER_ID_PATTERN, 'must be 1..256 printable characters'));
export const checkpointSchema = z.pipe(
  z
    .string(typed)
    .check(z.refine(isValidCheckpoint, 'must be a sequence number of 1..128 decimal digits, or SHARD_END')),
  z.transform(normalizeCheckpoint),
);
export const leaseCounterSchema = z.int(typedInt).check(z.nonnegative('must be a non-negative integer'));

const TAKE_ID_PATTERN = /^[A-Za-z0-9_.:-]{1,64}$/;
/** Names one take across its retries (see TakeRequest.takeId). */
const takeIdSchema = z.string(typed).check(z.regex(TAKE_ID_PATTERN, 'must be 1..64 of A-Z a-z 0-9 _ . : -'));

export const takeBodySchema = z.strictObject(
  {
    workerId: workerIdSchema,
    parentShardId: z.optional(shardIdSchema),
    checkpoint: z.optional(checkpointSchema),
    newLease: z.optional(z.boolean(typed)),
    takeId: z.optional(takeIdSchema),
  },
  typed,
);

export const checkpointBodySchema = z.strictObject(
  {
    workerId: workerIdSchema,
    checkpoint: checkpointSchema,
    leaseCounter: z.optional(leaseCounterSchema),
    parentShardId: z.optional(shardIdSchema),
  },
  typed,
);

export const claimBodySchema = z.strictObject({ workerId: workerIdSchema }, typed);

/** RemoveLeaseOwner's fence: release only the lease with this counter. */
export const releaseSchema = z.strictObject(
  { leaseCounter: z.optional(leaseCounterSchema), takeId: z.optional(takeIdSchema) },
  typed,
);

/** DeleteRow's guard: the caller's worker id (an owner may delete its own row), or force (an admin). */
export const removeRowSchema = z.strictObject(
  {
    workerId: z.optional(workerIdSchema),
    force: z.optional(z.boolean(typed)),
  },
  typed,
);

export const renewBodySchema = z.strictObject(
  {
    shardIds: z
      .array(shardIdSchema, typed)
      .check(
        z.minLength(1, `must list 1..${MAX_RENEW_SHARDS} shard ids`),
        z.maxLength(MAX_RENEW_SHARDS, `must list 1..${MAX_RENEW_SHARDS} shard ids`),
      ),
  },
  typed,
);

export const MAX_HEARTBEAT_LEASES = 250;
export const MAX_CAPACITY = 100_000;

export const heartbeatBodySchema = z
  .strictObject(
    {
      held: z
        .array(z.strictObject({ shardId: shardIdSchema, leaseCounter: leaseCounterSchema }, typed), typed)
        .check(z.maxLength(MAX_HEARTBEAT_LEASES, `must list at most ${MAX_HEARTBEAT_LEASES} leases`)),
      capacity: z.optional(
        z
          .int(typedInt)
          .check(
            z.minimum(0, `must be an integer in 0..${MAX_CAPACITY}`),
            z.maximum(MAX_CAPACITY, `must be an integer in 0..${MAX_CAPACITY}`),
          ),
      ),
      leaving: z.optional(z.boolean(typed)),
    },
    typed,
  )
  .check(
    z.refine((body) => !(body.leaving && body.held.length > 0), {
      message: 'must be empty when leaving: release the leases first',
      path: ['held'],
    }),
  );

/** The shards a ListActiveWorkers call asks about. */
export const shardIdSetSchema = z
  .array(shardIdSchema, typed)
  .check(z.maxLength(MAX_SHARD_SET, `must list at most ${MAX_SHARD_SET} shard ids`));

export const listShardsSchema = z.strictObject(
  {
    limit: z.optional(
      z
        .int(typedInt)
        .check(
          z.minimum(1, `must be an integer in 1..${MAX_PAGE_LIMIT}`),
          z.maximum(MAX_PAGE_LIMIT, `must be an integer in 1..${MAX_PAGE_LIMIT}`),
        ),
    ),
    cursor: z.optional(
      z.pipe(
        z
          .string(typed)
          .check(z.refine((c) => decodeCursor(c) !== undefined, 'is not a cursor this service returned')),
        z.transform((c) => decodeCursor(c) as string),
      ),
    ),
  },
  typed,
);

/** Zod's own words for an issue our schemas did not word: none of them reach a caller as is. */
const ZOD_DEFAULT_MESSAGE = 'Invalid input';

function describeIssue(issue: z.core.$ZodIssue): string {
  if (issue.message && issue.message !== ZOD_DEFAULT_MESSAGE) return issue.message;
  // A schema without our wording (zod omits the input, so missing and wrong type look alike here).
  if (issue.code === 'invalid_type') return `must be ${EXPECTED[issue.expected] ?? `a ${issue.expected}`}`;
  return 'is not valid';
}

/** Turns zod's issues into field issues; `prefix` places them (e.g. under a query string). */
export function fieldIssues(error: z.core.$ZodError, prefix = ''): FieldIssue[] {
  const issues: FieldIssue[] = [];
  for (const issue of error.issues) {
    const path = [prefix, ...issue.path.map(String)].filter((p) => p !== '').join('.');
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        issues.push({ field: path ? `${path}.${key}` : key, message: 'is not a known field' });
      }
    } else {
      issues.push({ field: path || 'body', message: describeIssue(issue) });
    }
  }
  return issues;
}

export type Parsed<S extends z.core.$ZodType> = z.core.output<S>;

/** Parses each named value with its schema; throws one ValidationError naming every bad field. */
export function parseFields<T extends Record<string, z.core.$ZodType>>(
  schemas: T,
  values: { readonly [K in keyof T]: unknown },
): { [K in keyof T]: Parsed<T[K]> } {
  const issues: FieldIssue[] = [];
  const out: Record<string, unknown> = {};
  for (const [name, schema] of Object.entries(schemas)) {
    const result = z.safeParse(schema, values[name]);
    if (result.success) out[name] = result.data;
    else issues.push(...fieldIssues(result.error, name === 'body' ? '' : name));
  }
  if (issues.length > 0) throw new ValidationError(issues);
  return out as { [K in keyof T]: Parsed<T[K]> };
}
