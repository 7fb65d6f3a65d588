/**
 * The deterministic simulation (issue #11): 1,000 seeds, each a whole world of coordinators, faults and
 * processors on virtual time (world.ts), with every invariant checked as the run goes (invariants.ts).
 * The seeds run in worker threads (parallel.ts). A failing seed prints its violations and the trace
 * that led to them; `npm run sim -- --seed N --verbose` replays it.
 */
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
