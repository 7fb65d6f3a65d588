/** The CLI on the real process: its arguments, streams and environment, and its exit code. */
import { runCli } from './run-cli';

export async function main(argv: readonly string[]): Promise<void> {
  process.exitCode = await runCli(argv, { stdout: process.stdout, stderr: process.stderr, env: process.env });
}
