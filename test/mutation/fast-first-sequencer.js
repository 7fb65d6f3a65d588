/**
 * Mutation runs stop a mutant's tests at the first failure, so the order is the speed: pure rule tests
 * first, then the in-memory simulations, then the suites against dynalite and kinesalite, the sampled
 * seeds last. (Jest's own order puts the slowest files first, which suits a full run, not this.)
 */
const Sequencer = require('@jest/test-sequencer').default;

const ORDER = [
  /\/test\/core\//,
  /\/test\/client\/lease-ledger\.test\.ts$/,
  /\/test\/sim\//,
  /\/test\/store\//,
  /\/test\/client\//,
  /\.mutation\.ts$/,
];

const rank = (path) => {
  const at = ORDER.findIndex((pattern) => pattern.test(path));
  return at < 0 ? ORDER.length : at;
};

class FastFirstSequencer extends Sequencer {
  sort(tests) {
    return [...tests].sort((a, b) => rank(a.path) - rank(b.path) || a.path.localeCompare(b.path));
  }
}

module.exports = FastFirstSequencer;
