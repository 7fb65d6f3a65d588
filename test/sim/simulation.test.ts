/**
 * The deterministic simulation (issue #11): 1,000 seeds, each a whole world of coordinators, faults and
 * processors on virtual time (world.ts), with every invariant checked as the run goes (invariants.ts).
 * The seeds run in worker threads (parallel.ts). A failing seed prints its violations and the trace
 * that led to them; `npm run sim -- --seed N --verbose` replays it.
 */
import { ISOLATED_KINDS } from './liveness-table';
import { runSeedsInParallel } from './parallel';
import { describeFailure, formatSummary } from './report';
import { configFor, FAULT_KINDS, runSeed, runWorld } from './world';

const SEEDS = 1_000;
const LEASE_MS = 1_000;

describe('the simulation', () => {
  it(`holds every invariant for seeds 1..${SEEDS}, with every kind of fault injected`, async () => {
    const { stats, failures, realMs } = await runSeedsInParallel(1, SEEDS);
    console.log(formatSummary(stats, realMs, LEASE_MS));
    expect(stats.seeds).toBe(SEEDS);
    expect(failures.slice(0, 3).map(describeFailure)).toEqual([]);
    expect(FAULT_KINDS.filter((kind) => stats.faults[kind] === 0)).toEqual([]);
    expect(stats.worstRecoveryMs).toBeLessThanOrEqual(3 * LEASE_MS);
    // Liveness is checked during the faults too: no shard idle past a lease while a healthy worker had room.
    expect(stats.worstIdleMs).toBeGreaterThan(0);
    expect(stats.worstIdleMs).toBeLessThanOrEqual(LEASE_MS);
  });

  it('injects each kind of fault alone in a world of that kind, and keeps every invariant there, in both modes', async () => {
    const missing: string[] = [];
    const failed: string[] = [];
    for (const kind of ISOLATED_KINDS) {
      for (const mode of ['heartbeat', 'listing'] as const) {
        let injected = 0;
        for (let seed = 1; seed <= 2; seed++) {
          const config = { ...configFor(seed, kind), mode };
          const result = await runWorld(config);
          const others = FAULT_KINDS.filter(
            (k) => k !== kind && !(kind === 'crash' && k === 'restart') && k !== 'restart',
          ).filter((k) => result.summary.faults[k] > 0);
          // Restarts follow crashes, deaths after a heartbeat and stops: the only other kind allowed.
          expect({ kind, mode, seed, others }).toEqual({ kind, mode, seed, others: [] });
          injected += result.summary.faults[kind];
          if (!result.ok) failed.push(`${kind}/${mode}/seed ${seed}: ${result.violations[0]?.message}`);
        }
        if (injected === 0) missing.push(`${kind}/${mode}`);
      }
    }
    expect(failed).toEqual([]);
    expect(missing).toEqual([]);
  });

  it('replays a seed exactly: the same trace, line for line', async () => {
    const first = await runSeed(7);
    const second = await runSeed(7);
    expect(second.trace.lines.length).toBe(first.trace.lines.length);
    expect(second.trace.format()).toBe(first.trace.format());
    expect(second.summary).toEqual(first.summary);
  });

  it('catches an unsafe coordinator: worker clocks at half speed outrun the expiry margin', async () => {
    // A clock at half speed makes the coordinator's local expiry come long after the service's: the
    // checks must then see two processors of a shard at once in some seeds.
    const kinds = new Set<string>();
    for (let seed = 1; seed <= 20; seed++) {
      const config = configFor(seed);
      const result = await runWorld({
        ...config,
        clocks: config.clocks.map(() => ({ rate: 0.5, offsetMs: 0 })),
      });
      for (const violation of result.violations) kinds.add(violation.kind);
    }
    expect(kinds).toContain('twoProcessors');
  });
});
