/**
 * Timing for the bench: a pool that keeps K operations in flight (K = 1 is sequential), warm-up,
 * interleaved rounds of the variants compared, and the figures printed (ops/s, median and p99 latency).
 */
import { performance } from 'node:perf_hooks';

/** One operation. `lane` is the pool slot running it (0..K-1); `index` counts the variant's calls. */
export type Op = (lane: number, index: number) => Promise<unknown>;

export interface Variant {
  readonly name: string;
  readonly op: Op;
}

export interface Load {
  /** Operations kept in flight; 1 is sequential. */
  readonly inFlight: number;
  readonly opsPerRound: number;
  readonly rounds: number;
  /** Untimed operations per variant before the first round (JIT, sockets, dynalite's caches). */
  readonly warmUpOps: number;
}

export interface Summary {
  readonly name: string;
  readonly ops: number;
  readonly elapsedMs: number;
  readonly opsPerSec: number;
  readonly medianMs: number;
  readonly p99Ms: number;
}

interface Timed {
  readonly elapsedMs: number;
  readonly latenciesMs: number[];
}

/** Runs `count` calls of `op` with at most `inFlight` at once; indexes start at `firstIndex`. */
export async function runPool(op: Op, count: number, inFlight: number, firstIndex = 0): Promise<Timed> {
  const latenciesMs: number[] = [];
  let next = 0;
  const lane = async (slot: number) => {
    while (next < count) {
      const index = firstIndex + next++;
      const started = performance.now();
      await op(slot, index);
      latenciesMs.push(performance.now() - started);
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: Math.min(inFlight, count) }, (_, slot) => lane(slot)));
  return { elapsedMs: performance.now() - started, latenciesMs };
}

/**
 * Measures the variants side by side: warm-up, then `rounds` rounds in which each variant runs
 * `opsPerRound` calls. The order flips every round (A B, B A, A B, …) so that a drift of the
 * machine's load weighs on every variant alike.
 */
export async function compare(variants: readonly Variant[], load: Load): Promise<Summary[]> {
  const nextIndex = variants.map(() => 0);
  const runs = variants.map(() => ({ elapsedMs: 0, latenciesMs: [] as number[] }));
  for (const [v, variant] of variants.entries()) {
    await runPool(variant.op, load.warmUpOps, load.inFlight, 0);
    nextIndex[v] = load.warmUpOps;
  }
  for (let round = 0; round < load.rounds; round++) {
    const order = variants.map((_, v) => v);
    if (round % 2 === 1) order.reverse();
    for (const v of order) {
      const variant = variants[v] as Variant;
      const timed = await runPool(variant.op, load.opsPerRound, load.inFlight, nextIndex[v]);
      nextIndex[v] = (nextIndex[v] ?? 0) + load.opsPerRound;
      const total = runs[v] as Timed;
      runs[v] = {
        elapsedMs: total.elapsedMs + timed.elapsedMs,
        latenciesMs: total.latenciesMs.concat(timed.latenciesMs),
      };
    }
  }
  return variants.map((variant, v) => summarize(variant.name, runs[v] as Timed));
}

function summarize(name: string, timed: Timed): Summary {
  const sorted = [...timed.latenciesMs].sort((a, b) => a - b);
  const ops = sorted.length;
  return {
    name,
    ops,
    elapsedMs: timed.elapsedMs,
    opsPerSec: ops / (timed.elapsedMs / 1000),
    medianMs: percentile(sorted, 0.5),
    p99Ms: percentile(sorted, 0.99),
  };
}

/** Nearest-rank percentile of an ascending array. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1));
  return sorted[rank] as number;
}

export function median(values: readonly number[]): number {
  return percentile(
    [...values].sort((a, b) => a - b),
    0.5,
  );
}

export const formatRate = (opsPerSec: number): string => Math.round(opsPerSec).toLocaleString('en-US');
export const formatMs = (ms: number): string => (ms < 10 ? ms.toFixed(2) : ms.toFixed(1));
export const formatRatio = (ratio: number): string => ratio.toFixed(2);

/** `0.97 ✓` or `0.62 ✗ (target ≥ 0.7)`. */
export function ratioAgainst(ratio: number, target: number): string {
  return ratio >= target ? `${formatRatio(ratio)} ✓` : `${formatRatio(ratio)} ✗ (target ≥ ${target})`;
}
