/**
 * The README's quick start, run as written against `npm start` (bin/local.ts, as `npm start` runs it):
 * its curl commands (read from the README, sent as curl would send them: no curl needed here), the
 * answers and refusals its prose promises, and the CLI examples whose output people pipe (`--json` is
 * one JSON document on stdout through `npm run -s`).
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { type LocalProcess, startLocalProcess, stopLocalProcess } from '../support/local-process';

const ROOT = join(__dirname, '..', '..');
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');

/** The text between a heading and the next heading of the same or a higher level. */
function section(markdown: string, heading: string): string {
  const start = markdown.indexOf(`\n${heading}\n`);
  if (start < 0) throw new Error(`README has no heading ${heading}`);
  const level = /^#+/.exec(heading)?.[0].length ?? 2;
  const rest = markdown.slice(start + heading.length + 2);
  const next = new RegExp(`\\n#{1,${level}} `).exec(rest);
  return next ? rest.slice(0, next.index) : rest;
}

/** The commands of the ```sh blocks of a text, line continuations joined. */
function shellCommands(markdown: string): string[] {
  const commands: string[] = [];
  for (const block of markdown.matchAll(/```sh\n([\s\S]*?)```/g)) {
    const joined = (block[1] ?? '').replace(/\\\n\s*/g, ' ');
    commands.push(...joined.split('\n').filter((line) => line.trim() !== ''));
  }
  return commands;
}

/** Splits a shell command into words: spaces separate, single quotes group (all the README uses). */
function words(command: string): string[] {
  const found: string[] = [];
  for (const match of command.matchAll(/'([^']*)'|(\S+)/g)) found.push(match[1] ?? match[2] ?? '');
  return found;
}

interface CurlRequest {
  readonly method: string;
  readonly url: string;
  readonly body?: string;
}

/** What curl sends for the options the README uses: -s, -X/-XMETHOD, -d (POST unless -X says). */
function curlRequest(command: string, base: string): CurlRequest {
  const [curl, ...args] = words(command);
  expect(curl).toBe('curl');
  let method: string | undefined;
  let body: string | undefined;
  let url: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    if (arg === '-s') continue;
    else if (arg === '-X') method = args[++i];
    else if (arg.startsWith('-X')) method = arg.slice(2);
    else if (arg === '-d') body = args[++i];
    else if (arg.startsWith('-')) throw new Error(`the test does not know curl's ${arg}: teach it`);
    else url = arg;
  }
  if (url === undefined) throw new Error(`no URL in ${command}`);
  return {
    method: method ?? (body === undefined ? 'GET' : 'POST'),
    url: url.replace(/^(https?:\/\/)?localhost:3000/, base),
    ...(body !== undefined && { body }),
  };
}

async function send(request: CurlRequest): Promise<{ status: number; json: Record<string, unknown> }> {
  const response = await fetch(request.url, {
    method: request.method,
    // curl -d sends this content type; the service reads the body as JSON whatever it says.
    ...(request.body !== undefined && {
      body: request.body,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    }),
  });
  return { status: response.status, json: (await response.json()) as Record<string, unknown> };
}

const startService = (env: Record<string, string>): Promise<LocalProcess> =>
  startLocalProcess({ env: { REAPER_INTERVAL_MS: '0', ...env }, untilReaper: true });

const quickStart = section(README, '### The service alone: `npm start`');
const curls = shellCommands(quickStart).filter((c) => c.startsWith('curl '));
const SEQUENCE = '49590338271490256608559692538361571095921575989136588898';

describe('the quick start, as the README writes it', () => {
  let service: LocalProcess;

  beforeAll(async () => {
    // The README starts it as `LEASE_DURATION_MS=300000 npm start`.
    const start = shellCommands(quickStart).find((c) => c.endsWith('npm start'));
    expect(start).toBe('LEASE_DURATION_MS=300000 npm start');
    service = await startService({ LEASE_DURATION_MS: '300000' });
  });
  afterAll(() => stopLocalProcess(service));

  it('has the four curl commands it walks through', () => {
    expect(curls.map((c) => curlRequest(c, service.url).method)).toEqual(['POST', 'PUT', 'GET', 'GET']);
  });

  it('answers each as the prose says: the lease, the checkpoint, the checkpoint read back, the workers', async () => {
    const [take, checkpoint, read, workers] = curls.map((c) => curlRequest(c, service.url)) as [
      CurlRequest,
      CurlRequest,
      CurlRequest,
      CurlRequest,
    ];
    const lease = await send(take);
    expect(lease.status).toBe(200);
    expect(lease.json).toMatchObject({
      owner: 'worker-a',
      leaseCounter: 1,
      leaseTimeout: expect.any(String),
    });

    expect(await send(checkpoint)).toMatchObject({ status: 200, json: { checkpoint: SEQUENCE } });
    expect(await send(read)).toMatchObject({ status: 200, json: { checkpoint: SEQUENCE } });
    const listed = await send(workers);
    expect(listed.status).toBe(200);
    expect(listed.json.workers).toMatchObject({
      'worker-a': [expect.objectContaining({ owner: 'worker-a' })],
    });

    // "A checkpoint as another worker is refused with LeaseLost; a smaller sequence number with
    // CheckpointRegression."
    const asOther = { ...checkpoint, body: (checkpoint.body as string).replace('worker-a', 'worker-b') };
    expect(await send(asOther)).toMatchObject({ status: 409, json: { code: 'LeaseLost' } });
    const smaller = { ...checkpoint, body: (checkpoint.body as string).replace(SEQUENCE, '1') };
    expect(await send(smaller)).toMatchObject({ status: 409, json: { code: 'CheckpointRegression' } });
  });

  it('runs the CLI examples whose output is piped: --json is exactly one JSON document on stdout', async () => {
    const cli = section(README, '## CLI');
    const workersJson = shellCommands(cli).find((c) => /cli -- workers --json/.test(c));
    expect(workersJson).toBe('npm run -s cli -- workers --json');
    const run = promisify(execFile);
    const { stdout } = await run('npm', [...words(workersJson as string).slice(1), '--url', service.url], {
      cwd: ROOT,
    });
    expect(JSON.parse(stdout)).toMatchObject({ workers: { 'worker-a': [expect.anything()] } });
  });
});

describe('the quick start’s warning, with the default 10 s lease', () => {
  it('refuses a checkpoint after the lease expired with LeaseLost (409), and does not say the caller holds it', async () => {
    // The README's case, sped up: a lease shorter than the time between the two commands.
    const service = await startService({ LEASE_DURATION_MS: '300' });
    try {
      const [take, checkpoint] = curls.map((c) => curlRequest(c, service.url)) as [CurlRequest, CurlRequest];
      expect((await send(take)).status).toBe(200);
      await new Promise((resolve) => setTimeout(resolve, 400));
      const refused = await send(checkpoint);
      expect(refused).toMatchObject({ status: 409, json: { code: 'LeaseLost' } });
      expect(String(refused.json.hint)).toMatch(/expired/);
      expect(String(refused.json.hint)).not.toContain('worker-a does');
    } finally {
      await stopLocalProcess(service);
    }
  });
});
