/**
 * Seeds in worker threads: each thread runs a contiguous range (seeds are independent, so the counts
 * and failures are the same whatever the split) and sends back its counts and failures. The threads
 * load the TypeScript through tsx, outside jest's module sandbox, where a seed runs about twice as fast.
 */
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { emptyStats, mergeStats, type SeedFailure, type SeedStats } from './report';
import type { FaultKind, WorldOverrides } from './world';

const BOOT = `
const { parentPort, workerData } = require('node:worker_threads');
require('tsx/cjs');
const { runSeedRange } = require(workerData.report);
runSeedRange(workerData.from, workerData.to, workerData.overrides, workerData.only).then(
  (result) => parentPort.postMessage({ result }),
  (error) => parentPort.postMessage({ error: String((error && error.stack) || error) }),
);
`;

interface RangeResult {
  readonly stats: SeedStats;
  readonly failures: readonly SeedFailure[];
  readonly realMs: number;
}

export function defaultThreads(): number {
  return Math.max(1, Math.min(4, availableParallelism()));
}

function runInWorker(
  from: number,
  to: number,
  overrides: WorldOverrides,
  only: FaultKind | undefined,
): Promise<RangeResult> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(BOOT, {
      eval: true,
      workerData: { from, to, overrides, only, report: join(__dirname, 'report.ts') },
    });
    worker.once('message', (message: { result?: RangeResult; error?: string }) => {
      void worker.terminate();
      if (message.result) resolve(message.result);
      else reject(new Error(`simulation worker for seeds ${from}..${to} failed: ${message.error}`));
    });
    worker.once('error', reject);
    worker.once('exit', (code) => {
      if (code !== 0) reject(new Error(`simulation worker for seeds ${from}..${to} exited with ${code}`));
    });
  });
}

/**
 * Seeds `from`..`to` (inclusive), split over `threads` worker threads, with `overrides` on every world;
 * with `only`, worlds whose one kind of fault is that one.
 */
export async function runSeedsInParallel(
  from: number,
  to: number,
  threads = defaultThreads(),
  overrides: WorldOverrides = {},
  only?: FaultKind,
): Promise<RangeResult> {
  const started = performance.now();
  const count = to - from + 1;
  const per = Math.ceil(count / threads);
  const ranges: Array<[number, number]> = [];
  for (let a = from; a <= to; a += per) ranges.push([a, Math.min(to, a + per - 1)]);
  const results = await Promise.all(ranges.map(([a, b]) => runInWorker(a, b, overrides, only)));
  const stats = emptyStats();
  for (const result of results) mergeStats(stats, result.stats);
  return {
    stats,
    failures: results.flatMap((result) => result.failures).sort((a, b) => a.seed - b.seed),
    realMs: performance.now() - started,
  };
}
