/**
 * The construct's fixed IAM action lists against the code they are for: every SDK command the store
 * sends must be granted, and nothing it never sends. Read from the source (the commands it constructs),
 * so a new command in the store fails here before it fails in AWS with AccessDenied.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { DIRECT_ACCESS_ACTIONS, REAPER_DYNAMO_ACTIONS, REAPER_KINESIS_ACTIONS } from '../../lib/cdk';

function commandsSentBy(file: string, service: string, except: readonly string[] = []): string[] {
  const source = readFileSync(path.resolve(__dirname, '../../lib/store', file), 'utf8');
  const names = [...source.matchAll(/new (\w+)Command\(/g)].map((m) => m[1] ?? '');
  return [...new Set(names)]
    .filter((n) => !except.includes(n))
    .map((n) => `${service}:${n}`)
    .sort();
}

describe('the fixed IAM action lists', () => {
  it('grantDirectAccess covers exactly what DynamoCheckpointer sends, except CreateTable (local mode only)', () => {
    expect([...DIRECT_ACCESS_ACTIONS].sort()).toEqual(
      commandsSentBy('dynamo-checkpointer.ts', 'dynamodb', ['CreateTable']),
    );
  });

  it('the reaper gets exactly the DynamoDB actions the reaper store sends', () => {
    expect([...REAPER_DYNAMO_ACTIONS].sort()).toEqual(commandsSentBy('reaper.ts', 'dynamodb'));
  });

  it('the reaper gets exactly the Kinesis actions the shard source sends', () => {
    expect([...REAPER_KINESIS_ACTIONS].sort()).toEqual(commandsSentBy('kinesis-shard-source.ts', 'kinesis'));
  });
});
