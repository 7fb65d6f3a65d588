/**
 * The liveness table (`npm run sim -- --liveness`): for each kind of fault alone, and for the mixed
 * worlds of `npm test`, in heartbeat and listing mode, the longest time a shard sat free and
 * unprocessed while a healthy worker could take it (invariant e), in lease periods, over the seeds run.
 * The goal is at most 1.00 everywhere; a seed that breaks it fails like any other violation.
 */
import type { BenchSection } from '../../bench/section';
import { runSeedsInParallel } from './parallel';
import { describeFailure, type SeedFailure, type SeedStats } from './report';
import { FAULT_KINDS, type FaultKind } from './world';

const MODES = ['heartbeat', 'listing'] as const;

/** The kinds a world can have alone ('restart' comes with 'crash'). */
export const ISOLATED_KINDS: readonly FaultKind[] = FAULT_KINDS.filter((kind) => kind !== 'restart');

export interface LivenessRow {
  readonly kind: FaultKind | 'all';
  readonly byMode: Record<
    (typeof MODES)[number],
    { readonly stats: SeedStats; readonly failures: readonly SeedFailure[] }
  >;
}

export async function livenessTable(
  from: number,
  to: number,
  threads: number,
): Promise<{ rows: LivenessRow[]; realMs: number }> {
  const started = performance.now();
  const rows: LivenessRow[] = [];
  for (const kind of [undefined, ...ISOLATED_KINDS]) {
    const byMode = {} as LivenessRow['byMode'];
    for (const mode of MODES) {
      const { stats, failures } = await runSeedsInParallel(from, to, threads, { mode }, kind);
      byMode[mode] = { stats, failures };
    }
    rows.push({ kind: kind ?? 'all', byMode });
  }
  return { rows, realMs: performance.now() - started };
}

/** The table as a README section; `failures` says how each failing seed replays. */
export function livenessSection(
  rows: readonly LivenessRow[],
  leaseDurationMs: number,
  seeds: string,
): BenchSection & { readonly failures: readonly string[] } {
  const periods = (ms: number) => (ms / leaseDurationMs).toFixed(2);
  const cell = (row: LivenessRow, mode: (typeof MODES)[number]) => {
    const { stats, failures } = row.byMode[mode];
    const injected = row.kind === 'all' ? stats.seeds : stats.faults[row.kind];
    const failed = failures.length > 0 ? `, ${failures.length} failed` : '';
    return injected === 0
      ? 'not injected'
      : `${periods(stats.worstIdleMs)} (seed ${stats.worstIdleSeed})${failed}`;
  };
  const failures = rows.flatMap((row) =>
    MODES.flatMap((mode) =>
      row.byMode[mode].failures.map(
        (f) =>
          `${row.kind} / ${mode}: ${describeFailure(f).replace('--seed', `--set mode=${mode} --only ${row.kind} --seed`)}`,
      ),
    ),
  );
  return {
    title: `Liveness under each kind of fault (seeds ${seeds} per cell)`,
    columns: ['fault', 'heartbeat mode', 'listing mode'],
    rows: rows.map((row) => [
      row.kind === 'all' ? 'all kinds at once (the npm test worlds)' : row.kind,
      cell(row, 'heartbeat'),
      cell(row, 'listing'),
    ]),
    notes: [
      'The longest time a shard sat free and unprocessed while a healthy worker could take it, in lease periods, and the seed where it happened; goal ≤ 1.00.',
    ],
    failures,
  };
}
