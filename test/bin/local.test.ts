/**
 * `npm start` as a user runs it: the real entry point in a child process, configured by environment,
 * printing its URL, serving the API, and stopping cleanly on a signal with on-disk data intact.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLocalProcess, stopLocalProcess } from '../support/local-process';

const ROOT = join(__dirname, '..', '..');
const TSX = join(ROOT, 'node_modules', '.bin', 'tsx');

const start = (env: Record<string, string>) =>
  startLocalProcess({ env: { POWERTOOLS_LOG_LEVEL: 'WARN', ...env } });
const stop = stopLocalProcess;

let dataDir: string;
beforeAll(() => {
  dataDir = mkdtempSync(join(tmpdir(), 'shardlease-data-'));
});
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

describe('npm start (bin/local.ts)', () => {
  it('prints its URL, serves the API, and keeps on-disk data across a SIGTERM restart', async () => {
    const first = await start({ DATA_DIR: dataDir, REAPER_INTERVAL_MS: '60000' });
    const taken = await fetch(`${first.url}/shards/shardId-000000000001/lease`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ workerId: 'survivor' }),
    });
    expect(taken.status).toBe(200);
    expect(await stop(first, 'SIGTERM')).toBe(0);
    expect(first.output()).toMatch(/SIGTERM: stopping/);
    expect(first.output()).toMatch(/reaper every 60000 ms \(deletes ended rows: true\)/);

    const second = await start({ DATA_DIR: dataDir, REAPER_INTERVAL_MS: '60000' });
    const row = await fetch(`${second.url}/shards/shardId-000000000001/checkpoint`);
    // The row is back from disk; it has no checkpoint yet, so the answer names the missing sequence.
    const owner = await fetch(`${second.url}/shards/shardId-000000000001/owner`);
    expect(await owner.json()).toEqual({ shardId: 'shardId-000000000001', owner: 'survivor' });
    expect(row.status).toBe(404);
    expect(await stop(second, 'SIGINT')).toBe(0);
  });

  it('states the lease terms of LEASE_DURATION_MS and CLAIM_TIMEOUT_MS, says the reaper is off with REAPER_INTERVAL_MS=0, and which way it treats ended rows when on', async () => {
    const off = await start({
      REAPER_INTERVAL_MS: '0',
      REAPER_DELETE_ENDED_ROWS: 'false',
      LEASE_DURATION_MS: '4500',
      CLAIM_TIMEOUT_MS: '45000',
    });
    const terms = await fetch(`${off.url}/terms`);
    expect(await terms.json()).toEqual({ leaseDurationMs: 4500, claimTimeoutMs: 45_000 });
    expect(await stop(off, 'SIGTERM')).toBe(0);
    expect(off.output()).toMatch(/reaper off \(REAPER_INTERVAL_MS=0\)/);
    expect(off.output()).not.toMatch(/reaper every/);

    const on = await start({ REAPER_INTERVAL_MS: '1000', REAPER_DELETE_ENDED_ROWS: 'false' });
    expect(await stop(on, 'SIGINT')).toBe(0);
    expect(on.output()).toMatch(/reaper every 1000 ms \(deletes ended rows: false\)/);
  });

  it('lists every configuration problem and exits with 2', async () => {
    const child = spawn(TSX, ['bin/local.ts'], {
      cwd: ROOT,
      env: { ...process.env, PORT: 'eighty', LEASE_DURATION_MS: '-5', REAPER_DELETE_ENDED_ROWS: 'maybe' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code).toBe(2);
    expect(stderr).toMatch(/PORT="eighty"/);
    expect(stderr).toMatch(/LEASE_DURATION_MS="-5"/);
    expect(stderr).toMatch(/REAPER_DELETE_ENDED_ROWS="maybe" must be true or false/);
  });
});
