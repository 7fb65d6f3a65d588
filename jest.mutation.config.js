/**
 * The tests mutation testing runs (`npm run mutate`, stryker.config.js), per group of sources: the fast
 * files that exercise those sources, against dynalite and kinesalite as in `npm test`, plus 30 simulated
 * seeds in-process where whole fleets matter. A mutant runs only the tests that cover it (coverage per
 * test), and stops at its first failure; a group's narrower set is what keeps a surviving mutant (which
 * runs every covering test) cheap. Without MUTATION_GROUP, the union. Left out, for time: the 1,000-seed
 * simulation (worker threads), the measured bounds (500 worlds), the race and fault-layer suites (tens
 * of seconds each), HTTP, CDK, browser and packaging.
 */
const base = require('./jest.config.js');

const SIM_SAMPLE = '<rootDir>/test/mutation/*.mutation.ts';
const CORE = '<rootDir>/test/core/*.test.ts';

/** The test files of each group (stryker.config.js has the sources). */
const GROUPS = {
  // The lease rules, as the store runs them on dynalite and as whole fleets use them.
  rules: [
    CORE,
    '<rootDir>/test/store/{dynamo-checkpointer,expressions,go-format,heartbeat,listing,refusal-item,request-counts,retry}.test.ts',
    '<rootDir>/test/client/dynamo-checkpointer.behaviour.test.ts',
    '<rootDir>/test/sim/memory-row-store.test.ts',
    SIM_SAMPLE,
  ],
  // The reaper's rules: its pure decisions, the reaper on dynalite, and against kinesalite (the only
  // tests of its gone-shard rules).
  reaper: [
    '<rootDir>/test/core/reaper-rules.test.ts',
    '<rootDir>/test/store/reaper.test.ts',
    '<rootDir>/test/integration/reaper-kinesis.test.ts',
  ],
  // The fleet plan: pure, and through the heartbeat on dynalite. (The simulated fleets of `npm test`
  // check its liveness too; here they would make every surviving mutant a minute long.)
  fleet: ['<rootDir>/test/core/fleet-plan.test.ts', '<rootDir>/test/store/heartbeat.test.ts'],
  // The coordinator's ledger and its renewal, expiry, fencing and release paths, against the service's
  // rules on dynalite and in simulated fleets under faults: its own tests alone leave half its mutants
  // alive (the races it handles are the simulation's business).
  coordinator: [
    '<rootDir>/test/client/{lease-ledger,coordinator,coordinator-balance}.test.ts',
    '<rootDir>/test/sim/{liveness,failures}.test.ts',
    SIM_SAMPLE,
  ],
};

const group = process.env.MUTATION_GROUP;
if (group !== undefined && !(group in GROUPS)) {
  throw new Error(`MUTATION_GROUP=${group}: choose from ${Object.keys(GROUPS).join(', ')}`);
}

/** @type {import('jest').Config} */
module.exports = {
  ...base,
  testSequencer: '<rootDir>/test/mutation/fast-first-sequencer.js',
  // An absolute path: Stryker's environment wrapper requires it as is, without jest's <rootDir>.
  testEnvironment: require('node:path').join(__dirname, 'test', 'mutation', 'bail-environment.js'),
  testMatch: group ? GROUPS[group] : [...new Set(Object.values(GROUPS).flat())],
};
