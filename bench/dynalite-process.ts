/**
 * dynalite in a child process, in memory, on a free loopback port: the bench's DynamoDB. In its own
 * process, the engine's CPU is not charged to the code measured (LOCAL-AWS.md: ~1,000 vs ~700
 * conditional writes/s with 32 in flight when it shares the process).
 */
import { type ChildProcess, spawn } from 'node:child_process';

export interface DynaliteProcess {
  readonly endpoint: string;
  readonly pid: number;
  stop(): Promise<void>;
}

// Runs in the child: listen on port 0 and report the port on stdout as one JSON line. Idle keep-alive
// sockets stay open: while one variant runs, another's sit idle, and node's 5 s default would close
// them just as the SDK reuses one (ECONNRESET, which a bare call does not retry).
const CHILD_SCRIPT = `
const dynalite = require(process.argv[1]);
const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
server.keepAliveTimeout = 600000;
server.headersTimeout = 601000;
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(JSON.stringify({ port: server.address().port }) + '\\n');
});
process.on('SIGTERM', () => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
});
`;

const START_TIMEOUT_MS = 15_000;

export async function startDynaliteProcess(): Promise<DynaliteProcess> {
  const child = spawn(process.execPath, ['-e', CHILD_SCRIPT, require.resolve('dynalite')], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  // Should the bench die before stop(), the child must not outlive it.
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);

  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    const port = await readPort(child);
    return {
      endpoint: `http://127.0.0.1:${port}`,
      pid: child.pid as number,
      stop: async () => {
        process.off('exit', killOnExit);
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
        await exited;
      },
    };
  } catch (error) {
    child.kill('SIGKILL');
    process.off('exit', killOnExit);
    throw error;
  }
}

function readPort(child: ChildProcess): Promise<number> {
  return new Promise((resolve, reject) => {
    let buffered = '';
    const onError = (error: Error) => fail(error);
    const onExit = (code: number | null, signal: string | null) =>
      fail(new Error(`dynalite exited early (${code ?? signal})`));
    const settle = () => {
      clearTimeout(timer);
      child.off('error', onError);
      child.off('exit', onExit);
      child.stdout?.removeAllListeners('data');
    };
    const fail = (error: Error) => {
      settle();
      reject(error);
    };
    const timer = setTimeout(() => fail(new Error('dynalite did not start within 15 s')), START_TIMEOUT_MS);
    child.once('error', onError);
    child.once('exit', onExit);
    child.stdout?.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      if (!buffered.includes('\n')) return;
      const line = buffered.slice(0, buffered.indexOf('\n'));
      settle();
      // Nothing else is read from the child's stdout: let it drain so the pipe never fills.
      child.stdout?.resume();
      try {
        resolve((JSON.parse(line) as { port: number }).port);
      } catch {
        reject(new Error(`dynalite printed an unexpected line: ${line}`));
      }
    });
  });
}
