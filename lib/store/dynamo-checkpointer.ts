/**
 * The lease engine on DynamoDB, for those who call the table directly (library mode) and for the
 * service's own handlers: the core's LeaseEngine over a DynamoRowStore.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { Clock } from '../core/clock';
import { DEFAULT_RENEW_CONCURRENCY, LeaseEngine } from '../core/engine';
import type { LeaseTerms } from '../core/rules';
import { DynamoRowStore } from './dynamo-row-store';
import type { RetryPolicy } from './retry';

export { DEFAULT_RENEW_CONCURRENCY };

export interface DynamoCheckpointerOptions extends Partial<LeaseTerms> {
  readonly client: DynamoDBClient;
  readonly tableName: string;
  readonly clock?: Clock;
  readonly retry?: RetryPolicy;
  /** RenewLeases writes at most this many leases at once. */
  readonly renewConcurrency?: number;
  /** Init creates a missing table (on-demand), as the local server wants. */
  readonly createTableIfMissing?: boolean;
}

export class DynamoCheckpointer extends LeaseEngine {
  readonly tableName: string;

  constructor(options: DynamoCheckpointerOptions) {
    const { client, tableName, retry, createTableIfMissing, ...engine } = options;
    super({
      ...engine,
      store: new DynamoRowStore({
        client,
        tableName,
        ...(retry !== undefined && { retry }),
        ...(createTableIfMissing !== undefined && { createTableIfMissing }),
      }),
    });
    this.tableName = tableName;
  }
}
