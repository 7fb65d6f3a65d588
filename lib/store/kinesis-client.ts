/**
 * A Kinesis client that also works against kinesalite: the SDK's default HTTP/2 handler fails there
 * (ERR_HTTP2_ERROR), so we always use the HTTP/1.1 handler, which real Kinesis accepts as well.
 */
import { KinesisClient } from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';

export interface KinesisClientOptions {
  /** Set for kinesalite or another compatible endpoint; dummy credentials are then used. */
  readonly endpoint?: string;
  readonly region?: string;
}

export function createKinesisClient(options: KinesisClientOptions = {}): KinesisClient {
  const local = options.endpoint !== undefined;
  return new KinesisClient({
    requestHandler: new NodeHttpHandler(),
    region: options.region ?? process.env.AWS_REGION ?? 'us-east-1',
    ...(local && {
      endpoint: options.endpoint,
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    }),
  });
}
