/**
 * Run by mutation testing only (jest.mutation.config.js). `npm test` runs 1,000 seeds in worker threads,
 * where the mutation runner cannot switch mutants on; this runs 30 of them in its own process, so that a
 * mutant of the coordinator or the lease rules meets whole fleets under faults, every invariant checked.
 */
import { describeFailure, runSeedRange } from '../sim/report';

const SEEDS = 30;

it(`holds every invariant for seeds 1..${SEEDS}, run in this process`, async () => {
  const { stats, failures } = await runSeedRange(1, SEEDS);
  expect(stats.seeds).toBe(SEEDS);
  expect(failures.slice(0, 3).map(describeFailure)).toEqual([]);
});
