/**
 * `npm start` in a child process, as a user runs it: bin/local.ts through tsx, configured by
 * environment, resolved once it prints the URL it listens on (and, with `untilReaper`, the reaper line
 * that closes its start-up output).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..');
const TSX = join(ROOT, 'node_modules', '.bin', 'tsx');

export interface LocalProcess {
  readonly child: ChildProcess;
  readonly url: string;
  /** Everything written to stdout and stderr so far. */
  output(): string;
}

export interface LocalProcessOptions {
  readonly args?: readonly string[];
  readonly env?: Record<string, string>;
  /** Wait for the start-up line about the reaper too, the last one printed. @default false */
  readonly untilReaper?: boolean;
}

export function startLocalProcess(options: LocalProcessOptions = {}): Promise<LocalProcess> {
  // Log settings from the developer's shell would change what the tests read.
  const { POWERTOOLS_DEV: _dev, LOG_FORMAT: _format, ...inherited } = process.env;
  const child = spawn(TSX, ['bin/local.ts', ...(options.args ?? [])], {
    cwd: ROOT,
    env: { ...inherited, PORT: '0', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const found = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(output);
      if (found?.[1] && (!options.untilReaper || /reaper/.test(output))) {
        resolve({ child, url: found[1], output: () => output });
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => reject(new Error(`exited with ${code} before listening:\n${output}`)));
  });
}

/** Sends `signal` and resolves with the exit code. */
export function stopLocalProcess(
  started: LocalProcess,
  signal: NodeJS.Signals = 'SIGTERM',
): Promise<number | null> {
  return new Promise((resolve) => {
    started.child.once('exit', (code) => resolve(code));
    started.child.kill(signal);
  });
}
