/** Counts over many simulated runs, and the one line that reports them. */

import type { Violation } from './invariants';
import { REQUEST_KINDS, type RequestKind, type RequestTotals } from './memory-row-store';
import { FAULT_KINDS, type FaultKind, type RunSummary, runSeed, type WorldOverrides } from './world';

export interface SeedStats {
  seeds: number;
  failed: number[];
  faults: Record<FaultKind, number>;
  calls: number;
  sideEffects: number;
  takes: number;
  losses: Record<string, number>;
  shardsEnded: number;
  worstRecoveryMs: number;
  worstRecoverySeed: number | undefined;
  worstGapMs: number;
  /** Longest a shard sat idle while a healthy worker could take it (liveness), and in which seed. */
  worstIdleMs: number;
  worstIdleSeed: number | undefined;
  worstStopMs: number;
  handovers: number;
  closestHandoverMs: number;
  virtualMs: number;
  store: Record<RequestKind, RequestTotals>;
}

export function emptyStats(): SeedStats {
  return {
    seeds: 0,
    failed: [],
    faults: Object.fromEntries(FAULT_KINDS.map((kind) => [kind, 0])) as Record<FaultKind, number>,
    calls: 0,
    sideEffects: 0,
    takes: 0,
    losses: {},
    shardsEnded: 0,
    worstRecoveryMs: 0,
    worstRecoverySeed: undefined,
    worstGapMs: 0,
    worstIdleMs: 0,
    worstIdleSeed: undefined,
    worstStopMs: 0,
    handovers: 0,
    closestHandoverMs: Number.POSITIVE_INFINITY,
    virtualMs: 0,
    store: Object.fromEntries(
      REQUEST_KINDS.map((kind) => [
        kind,
        { count: 0, itemBytes: 0, readUnits: 0, writeUnits: 0, refused: 0 },
      ]),
    ) as Record<RequestKind, RequestTotals>,
  };
}

export function addRun(stats: SeedStats, run: { readonly ok: boolean; readonly summary: RunSummary }): void {
  const s = run.summary;
  stats.seeds++;
  if (!run.ok) stats.failed.push(s.seed);
  for (const kind of FAULT_KINDS) stats.faults[kind] += s.faults[kind];
  stats.calls += s.calls;
  stats.sideEffects += s.sideEffects;
  stats.takes += s.takes;
  for (const [reason, n] of Object.entries(s.losses)) stats.losses[reason] = (stats.losses[reason] ?? 0) + n;
  stats.shardsEnded += s.shardsEnded;
  if (stats.worstRecoverySeed === undefined || s.worstRecoveryMs > stats.worstRecoveryMs) {
    stats.worstRecoveryMs = s.worstRecoveryMs;
    stats.worstRecoverySeed = s.seed;
  }
  stats.worstGapMs = Math.max(stats.worstGapMs, s.worstGapMs);
  if (stats.worstIdleSeed === undefined || s.worstIdleMs > stats.worstIdleMs) {
    stats.worstIdleMs = s.worstIdleMs;
    stats.worstIdleSeed = s.seed;
  }
  stats.worstStopMs = Math.max(stats.worstStopMs, s.worstStopMs);
  stats.handovers += s.handovers;
  stats.closestHandoverMs = Math.min(stats.closestHandoverMs, s.closestHandoverMs);
  stats.virtualMs += s.virtualMs;
  for (const kind of REQUEST_KINDS) {
    const into = stats.store[kind];
    const from = s.store[kind];
    into.count += from.count;
    into.itemBytes += from.itemBytes;
    into.readUnits += from.readUnits;
    into.writeUnits += from.writeUnits;
    into.refused += from.refused;
  }
}

/** Adds the counts of `from` into `into`. */
export function mergeStats(into: SeedStats, from: SeedStats): void {
  into.seeds += from.seeds;
  into.failed.push(...from.failed);
  for (const kind of FAULT_KINDS) into.faults[kind] += from.faults[kind];
  into.calls += from.calls;
  into.sideEffects += from.sideEffects;
  into.takes += from.takes;
  for (const [reason, n] of Object.entries(from.losses)) into.losses[reason] = (into.losses[reason] ?? 0) + n;
  into.shardsEnded += from.shardsEnded;
  if (into.worstRecoverySeed === undefined || from.worstRecoveryMs > into.worstRecoveryMs) {
    into.worstRecoveryMs = from.worstRecoveryMs;
    into.worstRecoverySeed = from.worstRecoverySeed;
  }
  into.worstGapMs = Math.max(into.worstGapMs, from.worstGapMs);
  if (into.worstIdleSeed === undefined || from.worstIdleMs > into.worstIdleMs) {
    into.worstIdleMs = from.worstIdleMs;
    into.worstIdleSeed = from.worstIdleSeed;
  }
  into.worstStopMs = Math.max(into.worstStopMs, from.worstStopMs);
  into.handovers += from.handovers;
  into.closestHandoverMs = Math.min(into.closestHandoverMs, from.closestHandoverMs);
  into.virtualMs += from.virtualMs;
  for (const kind of REQUEST_KINDS) {
    const a = into.store[kind];
    const b = from.store[kind];
    a.count += b.count;
    a.itemBytes += b.itemBytes;
    a.readUnits += b.readUnits;
    a.writeUnits += b.writeUnits;
    a.refused += b.refused;
  }
}

export function summarize(
  runs: ReadonlyArray<{ readonly ok: boolean; readonly summary: RunSummary }>,
): SeedStats {
  const stats = emptyStats();
  for (const run of runs) addRun(stats, run);
  return stats;
}

export function formatSummary(stats: SeedStats, realMs: number, leaseDurationMs = 1_000): string {
  const periods = (ms: number) => (ms / leaseDurationMs).toFixed(2);
  const faults = FAULT_KINDS.map((kind) => `${kind}=${stats.faults[kind]}`).join(' ');
  const losses = Object.entries(stats.losses)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([reason, n]) => `${reason}=${n}`)
    .join(' ');
  const store = REQUEST_KINDS.map((kind) => `${kind}=${stats.store[kind].count}`).join(' ');
  return [
    `sim: ${stats.seeds} seeds, ${stats.failed.length} failed${stats.failed.length > 0 ? ` (${stats.failed.slice(0, 20).join(', ')})` : ''}`,
    `in ${(realMs / 1000).toFixed(1)} s (${(realMs / Math.max(1, stats.seeds)).toFixed(1)} ms/seed, ${(stats.virtualMs / 1000).toFixed(0)} virtual s)`,
    `| faults: ${faults}`,
    `| calls ${stats.calls}, side effects ${stats.sideEffects}, takes ${stats.takes}, shards ended ${stats.shardsEnded}, losses: ${losses}`,
    `| handovers ${stats.handovers}, closest ${stats.closestHandoverMs} ms after the previous processor stopped`,
    `| worst recovery after heal ${periods(stats.worstRecoveryMs)} lease periods (seed ${stats.worstRecoverySeed ?? '-'}), worst gap ${periods(stats.worstGapMs)}, worst idle while a healthy worker could take the shard ${periods(stats.worstIdleMs)} (seed ${stats.worstIdleSeed ?? '-'}), worst stop() ${stats.worstStopMs} ms`,
    `| table requests: ${store}`,
  ].join(' ');
}

export interface SeedFailure {
  readonly seed: number;
  readonly violations: readonly Violation[];
  /** The last lines of its trace, up to the first violation. */
  readonly traceTail: string;
}

/** Runs seeds `from`..`to` (inclusive), keeping the counts and, for a failing seed, its trace's tail. */
export async function runSeedRange(
  from: number,
  to: number,
  overrides: WorldOverrides = {},
  only?: FaultKind,
  tailLines = 60,
): Promise<{
  readonly stats: SeedStats;
  readonly failures: readonly SeedFailure[];
  readonly realMs: number;
}> {
  const started = performance.now();
  const stats = emptyStats();
  const failures: SeedFailure[] = [];
  for (let seed = from; seed <= to; seed++) {
    const result = await runSeed(seed, {}, overrides, only);
    addRun(stats, result);
    if (!result.ok) {
      // Up to a few lines past the first violation: what led to it.
      const first = result.violations[0]?.traceLine ?? result.trace.lines.length;
      failures.push({
        seed,
        violations: result.violations,
        traceTail: result.trace.tail(tailLines, first + 5),
      });
    }
  }
  return { stats, failures, realMs: performance.now() - started };
}

/** What a failing seed prints: its violations, the tail of its trace, and how to replay it. */
export function describeFailure(failure: SeedFailure): string {
  return [
    `seed ${failure.seed} failed:`,
    ...failure.violations.map((v) => `  at ${v.atMs} ms ${v.kind}: ${v.message}`),
    '  trace (last lines):',
    failure.traceTail,
    `  replay: npm run sim -- --seed ${failure.seed} --verbose`,
  ].join('\n');
}
