import type { MemoryRowStore } from '../test/sim/memory-row-store';

/** On-demand list prices (us-east-1) the bench's dollar figures are computed from. */
export const PRICE = {
  httpApiPerMillion: 1.0,
  lambdaRequestsPerMillion: 0.2,
  /** arm64, per GB-second; each request billed at 128 MB for 10 ms (an estimate: our handlers run 3–15 ms). */
  lambdaGbSecond: 0.0000133334,
  lambdaGbSecondsPerRequest: 0.125 * 0.01,
  writeUnitsPerMillion: 0.625,
  readUnitsPerMillion: 0.125,
} as const;

/** What `requests` HTTP requests cost: API Gateway, the Lambda invocation and its duration. */
export function requestDollars(requests: number): number {
  return (
    (requests *
      (PRICE.httpApiPerMillion +
        PRICE.lambdaRequestsPerMillion +
        PRICE.lambdaGbSecond * PRICE.lambdaGbSecondsPerRequest * 1e6)) /
    1e6
  );
}

/** Read and write units the in-memory table billed so far, every request kind together. */
export function billedUnits(store: MemoryRowStore): { read: number; write: number } {
  let read = 0;
  let write = 0;
  for (const totals of Object.values(store.totals)) {
    read += totals.readUnits;
    write += totals.writeUnits;
  }
  return { read, write };
}
