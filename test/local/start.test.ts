/**
 * `npm start`'s output as a user reads it: every endpoint it serves or embeds, then one JSON line per
 * event unless pretty logs are asked for.
 */
import { type LocalProcess, startLocalProcess, stopLocalProcess } from '../support/local-process';

const start = (args: readonly string[], env: Record<string, string>): Promise<LocalProcess> =>
  startLocalProcess({ args, env: { REAPER_INTERVAL_MS: '0', ...env }, untilReaper: true });

async function stop(started: LocalProcess): Promise<string> {
  await stopLocalProcess(started);
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
async function until(started: LocalProcess, pattern: RegExp): Promise<void> {
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
