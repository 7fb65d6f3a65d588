/**
 * A Kinesis client for kinesalite: the SDK's default handler speaks HTTP/2, which kinesalite does not
 * (every call fails with ERR_HTTP2_ERROR), so local mode and the tests use the HTTP/1.1 handler.
 */
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { createKinesisClient } from '../store/kinesis-client';

export function createLocalKinesisClient(endpoint?: string): KinesisClient {
  return createKinesisClient({ requestHandler: new NodeHttpHandler(), ...(endpoint && { endpoint }) });
}
