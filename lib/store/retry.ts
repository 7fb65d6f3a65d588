/**
 * Capped, fully jittered exponential backoff for throttling and transient faults: at most
 * `maxAttempts` tries in all (vmware-go-kcl-v2's NumMaxRetries is 10). The clients we build have the
 * SDK's own retries off, so attempts do not multiply.
 */
import { ThrottledError } from '../core/errors';

export interface RetryPolicy {
  readonly maxAttempts: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
  readonly sleep?: (ms: number) => Promise<void>;
  readonly random?: () => number;
  readonly onRetry?: (info: { attempt: number; delayMs: number; error: unknown }) => void;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { maxAttempts: 10, baseDelayMs: 25, maxDelayMs: 2_000 };

const THROTTLING = new Set([
  'ThrottlingException',
  'ProvisionedThroughputExceededException',
  'RequestLimitExceeded',
  'TooManyRequestsException',
]);
const TRANSIENT_CODES = new Set(['ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ECONNREFUSED', 'EAI_AGAIN']);

interface SdkErrorShape {
  name?: string;
  code?: string;
  $metadata?: { httpStatusCode?: number };
}

export function isThrottling(error: unknown): boolean {
  const e = error as SdkErrorShape;
  return THROTTLING.has(e?.name ?? '') || e?.$metadata?.httpStatusCode === 429;
}

export function isTransient(error: unknown): boolean {
  const e = error as SdkErrorShape;
  const status = e?.$metadata?.httpStatusCode ?? 0;
  return (
    status >= 500 ||
    e?.name === 'InternalServerError' ||
    e?.name === 'ServiceUnavailable' ||
    e?.name === 'TimeoutError' ||
    // An answer that does not prove the write (unproven-answer.ts), or a body cut short in transit:
    // the outcome is unknown, and every operation is safe to repeat.
    e?.name === 'UnprovenAnswerError' ||
    e?.name === 'SyntaxError' ||
    TRANSIENT_CODES.has(e?.code ?? '')
  );
}

const realSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export async function withRetries<T>(
  call: () => Promise<T>,
  policy: RetryPolicy = DEFAULT_RETRY_POLICY,
): Promise<T> {
  const sleep = policy.sleep ?? realSleep;
  const random = policy.random ?? Math.random;
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (error) {
      const throttled = isThrottling(error);
      if (!throttled && !isTransient(error)) throw error;
      if (attempt >= policy.maxAttempts) {
        if (throttled) throw new ThrottledError(attempt, { cause: error });
        throw error;
      }
      const delayMs = Math.floor(random() * Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** attempt));
      policy.onRetry?.({ attempt, delayMs, error });
      await sleep(delayMs);
    }
  }
}
