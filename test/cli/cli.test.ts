import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { type AddressInfo, createServer } from 'node:net';
import { join } from 'node:path';
import { Logger } from '@aws-lambda-powertools/logger';
import { CreateStreamCommand, waitUntilStreamExists } from '@aws-sdk/client-kinesis';
import { runCli } from '../../lib/cli/run-cli';
import { ShardLeaseClient } from '../../lib/client/shard-lease-client';
import { ManualClock } from '../../lib/core/clock';
import { NoLeaseOwnerError } from '../../lib/core/errors';
import { formatLeaseTime, parseLeaseTime } from '../../lib/core/lease-time';
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

async function cli(
  argv: string[],
  env: Record<string, string | undefined> = {},
  prompt?: (question: string) => Promise<string>,
): Promise<Ran> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(argv, {
    stdout: { write: (t: string) => (stdout += t) },
    stderr: { write: (t: string) => (stderr += t) },
    env,
    // Relative times are read against the server's clock, so that they are exact here.
    now: () => clock.now(),
    ...(prompt && { prompt }),
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
      for (const command of [
        'list',
        'show',
        'workers',
        'release',
        'claim',
        'checkpoint',
        'delete',
        'reset',
        'reap',
        'dashboard',
        'terms',
      ]) {
        expect(ran.stdout).toMatch(new RegExp(`^  ${command} `, 'm'));
      }
      expect(ran.stdout).toContain('exit codes:');
      for (const code of [0, 1, 2, 3, 4, 5]) expect(ran.stdout).toMatch(new RegExp(`^  ${code}  \\S`, 'm'));
    }
  });

  it('prints each command’s usage and options for `<command> --help` and `help <command>`', async () => {
    const ran = await cli(['checkpoint', '--help']);
    expect(ran.code).toBe(0);
    expect(ran.stdout).toContain('usage: shardlease checkpoint <shard> <sequence> --worker ID [options]');
    expect(ran.stdout).toContain('--counter N');
    const reap = (await cli(['help', 'reap'])).stdout;
    expect(reap).toContain('--dynamodb-endpoint URL');
    // One table serves one stream: the help must not offer a list the command then refuses.
    expect(reap).toContain('--stream NAME');
    expect(reap).not.toContain('A,B');
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
    expect(lines[0]).toMatch(/^SHARD\s+OWNER\s+EXPIRES\s+COUNTER\s+CHECKPOINT\s+PARENT\s+CLAIM$/);
    const timeout = formatLeaseTime(T0 + LEASE);
    expect(lines).toContainEqual(
      expect.stringMatching(new RegExp(`^${a}\\s+w1\\s+in 10s\\s+1\\s+-\\s+shardId-p\\s+-$`)),
    );
    expect(lines).toContainEqual(
      expect.stringMatching(new RegExp(`^${b}\\s+w2\\s+in 10s\\s+1\\s+77\\s+-\\s+-$`)),
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
    expect(JSON.parse(bare.stdout)).toEqual({
      shardId: without,
      owner: 'w3',
      leaseTimeout: formatLeaseTime(T0 + LEASE),
      leaseCounter: 1,
    });
  });

  it('exits 1 with NotFound for a shard without a row, and ValidationError naming the field for a bad id', async () => {
    const missing = shard();
    const notFound = await cli(['show', missing, ...url]);
    expect(notFound).toMatchObject({ code: 1, stdout: '' });
    expect(notFound.stderr).toMatch(
      new RegExp(
        `^NotFound: shard ${missing} has no lease row\n  a shard gets its row when a worker first takes`,
      ),
    );
    const bad = await cli(['show', 'bad id!', ...url]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toBe(
      'ValidationError: shardId: must be 1..128 of [a-zA-Z0-9_.-]\n' +
        '  nothing was changed; correct the fields named and send the request again\n',
    );
  });

  it('reads the URL from SHARDLEASE_URL when --url is absent', async () => {
    const id = shard();
    await api.getLease(id, { workerId: 'w1' });
    const ran = await cli(['show', id], { SHARDLEASE_URL: server.url });
    expect(ran.code).toBe(0);
    expect(ran.stdout).toMatch(/^owner\s+w1$/m);
  });

  it('shows the lease timeout with how long it has left, or how long ago it expired', async () => {
    const id = shard();
    await api.getLease(id, { workerId: 'w1' });
    const live = await cli(['show', id, ...url]);
    expect(live.stdout).toMatch(
      new RegExp(`^lease timeout\\s+${formatLeaseTime(T0 + LEASE)} \\(in 10s\\)$`, 'm'),
    );
    clock.advance(LEASE + 3 * 60_000);
    try {
      const list = await cli(['list', ...url]);
      expect(list.stdout).toMatch(new RegExp(`^${id}\\s+w1\\s+expired 3m ago\\s+1\\s`, 'm'));
    } finally {
      clock.set(T0);
    }
  });
});

/** A local URL where nothing listens: a port that was just free. */
async function deadUrl(): Promise<string> {
  const probe = createServer().listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return `http://127.0.0.1:${port}`;
}

describe('an unreachable service', () => {
  it('exits 3 within two seconds, saying it cannot reach the URL and asking whether `npm start` runs', async () => {
    const dead = await deadUrl();
    const started = performance.now();
    const ran = await cli(['list', '--url', dead]);
    expect(performance.now() - started).toBeLessThan(2000);
    expect(ran).toEqual({
      code: 3,
      stdout: '',
      stderr:
        `Unreachable: cannot reach the service at ${dead} (connection refused): is \`npm start\` running?\n` +
        '  start the local service with `npm start`, or point --url (or SHARDLEASE_URL) at the service\n',
    });
  });

  it('exits 3 also when the service accepts the connection and then drops every request', async () => {
    const dropper = createServer((socket) => socket.once('data', () => socket.destroy())).listen(
      0,
      '127.0.0.1',
    );
    await once(dropper, 'listening');
    try {
      const at = `http://127.0.0.1:${(dropper.address() as AddressInfo).port}`;
      const ran = await cli(['list', '--url', at, '--max-attempts', '1']);
      expect(ran.code).toBe(3);
      expect(ran.stderr).toMatch(
        new RegExp(
          `^Unreachable: cannot reach the service at ${at} \\(the connection closed without an answer\\)`,
        ),
      );
    } finally {
      await new Promise((resolve) => dropper.close(resolve));
    }
  });

  it('answers in JSON on stdout with --json, for every command', async () => {
    const dead = await deadUrl();
    for (const argv of [
      ['list'],
      ['show', 's'],
      ['workers'],
      ['delete', 's', '--yes'],
      ['reset', 's', '--yes'],
      ['terms'],
      ['dashboard', '--port', '0'],
    ]) {
      const ran = await cli([...argv, '--json', '--url', dead]);
      expect(ran.code).toBe(3);
      expect(JSON.parse(ran.stdout)).toEqual({
        error: {
          code: 'Unreachable',
          message: expect.stringContaining(`cannot reach the service at ${dead}`),
          hint: expect.any(String),
        },
      });
    }
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
    expect(ran).toMatchObject({
      code: 1,
      stderr:
        'ShardNotAssigned: AssignedToNotFoundForShard\n' +
        `  no live worker holds shard ${free} of the set asked about; any worker may take it ` +
        '(without strict, unowned shards are listed as unassigned instead of failing)\n',
    });
    const [other, third] = [shard(), shard()];
    const many = await cli([
      'workers',
      '--shards',
      `${owned},${free},${other},${third}`,
      '--strict',
      '--json',
      ...url,
    ]);
    expect(many.code).toBe(1);
    const { error } = JSON.parse(many.stdout) as { error: Record<string, unknown> };
    expect(error).toMatchObject({
      code: 'ShardNotAssigned',
      message: 'AssignedToNotFoundForShard',
      shardIds: [free, other, third].sort(),
    });
    expect(error.hint).toContain(
      `no live worker holds 3 shards of the set asked about: ${[free, other, third].sort().join(', ')}`,
    );
  });
});

describe('release, claim and checkpoint', () => {
  it('releases the worker’s lease, and exits 1 with LeaseLost for a worker that does not hold it', async () => {
    const id = shard();
    await api.getLease(id, { workerId: 'w1' });
    const refused = await cli(['release', id, '--worker', 'w2', ...url]);
    expect(refused).toMatchObject({
      code: 1,
      stderr:
        'LeaseLost: lease lost: the shard is owned by w1, not w2\n' +
        '  this worker no longer holds the lease (worker w1 does): stop processing the shard, and take the lease again before checkpointing\n',
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
    expect(second.code).toBe(1);
    expect(second.stderr).toBe(
      'ShardClaimed: shard is already claimed by another node\n' +
        '  worker w2 has asked to take this shard over (a steal claim): only that worker may take it until the claim is fulfilled or times out, and its current owner should finish its batch and release it\n',
    );
  });

  it('checkpoints as the owner, with the fencing counter, and refuses regressions and stale counters', async () => {
    const id = shard();
    await api.getLease(id, { workerId: 'w1' });
    const ran = await cli(['checkpoint', id, '100', '--worker', 'w1', '--counter', '1', ...url]);
    expect(ran.code).toBe(0);
    expect(ran.stdout).toMatch(/^checkpoint\s+100$/m);
    const back = await cli(['checkpoint', id, '99', '--worker', 'w1', ...url]);
    expect(back.code).toBe(1);
    expect(back.stderr).toMatch(
      /^CheckpointRegression: checkpoint 99 is behind the recorded checkpoint 100\n {2}a checkpoint only moves forward/,
    );
    const stale = await cli(['checkpoint', id, '101', '--worker', 'w1', '--counter', '7', ...url]);
    expect(stale.code).toBe(1);
    expect(stale.stderr).toMatch(
      /^LeaseLost: lease lost: the lease was taken again \(lease counter 1, not 7\)\n {2}/,
    );
    const bad = await cli(['checkpoint', id, 'abc', '--worker', 'w1', ...url]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^ValidationError: checkpoint: must be a sequence number/);
    await expect(api.fetchCheckpoint(id)).resolves.toMatchObject({ checkpoint: '100' });
  });
});

describe('dashboard', () => {
  it('serves the shard page and its JSON from the API at --url until stopped', async () => {
    const id = shard();
    await api.getLease(id, { workerId: 'dash-worker' });
    const stop = new AbortController();
    let stderr = '';
    let listening: (url: string) => void = () => undefined;
    const pageUrl = new Promise<string>((resolve) => {
      listening = resolve;
    });
    const running = runCli(['dashboard', ...url, '--port', '0', '--json'], {
      stdout: { write: () => true },
      stderr: {
        write: (t: string) => {
          stderr += t;
          const found = /(http:\/\/127\.0\.0\.1:\d+\/)/.exec(stderr);
          if (found?.[1]) listening(found[1]);
          return true;
        },
      },
      env: {},
      now: () => clock.now(),
      signal: stop.signal,
    });
    const page = await pageUrl;
    expect(stderr).toContain(`the shards of ${server.url}`);
    const html = await (await fetch(page)).text();
    expect(html).toContain('<html');
    const data = (await (await fetch(`${page}dashboard.json`)).json()) as {
      shards: { shardId: string; owner?: string }[];
    };
    expect(data.shards).toEqual(
      expect.arrayContaining([expect.objectContaining({ shardId: id, owner: 'dash-worker' })]),
    );
    expect((await fetch(`${page}other`)).status).toBe(404);
    stop.abort();
    await expect(running).resolves.toBe(0);
  });

  /** Runs the dashboard until its page answers, reads the page's data, and stops it. */
  async function dashboardData(argv: string[], env: Record<string, string> = {}) {
    const stop = new AbortController();
    let stderr = '';
    let listening: (url: string) => void = () => undefined;
    const pageUrl = new Promise<string>((resolve) => {
      listening = resolve;
    });
    const running = runCli(['dashboard', ...url, '--port', '0', ...argv], {
      stdout: { write: () => true },
      stderr: {
        write: (t: string) => {
          stderr += t;
          const found = /(http:\/\/127\.0\.0\.1:\d+\/)/.exec(stderr);
          if (found?.[1]) listening(found[1]);
          return true;
        },
      },
      env,
      now: () => clock.now(),
      signal: stop.signal,
    });
    const exited = running.then(
      (code) => new Error(`the dashboard exited ${code} before serving: ${stderr}`),
    );
    const page = await Promise.race([pageUrl, exited]);
    if (page instanceof Error) throw page;
    try {
      return (await (await fetch(`${page}dashboard.json`)).json()) as { leaseDurationMs: number };
    } finally {
      stop.abort();
      await running;
    }
  }

  it('takes the lease duration from the service, and accepts --lease-ms or LEASE_DURATION_MS equal to it', async () => {
    expect((await dashboardData([])).leaseDurationMs).toBe(LEASE);
    expect((await dashboardData(['--lease-ms', String(LEASE)])).leaseDurationMs).toBe(LEASE);
    expect((await dashboardData([], { LEASE_DURATION_MS: String(LEASE) })).leaseDurationMs).toBe(LEASE);
  });

  it('exits 2 naming both values when --lease-ms or LEASE_DURATION_MS differs from the service’s', async () => {
    const option = await cli(['dashboard', ...url, '--port', '0', '--lease-ms', '5000']);
    expect(option.code).toBe(2);
    expect(option.stderr).toMatch(
      new RegExp(
        `^UsageError: --lease-ms is 5000 ms, but the service at ${server.url} states a lease duration of ${LEASE} ms`,
      ),
    );
    // From the environment, the message names the variable.
    const env = await cli(['dashboard', ...url, '--port', '0'], { LEASE_DURATION_MS: '30000' });
    expect(env.code).toBe(2);
    expect(env.stderr).toContain(`LEASE_DURATION_MS is 30000 ms, but the service at ${server.url} states`);
    expect(env.stderr).toContain(`${LEASE} ms`);
    const json = await cli(['dashboard', ...url, '--port', '0', '--lease-ms', '5000', '--json']);
    expect(JSON.parse(json.stdout)).toMatchObject({ error: { code: 'UsageError' } });
  });

  it('exits 2 for a --lease-ms that is not a positive integer', async () => {
    const ran = await cli(['dashboard', ...url, '--port', '0', '--lease-ms', 'ten']);
    expect(ran.code).toBe(2);
    expect(ran.stderr).toMatch(/^UsageError: --lease-ms must be an integer >= 1, got 'ten'/);
  });
});

describe('terms', () => {
  it('prints the lease duration and claim timeout the service states, and as JSON with --json', async () => {
    const ran = await cli(['terms', ...url]);
    expect(ran).toEqual({
      code: 0,
      stdout: `lease duration  ${LEASE} ms (10s)\nclaim timeout   120000 ms (2m)\n`,
      stderr: '',
    });
    const json = await cli(['terms', ...url, '--json']);
    expect(JSON.parse(json.stdout)).toEqual({ leaseDurationMs: LEASE, claimTimeoutMs: 120_000 });
  });

  it('exits 5 when the service answers without its lease terms (a service older than them)', async () => {
    const old = createHttpServer((request, response) => {
      request.resume();
      response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    }).listen(0, '127.0.0.1');
    await once(old, 'listening');
    try {
      const at = `http://127.0.0.1:${(old.address() as AddressInfo).port}`;
      const ran = await cli(['terms', '--url', at, '--max-attempts', '1']);
      expect(ran.code).toBe(5);
      expect(ran.stderr).toMatch(/^Internal: describeTerms: the service did not state its lease terms/);
    } finally {
      old.closeAllConnections();
      await new Promise((resolve) => old.close(resolve));
    }
  });
});

describe('--version', () => {
  it('prints the package name and version from package.json, and as JSON with --json', async () => {
    const pkg = JSON.parse(readFileSync(join(__dirname, '../../package.json'), 'utf8')) as {
      version: string;
    };
    for (const flag of ['--version', '-V']) {
      expect(await cli([flag])).toEqual({ code: 0, stdout: `shardlease ${pkg.version}\n`, stderr: '' });
    }
    const json = await cli(['--version', '--json']);
    expect(JSON.parse(json.stdout)).toEqual({ name: 'shardlease', version: pkg.version });
  });
});

describe('delete and reset', () => {
  const yesNo = (answer: string) => {
    const asked: string[] = [];
    const prompt = async (question: string) => {
      asked.push(question);
      return answer;
    };
    return { asked, prompt };
  };

  it('deletes a shard’s row with --yes, checkpoint and all', async () => {
    const id = shard();
    await api.getLease(id, { workerId: 'w1', checkpoint: '42' });
    await api.removeLeaseOwner(id, 'w1');
    const ran = await cli(['delete', id, '--yes', ...url]);
    expect(ran).toEqual({
      code: 0,
      stdout: `deleted the row of shard ${id} (checkpoint 42 forgotten)\n`,
      stderr: '',
    });
    expect((await cli(['show', id, ...url])).stderr).toMatch(/^NotFound: /);
    const again = await cli(['delete', id, '--yes', '--json', ...url]);
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ shardId: id, deleted: false });
  });

  it('asks on a terminal, and deletes only on yes', async () => {
    const id = shard();
    await api.getLease(id, { workerId: 'w1', checkpoint: '7' });
    await api.removeLeaseOwner(id, 'w1');
    const no = yesNo('n');
    const refused = await cli(['delete', id, ...url], {}, no.prompt);
    expect(refused.code).toBe(4);
    expect(refused.stderr).toMatch(
      /^NotConfirmed: not confirmed: did not delete the row of shard .*\n {2}nothing was changed\n$/,
    );
    expect(no.asked[0]).toContain(`Shard ${id}: no owner, checkpoint 7, lease counter 1.`);
    expect(no.asked[0]).toMatch(/Delete it\? \[y\/N\] $/);
    await expect(api.fetchCheckpoint(id)).resolves.toMatchObject({ checkpoint: '7' });
    const yes = yesNo('y');
    expect((await cli(['delete', id, ...url], {}, yes.prompt)).code).toBe(0);
    expect(yes.asked).toHaveLength(1);
    expect((await cli(['show', id, ...url])).code).toBe(1);
  });

  it('refuses with exit 4 and changes nothing without a terminal and without --yes', async () => {
    const id = shard();
    await api.getLease(id, { workerId: 'w1', checkpoint: '9' });
    for (const command of ['delete', 'reset']) {
      const ran = await cli([command, id, ...url]);
      expect(ran).toEqual({
        code: 4,
        stdout: '',
        stderr: expect.stringMatching(
          new RegExp(
            `^NotConfirmed: refusing to (delete the row of|reset) shard ${id} without confirmation: stdin is not a terminal\n  pass --yes to confirm; nothing was changed\n$`,
          ),
        ),
      });
    }
    await expect(api.fetchCheckpoint(id)).resolves.toMatchObject({ owner: 'w1', checkpoint: '9' });
  });

  it('is refused while another worker holds a live lease, saying who and offering --force', async () => {
    const id = shard();
    await api.getLease(id, { workerId: 'w1', checkpoint: '5' });
    const ran = await cli(['delete', id, '--yes', ...url]);
    expect(ran.code).toBe(1);
    expect(ran.stderr).toMatch(/^LeaseNotAcquired: lease not acquired: w1 holds a live lease/);
    expect(ran.stderr).toContain(
      `  w1 holds a live lease on ${id} (in 10s), and deleting the row now would pull the shard from under it; nothing was changed. Release it first (shardlease release ${id} --worker w1), wait until the lease expires, or pass --force.`,
    );
    await expect(api.fetchCheckpoint(id)).resolves.toMatchObject({ owner: 'w1' });
    // The owner may delete its own row; anyone may with --force.
    expect((await cli(['delete', id, '--yes', '--worker', 'w1', ...url])).code).toBe(0);
    const other = shard();
    await api.getLease(other, { workerId: 'w1' });
    expect((await cli(['delete', other, '--yes', '--force', ...url])).code).toBe(0);
    await expect(api.getLeaseOwner(other)).rejects.toBeInstanceOf(NoLeaseOwnerError);
  });

  it('resets a shard: its row comes back empty with its parent, so the next worker starts afresh', async () => {
    const id = shard();
    await api.getLease(id, { workerId: 'w1', parentShardId: 'shardId-parent', checkpoint: '500' });
    await api.checkpointSequence(id, { workerId: 'w1', checkpoint: '900' });
    const live = await cli(['reset', id, '--yes', ...url]);
    expect(live.code).toBe(1);
    expect(live.stderr).toContain('resetting the row now would pull the shard from under it');
    const ran = await cli(['reset', id, '--yes', '--force', '--json', ...url]);
    expect(ran.code).toBe(0);
    expect(JSON.parse(ran.stdout)).toMatchObject({
      shardId: id,
      deleted: true,
      reset: true,
      rewritten: true,
      previous: { checkpoint: '900', owner: 'w1', parentShardId: 'shardId-parent' },
    });
    const row = (await api.listShards({ limit: 1000 })).shards.find((l) => l.shardId === id);
    // Released as a take leaves it: no owner, no checkpoint, no claim, and as lease timeout the instant
    // of the release (nothing ahead: `show` must not promise a lease that nobody holds).
    expect(row).toEqual({
      shardId: id,
      parentShardId: 'shardId-parent',
      leaseCounter: 1,
      leaseTimeout: expect.any(String),
    });
    expect(parseLeaseTime(row?.leaseTimeout as string)).toBeLessThanOrEqual(Date.now());
    const shown = await cli(['show', id, ...url]);
    expect(shown.stdout).toMatch(/^owner +-$/m);
    expect(shown.stdout).toMatch(/^lease timeout .*\(expired .* ago\)$/m);
    // The next worker takes it with no checkpoint: it starts from its initial position.
    const taken = await api.getLease(id, { workerId: 'w2' });
    expect(taken.checkpoint).toBeUndefined();
    expect(taken.owner).toBe('w2');
  });
});

describe('the service’s words', () => {
  it('refuses a body on DELETE naming where its inputs go instead', async () => {
    const response = await fetch(`${server.url}/shards/${shard()}?workerId=w1`, {
      method: 'DELETE',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ workerId: 'w1', force: true }),
    });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({
      code: 'ValidationError',
      fields: [
        {
          field: 'body',
          message:
            'must be empty: DELETE /shards/{shardId} takes no body; send workerId, force in the query string (?workerId=…&force=…)',
        },
      ],
    });
  });

  it('reports a field of the wrong type as a type error, not as missing', async () => {
    const response = await fetch(`${server.url}/shards/${shard()}/lease`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ workerId: 5 }),
    });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({
      message: 'workerId: must be a string, got a number (5)',
    });
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

  it('exits 5 naming the fault when the table does not exist', async () => {
    const ran = await cli([
      'reap',
      '--table',
      uniqueTableName('absent'),
      '--dynamodb-endpoint',
      testEndpoint(),
    ]);
    expect(ran.code).toBe(5);
    expect(ran.stdout).toMatch(/^complete\s+false$/m);
    expect(ran.stderr).toBe('Internal: ResourceNotFoundException: Requested resource not found\n');
  });

  it('exits 2 for a bad --grace-ms, before touching the table', async () => {
    const ran = await cli(['reap', '--grace-ms', '-5', '--dynamodb-endpoint', testEndpoint()]);
    expect(ran.code).toBe(2);
  });
});
