/**
 * The tests mutation testing runs (`npm run mutate`, stryker.config.js): the fast ones that exercise the
 * lease rules, the reaper's rules, the fleet plan and the coordinator, against dynalite and kinesalite as
 * in `npm test`, plus 30 simulated seeds in-process. Left out, for time: the 1,000-seed simulation (worker
 * threads), the measured bounds (500 worlds), the race and fault-layer suites (tens of seconds each), HTTP,
 * CDK, browser and packaging.
 */
const base = require('./jest.config.js');

/** @type {import('jest').Config} */
module.exports = {
  ...base,
  testSequencer: '<rootDir>/test/mutation/fast-first-sequencer.js',
  testMatch: [
    '<rootDir>/test/core/*.test.ts',
    '<rootDir>/test/store/{dynamo-checkpointer,expressions,go-format,heartbeat,listing,reaper,refusal-item,request-counts,retry}.test.ts',
    '<rootDir>/test/client/{coordinator,coordinator-balance,dynamo-checkpointer.behaviour,lease-ledger}.test.ts',
    '<rootDir>/test/sim/{liveness,failures,invariants}.test.ts',
    // The reaper against kinesalite: the only tests of its gone-shard rules (24 reaper-rules.ts mutants
    // were uncovered without it).
    '<rootDir>/test/integration/reaper-kinesis.test.ts',
    '<rootDir>/test/mutation/*.mutation.ts',
  ],
};
