/**
 * The Kinesis client of the reaper and the coordinator. It takes no HTTP handler of its own: in Lambda
 * the SDK's default is right, and importing one here would bundle @smithy's HTTP stack (128 KB) into
 * the reaper. Local Kinesis (kinesalite) needs HTTP/1.1: see lib/local/kinesis-local-client.ts.
 */
import { KinesisClient, type KinesisClientConfig } from '@aws-sdk/client-kinesis';

export interface KinesisClientOptions {
  /** Set for kinesalite or another compatible endpoint; dummy credentials are then used. */
  readonly endpoint?: string;
  readonly region?: string;
  readonly requestHandler?: KinesisClientConfig['requestHandler'];
}

export function createKinesisClient(options: KinesisClientOptions = {}): KinesisClient {
  return new KinesisClient({
    region: options.region ?? process.env.AWS_REGION ?? 'us-east-1',
    ...(options.requestHandler && { requestHandler: options.requestHandler }),
    ...(options.endpoint !== undefined && {
      endpoint: options.endpoint,
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    }),
  });
}
