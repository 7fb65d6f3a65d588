/** The CLI on the real process: its arguments, streams and environment, and its exit code. */
import { createInterface } from 'node:readline/promises';
import { runCli } from './run-cli';

/** Asks on the terminal (the question on stderr, so that stdout stays the command's output). */
async function ask(question: string): Promise<string> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return await rl.question(question);
  } finally {
    rl.close();
  }
}

export async function main(argv: readonly string[]): Promise<void> {
  // fetch's timers do not hold the process open: without this, a request that never settles (a server
  // that accepts and drops connections can cause one) would end the process with exit code 0 and no word.
  const keepAlive = setInterval(() => undefined, 60_000);
  // A command that runs until stopped (dashboard) ends on Ctrl-C or SIGTERM.
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    process.exitCode = await runCli(argv, {
      stdout: process.stdout,
      stderr: process.stderr,
      env: process.env,
      signal: stop.signal,
      ...(process.stdin.isTTY && { prompt: ask }),
    });
  } finally {
    clearInterval(keepAlive);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
