import { once } from 'node:events';
import { type AddressInfo, createServer } from 'node:net';
import { Logger } from '@aws-lambda-powertools/logger';
import { CreateStreamCommand, waitUntilStreamExists } from '@aws-sdk/client-kinesis';
import { runCli } from '../../lib/cli/run-cli';
import { ShardLeaseClient } from '../../lib/client/shard-lease-client';
import { ManualClock } from '../../lib/core/clock';
import { NoLeaseOwnerError } from '../../lib/core/errors';
import { formatLeaseTime } from '../../lib/core/lease-time';
import { type LocalServer, startLocalServer } from '../../lib/local/server';
import { createTestTable, testEndpoint, uniqueTableName } from '../support/dynamo';
import { startKinesalite } from '../support/kinesalite';

const T0 = Date.parse('2026-11-24T19:00:00.000Z');
const LEASE = 10_000;

interface Ran {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

async function cli(argv: string[], env: Record<string, string | undefined> = {}): Promise<Ran> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(argv, {
    stdout: { write: (t: string) => (stdout += t) },
    stderr: { write: (t: string) => (stderr += t) },
    env,
  });
  // Whatever went wrong, the caller never sees a stack trace.
  expect(stderr).not.toMatch(/\n\s+at /);
  return { code, stdout, stderr };
}

let server: LocalServer;
let clock: ManualClock;
let api: ShardLeaseClient;
/** --url for the local server. */
let url: string[];

beforeAll(async () => {
  clock = new ManualClock(T0);
  server = await startLocalServer({
    port: 0,
    dynamoDbEndpoint: testEndpoint(),
    tableName: uniqueTableName('cli'),
    createTable: true,
    reaperIntervalMs: 0,
    leaseDurationMs: LEASE,
    clock,
    logger: new Logger({ logLevel: 'SILENT' }),
  });
  api = new ShardLeaseClient({ baseUrl: server.url, maxAttempts: 1 });
  url = ['--url', server.url];
});
afterAll(async () => {
  await server?.close();
});

let n = 0;
const shard = () => `shardId-cli-${String(++n).padStart(4, '0')}`;

describe('help and usage', () => {
  it('prints the commands for --help, no arguments and `help`, exiting 0', async () => {
    for (const argv of [['--help'], [], ['help'], ['-h']]) {
      const ran = await cli(argv);
      expect(ran.code).toBe(0);
      expect(ran.stdout).toContain('usage: shardlease <command>');
      for (const command of ['list', 'show', 'workers', 'release', 'claim', 'checkpoint', 'reap']) {
        expect(ran.stdout).toMatch(new RegExp(`^  ${command} `, 'm'));
      }
    }
  });

  it('prints each command’s usage and options for `<command> --help` and `help <command>`', async () => {
    const ran = await cli(['checkpoint', '--help']);
    expect(ran.code).toBe(0);
    expect(ran.stdout).toContain('usage: shardlease checkpoint <shard> <sequence> --worker ID [options]');
    expect(ran.stdout).toContain('--counter N');
    expect((await cli(['help', 'reap'])).stdout).toContain('--dynamodb-endpoint URL');
    expect((await cli(['workers', '-h'])).stdout).toContain('--strict');
  });

  it('exits 2 with a usage error for an unknown command, an unknown option or a missing argument', async () => {
    const unknown = await cli(['frobnicate']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/^UsageError: unknown command 'frobnicate' \(commands: list, show/);
    const option = await cli(['list', '--colour', ...url]);
    expect(option.code).toBe(2);
    expect(option.stderr).toContain("Unknown option '--colour'");
    expect(option.stderr).toContain("Run 'shardlease list --help' for usage.");
    const missing = await cli(['show', ...url]);
    expect(missing).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/^UsageError: show takes <shard>, got 0/),
    });
    const worker = await cli(['release', 'shardId-1', ...url]);
    expect(worker).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/^UsageError: --worker is required/),
    });
  });

  it('exits 2 and sends nothing for a bad --counter or a URL it cannot sign for', async () => {
    const id = shard();
    const counter = await cli(['checkpoint', id, '5', '--worker', 'w1', '--counter', 'two', ...url]);
    expect(counter).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/^UsageError: --counter must be an integer/),
    });
    const region = await cli(['list', '--url', 'https://leases.example.com']);
    expect(region.code).toBe(2);
    expect(region.stderr).toMatch(/^UsageError: region: cannot be told from baseUrl/);
    await expect(api.getLeaseOwner(id)).rejects.toBeInstanceOf(NoLeaseOwnerError);
  });
});

describe('list and show', () => {
  it('lists every shard as a table, and as JSON with --json', async () => {
    const [a, b] = [shard(), shard()];
    await api.getLease(a, { workerId: 'w1', parentShardId: 'shardId-p' });
    await api.getLease(b, { workerId: 'w2', checkpoint: '77' });
    const ran = await cli(['list', ...url]);
    expect(ran.code).toBe(0);
    const lines = ran.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^SHARD\s+OWNER\s+LEASE TIMEOUT\s+COUNTER\s+CHECKPOINT\s+PARENT\s+CLAIM$/);
    const timeout = formatLeaseTime(T0 + LEASE);
    expect(lines).toContainEqual(
      expect.stringMatching(new RegExp(`^${a}\\s+w1\\s+${timeout}\\s+1\\s+-\\s+shardId-p\\s+-$`)),
    );
    expect(lines).toContainEqual(
      expect.stringMatching(new RegExp(`^${b}\\s+w2\\s+${timeout}\\s+1\\s+77\\s+-\\s+-$`)),
    );
    const json = await cli(['list', '--json', ...url]);
    const shards = (JSON.parse(json.stdout) as { shards: Array<{ shardId: string }> }).shards;
    expect(shards).toContainEqual({
      shardId: b,
      owner: 'w2',
      leaseTimeout: timeout,
      leaseCounter: 1,
      checkpoint: '77',
    });
    expect(shards.map((s) => s.shardId)).toEqual([...shards.map((s) => s.shardId)].sort());
  });

  it('shows one shard, with or without a checkpoint', async () => {
    const [withCheckpoint, without] = [shard(), shard()];
    await api.getLease(withCheckpoint, { workerId: 'w1', checkpoint: '12' });
    await api.getLease(without, { workerId: 'w3' });
    const ran = await cli(['show', withCheckpoint, ...url]);
    expect(ran.code).toBe(0);
    expect(ran.stdout).toMatch(new RegExp(`^shard\\s+${withCheckpoint}$`, 'm'));
    expect(ran.stdout).toMatch(/^owner\s+w1$/m);
    expect(ran.stdout).toMatch(/^checkpoint\s+12$/m);
    expect(ran.stdout).toMatch(/^claim\s+-$/m);
    const bare = await cli(['show', without, '--json', ...url]);
    expect(JSON.parse(bare.stdout)).toEqual({ shardId: without, owner: 'w3', leaseCounter: 1 });
  });

  it('exits 1 with NotFound for a shard without a row, and ValidationError naming the field for a bad id', async () => {
    const missing = shard();
    expect(await cli(['show', missing, ...url])).toEqual({
      code: 1,
      stdout: '',
      stderr: `NotFound: shard ${missing} has no lease row\n`,
    });
    const bad = await cli(['show', 'bad id!', ...url]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toBe('ValidationError: shardId: must be 1..128 of [a-zA-Z0-9_.-]\n');
  });

  it('reads the URL from SHARDLEASE_URL when --url is absent', async () => {
    const id = shard();
    await api.getLease(id, { workerId: 'w1' });
    const ran = await cli(['show', id], { SHARDLEASE_URL: server.url });
    expect(ran.code).toBe(0);
    expect(ran.stdout).toMatch(/^owner\s+w1$/m);
  });

  it('exits 3 with Internal when the service cannot be reached', async () => {
    // A port that was just free: nothing listens there.
    const probe = createServer().listen(0, '127.0.0.1');
    await once(probe, 'listening');
    const { port } = probe.address() as AddressInfo;
    await new Promise((resolve) => probe.close(resolve));
    const ran = await cli(['list', '--url', `http://127.0.0.1:${port}`, '--max-attempts', '1']);
    expect(ran.code).toBe(3);
    expect(ran.stderr).toBe('Internal: listShards: no response after 1 attempts (ECONNREFUSED)\n');
  });
});

describe('workers', () => {
  it('lists live workers with their shards and the unassigned shards of a set', async () => {
    const [a, b, free] = [shard(), shard(), shard()];
    await api.getLease(a, { workerId: 'worker-a' });
    await api.getLease(b, { workerId: 'worker-a' });
    const ran = await cli(['workers', '--shards', `${a},${b},${free}`, ...url]);
    expect(ran.code).toBe(0);
    expect(ran.stdout).toBe(`WORKER    LEASES  SHARDS\nworker-a  2       ${a}, ${b}\nunassigned: ${free}\n`);
    const json = JSON.parse((await cli(['workers', '--json', '--shards', `${a},${free}`, ...url])).stdout);
    expect(json).toMatchObject({ workers: { 'worker-a': [{ shardId: a }] }, unassigned: [free] });
  });

  it('exits 1 with ShardNotAssigned under --strict when a shard of the set is unowned', async () => {
    const [owned, free] = [shard(), shard()];
    await api.getLease(owned, { workerId: 'w1' });
    const ran = await cli(['workers', '--shards', `${owned},${free}`, '--strict', ...url]);
    expect(ran).toMatchObject({ code: 1, stderr: 'ShardNotAssigned: AssignedToNotFoundForShard\n' });
  });
});

describe('release, claim and checkpoint', () => {
  it('releases the worker’s lease, and exits 1 with LeaseLost for a worker that does not hold it', async () => {
    const id = shard();
    await api.getLease(id, { workerId: 'w1' });
    const refused = await cli(['release', id, '--worker', 'w2', ...url]);
    expect(refused).toMatchObject({
      code: 1,
      stderr: `LeaseLost: lease lost: the shard is owned by w1, not w2\n`,
    });
    const ran = await cli(['release', id, '-w', 'w1', ...url]);
    expect(ran).toEqual({ code: 0, stdout: `released ${id} (worker w1)\n`, stderr: '' });
    await expect(api.getLeaseOwner(id)).rejects.toBeInstanceOf(NoLeaseOwnerError);
  });

  it('records a claim, and exits 1 with ShardClaimed for a second claimer', async () => {
    const id = shard();
    await api.getLease(id, { workerId: 'w1' });
    const ran = await cli(['claim', id, '--worker', 'w2', '--json', ...url]);
    expect(ran.code).toBe(0);
    expect(JSON.parse(ran.stdout)).toMatchObject({ shardId: id, owner: 'w1', claimRequest: 'w2' });
    const second = await cli(['claim', id, '--worker', 'w3', ...url]);
    expect(second).toMatchObject({
      code: 1,
      stderr: 'ShardClaimed: shard is already claimed by another node\n',
    });
  });

  it('checkpoints as the owner, with the fencing counter, and refuses regressions and stale counters', async () => {
    const id = shard();
    await api.getLease(id, { workerId: 'w1' });
    const ran = await cli(['checkpoint', id, '100', '--worker', 'w1', '--counter', '1', ...url]);
    expect(ran.code).toBe(0);
    expect(ran.stdout).toMatch(/^checkpoint\s+100$/m);
    const back = await cli(['checkpoint', id, '99', '--worker', 'w1', ...url]);
    expect(back).toMatchObject({
      code: 1,
      stderr: 'CheckpointRegression: checkpoint 99 is behind the recorded checkpoint 100\n',
    });
    const stale = await cli(['checkpoint', id, '101', '--worker', 'w1', '--counter', '7', ...url]);
    expect(stale.code).toBe(1);
    expect(stale.stderr).toMatch(
      /^LeaseLost: lease lost: the lease was taken again \(lease counter 1, not 7\)\n$/,
    );
    const bad = await cli(['checkpoint', id, 'abc', '--worker', 'w1', ...url]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^ValidationError: checkpoint: must be a sequence number/);
    await expect(api.fetchCheckpoint(id)).resolves.toMatchObject({ checkpoint: '100' });
  });
});

describe('reap', () => {
  it('runs one reaper pass on the table, clearing an owner long expired', async () => {
    // The lease was taken a year before now, by the clock the reaper reads (the system clock).
    const past = new ManualClock(Date.now() - 365 * 24 * 3_600_000);
    const table = await createTestTable('cli-reap', { clock: past, leaseDurationMs: LEASE });
    try {
      await table.checkpointer.getLease('shardId-old', { workerId: 'gone' });
      await table.checkpointer.getLease('shardId-new', { workerId: 'alive' });
      past.set(Date.now());
      await table.checkpointer.getLease('shardId-new', { workerId: 'alive' });
      const argv = [
        'reap',
        '--table',
        table.tableName,
        '--dynamodb-endpoint',
        testEndpoint(),
        '--grace-ms',
        '0',
      ];
      const ran = await cli([...argv, '--json']);
      expect(ran.code).toBe(0);
      expect(JSON.parse(ran.stdout)).toMatchObject({
        table: table.tableName,
        rowsScanned: 2,
        leasesReclaimed: 1,
        complete: true,
      });
      await expect(table.checkpointer.getLeaseOwner('shardId-old')).rejects.toBeInstanceOf(NoLeaseOwnerError);
      await expect(table.checkpointer.getLeaseOwner('shardId-new')).resolves.toBe('alive');
      const again = await cli(argv);
      expect(again.code).toBe(0);
      expect(again.stdout).toMatch(new RegExp(`^table\\s+${table.tableName}$`, 'm'));
      expect(again.stdout).toMatch(/^leasesReclaimed\s+0$/m);
    } finally {
      table.io.client.destroy();
    }
  });

  it('with --stream, deletes the row of a shard the stream no longer lists and keeps the listed ones', async () => {
    const kinesis = await startKinesalite();
    const table = await createTestTable('cli-reap-stream');
    try {
      await kinesis.client.send(new CreateStreamCommand({ StreamName: 'orders', ShardCount: 1 }));
      await waitUntilStreamExists({ client: kinesis.client, maxWaitTime: 30 }, { StreamName: 'orders' });
      await table.checkpointer.getLease('shardId-000000000000', { workerId: 'w1' });
      await table.checkpointer.getLease('shardId-000000000099', { workerId: 'w1' });
      await table.checkpointer.removeLeaseOwner('shardId-000000000099', 'w1');
      const ran = await cli(
        [
          'reap',
          '--table',
          table.tableName,
          '--stream',
          'orders',
          '--kinesis-endpoint',
          kinesis.endpoint,
          '--json',
        ],
        { DYNAMODB_ENDPOINT: testEndpoint() },
      );
      expect(ran.code).toBe(0);
      expect(JSON.parse(ran.stdout)).toMatchObject({ goneRowsDeleted: 1, complete: true });
      const rows = (await table.checkpointer.listShards()).shards.map((l) => l.shardId);
      expect(rows).toEqual(['shardId-000000000000']);
    } finally {
      table.io.client.destroy();
      await kinesis.close();
    }
  });

  it('reads the table and endpoint from TABLE_NAME and DYNAMODB_ENDPOINT', async () => {
    const table = await createTestTable('cli-reap-env');
    try {
      const ran = await cli(['reap'], { TABLE_NAME: table.tableName, DYNAMODB_ENDPOINT: testEndpoint() });
      expect(ran.code).toBe(0);
      expect(ran.stdout).toMatch(/^rowsScanned\s+0$/m);
    } finally {
      table.io.client.destroy();
    }
  });

  it('exits 3 naming the fault when the table does not exist', async () => {
    const ran = await cli([
      'reap',
      '--table',
      uniqueTableName('absent'),
      '--dynamodb-endpoint',
      testEndpoint(),
    ]);
    expect(ran.code).toBe(3);
    expect(ran.stdout).toMatch(/^complete\s+false$/m);
    expect(ran.stderr).toBe('Internal: ResourceNotFoundException: Requested resource not found\n');
  });

  it('exits 2 for a bad --grace-ms, before touching the table', async () => {
    const ran = await cli(['reap', '--grace-ms', '-5', '--dynamodb-endpoint', testEndpoint()]);
    expect(ran.code).toBe(2);
  });
});
