/**
 * openapi.json against the code it describes: the routes table, the error codes each operation can
 * return (with the status the dispatcher gives them), and the input schemas the handlers parse with.
 */
import * as z from 'zod/mini';
import { encodeCursor } from '../../lib/core/cursor';
import { ErrorCode } from '../../lib/core/errors';
import { listShardsSchema } from '../../lib/core/inputs';
import { OPERATIONS } from '../../lib/http/operations';
import { STATUS_BY_CODE } from '../../lib/http/problem';
import { OPERATION_NAMES, type OperationName, ROUTES } from '../../lib/http/routes';
import {
  documentOperations,
  type JsonSchema,
  type OpenApiOperation,
  openApiDocument,
  resolveParameter,
  validatorFor,
} from '../support/openapi';

function operationOf(name: OperationName): OpenApiOperation {
  const route = ROUTES.find((r) => r.name === name);
  const found = documentOperations().find((o) => o.operation.operationId === route?.id);
  if (!found) throw new Error(`openapi.json has no operation ${route?.id}`);
  return found.operation;
}

/**
 * What each operation can fail with, read from the core: every operation validates its input, may be
 * throttled through all retries and may hit a fault; only operations with a body can be sent too much.
 */
const COMMON: readonly ErrorCode[] = ['ValidationError', 'Throttled', 'Internal'];
const WITH_BODY: readonly ErrorCode[] = [...COMMON, 'PayloadTooLarge'];
const CODES_BY_OPERATION: Record<OperationName, readonly ErrorCode[]> = {
  init: [...COMMON, 'InvalidDynamoDBSchema'],
  getLease: [...WITH_BODY, 'LeaseNotAcquired', 'ShardClaimed'],
  checkpoint: [...WITH_BODY, 'LeaseLost', 'CheckpointRegression'],
  fetchCheckpoint: [...COMMON, 'SequenceIDNotFound'],
  removeLeaseOwner: [...COMMON, 'LeaseLost'],
  getLeaseOwner: [...COMMON, 'NoLeaseOwner'],
  removeLeaseInfo: [...COMMON, 'LeaseNotAcquired'],
  claimShard: [...WITH_BODY, 'NotFound', 'ShardClaimed', 'ShardEnded'],
  withdrawClaim: COMMON,
  listActiveWorkers: [...COMMON, 'ShardNotAssigned'],
  listShards: COMMON,
  renewLeases: WITH_BODY,
  heartbeat: WITH_BODY,
  // Reads nothing from the table, so DynamoDB cannot throttle it.
  describeTerms: ['ValidationError', 'Internal'],
};
/** Answered by the $default route (lib/http/unmatched.ts), not by any operation. */
const ROUTING_CODES: readonly ErrorCode[] = ['MethodNotAllowed'];

function sampleProblem(code: ErrorCode): Record<string, unknown> {
  const base = { code, message: 'sample', requestId: 'req-1' };
  if (code === 'ValidationError') return { ...base, fields: [{ field: 'workerId', message: 'is required' }] };
  if (code === 'PayloadTooLarge') return { ...base, field: 'body', limitBytes: 16 * 1024 };
  return base;
}

describe('openapi.json', () => {
  it('is an OpenAPI 3.1 document whose every schema compiles in strict mode', () => {
    expect(openApiDocument.openapi).toBe('3.1.0');
    for (const { operation } of documentOperations()) {
      for (const response of Object.values(operation.responses)) {
        for (const media of Object.values(response.content ?? {})) {
          if (media.schema) expect(() => validatorFor(media.schema as JsonSchema)).not.toThrow();
        }
      }
    }
  });

  it('gives examples that are valid against their own schemas', () => {
    const invalid: string[] = [];
    for (const [name, schema] of Object.entries(openApiDocument.components.schemas)) {
      const examples = (schema.examples ?? []) as unknown[];
      const validate = validatorFor({ $ref: `#/components/schemas/${name}` });
      for (const example of examples)
        if (!validate(example)) invalid.push(`${name}: ${JSON.stringify(example)}`);
    }
    expect(invalid).toEqual([]);
  });

  it('describes every route of ROUTES, by method, path and operation id, and nothing else', () => {
    const documented = documentOperations()
      .map((o) => `${o.method} ${o.template} ${o.operation.operationId}`)
      .sort();
    const routes = ROUTES.map((r) => `${r.method} ${r.path} ${r.id}`).sort();
    expect(documented).toEqual(routes);
    expect(routes).toHaveLength(OPERATION_NAMES.length);
  });

  it('declares exactly the parameters of each path template, as required path parameters', () => {
    for (const { template, operation } of documentOperations()) {
      const inTemplate = [...template.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
      const declared = (operation.parameters ?? []).map(resolveParameter).filter((p) => p.in === 'path');
      expect({ id: operation.operationId, path: declared.map((p) => [p.name, p.required]) }).toEqual({
        id: operation.operationId,
        path: inTemplate.map((name) => [name, true]),
      });
    }
  });

  it('requires a SigV4 signature on every operation', () => {
    expect(openApiDocument.components.securitySchemes?.sigv4).toEqual(
      expect.objectContaining({
        type: 'apiKey',
        in: 'header',
        name: 'Authorization',
        'x-amazon-apigateway-authtype': 'awsSigv4',
      }),
    );
    for (const { operation } of documentOperations()) {
      expect({ id: operation.operationId, security: operation.security }).toEqual({
        id: operation.operationId,
        security: [{ sigv4: [] }],
      });
    }
  });

  it('lists the error codes the dispatcher knows, no more and no fewer', () => {
    expect(openApiDocument.components.schemas.ErrorCode?.enum).toEqual(Object.values(ErrorCode));
  });

  it('classifies every error code as returned by some operation or by routing', () => {
    const classified = new Set([...Object.values(CODES_BY_OPERATION).flat(), ...ROUTING_CODES]);
    expect([...classified].sort()).toEqual(Object.values(ErrorCode).sort());
  });

  describe.each(OPERATION_NAMES)('%s', (name) => {
    const operation = operationOf(name);
    const problemStatuses = Object.entries(operation.responses).filter(
      ([, r]) => r.content?.['application/problem+json'],
    );

    it('documents 400 and 500 as problem+json, 429 exactly when it calls DynamoDB, and 413 exactly when it takes a body', () => {
      const statuses = problemStatuses.map(([status]) => status);
      expect(statuses).toEqual(expect.arrayContaining(['400', '500']));
      expect(statuses.includes('429')).toBe(OPERATIONS[name].route.dynamoActions.length > 0);
      expect(statuses.includes('413')).toBe(OPERATIONS[name].body !== undefined);
      expect(operation.requestBody !== undefined).toBe(OPERATIONS[name].body !== undefined);
    });

    it('documents each code it can return under the status the dispatcher gives it, and no other code', () => {
      const accepted: string[] = [];
      for (const [status, response] of problemStatuses) {
        const validate = validatorFor(response.content?.['application/problem+json']?.schema as JsonSchema);
        for (const code of Object.values(ErrorCode)) {
          if (validate(sampleProblem(code))) accepted.push(`${code} ${status}`);
        }
      }
      const expected = CODES_BY_OPERATION[name].map((code) => `${code} ${STATUS_BY_CODE[code]}`);
      expect(accepted.sort()).toEqual(expected.sort());
    });

    it('documents a success response with a JSON body, or a 204 with none', () => {
      const success = Object.entries(operation.responses).filter(([status]) => status.startsWith('2'));
      expect(success).toHaveLength(1);
      const [status, response] = success[0] as [string, { content?: Record<string, unknown> }];
      if (status === '204') expect(response.content).toBeUndefined();
      else expect(Object.keys(response.content ?? {})).toEqual(['application/json']);
    });
  });
});

describe('the answers openapi.json documents', () => {
  const successSchemaOf = (name: OperationName): JsonSchema => {
    const schema = operationOf(name).responses['200']?.content?.['application/json']?.schema;
    if (!schema) throw new Error(`${name}: no 200 JSON answer in openapi.json`);
    return schema;
  };
  const TERMS = { leaseDurationMs: 10_000, claimTimeoutMs: 120_000 };

  it('states the lease terms as two positive integers and nothing else (DescribeTerms)', () => {
    const validate = validatorFor(successSchemaOf('describeTerms'));
    expect(validate(TERMS)).toBe(true);
    for (const bad of [
      { leaseDurationMs: 10_000 },
      { claimTimeoutMs: 120_000 },
      { ...TERMS, leaseDurationMs: 0 },
      { ...TERMS, claimTimeoutMs: 1.5 },
      { ...TERMS, leaseDurationMs: '10000' },
      { ...TERMS, reaperGraceMs: 10_000 },
    ]) {
      expect([bad, validate(bad)]).toEqual([bad, false]);
    }
  });

  it('requires the overdue shards and the lease terms in a heartbeat answer', () => {
    const validate = validatorFor(successSchemaOf('heartbeat'));
    const answer = {
      renewed: [],
      lost: [],
      failed: [],
      take: [],
      steals: [],
      target: 0,
      overdue: ['shardId-000000000001'],
      terms: TERMS,
    };
    expect(validate(answer)).toBe(true);
    const { overdue: _overdue, ...withoutOverdue } = answer;
    const { terms: _terms, ...withoutTerms } = answer;
    expect(validate(withoutOverdue)).toBe(false);
    expect(validate(withoutTerms)).toBe(false);
    expect(validate({ ...answer, terms: { leaseDurationMs: 10_000 } })).toBe(false);
  });
});

// ---- the document's input schemas against the zod schemas the handlers parse with ---------------

type Sample = readonly [label: string, value: unknown, valid: boolean];

function bodySchemaOf(name: OperationName): JsonSchema {
  const schema = operationOf(name).requestBody?.content['application/json']?.schema;
  if (!schema) throw new Error(`${name}: no JSON request body in openapi.json`);
  return schema;
}

/** The parameters of one location as one object schema, the way the handler sees them. */
function parametersSchemaOf(name: OperationName, location: 'path' | 'query'): JsonSchema {
  const parameters = (operationOf(name).parameters ?? [])
    .map(resolveParameter)
    .filter((p) => p.in === location);
  return {
    type: 'object',
    additionalProperties: false,
    properties: Object.fromEntries(parameters.map((p) => [p.name, p.schema])),
    required: parameters.filter((p) => p.required).map((p) => p.name),
  };
}

function expectAgreement(
  documentSchema: JsonSchema,
  zodSchema: z.core.$ZodType | undefined,
  samples: readonly Sample[],
) {
  if (!zodSchema) throw new Error('the operation has no schema for this part of the request');
  const validate = validatorFor(documentSchema);
  const verdicts = samples.map(([label, value]) => ({
    label,
    openapi: validate(value),
    zod: z.safeParse(zodSchema, value).success,
  }));
  const expected = samples.map(([label, , valid]) => ({ label, openapi: valid, zod: valid }));
  expect(verdicts).toEqual(expected);
}

const W = 'worker-1';
const WORKER_ID_SAMPLES: readonly Sample[] = [
  ['a one-character worker id', 'w', true],
  ['a worker id with spaces, slashes and accents', 'host 10.0.0.7/pid 42 — café', true],
  ['a worker id of 256 characters', 'w'.repeat(256), true],
  ['a worker id of 256 astral characters', '😀'.repeat(256), true],
  ['an empty worker id', '', false],
  ['a worker id of 257 characters', 'w'.repeat(257), false],
  ['a worker id with a newline', 'worker\n1', false],
  ['a worker id with a NUL', 'worker\u00001', false],
  ['a worker id with a zero-width joiner (format)', 'worker\u200d1', false],
  ['a numeric worker id', 42, false],
];
const SHARD_ID_SAMPLES: readonly Sample[] = [
  ['a Kinesis shard id', 'shardId-000000000001', true],
  ['a shard id of 128 characters', 'a'.repeat(128), true],
  ['a shard id of dots, dashes and underscores', '._-', true],
  ['an empty shard id', '', false],
  ['a shard id of 129 characters', 'a'.repeat(129), false],
  ['a shard id with a slash', 'a/b', false],
  ['a shard id with a space', 'a b', false],
  ['a shard id with a non-ASCII letter', 'shård', false],
  ['a shard id that is one dot (a URL folds it away)', '.', false],
  ['a shard id that is two dots', '..', false],
  ['a shard id of three dots', '...', true],
];
const CHECKPOINT_SAMPLES: readonly Sample[] = [
  ['a 56-digit sequence number', '49590338271490256608559692538361571095921575989136588898', true],
  ['SHARD_END', 'SHARD_END', true],
  ['a sequence number of 128 digits', '9'.repeat(128), true],
  ['a sequence number with leading zeros', '007', true],
  ['a sequence number of 129 digits', '9'.repeat(129), false],
  ['an empty checkpoint', '', false],
  ['a negative sequence number', '-1', false],
  ['a hexadecimal checkpoint', '0x1f', false],
  ['shard_end in lower case', 'shard_end', false],
  ['a numeric checkpoint', 123, false],
];

describe('the request schemas of openapi.json agree with the handlers’ schemas', () => {
  it('on shard ids in the path', () => {
    expectAgreement(
      parametersSchemaOf('fetchCheckpoint', 'path'),
      OPERATIONS.fetchCheckpoint.path,
      SHARD_ID_SAMPLES.map(([label, shardId, valid]) => [label, { shardId }, valid] as const),
    );
  });

  it('on worker ids in the path of RenewLeases', () => {
    expectAgreement(
      parametersSchemaOf('renewLeases', 'path'),
      OPERATIONS.renewLeases.path,
      WORKER_ID_SAMPLES.map(([label, workerId, valid]) => [label, { workerId }, valid] as const),
    );
  });

  it('on the GetLease body', () => {
    expectAgreement(bodySchemaOf('getLease'), OPERATIONS.getLease.body, [
      ['a worker id alone', { workerId: W }, true],
      ['every field', { workerId: W, parentShardId: 'shardId-0', checkpoint: '1' }, true],
      ...WORKER_ID_SAMPLES.map(([label, workerId, valid]) => [label, { workerId }, valid] as const),
      ...SHARD_ID_SAMPLES.map(
        ([label, parentShardId, valid]) =>
          [`parent: ${label}`, { workerId: W, parentShardId }, valid] as const,
      ),
      ...CHECKPOINT_SAMPLES.map(
        ([label, checkpoint, valid]) => [`checkpoint: ${label}`, { workerId: W, checkpoint }, valid] as const,
      ),
      ['no worker id', { parentShardId: 'shardId-0' }, false],
      ['an unknown field', { workerId: W, leaseCounter: 1 }, false],
      ['an array', [{ workerId: W }], false],
      ['null', null, false],
      ['a string', W, false],
    ]);
  });

  it('on the CheckpointSequence body', () => {
    expectAgreement(bodySchemaOf('checkpoint'), OPERATIONS.checkpoint.body, [
      ['a worker id and a checkpoint', { workerId: W, checkpoint: '12' }, true],
      ['every field', { workerId: W, checkpoint: '12', leaseCounter: 3, parentShardId: 'p' }, true],
      ['lease counter 0', { workerId: W, checkpoint: '12', leaseCounter: 0 }, true],
      ['the largest safe lease counter', { workerId: W, checkpoint: '1', leaseCounter: 2 ** 53 - 1 }, true],
      ...CHECKPOINT_SAMPLES.map(
        ([label, checkpoint, valid]) => [`checkpoint: ${label}`, { workerId: W, checkpoint }, valid] as const,
      ),
      ['no checkpoint', { workerId: W }, false],
      ['no worker id', { checkpoint: '12' }, false],
      ['a negative lease counter', { workerId: W, checkpoint: '1', leaseCounter: -1 }, false],
      ['a fractional lease counter', { workerId: W, checkpoint: '1', leaseCounter: 1.5 }, false],
      ['a lease counter in a string', { workerId: W, checkpoint: '1', leaseCounter: '1' }, false],
      ['an unsafe lease counter', { workerId: W, checkpoint: '1', leaseCounter: 2 ** 53 }, false],
      ['a parent that is no shard id', { workerId: W, checkpoint: '1', parentShardId: 'a b' }, false],
      ['an unknown field', { workerId: W, checkpoint: '1', owner: W }, false],
    ]);
  });

  it('on the ClaimShard body', () => {
    expectAgreement(bodySchemaOf('claimShard'), OPERATIONS.claimShard.body, [
      ...WORKER_ID_SAMPLES.map(([label, workerId, valid]) => [label, { workerId }, valid] as const),
      ['no worker id', {}, false],
      ['an unknown field', { workerId: W, shardId: 's' }, false],
    ]);
  });

  it('on the Heartbeat body', () => {
    const held = (n: number) =>
      Array.from({ length: n }, (_, i) => ({ shardId: `shardId-${i}`, leaseCounter: i }));
    expectAgreement(bodySchemaOf('heartbeat'), OPERATIONS.heartbeat.body, [
      ['nothing held', { held: [] }, true],
      ['250 leases and a capacity', { held: held(250), capacity: 10 }, true],
      ['capacity 0', { held: [], capacity: 0 }, true],
      ['251 leases', { held: held(251) }, false],
      ['a lease without its counter', { held: [{ shardId: 'a' }] }, false],
      ['a bad shard id', { held: [{ shardId: 'a b', leaseCounter: 1 }] }, false],
      ['a negative capacity', { held: [], capacity: -1 }, false],
      ['a fractional capacity', { held: [], capacity: 1.5 }, false],
      ['no held field', {}, false],
      ['an unknown field in a lease', { held: [{ shardId: 'a', leaseCounter: 1, owner: W }] }, false],
      ['an unknown field', { held: [], workerId: W }, false],
    ]);
  });

  it('on the GetLease newLease flag', () => {
    expectAgreement(bodySchemaOf('getLease'), OPERATIONS.getLease.body, [
      ['newLease true', { workerId: W, newLease: true }, true],
      ['newLease false', { workerId: W, newLease: false }, true],
      ['newLease as a string', { workerId: W, newLease: 'true' }, false],
    ]);
  });

  it('on the RenewLeases body', () => {
    const ids = (n: number) => Array.from({ length: n }, (_, i) => `shardId-${i}`);
    expectAgreement(bodySchemaOf('renewLeases'), OPERATIONS.renewLeases.body, [
      ['one shard', { shardIds: ['shardId-0'] }, true],
      ['100 shards', { shardIds: ids(100) }, true],
      ['a repeated shard', { shardIds: ['a', 'a'] }, true],
      ['no shards', { shardIds: [] }, false],
      ['101 shards', { shardIds: ids(101) }, false],
      ['a bad shard id among good ones', { shardIds: ['a', 'a b', 'c'] }, false],
      ['a number among the shard ids', { shardIds: ['a', 1] }, false],
      ['shard ids as a string', { shardIds: 'a,b' }, false],
      ['no shard ids field', {}, false],
      ['an unknown field', { shardIds: ['a'], workerId: W }, false],
    ]);
  });

  it('on the RemoveLeaseOwner query', () => {
    expectAgreement(parametersSchemaOf('removeLeaseOwner', 'query'), OPERATIONS.removeLeaseOwner.query, [
      ...WORKER_ID_SAMPLES.filter(([, v]) => typeof v === 'string').map(
        ([label, workerId, valid]) => [label, { workerId }, valid] as const,
      ),
      ['no worker id', {}, false],
      ['a lease counter', { workerId: W, leaseCounter: '7' }, true],
      ['a negative lease counter', { workerId: W, leaseCounter: '-1' }, false],
      ['a fractional lease counter', { workerId: W, leaseCounter: '1.5' }, false],
      ['an unknown parameter', { workerId: W, force: 'true' }, false],
    ]);
  });

  it('on the WithdrawClaim query', () => {
    expectAgreement(parametersSchemaOf('withdrawClaim', 'query'), OPERATIONS.withdrawClaim.query, [
      ...WORKER_ID_SAMPLES.filter(([, v]) => typeof v === 'string').map(
        ([label, workerId, valid]) => [label, { workerId }, valid] as const,
      ),
      ['no worker id', {}, false],
      ['an unknown parameter', { workerId: W, force: 'true' }, false],
    ]);
  });

  it('on shard ids in the path of WithdrawClaim', () => {
    expectAgreement(
      parametersSchemaOf('withdrawClaim', 'path'),
      OPERATIONS.withdrawClaim.path,
      SHARD_ID_SAMPLES.map(([label, shardId, valid]) => [label, { shardId }, valid] as const),
    );
  });

  it('on the RemoveLeaseInfo query', () => {
    expectAgreement(parametersSchemaOf('removeLeaseInfo', 'query'), OPERATIONS.removeLeaseInfo.query, [
      ['nothing', {}, true],
      ['the owner', { workerId: W }, true],
      ['force=true', { force: 'true' }, true],
      ['force=false with a worker', { force: 'false', workerId: W }, true],
      ['force=yes', { force: 'yes' }, false],
      ['an empty worker id', { workerId: '' }, false],
      ['an unknown parameter', { owner: W }, false],
    ]);
  });

  it('on the ListActiveWorkers query', () => {
    expectAgreement(parametersSchemaOf('listActiveWorkers', 'query'), OPERATIONS.listActiveWorkers.query, [
      ['nothing', {}, true],
      ['one shard', { shardIds: 'a' }, true],
      ['three shards, strict', { shardIds: 'a,b.c,d_e-f', strict: 'true' }, true],
      ['an empty set', { shardIds: '' }, true],
      ['strict=false', { strict: 'false' }, true],
      ['an empty id in the set', { shardIds: 'a,,b' }, false],
      ['a trailing comma', { shardIds: 'a,' }, false],
      ['a bad id in the set', { shardIds: 'a,b c' }, false],
      ['a dot-dot id in the set', { shardIds: 'a,..,b' }, false],
      ['a dot id at the end of the set', { shardIds: 'a,.' }, false],
      ['an id starting with two dots', { shardIds: '..a' }, true],
      ['strict=yes', { strict: 'yes' }, false],
      ['strict=TRUE', { strict: 'TRUE' }, false],
      ['an unknown parameter', { limit: '1' }, false],
    ]);
  });

  it('on the ListShards query, as the core checks it', () => {
    // The document types limit as an integer; the handler converts the query string before the core checks it.
    expectAgreement(parametersSchemaOf('listShards', 'query'), listShardsSchema, [
      ['nothing', {}, true],
      ['limit 1', { limit: 1 }, true],
      ['limit 1000', { limit: 1000 }, true],
      ['a cursor this service returned', { cursor: encodeCursor('shardId-000000000009') }, true],
      ['limit 0', { limit: 0 }, false],
      ['limit 1001', { limit: 1001 }, false],
      ['a fractional limit', { limit: 2.5 }, false],
      ['a cursor with characters outside base64url', { cursor: 'abc+/=' }, false],
      ['an empty cursor', { cursor: '' }, false],
      ['an unknown parameter', { offset: 10 }, false],
    ]);
  });

  it.each(
    OPERATION_NAMES.filter(
      (name) =>
        !['removeLeaseOwner', 'removeLeaseInfo', 'withdrawClaim', 'listActiveWorkers', 'listShards'].includes(
          name,
        ),
    ),
  )('on the empty query of %s', (name) => {
    expectAgreement(parametersSchemaOf(name, 'query'), OPERATIONS[name].query, [
      ['no parameters', {}, true],
      ['an unknown parameter', { workerId: W }, false],
    ]);
  });
});
