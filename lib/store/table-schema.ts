/** The lease table's key schema: what Init checks, and creates in local mode. */
import type { CreateTableCommandInput, TableDescription } from '@aws-sdk/client-dynamodb';
import { Attr } from '../core/lease-row';

export function createTableInput(tableName: string): CreateTableCommandInput {
  return {
    TableName: tableName,
    KeySchema: [{ AttributeName: Attr.ShardId, KeyType: 'HASH' }],
    AttributeDefinitions: [{ AttributeName: Attr.ShardId, AttributeType: 'S' }],
    BillingMode: 'PAY_PER_REQUEST',
  };
}

/** Why the table cannot hold leases, or undefined when its key is `ShardID` (S) alone. */
export function schemaProblem(table: TableDescription): string | undefined {
  const keys = table.KeySchema ?? [];
  const hash = keys.find((k) => k.KeyType === 'HASH');
  if (keys.length !== 1 || hash?.AttributeName !== Attr.ShardId) {
    const shown = keys.map((k) => `${k.AttributeName} (${k.KeyType})`).join(', ');
    return `key schema must be ${Attr.ShardId} (HASH) alone, found ${shown || 'none'}`;
  }
  const type = table.AttributeDefinitions?.find((d) => d.AttributeName === Attr.ShardId)?.AttributeType;
  if (type !== 'S') return `${Attr.ShardId} must be a string (S), found ${type ?? 'no definition'}`;
  return undefined;
}
