/**
 * The construct's fixed IAM action lists against the code they are for: every SDK command the store
 * sends must be granted, and nothing it never sends. Read from the source (the commands it constructs,
 * in the file and in every store file it imports for its values), so a new command in the store fails
 * here before it fails in AWS with AccessDenied.
 */
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { DIRECT_ACCESS_ACTIONS, REAPER_DYNAMO_ACTIONS, REAPER_KINESIS_ACTIONS } from '../../lib/cdk';

const STORE = path.resolve(__dirname, '../../lib/store');
const CLIENTS: Readonly<Record<string, string>> = {
  '@aws-sdk/client-dynamodb': 'dynamodb',
  '@aws-sdk/client-kinesis': 'kinesis',
};

/** The store file and the store files it imports for their values (`import type` sends nothing). */
function storeClosure(file: string, seen = new Set<string>()): Set<string> {
  if (seen.has(file)) return seen;
  seen.add(file);
  const source = readFileSync(path.join(STORE, file), 'utf8');
  for (const m of source.matchAll(/^import (?!type )[^;]*? from '\.\/([\w-]+)';/gms)) {
    const next = `${m[1]}.ts`;
    if (existsSync(path.join(STORE, next))) storeClosure(next, seen);
  }
  return seen;
}

/** `service:Command` for every `new XCommand(` whose class comes from an SDK client of `service`. */
function actionsSentBy(file: string, service: string, except: readonly string[] = []): string[] {
  const actions = new Set<string>();
  for (const f of storeClosure(file)) {
    const source = readFileSync(path.join(STORE, f), 'utf8');
    const imported = new Map<string, string>();
    for (const m of source.matchAll(/import \{([^}]*)\} from '(@aws-sdk\/client-[\w-]+)'/g)) {
      for (const name of (m[1] ?? '').split(',').map((n) => n.replace(/^\s*type\s+/, '').trim())) {
        const sdk = CLIENTS[m[2] ?? ''];
        if (name && sdk) imported.set(name, sdk);
      }
    }
    for (const m of source.matchAll(/new (\w+)Command\(/g)) {
      const command = m[1] ?? '';
      if (imported.get(`${command}Command`) === service && !except.includes(command)) {
        actions.add(`${service}:${command}`);
      }
    }
  }
  return [...actions].sort();
}

describe('the fixed IAM action lists', () => {
  it('grantDirectAccess covers exactly what DynamoCheckpointer sends, except CreateTable (local mode only)', () => {
    expect([...DIRECT_ACCESS_ACTIONS].sort()).toEqual(
      actionsSentBy('dynamo-checkpointer.ts', 'dynamodb', ['CreateTable']),
    );
  });

  it('the reaper gets exactly the DynamoDB actions the reaper store sends', () => {
    expect([...REAPER_DYNAMO_ACTIONS].sort()).toEqual(actionsSentBy('reaper.ts', 'dynamodb'));
  });

  it('the reaper gets exactly the Kinesis actions the shard source sends', () => {
    expect([...REAPER_KINESIS_ACTIONS].sort()).toEqual(actionsSentBy('kinesis-shard-source.ts', 'kinesis'));
  });
});
