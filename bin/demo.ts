/**
 * `npm run demo`: kinesalite with a stream, the service, a producer and three consumers in one
 * process; open the printed URL to watch leases move. In a terminal, keys: 1-3 kill (or start again)
 * that consumer, s splits a shard, q quits. Without a terminal (piped stdin), the same as commands, one
 * a line: `kill 2`, `start 2`, `split [shardId]`, `quit`. PORT (default 3000) is the service's port,
 * KINESIS_PORT (default: any free port) kinesalite's.
 */
import { createInterface } from 'node:readline';
import { type Demo, startDemo } from '../lib/local/demo';

const say = (line: string) => console.log(`${new Date().toISOString().slice(11, 23)} ${line}`);

async function run(demo: Demo, command: string): Promise<'quit' | undefined> {
  const [verb, argument] = command.trim().split(/\s+/);
  const n = Number(argument);
  switch (verb) {
    case 'kill':
      await demo.kill(n);
      return;
    case 'start':
      await demo.restart(n);
      return;
    case 'split':
      await demo.split(argument);
      return;
    case 'quit':
    case 'q':
      return 'quit';
    case '':
    case undefined:
      return;
    default:
      say(`unknown command "${command.trim()}": kill N, start N, split [shardId], quit`);
  }
}

async function main(): Promise<void> {
  const port = process.env.PORT === undefined ? 3000 : Number(process.env.PORT);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new Error(`PORT="${process.env.PORT}" is not a port`);
  const kinesisPort = Number(process.env.KINESIS_PORT ?? 0);
  if (!Number.isInteger(kinesisPort) || kinesisPort < 0 || kinesisPort > 65535)
    throw new Error(`KINESIS_PORT="${process.env.KINESIS_PORT}" is not a port`);
  const demo = await startDemo({ port, kinesisPort, say });
  console.log(
    `shardlease demo: page ${demo.server.url}/  (API ${demo.server.url}, DynamoDB ${demo.server.dynamoDbEndpoint} embedded)`,
  );
  console.log(
    `stream "${demo.streamName}" on kinesalite ${demo.kinesisEndpoint}; consumers ${demo.consumerIds.join(', ')}`,
  );
  console.log(
    `a fourth consumer, from another terminal: SHARDLEASE_URL=${demo.server.url} STREAM_NAME=${demo.streamName} ` +
      `KINESIS_ENDPOINT=${demo.kinesisEndpoint} WORKER_ID=consumer-4 npx tsx examples/consumer.ts`,
  );

  let stopping = false;
  const stop = async (why: string) => {
    if (stopping) return;
    stopping = true;
    say(`${why}: stopping`);
    await demo.close();
    process.exit(0);
  };
  const act = (command: string) =>
    run(demo, command).then(
      (result) => (result === 'quit' ? stop('quit') : undefined),
      (error: unknown) => say(`${command.trim()}: ${error instanceof Error ? error.message : String(error)}`),
    );

  if (process.stdin.isTTY) {
    console.log('keys: 1-3 kill or restart that consumer · s split a shard · q quit');
    const killed = new Set<number>();
    process.stdin.setRawMode(true);
    process.stdin.setEncoding('utf8');
    process.stdin.on('data', (key: string) => {
      if (key === '\u0003' || key === 'q') return void stop('quit');
      if (key === 's') return void act('split');
      const n = Number(key);
      if (Number.isInteger(n) && n >= 1 && n <= demo.consumerIds.length) {
        void act(`${killed.has(n) ? 'start' : 'kill'} ${n}`);
        if (killed.has(n)) killed.delete(n);
        else killed.add(n);
      }
    });
  } else {
    console.log('commands on stdin, one a line: kill N · start N · split [shardId] · quit');
    createInterface({ input: process.stdin }).on('line', (line) => void act(line));
  }
  const status = setInterval(() => {
    const counts = demo.processed();
    say(`records read: ${demo.consumerIds.map((id) => `${id} ${counts[id] ?? 0}`).join(', ')}`);
  }, 10_000);
  status.unref();
  process.once('SIGINT', () => void stop('SIGINT'));
  process.once('SIGTERM', () => void stop('SIGTERM'));
}

main().catch((error: unknown) => {
  console.error('demo failed to start:', error instanceof Error ? error.message : error);
  process.exit(1);
});
