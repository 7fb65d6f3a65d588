/**
 * SigV4 for API Gateway's IAM authorisation: @smithy's signer with SHA-256 from node:crypto, so the
 * client needs no crypto package of its own. The signer sees the path exactly as it goes on the wire
 * (already percent-encoded) and encodes it once more, as AWS does for every service but S3.
 */
import { createHash, createHmac, type Hash, type Hmac } from 'node:crypto';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import type {
  AwsCredentialIdentity,
  AwsCredentialIdentityProvider,
  Checksum,
  SourceData,
} from '@smithy/types';

export const EXECUTE_API_SERVICE = 'execute-api';

function bytesOf(data: SourceData): Buffer {
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return Buffer.from(data);
}

/** SHA-256, or HMAC-SHA-256 when given a secret: the hash interface @smithy's signer expects. */
export class NodeSha256 implements Checksum {
  private readonly secret: Buffer | undefined;
  private hash: Hash | Hmac;

  constructor(secret?: SourceData) {
    this.secret = secret === undefined ? undefined : bytesOf(secret);
    this.hash = this.fresh();
  }

  update(data: SourceData): void {
    this.hash.update(bytesOf(data));
  }

  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.hash.digest());
  }

  reset(): void {
    this.hash = this.fresh();
  }

  private fresh(): Hash | Hmac {
    return this.secret === undefined ? createHash('sha256') : createHmac('sha256', this.secret);
  }
}

export interface SignerOptions {
  readonly region: string;
  readonly credentials: AwsCredentialIdentity | AwsCredentialIdentityProvider;
  /** @default 'execute-api' */
  readonly service?: string;
}

export interface UnsignedRequest {
  readonly method: string;
  readonly url: URL;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: string;
}

export type RequestSigner = (request: UnsignedRequest, signingDate?: Date) => Promise<Record<string, string>>;

/** Returns a function giving the headers to send: the request's own plus host, x-amz-date, authorization (and the session token). */
export function createRequestSigner(options: SignerOptions): RequestSigner {
  const signer = new SignatureV4({
    service: options.service ?? EXECUTE_API_SERVICE,
    region: options.region,
    credentials: options.credentials,
    sha256: NodeSha256,
    uriEscapePath: true,
    applyChecksum: false,
  });
  return async (request, signingDate) => {
    const { url } = request;
    const query: Record<string, string | string[]> = {};
    for (const [key, value] of url.searchParams) {
      const seen = query[key];
      if (seen === undefined) query[key] = value;
      else query[key] = Array.isArray(seen) ? [...seen, value] : [seen, value];
    }
    const unsigned = new HttpRequest({
      method: request.method,
      protocol: url.protocol,
      hostname: url.hostname,
      ...(url.port !== '' && { port: Number(url.port) }),
      path: url.pathname,
      query,
      // The Host header fetch will send: the host with any non-default port.
      headers: { ...request.headers, host: url.host },
      ...(request.body !== undefined && { body: request.body }),
    });
    const signed = await signer.sign(unsigned, signingDate === undefined ? {} : { signingDate });
    return { ...signed.headers };
  };
}
