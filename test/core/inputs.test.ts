import { encodeCursor } from '../../lib/core/cursor';
import { ValidationError } from '../../lib/core/errors';
import {
  checkpointBodySchema,
  claimBodySchema,
  heartbeatBodySchema,
  listShardsSchema,
  parseFields,
  releaseSchema,
  removeRowSchema,
  renewBodySchema,
  shardIdSchema,
  takeBodySchema,
  workerIdSchema,
} from '../../lib/core/inputs';

function issuesOf(run: () => unknown): ReadonlyArray<{ field: string; message: string }> {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationError);
    return (error as ValidationError).issues;
  }
  throw new Error('expected a ValidationError');
}

const shard = (shardId: unknown) => parseFields({ shardId: shardIdSchema }, { shardId });
const worker = (workerId: unknown) => parseFields({ workerId: workerIdSchema }, { workerId });
const checkpoint = (body: unknown) => parseFields({ body: checkpointBodySchema }, { body });

describe('shard ids', () => {
  it('accept 1..128 of [a-zA-Z0-9_.-]', () => {
    expect(shard('shardId-000000000001').shardId).toBe('shardId-000000000001');
    expect(shard('a'.repeat(128)).shardId).toHaveLength(128);
    expect(shard('A.b_c-9').shardId).toBe('A.b_c-9');
  });

  it('refuse empty, too long, or other characters, naming the field', () => {
    for (const bad of ['', 'a'.repeat(129), 'shard/1', 'shard 1', 'shärd', 42]) {
      expect(issuesOf(() => shard(bad))).toEqual([{ field: 'shardId', message: expect.any(String) }]);
    }
  });
});

describe('worker ids', () => {
  it('accept 1..256 printable characters, including spaces and non-ASCII', () => {
    expect(worker('host-1 pid 42 ✓').workerId).toBe('host-1 pid 42 ✓');
    expect(worker('w'.repeat(256)).workerId).toHaveLength(256);
  });

  it('refuse empty, too long, and control characters', () => {
    for (const bad of ['', 'w'.repeat(257), 'a\nb', 'tab\there', '\u0000', 'bidi\u202e']) {
      expect(issuesOf(() => worker(bad))).toEqual([
        { field: 'workerId', message: 'must be 1..256 printable characters' },
      ]);
    }
  });
});

describe('checkpoint bodies', () => {
  it('accept 1..128 digits or SHARD_END, normalizing leading zeros', () => {
    expect(checkpoint({ workerId: 'w', checkpoint: '007' }).body.checkpoint).toBe('7');
    expect(checkpoint({ workerId: 'w', checkpoint: '9'.repeat(128) }).body.checkpoint).toHaveLength(128);
    expect(checkpoint({ workerId: 'w', checkpoint: 'SHARD_END', leaseCounter: 0 }).body).toEqual({
      workerId: 'w',
      checkpoint: 'SHARD_END',
      leaseCounter: 0,
    });
  });

  it('refuse bad sequence numbers and counters, naming each field', () => {
    for (const bad of ['', '9'.repeat(129), '-1', '1.0', 'LATEST', 12]) {
      expect(issuesOf(() => checkpoint({ workerId: 'w', checkpoint: bad })).map((i) => i.field)).toEqual([
        'checkpoint',
      ]);
    }
    expect(issuesOf(() => checkpoint({ workerId: 'w', checkpoint: '1', leaseCounter: -1 }))).toEqual([
      { field: 'leaseCounter', message: 'must be a non-negative integer' },
    ]);
    expect(issuesOf(() => checkpoint({ workerId: 'w', checkpoint: '1', leaseCounter: 1.5 }))[0]?.field).toBe(
      'leaseCounter',
    );
  });

  it('refuse unknown fields and name every bad field at once', () => {
    const issues = issuesOf(() => checkpoint({ checkpoint: 'x', owner: 'w', extra: 1 }));
    expect(issues.map((i) => i.field).sort()).toEqual(['checkpoint', 'extra', 'owner', 'workerId']);
    expect(issues.find((i) => i.field === 'workerId')?.message).toBe('is required');
    expect(issues.find((i) => i.field === 'extra')?.message).toBe('is not a known field');
  });
});

describe('other bodies', () => {
  it('name fields of take, claim and renew bodies', () => {
    expect(
      issuesOf(() =>
        parseFields({ body: takeBodySchema }, { body: { workerId: 'w', parentShardId: 'a/b' } }),
      ),
    ).toEqual([{ field: 'parentShardId', message: expect.any(String) }]);
    expect(
      issuesOf(() => parseFields({ body: claimBodySchema }, { body: { workerId: 'w', force: true } })),
    ).toEqual([{ field: 'force', message: 'is not a known field' }]);
    expect(issuesOf(() => parseFields({ body: renewBodySchema }, { body: { shardIds: [] } }))[0]?.field).toBe(
      'shardIds',
    );
    expect(
      issuesOf(() => parseFields({ body: renewBodySchema }, { body: { shardIds: Array(101).fill('s') } }))[0]
        ?.field,
    ).toBe('shardIds');
    expect(
      issuesOf(() => parseFields({ body: renewBodySchema }, { body: { shardIds: ['ok', 'b a'] } })),
    ).toEqual([{ field: 'shardIds.1', message: expect.any(String) }]);
  });

  it('accept only cursors this service returned, and page limits 1..1000', () => {
    expect(
      parseFields({ body: listShardsSchema }, { body: { cursor: encodeCursor('shard-9'), limit: 1000 } }),
    ).toEqual({ body: { cursor: 'shard-9', limit: 1000 } });
    expect(
      issuesOf(() => parseFields({ body: listShardsSchema }, { body: { cursor: '!!' } }))[0]?.field,
    ).toBe('cursor');
    expect(issuesOf(() => parseFields({ body: listShardsSchema }, { body: { limit: 0 } }))[0]?.field).toBe(
      'limit',
    );
    expect(issuesOf(() => parseFields({ body: listShardsSchema }, { body: { limit: 1001 } }))[0]?.field).toBe(
      'limit',
    );
  });

  it('report issues of several named values together', () => {
    const issues = issuesOf(() =>
      parseFields({ shardId: shardIdSchema, workerId: workerIdSchema }, { shardId: '', workerId: '' }),
    );
    expect(issues.map((i) => i.field)).toEqual(['shardId', 'workerId']);
  });
});

describe('type errors', () => {
  const body = (schema: Parameters<typeof parseFields>[0][string], value: unknown) =>
    issuesOf(() => parseFields({ body: schema }, { body: value }));

  it('report a field of the wrong type as a type error, saying what came, never as missing', () => {
    expect(body(takeBodySchema, { workerId: 5 })).toEqual([
      { field: 'workerId', message: 'must be a string, got a number (5)' },
    ]);
    expect(body(checkpointBodySchema, { workerId: 'w', checkpoint: 400 })).toEqual([
      { field: 'checkpoint', message: 'must be a string, got a number (400)' },
    ]);
    expect(body(checkpointBodySchema, { workerId: 'w', checkpoint: '1', leaseCounter: '2' })).toEqual([
      { field: 'leaseCounter', message: 'must be an integer, got a string ("2")' },
    ]);
    expect(body(checkpointBodySchema, { workerId: 'w', checkpoint: '1', leaseCounter: 1.5 })).toEqual([
      { field: 'leaseCounter', message: 'must be an integer, got a number with a fraction (1.5)' },
    ]);
    expect(body(checkpointBodySchema, { workerId: null, checkpoint: '1', parentShardId: ['p'] })).toEqual([
      { field: 'workerId', message: 'must be a string, got null' },
      { field: 'parentShardId', message: 'must be a string, got an array' },
    ]);
    expect(body(takeBodySchema, { workerId: 'w', newLease: 'true' })).toEqual([
      { field: 'newLease', message: 'must be a boolean (true or false), got a string ("true")' },
    ]);
    expect(body(claimBodySchema, { workerId: { id: 'w' } })).toEqual([
      { field: 'workerId', message: 'must be a string, got an object' },
    ]);
    expect(body(removeRowSchema, { force: 1 })).toEqual([
      { field: 'force', message: 'must be a boolean (true or false), got a number (1)' },
    ]);
    expect(body(releaseSchema, { leaseCounter: false })).toEqual([
      { field: 'leaseCounter', message: 'must be an integer, got a boolean (false)' },
    ]);
  });

  it('word the type errors of lists and their items, and of numbers out of the safe range', () => {
    expect(body(renewBodySchema, { shardIds: 'a,b' })).toEqual([
      { field: 'shardIds', message: 'must be an array, got a string ("a,b")' },
    ]);
    expect(body(renewBodySchema, { shardIds: ['a', 7] })).toEqual([
      { field: 'shardIds.1', message: 'must be a string, got a number (7)' },
    ]);
    expect(body(heartbeatBodySchema, { held: [{ shardId: 's', leaseCounter: '3' }], capacity: '5' })).toEqual(
      [
        { field: 'held.0.leaseCounter', message: 'must be an integer, got a string ("3")' },
        { field: 'capacity', message: 'must be an integer, got a string ("5")' },
      ],
    );
    expect(body(listShardsSchema, { limit: 1e20 })[0]).toEqual({
      field: 'limit',
      message: `must be an integer in ${Number.MIN_SAFE_INTEGER}..${Number.MAX_SAFE_INTEGER}, got a number (100000000000000000000)`,
    });
    expect(body(claimBodySchema, 'w1')).toEqual([
      { field: 'body', message: 'must be a JSON object, got a string ("w1")' },
    ]);
  });

  it('still say `is required` for a field that is absent, and shorten long strings they show', () => {
    expect(body(checkpointBodySchema, { checkpoint: '1' })).toEqual([
      { field: 'workerId', message: 'is required' },
    ]);
    expect(
      body(checkpointBodySchema, { workerId: 'w', checkpoint: '1', leaseCounter: 'x'.repeat(100) }),
    ).toEqual([
      { field: 'leaseCounter', message: `must be an integer, got a string ("${'x'.repeat(32)}…")` },
    ]);
  });
});
