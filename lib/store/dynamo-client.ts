/** The DynamoDB client the service builds for itself. */
import { DynamoDBClient, type DynamoDBClientConfig } from '@aws-sdk/client-dynamodb';

export interface DynamoClientOptions {
  /** A DynamoDB-compatible endpoint (dynalite); unset, the SDK's usual resolution. */
  readonly endpoint?: string;
  readonly region?: string;
}

export function createDynamoClient(options: DynamoClientOptions = {}): DynamoDBClient {
  const config: DynamoDBClientConfig = {
    // withRetries does the backing off, with the contract's limit; SDK retries would multiply it.
    maxAttempts: 1,
    region: options.region ?? process.env.AWS_REGION ?? 'us-east-1',
  };
  if (options.endpoint) {
    config.endpoint = options.endpoint;
    // A local engine checks no signature, and a developer laptop may have no credentials at all.
    if (!process.env.AWS_ACCESS_KEY_ID && !process.env.AWS_PROFILE) {
      config.credentials = { accessKeyId: 'local', secretAccessKey: 'local' };
    }
  }
  return new DynamoDBClient(config);
}
