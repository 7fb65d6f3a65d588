/**
 * `npm start`: the whole service on this machine. Configuration comes from the same environment
 * variables as in Lambda (see README); the process stops cleanly on SIGINT/SIGTERM so that an on-disk
 * dynalite (DATA_DIR) is closed intact. Logs are one JSON line per event, as in Lambda; `--pretty` or
 * LOG_FORMAT=pretty indents them for reading (Powertools' POWERTOOLS_DEV), POWERTOOLS_LOG_LEVEL=DEBUG
 * shows the reaper's idle passes too.
 */
import { prettyLogsAsked } from '../lib/local/log-format';

if (prettyLogsAsked(process.argv.slice(2), process.env)) process.env.POWERTOOLS_DEV = 'true';

import { ConfigError, loadLocalConfig } from '../lib/core/config';
import { startLocalServer } from '../lib/local/server';

async function main(): Promise<void> {
  const config = loadLocalConfig(process.env);
  const server = await startLocalServer({
    port: config.port,
    tableName: config.tableName,
    leaseDurationMs: config.leaseDurationMs,
    claimTimeoutMs: config.claimTimeoutMs,
    reaperGraceMs: config.reaperGraceMs,
    reaperIntervalMs: config.reaperIntervalMs,
    reaperDeletesEndedRows: config.reaperDeletesEndedRows,
    ...(config.dataDir && { dataDir: config.dataDir }),
    ...(config.dynamoDbEndpoint && { dynamoDbEndpoint: config.dynamoDbEndpoint }),
    ...(config.streamName && { streamName: config.streamName }),
    ...(config.kinesisEndpoint && { kinesisEndpoint: config.kinesisEndpoint }),
  });
  const storage = config.dynamoDbEndpoint
    ? `DynamoDB at ${config.dynamoDbEndpoint}`
    : config.dataDir
      ? `embedded dynalite in ${config.dataDir}`
      : 'embedded dynalite in memory';
  console.log(`listening on ${server.url}`);
  console.log(`dashboard ${server.url}/ (data: ${server.url}/dashboard.json)`);
  console.log(`table ${server.tableName} on ${storage}`);
  console.log(
    `DynamoDB endpoint ${server.dynamoDbEndpoint}${config.dynamoDbEndpoint ? '' : ' (embedded dynalite)'}`,
  );
  if (config.streamName) {
    console.log(
      `stream ${config.streamName} on Kinesis ${config.kinesisEndpoint ?? '(AWS, from the default region)'}`,
    );
  }
  console.log(
    server.reaperIntervalMs > 0
      ? `reaper every ${server.reaperIntervalMs} ms (deletes ended rows: ${config.reaperDeletesEndedRows})`
      : 'reaper off (REAPER_INTERVAL_MS=0)',
  );

  const stop = (signal: string) => {
    console.log(`${signal}: stopping`);
    server.close().then(
      () => process.exit(0),
      (error: unknown) => {
        console.error('stop failed:', error instanceof Error ? error.message : error);
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
}

main().catch((error: unknown) => {
  if (error instanceof ConfigError) {
    console.error(error.problems.map((p) => `config: ${p}`).join('\n'));
    process.exit(2);
  }
  console.error('shardlease local failed to start:', error instanceof Error ? error.message : error);
  process.exit(1);
});
