/**
 * `npm start`'s output as a user reads it: every endpoint it serves or embeds, then one JSON line per
 * event unless pretty logs are asked for.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..');
const TSX = join(ROOT, 'node_modules', '.bin', 'tsx');

interface Started {
  readonly child: ChildProcess;
  readonly url: string;
  output(): string;
}

function start(args: readonly string[], env: Record<string, string>): Promise<Started> {
  const { POWERTOOLS_DEV: _dev, LOG_FORMAT: _format, ...inherited } = process.env;
  const child = spawn(TSX, ['bin/local.ts', ...args], {
    cwd: ROOT,
    env: { ...inherited, PORT: '0', REAPER_INTERVAL_MS: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const found = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(output);
      if (found?.[1] && /reaper/.test(output)) resolve({ child, url: found[1], output: () => output });
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => reject(new Error(`exited with ${code} before listening:\n${output}`)));
  });
}

async function stop(started: Started): Promise<string> {
  await new Promise((resolve) => {
    started.child.once('exit', resolve);
    started.child.kill('SIGTERM');
  });
  return started.output();
}

async function takeLease(url: string): Promise<void> {
  const response = await fetch(`${url}/shards/shardId-000000000001/lease`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ workerId: 'w-1' }),
  });
  expect(response.status).toBe(200);
}

/** Waits until the child has written a line matching `pattern` (a log line is written after its response). */
async function until(started: Started, pattern: RegExp): Promise<void> {
  for (let i = 0; i < 50 && !pattern.test(started.output()); i++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe('npm start', () => {
  it('prints every endpoint it serves or embeds, and logs one JSON line per request', async () => {
    const started = await start([], {});
    await takeLease(started.url);
    await until(started, /request handled/);
    const output = await stop(started);
    expect(output).toContain(`dashboard ${started.url}/ (data: ${started.url}/dashboard.json)`);
    expect(output).toMatch(/DynamoDB endpoint http:\/\/127\.0\.0\.1:\d+ \(embedded dynalite\)/);
    const handled = output.split('\n').filter((line) => line.includes('request handled'));
    expect(handled).toHaveLength(1);
    expect(JSON.parse(handled[0] as string)).toMatchObject({
      level: 'INFO',
      message: 'request handled',
      operation: 'getLease',
      statusCode: 200,
    });
  });

  it('indents the logs with --pretty', async () => {
    const started = await start(['--pretty'], {});
    await takeLease(started.url);
    await until(started, /"statusCode"/);
    const output = await stop(started);
    expect(output).toMatch(/\n\s+"message": "request handled",\n/);
  });

  it('names the stream and its Kinesis endpoint when told one', async () => {
    const started = await start([], { STREAM_NAME: 'orders', KINESIS_ENDPOINT: 'http://127.0.0.1:1' });
    const output = await stop(started);
    expect(output).toContain('stream orders on Kinesis http://127.0.0.1:1');
  });
});
